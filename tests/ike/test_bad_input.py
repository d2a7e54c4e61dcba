"""Bad input to IKE SAs: truncated/oversized messages, unknown critical payloads, bad integrity,
unknown SPIs, replayed message IDs, IKE_SA_INIT floods — dropped or answered per RFC 7296, counted."""

from __future__ import annotations

from collections.abc import Callable

from ipsecd.ike.events import ChildSaInstalled, IkeSaDeleted, IkeSaEstablished
from ipsecd.ike.router import Router
from ipsecd.ike.v2.sa import IkeSa, ikev2_router
from ipsecd.wire.enums import ExchangeType, NotifyType
from ipsecd.wire.ikev2.message import Message

from .conftest import I_ADDR, R_ADDR, Pair, configs, det_rng, spi_allocator

ADDR = (R_ADDR, I_ADDR)  # the responder's view: (local, remote)


def _init_request(label: bytes = b"i") -> bytes:
    i, _ = configs()
    sa = IkeSa.initiator(i, rng=det_rng(label), spi_alloc=spi_allocator(1), now=0.0)
    return sa.datagrams_to_send(0.0)[0][0]


def _manager(**kw: int) -> Router:
    _, r = configs()
    return ikev2_router(lambda addr: r, rng=det_rng(b"r"), spi_alloc=spi_allocator(0x2000), now=0.0, **kw)


def test_truncated_oversized_and_garbage_are_counted() -> None:
    m = _manager()
    data = _init_request()
    for bad in (data[:10], data[:-3], data + b"\x00" * 9, b"\xff" * 3000, b""):
        assert m.receive_datagram(bad, ADDR, 0.0) is None or not m.datagrams_to_send(0.0)
    assert m.counters["malformed"] >= 3
    assert m.datagrams_to_send(0.0) == []


def test_unknown_critical_payload_answered() -> None:
    data = bytearray(_init_request())
    # append an unknown critical payload (type 200) after the last one
    last_np_offset = 28
    while True:  # walk the chain to the last payload's Next Payload byte
        length = int.from_bytes(data[last_np_offset + 2:last_np_offset + 4], "big")
        if data[last_np_offset] == 0:
            break
        last_np_offset += length
    data[last_np_offset] = 200
    data += bytes([0, 0x80, 0, 8]) + b"abcd"
    data[24:28] = len(data).to_bytes(4, "big")
    m = _manager()
    m.receive_datagram(bytes(data), ADDR, 0.0)
    out = m.datagrams_to_send(0.0)
    m.events()
    out += m.datagrams_to_send(0.0)
    assert len(out) == 1
    reply = Message.decode(out[0][0])
    n = reply.notify(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD)
    assert n is not None and n.data == bytes([200]) and reply.header.is_response
    assert not m.by_spi and not m.half_open  # nothing kept


def test_unknown_noncritical_payload_ignored() -> None:
    data = _init_request()
    first = data[16]
    out = bytearray(data[:28] + bytes([first, 0, 0, 8]) + b"zzzz" + data[28:])
    out[16] = 201  # the header's first payload is now an unknown, non-critical one
    out[24:28] = len(out).to_bytes(4, "big")
    m = _manager()
    m.receive_datagram(bytes(out), ADDR, 0.0)
    reply = Message.decode(m.datagrams_to_send(0.0)[0][0])
    assert [x.ptype() for x in reply.payloads][:3] == [33, 34, 40]  # SA, KE, Nonce: answered normally


def test_bad_integrity_dropped_silently_then_retransmission_works(peer_pair: Callable[..., Pair]) -> None:
    flipped: list[int] = []

    def flip(direction: str, data: bytes) -> bytes:
        if (
            direction == "i>r"
            and Message.decode(data).header.exchange == ExchangeType.IKE_AUTH
            and not flipped
        ):
            flipped.append(1)
            return data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]
        return data

    p = peer_pair(mangle=flip)
    p.pump()
    assert not p.events("r", IkeSaEstablished) and p.rsa.counters["bad-integrity"] == 1
    assert [d for d, _ in p.wire].count("r>i") == 1  # no answer to the forged message
    p.advance(4.0)
    assert p.events("r", IkeSaEstablished) and p.events("i", ChildSaInstalled)


