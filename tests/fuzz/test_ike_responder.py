"""Fuzz: mutated valid IKE messages fed to the codecs and to a responder raise only project errors
(codecs) or nothing at all (the SA), never crash; the responder keeps working afterwards."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.ike.router import Router
from ipsecd.ike.v2.sa import IkeSa, ikev2_router
from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev2.message import Message
from tests.ike.conftest import I_ADDR, R_ADDR, configs, det_rng, spi_allocator

ADDR = (R_ADDR, I_ADDR)


def _valid_exchange() -> tuple[bytes, bytes, Router]:
    """A real IKE_SA_INIT request, the IKE_AUTH request that follows, and a fresh responder."""
    i, r = configs()
    ini = IkeSa.initiator(i, rng=det_rng(b"fi"), spi_alloc=spi_allocator(1), now=0.0)
    init = ini.datagrams_to_send(0.0)[0][0]
    mgr = ikev2_router(lambda a: r, rng=det_rng(b"fr"), spi_alloc=spi_allocator(2), now=0.0)
    mgr.receive_datagram(init, ADDR, 0.0)
    resp = mgr.datagrams_to_send(0.0)[0][0]
    ini.receive_datagram(resp, (I_ADDR, R_ADDR), 0.0)
    auth = ini.datagrams_to_send(0.0)[0][0]
    return init, auth, mgr


INIT, AUTH, _ = _valid_exchange()


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        kind = rnd.randrange(5)
        pos = rnd.randrange(len(b)) if b else 0
        if kind == 0 and b:
            b[pos] ^= 1 << rnd.randrange(8)
        elif kind == 1:
            del b[pos:pos + rnd.randint(1, 16)]
        elif kind == 2:
            b[pos:pos] = rnd.randbytes(rnd.randint(1, 16))
        elif kind == 3 and len(b) > 32:  # aim at length fields, header or payload
            off = rnd.choice([24, 26, 30, 28 + 2, rnd.randrange(28, len(b) - 2)])
            b[off:off + 2] = rnd.randbytes(2)
        elif b:
            b[pos] = rnd.choice([0, 0xFF, 0x80, 33, 46])
    return bytes(b)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_codec_raises_only_wire_errors(data: bytes) -> None:
    try:
        Message.decode(data)
    except WireError:
        pass


@pytest.mark.parametrize("which", ["init", "auth"])
def test_mutated_messages_never_crash_the_responder(which: str) -> None:
    rnd = random.Random(7296)
    init, auth, mgr = _valid_exchange()
    base = init if which == "init" else auth
    for _ in range(400):
        mutant = _mutate(rnd, base)
        try:
            Message.decode(mutant)
        except WireError:
            pass
        mgr.receive_datagram(mutant, ADDR, 0.0)
        mgr.datagrams_to_send(0.0)
        mgr.events()
    # the genuine IKE_AUTH still completes the original SA afterwards (for the init run: it was never spoiled)
    if which == "auth":
        mgr.receive_datagram(auth, ADDR, 0.0)
        assert any(sa.state == "established" for sa in mgr.by_spi.values())


_VALID = Message.decode(INIT).payloads


@st.composite
def _payload_sets(draw: st.DrawFn) -> list[object]:
    """Valid IKE_SA_INIT payloads, shuffled, dropped, duplicated, with odd notifies and KE data."""
    from ipsecd.wire.enums import DhGroup, NotifyType
    from ipsecd.wire.ikev2.payloads.notify import NotifyPayload
    from ipsecd.wire.ikev2.payloads.simple import KePayload

    items: list[object] = list(draw(st.lists(st.sampled_from(_VALID), max_size=6)))
    for _ in range(draw(st.integers(0, 3))):
        ntype = draw(st.sampled_from([1, 14, 17, 24, 16388, 16389, 16390, 40000]))
        items.append(NotifyPayload(NotifyType(ntype), draw(st.binary(max_size=24))))
    if draw(st.booleans()):
        group = draw(st.sampled_from([14, 19, 31, 2, 999]))
        items.append(KePayload(DhGroup(group), draw(st.binary(max_size=80))))
    return draw(st.permutations(items))


@settings(max_examples=200, deadline=None)
@given(_payload_sets())
def test_odd_payload_sets_never_crash_the_responder(payloads: list[object]) -> None:
    from ipsecd.wire.enums import ExchangeType
    from ipsecd.wire.ikev2.header import FLAG_INITIATOR, Header

    _, r = configs()
    mgr = ikev2_router(lambda a: r, rng=det_rng(b"fz"), spi_alloc=spi_allocator(2), now=0.0)
    h = Header(b"\x07" * 8, bytes(8), 0, ExchangeType.IKE_SA_INIT, FLAG_INITIATOR, 0)
    data = Message(h, payloads).encode()  # type: ignore[arg-type]
    mgr.receive_datagram(data, ADDR, 0.0)
    for reply, _ in mgr.datagrams_to_send(0.0):
        Message.decode(reply)
    mgr.events()


@settings(max_examples=200, deadline=None)
@given(_payload_sets())
def test_odd_responses_never_crash_the_initiator(payloads: list[object]) -> None:
    from ipsecd.wire.enums import ExchangeType
    from ipsecd.wire.ikev2.header import FLAG_RESPONSE, Header

    i, _ = configs()
    ini = IkeSa.initiator(i, rng=det_rng(b"fi"), spi_alloc=spi_allocator(1), now=0.0)
    ini.datagrams_to_send(0.0)
    h = Header(ini.spi_i, b"\x09" * 8, 0, ExchangeType.IKE_SA_INIT, FLAG_RESPONSE, 0)
    ini.receive_datagram(Message(h, payloads).encode(), (I_ADDR, R_ADDR), 0.0)  # type: ignore[arg-type]
    ini.datagrams_to_send(0.0)
    while ini.next_event() is not None:
        pass


@st.composite
def _inner_sets(draw: st.DrawFn) -> tuple[int, list[object]]:
    from ipaddress import ip_address

    from ipsecd.wire.enums import DhGroup, EncrId, NotifyType, ProtocolId, TransformType, TsType
    from ipsecd.wire.ikev2.payloads.notify import DeletePayload, NotifyPayload
    from ipsecd.wire.ikev2.payloads.sa import Proposal, SaPayload, Transform
    from ipsecd.wire.ikev2.payloads.simple import KePayload, NoncePayload
    from ipsecd.wire.ikev2.payloads.ts import TrafficSelector, TsPayload

    ts = TrafficSelector(TsType.TS_IPV4_ADDR_RANGE, 0, 0, 65535, ip_address("10.1.0.0"),
                         ip_address("10.1.255.255"))
    pool = [
        SaPayload(
            [
                Proposal(
                    1,
                    ProtocolId.ESP,
                    b"\x00\x00\x30\x00",
                    [
                        Transform(TransformType.ENCR, EncrId.AES_GCM_16, 128),
                        Transform(TransformType.DH, 19),
                        Transform(TransformType.ESN, 0),
                    ],
                )
            ]
        ),
        SaPayload(
            [
                Proposal(
                    1,
                    ProtocolId.IKE,
                    b"\x01" * 8,
                    [
                        Transform(TransformType.ENCR, EncrId.AES_CBC, 128),
                        Transform(TransformType.PRF, 5),
                        Transform(TransformType.INTEG, 12),
                        Transform(TransformType.DH, 19),
                    ],
                )
            ]
        ),
        NoncePayload(b"n" * 32),
        KePayload(DhGroup.ECP256, b"\x04" * 64),
        KePayload(DhGroup(31), b"x"),
        TsPayload([ts]),
        TsPayload([ts], initiator=False),
        NotifyPayload(NotifyType.REKEY_SA, protocol=ProtocolId.ESP, spi=b"\x00\x00\x20\x00"),
        NotifyPayload(NotifyType.REKEY_SA, protocol=ProtocolId.ESP, spi=b"\x01"),
        DeletePayload(ProtocolId.ESP, [b"\x00\x00\x10\x00", b"\x00\x00\x99\x99"]),
        DeletePayload(ProtocolId.IKE),
        NotifyPayload(NotifyType.USE_TRANSPORT_MODE),
        NotifyPayload(NotifyType(40001)),
    ]
    exchange = draw(st.sampled_from([35, 36, 37, 99]))
    return exchange, list(draw(st.lists(st.sampled_from(pool), max_size=7)))


@settings(max_examples=150, deadline=None)
@given(_inner_sets())
def test_odd_encrypted_requests_never_crash_an_established_responder(case: tuple[int, list[object]]) -> None:
    from ipsecd.wire.enums import ExchangeType
    from ipsecd.wire.ikev2.header import FLAG_INITIATOR, Header

    exchange, payloads = case
    _, auth, mgr = _valid_exchange()
    mgr.receive_datagram(auth, ADDR, 0.0)
    sa = next(iter(mgr.by_spi.values()))
    assert sa.state == "established"
    # the initiator's keys: rebuild them from the responder's (roles mirrored)
    from ipsecd.ike.v2.protect import Protection

    assert sa.algs is not None and sa.keys is not None
    ini_prot = Protection.for_role(sa.algs, sa.keys, True, det_rng(b"iv"))
    h = Header(sa.spi_i, sa.spi_r, 0, ExchangeType(exchange), FLAG_INITIATOR, 2)
    mgr.receive_datagram(ini_prot.seal(h, payloads), ADDR, 0.0)  # type: ignore[arg-type]
    for reply, _ in mgr.datagrams_to_send(0.0):
        m = Message.decode(reply)
        ini_prot.unseal(reply, m)
    mgr.events()
