"""IKE fragmentation (RFC 7383) between two in-process peers: negotiation in IKE_SA_INIT, IKE_AUTH
with certificates cut into SKF fragments both ways, reassembly out of order, with duplicates, with a
fragment missing or tampered with (healed by retransmission of every fragment), a lost response
fragment answered once per retransmitted request, the reassembly bounds, and Wireshark's dissector
reading the fragments."""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ipsecd.crypto.keymat import IkeSaKeys
from ipsecd.ike.errors import InvalidMessageError
from ipsecd.ike.events import ChildSaInstalled, IkeSaEstablished
from ipsecd.ike.v2 import fragments
from ipsecd.ike.v2.config import IkeProposal
from ipsecd.ike.v2.fragments import MAX_FRAGMENTS, MAX_REASSEMBLY, REASSEMBLY_TIMEOUT, Reassembly, accepts
from ipsecd.ike.v2.proposals import ike_algs, ike_proposals
from ipsecd.ike.v2.protect import Protection
from ipsecd.wire.enums import ExchangeType, NotifyType, PayloadType
from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev2.header import FLAG_INITIATOR, Header
from ipsecd.wire.ikev2.message import Message, decode_chain
from ipsecd.wire.ikev2.payloads.cert import CertPayload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload
from ipsecd.wire.ikev2.payloads.simple import VendorPayload
from ipsecd.wire.ikev2.payloads.sk import SkPayload
from ipsecd.wire.ikev2.payloads.skf import SkfPayload

from .conftest import FAST_RETRANSMIT, I_ADDR, R_ADDR, Pair, configs
from .test_pubkey import signing, store
from .v1.pcap import udp_packet, write_pcap

SMALL = 576  # the smallest datagram IPv4 guarantees: IKE_AUTH with an RSA certificate needs several


def cert_pair(
    peer_pair: Callable[..., Pair],
    i_kw: dict[str, Any] | None = None,
    r_kw: dict[str, Any] | None = None,
    **pair_kw: Any,
) -> Pair:
    """Certificate peers (client / gw-rsa) with fragments of ``SMALL`` bytes unless told otherwise."""
    i, r = configs()
    i = replace(signing(i, store("client")), fragment_size=SMALL, retransmit=FAST_RETRANSMIT, **(i_kw or {}))
    r = replace(signing(r, store("gw-rsa")), fragment_size=SMALL, retransmit=FAST_RETRANSMIT, **(r_kw or {}))
    return peer_pair(i, r, **pair_kw)


def auth_datagrams(p: Pair, direction: str) -> list[Message]:
    return [
        m
        for d, b in p.wire
        if d == direction and (m := Message.decode(b)).header.exchange == ExchangeType.IKE_AUTH
    ]


def is_fragment(direction: str, data: bytes, exchange: ExchangeType = ExchangeType.IKE_AUTH) -> bool:
    msg = Message.decode(data)
    return msg.header.exchange == exchange and isinstance(msg.payloads[-1], SkfPayload)


def up(p: Pair) -> None:
    assert p.events("i", IkeSaEstablished) and p.events("r", IkeSaEstablished)
    assert p.events("i", ChildSaInstalled) and p.events("r", ChildSaInstalled)


def test_ike_auth_is_fragmented_both_ways(peer_pair: Callable[..., Pair]) -> None:
    p = cert_pair(peer_pair)
    p.pump()
    up(p)
    for direction in ("i>r", "r>i"):
        init = next(
            Message.decode(b) for d, b in p.wire if d == direction and Message.decode(b).header.exchange == 34
        )
        assert init.notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not None
        sent = auth_datagrams(p, direction)
        frags = [m.payloads[-1] for m in sent]
        assert len(frags) >= 2 and all(isinstance(f, SkfPayload) for f in frags)
        assert [(f.number, f.total) for f in frags] == [(n, len(frags)) for n in range(1, len(frags) + 1)]
        assert frags[0].first_inner != 0 and all(f.first_inner == 0 for f in frags[1:])
        # every fragment fits the datagram: IP and UDP headers included
        assert all(m.header.length + 28 <= SMALL for m in sent)
    assert p.i.fragmentation and p.rsa.fragmentation
    certs = [x for x in p.decrypted("r>i", ExchangeType.IKE_AUTH) if isinstance(x, CertPayload)]
    assert len(certs) == 1  # the reassembled message is the one sealed
    # small messages stay whole: a DPD after the handshake is one SK datagram
    p.i.tm.queue_dpd()
    p.pump()
    last = Message.decode(p.wire[-1][1])
    assert last.header.exchange == ExchangeType.INFORMATIONAL and isinstance(last.payloads[-1], SkPayload)


