"""The one router (ipsecd.ike.router): version dispatch and its factory registry, the per-address
half-open limit under COOKIE pressure, cheap stateless COOKIE answers."""

from __future__ import annotations

import hmac
import struct
from typing import Any

from ipsecd.ike import router as router_module
from ipsecd.ike.events import MessageDropped
from ipsecd.ike.router import Router
from ipsecd.ike.v2.sa import IkeSa, ikev2_router
from ipsecd.wire.enums import NotifyType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload

from .conftest import I_ADDR, R_ADDR, configs, det_rng, spi_allocator

ADDR = (R_ADDR, I_ADDR)


def _isakmp(spi_i: bytes, spi_r: bytes, exchange: int, major: int = 1, flags: int = 0) -> bytes:
    """A bare ISAKMP header (RFC 2408 §3.1): IKEv1 Identity Protection and friends."""
    return struct.pack("!8s8sBBBBII", spi_i, spi_r, 1, major << 4, exchange, flags, 0, 28)


def _init_request(label: bytes, spi_i: bytes | None = None) -> bytes:
    i, _ = configs()
    data = IkeSa.initiator(i, rng=det_rng(label), spi_alloc=spi_allocator(1), now=0.0).datagrams_to_send(0.0)[
        0
    ][0]
    return data if spi_i is None else spi_i + data[8:]


def _router(**kw: int) -> Router:
    _, r = configs()
    return ikev2_router(lambda addr: r, rng=det_rng(b"r"), spi_alloc=spi_allocator(0x2000), now=0.0, **kw)


def test_ikev1_without_its_factory_is_dropped_counted_and_reported_not_parsed_as_ikev2() -> None:
    m = _router()
    for exchange in (2, 4, 5):  # main mode, aggressive mode, informational
        assert m.receive_datagram(_isakmp(b"C" * 8, bytes(8), exchange), ADDR, 0.0) is None
    assert m.counters["unsupported-version"] == 3 and m.counters["unknown-spi"] == 0
    assert m.counters["malformed"] == 0
    reports = [ev for sa, ev in m.events() if sa is None]
    assert reports and all(
        isinstance(r, MessageDropped) and r.reason == "unsupported-version" and r.remote == I_ADDR
        for r in reports
    )
    assert m.datagrams_to_send(0.0) == [] and not m.sas()
    # a version nobody speaks is not parsed either
    assert m.receive_datagram(_isakmp(b"C" * 8, bytes(8), 34, major=3), ADDR, 0.0) is None
    assert m.counters["unsupported-version"] == 4


class FakeV1:
    """An IKEv1 SA stand-in: it answers on its responder cookie; records what it was given."""

    version = 1

    def __init__(self) -> None:
        self.local_spi = b"R" * 8
        self.closed = False
        self.on_output: Any = None
        self.on_spi: Any = None
        self.got: list[bytes] = []

    def receive_datagram(self, data: bytes, addr: Any, now: float) -> None:
        self.got.append(data)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Any]]:
        return []

    def next_event(self) -> None:
        return None

    def get_timer(self) -> None:
        return None

    def handle_timer(self, now: float) -> None:
        pass

    def provide_verdict(self, token: object, result: object) -> None:
        pass

    def delete(self) -> None:
        pass

    def idle(self) -> bool:
        return True


def test_version_dispatch_hands_ikev1_to_its_registered_factory() -> None:
    m = _router()
    made: list[FakeV1] = []

    def v1_factory(data: bytes, addr: Any, now: float) -> FakeV1:
        made.append(FakeV1())
        return made[-1]

    m.register(1, v1_factory)
    first = _isakmp(b"C" * 8, bytes(8), 2)
    assert m.receive_datagram(first, ADDR, 0.0) is made[0]
    assert m.receive_datagram(first, ADDR, 0.0) is made[0]  # retransmitted: recognised by (address, cookie)
    later = _isakmp(b"C" * 8, b"R" * 8, 5)  # no I flag in IKEv1: found by either cookie
    assert m.receive_datagram(later, ADDR, 0.0) is made[0] and len(made) == 1
    assert made[0].got == [first, first, later]
    # IKEv2 still goes to the IKEv2 factory
    assert isinstance(m.receive_datagram(_init_request(b"i"), ADDR, 0.0), IkeSa)


def _with_cookie(data: bytes, cookie: bytes) -> bytes:
    msg = Message.decode(data)
    msg.payloads.insert(0, NotifyPayload(NotifyType.COOKIE, cookie))
    return msg.encode()


def test_one_address_returning_cookies_cannot_hold_every_half_open_slot() -> None:
    """strongSwan's block_threshold: once cookies are demanded, one address gets at most
    ``per_address_half_open`` half-open SAs; another address still gets in."""
    m = _router(cookie_threshold=2, max_half_open=50, per_address_half_open=3)
    attacker = (R_ADDR, ("203.0.113.66", 500))
    for n in range(20):
        first = _init_request(b"a%d" % n)
        m.receive_datagram(first, attacker, 0.0)
        out = m.datagrams_to_send(0.0)
        cookie = Message.decode(out[0][0]).notify(NotifyType.COOKIE) if out else None
        if cookie is not None and Message.decode(out[0][0]).header.spi_r == bytes(8):
            m.receive_datagram(_with_cookie(first, cookie.data), attacker, 0.0)
            m.datagrams_to_send(0.0)
    assert m.half_open_by_address == {"203.0.113.66": 3}
    assert m.counters["half-open-refused-address"] == 20 - 3 - 0 and len(m.sas()) == 3
    legit = _init_request(b"legit")
    m.receive_datagram(legit, ADDR, 0.0)
    ((reply, _),) = m.datagrams_to_send(0.0)
    cookie = Message.decode(reply).notify(NotifyType.COOKIE)
    assert cookie is not None
    assert isinstance(m.receive_datagram(_with_cookie(legit, cookie.data), ADDR, 0.0), IkeSa)
    assert m.half_open_by_address == {"203.0.113.66": 3, I_ADDR[0]: 1}


def test_cookie_answer_matches_the_full_codec_and_checks_like_it(monkeypatch: Any) -> None:
    """The cheap answer (no payload body decoded) is a well-formed COOKIE response; the returned
    cookie is compared in constant time."""
    compared: list[int] = []
    real = hmac.compare_digest
    monkeypatch.setattr(
        router_module.hmac, "compare_digest", lambda a, b: compared.append(len(a)) or real(a, b)
    )
    m = _router(cookie_threshold=0)
    first = _init_request(b"c")
    assert m.receive_datagram(first, ADDR, 0.0) is None
    ((reply, addr),) = m.datagrams_to_send(0.0)
    msg = Message.decode(reply)
    cookie = msg.notify(NotifyType.COOKIE)
    assert addr == ADDR and msg.header.is_response and msg.header.spi_i == first[:8] and cookie is not None
    assert len(msg.payloads) == 1 and msg.header.message_id == 0 and len(cookie.data) == 17
    assert isinstance(m.receive_datagram(_with_cookie(first, cookie.data), ADDR, 1.0), IkeSa)
    assert m.counters["cookies-sent"] == 1 and compared == [17]