def test_unknown_spi_counted(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    p.pump()
    auth = next(
        b for d, b in p.wire if d == "i>r" and Message.decode(b).header.exchange == ExchangeType.IKE_AUTH
    )
    bad = auth[:8] + b"\x55" * 8 + auth[16:]
    assert p.r.receive_datagram(bad, ADDR, p.now) is None
    assert p.r.counters["unknown-spi"] == 1


def test_replayed_message_ids(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    p.pump()
    sent = [b for d, b in p.wire if d == "i>r"]
    answers = [b for d, b in p.wire if d == "r>i"]
    p.r.receive_datagram(sent[1], ADDR, p.now)  # the last request again: the cached response
    assert p.r.datagrams_to_send(p.now) == [(answers[1], ADDR)]
    assert len(p.events("r", ChildSaInstalled)) == 1 and p.rsa.counters["retransmits"] == 1
    # an established SA keeps no (address, SPIi) entry: the initiator retransmits IKE_SA_INIT no more
    assert p.r.by_init == {} and p.r.half_open == {}
    established = p.rsa
    p.r.receive_datagram(sent[0], ADDR, p.now)  # a replayed IKE_SA_INIT: one more spoofable request
    assert len(p.r.datagrams_to_send(p.now)) == 1 and len(p.r.half_open) == 1  # held like any other
    assert established.counters["retransmits"] == 1 and established not in p.r.half_open
    p.r.handle_timer(p.now + 30.0)  # the half-open timeout takes it; the established SA stays
    p.r.events()
    assert p.r.half_open == {} and p.r.sas() == [established]


def test_init_flood_engages_cookies_and_stays_bounded() -> None:
    m = _manager(cookie_threshold=20, max_half_open=50)
    for n in range(200):
        m.receive_datagram(
            _init_request(b"flood%d" % n), ((R_ADDR[0], 500), (f"192.0.2.{n % 250}", 500)), 0.0
        )
        m.datagrams_to_send(0.0)
        m.events()
    assert len(m.by_spi) == 20 and len(m.half_open) == 20
    assert m.counters["cookies-sent"] == 180


def test_half_open_responder_times_out() -> None:
    m = _manager()
    m.receive_datagram(_init_request(), ADDR, 0.0)
    m.datagrams_to_send(0.0)
    assert len(m.half_open) == 1 and m.get_timer() == 30.0
    m.handle_timer(30.0)
    events = [e for _, e in m.events()]
    assert any(isinstance(e, IkeSaDeleted) and "half-open" in e.reason for e in events)
    assert not m.half_open and not m.by_spi


def test_unknown_critical_payload_inside_sk_answered_encrypted(peer_pair: Callable[..., Pair]) -> None:
    from ipsecd.wire.ikev2.header import FLAG_INITIATOR, Header
    from ipsecd.wire.ikev2.payloads.base import RawPayload

    p = peer_pair()
    p.pump()
    assert p.i.protection is not None
    header = Header(p.i.spi_i, p.i.spi_r, 0, ExchangeType.INFORMATIONAL, FLAG_INITIATOR, 2)
    forged = p.i.protection.seal(header, [RawPayload(222, b"?", critical=True)])
    p.r.receive_datagram(forged, ADDR, p.now)
    ((reply, _),) = p.r.datagrams_to_send(p.now)
    msg = Message.decode(reply)
    inner = Message(msg.header, p.i.protection.unseal(reply, msg))
    n = inner.notify(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD)
    assert n is not None and n.data == bytes([222]) and msg.header.message_id == 2
    assert p.rsa.state == "established"


def test_request_with_only_an_error_notify_is_refused() -> None:
    from ipsecd.wire.ikev2.header import FLAG_INITIATOR, Header
    from ipsecd.wire.ikev2.payloads.notify import NotifyPayload

    h = Header(b"\x01" * 8, bytes(8), 0, ExchangeType.IKE_SA_INIT, FLAG_INITIATOR, 0)
    data = Message(h, [NotifyPayload(NotifyType.NO_PROPOSAL_CHOSEN)]).encode()
    m = _manager()
    m.receive_datagram(data, ADDR, 0.0)
    out = m.datagrams_to_send(0.0)
    m.events()
    out += m.datagrams_to_send(0.0)
    assert Message.decode(out[0][0]).notify(NotifyType.INVALID_SYNTAX) is not None
    assert not m.by_spi


def test_garbage_behind_a_valid_header_leaves_no_sa() -> None:
    data = bytearray(_init_request())
    data[30:32] = b"\xff\xff"  # the first payload's length overruns the message
    m = _manager()
    m.receive_datagram(bytes(data), ADDR, 0.0)
    m.datagrams_to_send(0.0)
    assert any(isinstance(e, IkeSaDeleted) for _, e in m.events())
    assert not m.by_spi and not m.half_open and m.datagrams_to_send(0.0) == []