@pytest.mark.parametrize("side", ["i", "r"])
def test_not_negotiated_when_one_side_is_off(peer_pair: Callable[..., Pair], side: str) -> None:
    off = {"fragmentation": False}
    p = cert_pair(peer_pair, i_kw=off if side == "i" else None, r_kw=off if side == "r" else None)
    p.pump()
    up(p)  # no path MTU here: whole messages arrive
    assert not p.i.fragmentation and not p.rsa.fragmentation
    r_init = next(Message.decode(b) for d, b in p.wire if d == "r>i")
    assert r_init.notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is None
    assert not any(is_fragment(d, b) for d, b in p.wire)


def test_out_of_order_and_duplicated_fragments(peer_pair: Callable[..., Pair]) -> None:
    held: list[bytes] = []

    def hold(direction: str, data: bytes) -> bool:
        if direction == "i>r" and is_fragment(direction, data):
            held.append(data)
            return True
        return False

    p = cert_pair(peer_pair, drop=hold)
    p.pump()
    assert len(held) >= 2 and not p.events("r", IkeSaEstablished)
    p.drop = lambda d, b: False
    for data in [held[-1], *reversed(held), held[-1]]:  # the last first, and twice more
        p.r.receive_datagram(data, (R_ADDR, I_ADDR), p.now)
    p.pump()
    up(p)
    response = auth_datagrams(p, "r>i")
    assert sorted(m.payloads[-1].number for m in response) == list(range(1, len(response) + 1))
    # fragment 1 of the answered request again: a retransmission, answered from the cache
    p.r.receive_datagram(held[0], (R_ADDR, I_ADDR), p.now)
    p.pump()
    assert len(auth_datagrams(p, "r>i")) == 2 * len(response) and p.rsa.counters["retransmits"] == 1


def test_missing_fragment_is_recovered_by_retransmitting_all(peer_pair: Callable[..., Pair]) -> None:
    dropped: list[bytes] = []

    def lose_second(direction: str, data: bytes) -> bool:
        if not dropped and is_fragment(direction, data) and Message.decode(data).payloads[-1].number == 2:
            dropped.append(data)
            return True
        return False

    p = cert_pair(peer_pair, drop=lose_second)
    p.pump()
    assert dropped and not p.events("r", IkeSaEstablished) and not auth_datagrams(p, "r>i")
    first = len(auth_datagrams(p, "i>r"))
    p.advance(FAST_RETRANSMIT.timeout)
    up(p)
    assert len(auth_datagrams(p, "i>r")) == 2 * first  # every fragment went again


def test_lost_response_fragment_answered_once_per_retransmission(peer_pair: Callable[..., Pair]) -> None:
    dropped: list[bytes] = []

    def lose_response(direction: str, data: bytes) -> bool:
        if direction == "r>i" and not dropped and is_fragment(direction, data):
            dropped.append(data)
            return True
        return False

    p = cert_pair(peer_pair, drop=lose_response)
    p.pump()
    assert not p.events("i", IkeSaEstablished) and p.events("r", IkeSaEstablished)
    response = len(auth_datagrams(p, "r>i"))
    p.advance(FAST_RETRANSMIT.timeout)
    up(p)
    # the request's n fragments came again; only fragment 1 brought the cached response back
    assert len(auth_datagrams(p, "r>i")) == 2 * response
    assert p.rsa.counters["retransmits"] == 1


