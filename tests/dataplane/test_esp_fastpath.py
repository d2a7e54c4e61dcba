"""EspSa's per-packet fast path (tunnel mode, one-shot AEAD) against its general path: the same bytes
out, the same packets in, the same errors and counters. GCM and ChaCha20-Poly1305 IVs are the
sequence number, so two SAs with the same keys that are fed the same packets must emit identical
wire bytes whichever path they take."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from ipsecd.dataplane.errors import ReplayError, StateModeError, StateProtocolError
from ipsecd.dataplane.esp import EspSa
from ipsecd.policy.types import Direction, Mode, UdpEncap
from ipsecd.wire import esp as wesp
from ipsecd.wire import ip as wip

from .test_esp import inner_packet, spec

AEADS = [("aes-128-gcm", 20), ("aes-256-gcm", 36), ("chacha20poly1305", 36)]


def _sas(encr: str, key: bytes, direction: Direction, **kw: object) -> tuple[EspSa, EspSa]:
    """(fast, general): two SAs of the same spec, the second forced onto the general path."""
    fast = EspSa(spec(direction, encr=encr, ekey=key, **kw))  # type: ignore[arg-type]
    slow = EspSa(spec(direction, encr=encr, ekey=key, **kw))  # type: ignore[arg-type]
    assert fast._fast
    slow._fast = slow._fast_full = False
    return fast, slow


@pytest.mark.parametrize(("encr", "klen"), AEADS)
@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("esn", [False, True])
@pytest.mark.parametrize("encap", [None, UdpEncap(4500, 4500)])
def test_fast_and_general_paths_agree_byte_for_byte(encr: str, klen: int, family: int, esn: bool,
                                                   encap: UdpEncap | None) -> None:
    key = os.urandom(klen)
    out_f, out_s = _sas(encr, key, Direction.OUT, family=family, esn=esn, encap=encap)
    in_f, in_s = _sas(encr, key, Direction.IN, family=family, esn=esn, encap=encap)
    assert out_f._fast_full == (family == 4 and encap is None)
    for size in (0, 1, 2, 3, 37, 1400):
        for inner_family in (4, 6):
            pkt = inner_packet(inner_family, Mode.TUNNEL, size)
            wire = out_f.seal(pkt, now=1.0)
            assert wire == out_s.seal(pkt, now=1.0)
            assert in_f.open(wire, now=2.0) == pkt
            assert in_s.open(wire, now=2.0) == pkt
            esp = out_f.seal_payload(pkt)
            assert esp == out_s.seal_payload(pkt)
            assert in_f.open_payload(esp) == pkt == in_s.open_payload(esp)
    for a, b in ((out_f, out_s), (in_f, in_s)):
        assert (a.seq, a.packets, a.bytes, a.last_used) == (b.seq, b.packets, b.bytes, b.last_used)
    assert in_f.replay is not None and in_s.replay is not None
    assert (in_f.replay.top, in_f.replay.bitmap) == (in_s.replay.top, in_s.replay.bitmap)


def test_outer_ipv4_header_copies_tos_and_df_and_counts_identification() -> None:
    out = _sas("aes-128-gcm", os.urandom(20), Direction.OUT)[0]
    pkt = bytearray(inner_packet(4, Mode.TUNNEL))  # DF set by the helper
    pkt[1] = 0xB8  # EF, Not-ECT
    pkt[10:12] = b"\0\0"
    pkt[10:12] = wip.checksum(pkt[:20]).to_bytes(2, "big")
    for seq in (1, 2):
        wire = out.seal(bytes(pkt))
        vihl, tos, total, ident, frag, ttl, proto, _, src, dst = wip.IPV4.unpack_from(wire)
        assert (vihl, tos, total, ident, frag, ttl, proto) == (0x45, 0xB8, len(wire), seq, 0x4000, 64, 50)
        assert wip.checksum(wire[:20]) == 0
        assert (src, dst) == (out.src, out.dst)


def _reseal(out: EspSa, plaintext: bytes) -> bytes:
    """An ESP packet (no outer header) from ``out``'s key with an arbitrary plaintext (trailer included)."""
    assert out._raw is not None
    out.seq += 1
    iv = out.seq.to_bytes(8, "big")
    hdr = wesp.HEADER.pack(out.spi, out.seq)
    return hdr + iv + out._raw.encrypt(out._salt + iv, plaintext, hdr)


