"""NAT rebinding on the TUN backend (root): the peer's ESP-in-UDP source port changes (its NAT's
mapping moved); the first authenticated packet from the new port makes the data plane send the SA
pair's traffic there — also when, with two workers, the inbound SA and the outbound SA belong to
different workers — and the backend reports it. A forged packet from a third port moves nothing."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from ipsecd.dataplane.processor import PROTECT, Processor, owner_of
from ipsecd.dataplane.userspace.backend import TunDataPlane
from ipsecd.policy.events import EndpointChanged
from tests.dataplane.udp_pair import SPI_AB, SPI_BA, b_side, echo, install_a_side
from tests.netns import InNetns, Pair, wait_for

pytestmark = pytest.mark.root

@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair("dprb")
    try:
        yield p
    finally:
        p.close()


def _moves(dp: TunDataPlane) -> list[EndpointChanged]:
    """The NAT rebindings among the backend's events."""
    return [e for e in dp.poll_events() if isinstance(e, EndpointChanged)]


def test_authenticated_packet_from_a_new_port_moves_the_pair_across_workers(pair: Pair) -> None:
    assert owner_of(SPI_AB, 2) != owner_of(SPI_BA, 2)
    peer = b_side(pair)  # B's side, driven by the test
    with InNetns(pair.b):
        socks = {}
        for port in (4500, 40000, 40001):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((pair.addr_b, port))
            s.settimeout(5)
            socks[port] = s
    with InNetns(pair.a):  # the backend's ip commands run in the namespace it lives in
        run(pair, peer, socks)


def run(pair: Pair, peer: Processor, socks: dict[int, socket.socket]) -> None:
    dp = TunDataPlane("dprb0", workers=2)
    try:
        install_a_side(dp, pair)

        def ping_from(port: int, ident: int) -> int:
            """An echo request through the tunnel from B's ``port``; the port the reply came back to."""
            verdict, _, esp = peer.outbound(echo(pair.lan_b, pair.lan_a, ident, b"rebind"), time.monotonic())
            assert verdict == PROTECT
            socks[port].sendto(esp, (pair.addr_a, 4500))
            for p, s in socks.items():
                s.settimeout(0.2 if p != port else 5)
            for p, s in socks.items():
                try:
                    data = s.recv(4000)
                except TimeoutError:
                    continue
                verdict, _, inner = peer.inbound_esp(data, True, time.monotonic())
                assert verdict == PROTECT and inner[20] == 0 and inner[24:26] == ident.to_bytes(2, "big")
                return p
            raise AssertionError("no echo reply came back")

        assert ping_from(4500, 1) == 4500
        assert _moves(dp) == []
        # a forged packet (bad ICV) from another port is dropped and moves nothing
        esp = peer.outbound(echo(pair.lan_b, pair.lan_a, 2, b"rebind"), time.monotonic())[2]
        socks[40001].sendto(esp[:-1] + bytes([esp[-1] ^ 1]), (pair.addr_a, 4500))
        assert wait_for(lambda: dp.statistics()["in-state-protocol-errors"] == 1)
        assert _moves(dp) == []
        # the NAT's mapping moves to 40000: the reply (sealed by the other worker) follows it
        assert ping_from(40000, 3) == 40000
        moves: list[EndpointChanged] = []
        assert wait_for(lambda: bool(moves.extend(_moves(dp)) or moves))
        assert moves == [EndpointChanged(SPI_AB, SPI_BA, (pair.addr_b, 4500), (pair.addr_b, 40000))]
        assert ping_from(40000, 4) == 40000
    finally:
        dp.close()
        for s in socks.values():
            s.close()