def test_tampered_fragment_is_not_kept(peer_pair: Callable[..., Pair]) -> None:
    tampered: list[bytes] = []

    def flip(direction: str, data: bytes) -> bytes:
        if not tampered and direction == "i>r" and is_fragment(direction, data):
            tampered.append(data)
            return data[:-1] + bytes([data[-1] ^ 1])
        return data

    p = cert_pair(peer_pair, mangle=flip)
    p.pump()
    assert p.rsa.counters["bad-integrity"] == 1 and not p.events("r", IkeSaEstablished)
    p.advance(FAST_RETRANSMIT.timeout)
    up(p)


def test_fragments_from_a_peer_that_did_not_negotiate_are_dropped(peer_pair: Callable[..., Pair]) -> None:
    p = cert_pair(peer_pair, r_kw={"fragmentation": False})
    p.pump()
    up(p)
    sa, rsa = p.i, p.rsa
    assert sa.protection is not None
    header = Header(sa.spi_i, sa.spi_r, 0, ExchangeType.INFORMATIONAL, FLAG_INITIATOR, sa.tm.mid_out)
    frags = sa.protection.seal_fragments(header, [VendorPayload(bytes(2000))], 1000)
    assert len(frags) == 3
    before = rsa.counters["dropped"]
    for f in frags:
        p.r.receive_datagram(f, (R_ADDR, I_ADDR), p.now)
    assert rsa.counters["dropped"] == before + 3 and p.r.datagrams_to_send(p.now) == []


def test_oversized_messages_are_refused(peer_pair: Callable[..., Pair]) -> None:
    """More fragments than MAX_FRAGMENTS: dropped before decryption; the SA carries on."""
    p = cert_pair(peer_pair)
    p.pump()
    up(p)
    sa, rsa = p.i, p.rsa
    assert sa.protection is not None
    header = Header(sa.spi_i, sa.spi_r, 0, ExchangeType.INFORMATIONAL, FLAG_INITIATOR, sa.tm.mid_out)
    frags = sa.protection.seal_fragments(header, [VendorPayload(bytes(250 * (MAX_FRAGMENTS + 1)))], 300)
    assert Message.decode(frags[0]).payloads[-1].total > MAX_FRAGMENTS
    before = rsa.counters
    for f in frags:
        p.r.receive_datagram(f, (R_ADDR, I_ADDR), p.now)
    assert rsa.counters["dropped"] == before["dropped"] + len(frags)
    assert rsa.tm.defrag_req is None and p.r.datagrams_to_send(p.now) == []
    p.i.tm.queue_dpd()
    p.pump()
    assert rsa.state == "established"


def test_reassembly_rules() -> None:
    r = accepts(None, 5, 3, 0.0)
    assert r is not None and r.add(2, 0, b"b") and not r.complete
    assert accepts(r, 5, 3, 1.0) is r
    assert accepts(r, 5, 2, 1.0) is None  # an older, coarser cut of the same message
    finer = accepts(r, 5, 4, 1.0)
    assert finer is not r and finer is not None and not finer.parts  # re-fragmented: start over
    assert accepts(r, 6, 3, 1.0) is not r  # another message replaces it
    assert accepts(r, 5, 3, REASSEMBLY_TIMEOUT + 1) is not r  # too old
    assert accepts(None, 5, MAX_FRAGMENTS + 1, 0.0) is None
    assert r.add(2, 0, b"x") and r.parts[2] == b"b"  # duplicates keep the first copy
    assert r.add(3, 0, b"c") and r.add(1, PayloadType.VENDOR, b"a") and r.complete
    assert r.assemble() == b"abc" and r.first_inner == PayloadType.VENDOR
    big = Reassembly(1, 2, 0.0)
    assert big.add(1, 0, bytes(MAX_REASSEMBLY)) and not big.add(2, 0, b"!")  # memory bound
    assert fragments.fragment_limit(1280, "192.0.2.1", False) == 1252
    assert fragments.fragment_limit(1280, "2001:db8::1", True) == 1228


def _protections(encr: str, integ: tuple[str, ...]) -> tuple[Protection, Protection]:
    algs = ike_algs(ike_proposals((IkeProposal((encr,), integ, ("sha256",), ("ecp256",)),))[0])
    k = algs.encr.keymat_size
    a = algs.integ.key_size if algs.integ else 0
    keys = IkeSaKeys(b"d" * 32, b"a" * a, b"b" * a, b"e" * k, b"f" * k, b"p" * 32, b"q" * 32)
    counter = iter(range(1 << 30))
    rng = lambda n: bytes([next(counter) & 0xFF]) * n  # noqa: E731
    return Protection.for_role(algs, keys, True, rng), Protection.for_role(algs, keys, False, rng)


