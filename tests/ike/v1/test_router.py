"""IKEv1 through the one router: version dispatch to the IKEv1 factory, cookie demux both ways."""

from __future__ import annotations

from ipsecd.ike.events import ChildSaInstalled, IkeSaEstablished
from ipsecd.ike.router import Router
from ipsecd.ike.sa import IkeSaProtocol
from ipsecd.ike.v1.config import Ikev1Options
from ipsecd.ike.v1.factory import responder_factory
from ipsecd.ike.v1.sa import Ikev1Sa
from tests.ike.conftest import det_rng, spi_allocator

from .conftest import configs


def test_two_routers_bring_up_ikev1() -> None:
    icfg, rcfg = configs()
    opts = Ikev1Options()
    left = Router(rng=det_rng(b"left"), now=0.0)
    right = Router(rng=det_rng(b"right"), now=0.0)
    seen: list[tuple[str, int]] = []
    right.register(1, responder_factory(lambda addr: seen.append(addr[1]) or (rcfg, opts), rng=det_rng(b"r"),
                                        spi_alloc=spi_allocator(0x2000)))
    # the router parses IKEv1 only where a factory is registered (the initiator's side refuses peers)
    left.register(1, responder_factory(lambda addr: None, rng=det_rng(b"l"), spi_alloc=spi_allocator(0x3000)))
    sa = Ikev1Sa.initiate(icfg, opts, rng=det_rng(b"i"), spi_alloc=spi_allocator(0x1000), now=0.0)
    assert isinstance(sa, IkeSaProtocol)
    left.add(sa)
    events: dict[str, list[object]] = {"left": [], "right": []}
    for _ in range(20):
        moved = False
        for src, dst in ((left, right), (right, left)):
            for data, (local, remote) in src.datagrams_to_send(0.0):
                dst.receive_datagram(data, (remote, local), 0.0)
                moved = True
        events["left"] += [e for _, e in left.events()]
        events["right"] += [e for _, e in right.events()]
        if not moved:
            break
    for side in ("left", "right"):
        assert sum(isinstance(e, IkeSaEstablished) for e in events[side]) == 1, events[side]
        assert sum(isinstance(e, ChildSaInstalled) for e in events[side]) == 1
    assert seen == [("192.0.2.1", 500)]  # the factory was asked once, for the first message
    assert not right.half_open and right.counters["unknown-spi"] == 0