def _opener(inn: EspSa, entry: str) -> Callable[[bytes], bytes]:
    """``open_payload``, or ``open`` of the same ESP packet under a raw-ESP outer IPv4 header (the
    two fast paths: payload and full packet)."""
    if entry == "payload":
        return inn.open_payload
    return lambda esp: inn.open(wip.ipv4_header(inn.src, inn.dst, wip.PROTO_ESP, len(esp)) + esp)


@pytest.mark.parametrize("entry", ["payload", "full"])
def test_fast_open_accepts_tfc_padding_dummies_and_marks_ce(entry: str) -> None:
    key = os.urandom(20)
    out = EspSa(spec(Direction.OUT, ekey=key))
    inn = EspSa(spec(Direction.IN, ekey=key))
    open_ = _opener(inn, entry)
    pkt = inner_packet(4, Mode.TUNNEL)
    # TFC padding after the inner packet (RFC 4303 §2.7): the inner header says where it ends
    assert open_(_reseal(out, pkt + bytes(13) + b"\x01\x02\x02\x04")) == pkt
    # more padding than needed (up to 255 bytes, §2.4) is valid too
    assert open_(_reseal(out, pkt + bytes(range(1, 9)) + b"\x08\x04")) == pkt
    # IPv6 inner packet with the minimal trailer
    pkt6 = inner_packet(6, Mode.TUNNEL, 5)
    assert open_(_reseal(out, pkt6 + wesp.trailer(len(pkt6), wip.PROTO_IPV6, 4))) == pkt6
    # a dummy packet (Next Header 59, §2.6) is consumed and not counted
    before = inn.packets
    assert open_(_reseal(out, os.urandom(10) + b"\x00\x3b")) == b""
    assert inn.packets == before
    # outer CE on an ECN-capable inner packet (RFC 6040)
    ect = bytearray(pkt)
    ect[1] |= 2
    ect[10:12] = b"\0\0"
    ect[10:12] = wip.checksum(ect[:20]).to_bytes(2, "big")
    opened = inn.open_payload(out.seal_payload(bytes(ect)), outer_tos=3)
    assert opened[1] & 3 == 3 and wip.checksum(opened[:20]) == 0


@pytest.mark.parametrize(
    ("plaintext", "error"),
    [
        (b"\x01\x03\x02\x04", StateProtocolError),  # padding not 1, 2
        (b"\x09\x04", StateProtocolError),  # pad length beyond the plaintext
        (b"\x45" + bytes(30) + b"\x00\x04", StateModeError),  # says IPv4, length field 0
        (inner_packet(6, Mode.TUNNEL) + b"\x00\x04", StateModeError),  # says IPv4, carries IPv6
        (inner_packet(4, Mode.TUNNEL) + b"\x00\x11", StateModeError),  # next header UDP in tunnel mode
        (b"\x45\x00\x00\x04\x01\x02\x02\x04", StateModeError),  # minimal trailer, IPv4 length 4 < 20
        (inner_packet(4, Mode.TUNNEL) + b"\x01\x02\x02\x29", StateModeError),  # IPv4 under next header 41
    ],
)
@pytest.mark.parametrize("entry", ["payload", "full"])
def test_fast_open_refuses_like_the_general_path(
    plaintext: bytes, error: type[Exception], entry: str
) -> None:
    key = os.urandom(20)
    out = EspSa(spec(Direction.OUT, ekey=key))
    fast, slow = _sas("aes-128-gcm", key, Direction.IN)
    esp = _reseal(out, plaintext)
    for sa in (fast, slow):
        with pytest.raises(error):
            _opener(sa, entry)(esp)
        assert sa.invalid_packets == 1
    # the window committed only what verified: the packet's number is taken after a valid ICV...
    assert fast.replay is not None and slow.replay is not None
    assert fast.replay.top == slow.replay.top
    # ...and a replay of it is refused before decryption on both paths
    for sa in (fast, slow):
        if sa.replay is not None and sa.replay.top:
            with pytest.raises(ReplayError):
                _opener(sa, entry)(esp)