@pytest.mark.parametrize(
    ("encr", "integ"), [("aes-128", ("sha256",)), ("aes-256-gcm", ()), ("3des", ("sha1",))]
)
def test_seal_fragments_round_trip(encr: str, integ: tuple[str, ...]) -> None:
    out, into = _protections(encr, integ)
    payloads = [VendorPayload(bytes(range(256)) * 9), NotifyPayload(NotifyType.INITIAL_CONTACT)]
    header = Header(b"I" * 8, b"R" * 8, 0, ExchangeType.IKE_AUTH, FLAG_INITIATOR, 1)
    frags = out.seal_fragments(header, payloads, 700)
    assert len(frags) > 3 and all(len(f) <= 700 for f in frags)
    assert len(frags[0]) >= 700 - 16  # full fragments use the room
    plain = b""
    for data in frags:
        skf = Message.decode(data).payloads[-1]
        assert isinstance(skf, SkfPayload)
        plain += into.unseal_fragment(data, skf)
    first = Message.decode(frags[0]).payloads[-1]
    assert decode_chain(first.first_inner, plain) == payloads
    # the fragment numbers are authenticated: a fragment renumbered does not verify
    renumbered = frags[1][:32] + struct.pack("!H", 3) + frags[1][34:]
    with pytest.raises(InvalidMessageError):
        into.unseal_fragment(renumbered, Message.decode(renumbered).payloads[-1])
    # a message that fits goes whole
    (whole,) = out.seal_fragments(header, payloads[1:], 700)
    assert isinstance(Message.decode(whole).payloads[-1], SkPayload)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (struct.pack("!HH", 0, 2), "fragment 0 of 2"),
        (struct.pack("!HH", 3, 2), "fragment 3 of 2"),
        (b"\x00", "shorter than"),
    ],
)
def test_malformed_skf_is_refused(body: bytes, why: str) -> None:
    header = Header(b"I" * 8, b"R" * 8, PayloadType.SKF, ExchangeType.IKE_AUTH, FLAG_INITIATOR, 1)
    data = header.encode(28 + 4 + len(body)) + struct.pack("!BBH", 35, 0, 4 + len(body)) + body
    with pytest.raises(WireError, match=why):
        Message.decode(data)
    trailing = struct.pack("!BBH", 0, 0, 8) + struct.pack("!HH", 1, 1)
    data = header.encode(28 + 16) + struct.pack("!BBH", 35, 0, 8) + struct.pack("!HH", 1, 1) + trailing
    with pytest.raises(WireError, match="not the last payload"):
        Message.decode(data)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (setup.sh)")
def test_tshark_dissects_the_fragments(peer_pair: Callable[..., Pair], tmp_path: Path) -> None:
    p = cert_pair(peer_pair)
    p.pump()
    up(p)
    packets = [
        udp_packet(I_ADDR if d == "i>r" else R_ADDR, R_ADDR if d == "i>r" else I_ADDR, b) for d, b in p.wire
    ]
    write_pcap(tmp_path / "frag.pcap", packets)
    out = subprocess.run(
        [
            "tshark",
            "-n",
            "-r",
            str(tmp_path / "frag.pcap"),
            "-T",
            "fields",
            "-e",
            "isakmp.frag.number",
            "-e",
            "isakmp.frag.total",
            "-Y",
            "isakmp.exchangetype == 35",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    expected = [
        [str(m.payloads[-1].number), str(m.payloads[-1].total)]
        for d in ("i>r", "r>i")
        for m in auth_datagrams(p, d)
    ]
    assert sorted(rows) == sorted(expected) and len(rows) >= 4
    text = subprocess.run(
        ["tshark", "-n", "-r", str(tmp_path / "frag.pcap"), "-V"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "Encrypted and Authenticated Fragment (53)" in text and "Malformed" not in text
