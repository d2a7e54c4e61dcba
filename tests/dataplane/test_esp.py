"""EspSa: round trips for every algorithm, mode, family and encapsulation; IVs, padding, ESN, per-SA
counters (RFC 4303). The error → counter mapping is in test_esp_errors.py, scapy in test_scapy_esp.py."""

from __future__ import annotations

import itertools
import os
import struct
from ipaddress import ip_address

import pytest

from ipsecd.crypto import registry
from ipsecd.dataplane.errors import ConfigError, OutError, SequenceOverflowError
from ipsecd.dataplane.esp import EspSa
from ipsecd.policy.types import Direction, IpsecProto, Mode, SaSpec, UdpEncap
from ipsecd.wire import esp as wesp
from ipsecd.wire import ip as wip


def _every_esp_transform() -> list[tuple[str, int, str, int]]:
    """(encr, encr key bytes incl. salt, integ, integ key bytes): every ESP encryption of the crypto
    registry, non-AEAD ones paired in turn with every integrity algorithm, plus ESP-NULL and
    encryption without integrity (RFC 4303 §3.2 allows both)."""
    integs = [a for a in registry.INTEG_ALGS if a.icv_size]
    out: list[tuple[str, int, str, int]] = []
    k = 0
    for e in registry.ENCR_ALGS:
        if e.mode == "null":
            continue
        if e.aead:
            out.append((e.name, e.keymat_size, "null", 0))
        else:
            i = integs[k % len(integs)]
            k += 1
            out.append((e.name, e.keymat_size, i.name, i.key_size))
    out += [("null", 0, i.name, i.key_size) for i in integs]
    out.append(("aes-256-cbc", 32, "null", 0))
    return out


ALGS = _every_esp_transform()
ALG_IDS = [f"{e}+{i}" for e, _, i, _ in ALGS]

ADDRS = {4: ("192.0.2.1", "192.0.2.2"), 6: ("2001:db8::1", "2001:db8::2")}
INNER_ADDRS = {4: ("10.1.0.1", "10.2.0.1"), 6: ("fd00:1::1", "fd00:2::1")}


def spec(direction: Direction, *, encr: str = "aes-128-gcm", ekey: bytes | None = None, integ: str = "null",
         ikey: bytes = b"", mode: Mode = Mode.TUNNEL, family: int = 4, encap: UdpEncap | None = None,
         esn: bool = False, spi: int = 0x1000, window: int = 128) -> SaSpec:
    src, dst = ADDRS[family]
    if ekey is None:
        ekey = bytes(range(20))
    return SaSpec(
        spi,
        direction,
        IpsecProto.ESP,
        mode,
        ip_address(src),
        ip_address(dst),
        encr,
        ekey,
        integ,
        ikey,
        encap=encap,
        esn=esn,
        replay_window=window,
    )


def pair(**kw: object) -> tuple[EspSa, EspSa]:
    """An outbound SA and its matching inbound SA (same keys)."""
    return EspSa(spec(Direction.OUT, **kw)), EspSa(spec(Direction.IN, **kw))  # type: ignore[arg-type]


def alg_pair(alg: tuple[str, int, str, int], **kw: object) -> tuple[EspSa, EspSa]:
    encr, elen, integ, ilen = alg
    return pair(encr=encr, ekey=os.urandom(elen), integ=integ, ikey=os.urandom(ilen), **kw)


def udp_packet(family: int, src: str, dst: str, payload: bytes = b"hello ipsec", sport: int = 1234,
               dport: int = 53) -> bytes:
    s, d = ip_address(src).packed, ip_address(dst).packed
    udp = wip.udp_datagram(sport, dport, payload, s, d, v4_checksum=True)
    if family == 4:
        return wip.ipv4_header(s, d, wip.PROTO_UDP, len(udp), ident=7, df=True) + udp
    return wip.ipv6_header(s, d, wip.PROTO_UDP, len(udp)) + udp


def inner_packet(family: int, mode: Mode, size: int = 37) -> bytes:
    addrs = INNER_ADDRS[family] if mode is Mode.TUNNEL else ADDRS[family]
    return udp_packet(family, *addrs, payload=os.urandom(size))


@pytest.mark.parametrize("alg", ALGS, ids=ALG_IDS)
@pytest.mark.parametrize(
    ("mode", "outer", "inner", "encap"),
    [
        (mode, outer, inner, encap)
        for mode, outer, inner, encap in itertools.product(
            (Mode.TUNNEL, Mode.TRANSPORT), (4, 6), (4, 6), (None, UdpEncap(4500, 4501))
        )
        if mode is Mode.TUNNEL or outer == inner
    ],
)
def test_round_trip(
    alg: tuple[str, int, str, int], mode: Mode, outer: int, inner: int, encap: UdpEncap | None
) -> None:
    out, inn = alg_pair(alg, mode=mode, family=outer, encap=encap)
    for size in (0, 1, 37, 1400):
        pkt = inner_packet(inner, mode, size)
        wire = out.seal(pkt)
        p = wip.parse(wire)
        assert p.version == outer
        assert p.proto == (wip.PROTO_UDP if encap else wip.PROTO_ESP)
        if mode is Mode.TUNNEL:
            assert (p.src, p.dst) == (out.src, out.dst)
        assert inn.open(wire, now=5.0) == pkt
    assert inn.packets == out.packets == 4
    assert inn.bytes == out.bytes > 0
    assert inn.last_used == 5.0


@pytest.mark.parametrize("mode", [Mode.TUNNEL, Mode.TRANSPORT])
@pytest.mark.parametrize("family", [4, 6])
def test_payload_api_round_trip(mode: Mode, family: int) -> None:
    """seal_payload/open_payload: what a backend sending through a socket uses (no outer header)."""
    out, inn = pair(mode=mode, family=family, encap=UdpEncap())
    pkt = inner_packet(family, mode, 100)
    esp = out.seal_payload(pkt)
    assert struct.unpack_from("!I", esp)[0] == 0x1000
    got = inn.open_payload(esp)
    if mode is Mode.TUNNEL:
        assert got == pkt
    else:  # transport: the header is rebuilt from the SA's addresses (socket receive has no header)
        g, p = wip.parse(got), wip.parse(pkt)
        assert (g.src, g.dst, g.proto, got[g.l4_off :]) == (p.src, p.dst, p.proto, pkt[p.l4_off :])


def test_transport_keeps_ipv4_options_and_ipv6_extension_headers() -> None:
    out, inn = pair(mode=Mode.TRANSPORT)
    pkt = bytearray(udp_packet(4, *ADDRS[4]))
    # add a Router Alert option (4 bytes): IHL 6
    opts = b"\x94\x04\x00\x00"
    hdr = wip.rewrite_header(bytes([0x46]) + bytes(pkt[1:20]) + opts, 9, wip.PROTO_UDP, len(pkt) + 4)
    with_opts = bytes(hdr) + bytes(pkt[20:])
    wire = out.seal(with_opts)
    assert wire[20:24] == opts and wire[9] == wip.PROTO_ESP
    assert inn.open(wire) == with_opts
    out6, in6 = pair(mode=Mode.TRANSPORT, family=6)
    base = udp_packet(6, *ADDRS[6])
    hbh = bytes([wip.PROTO_UDP, 0, 5, 2, 0, 0, 1, 0])  # Hop-by-Hop: Router Alert + PadN
    pkt6 = wip.splice(base, 40, 6, wip.PROTO_HOPOPTS, hbh + base[40:])
    wire6 = out6.seal(pkt6)
    assert wire6[6] == wip.PROTO_HOPOPTS and wire6[40] == wip.PROTO_ESP  # ESP after Hop-by-Hop
    assert in6.open(wire6) == pkt6


def test_counter_mode_iv_is_the_sequence_number_and_never_repeats() -> None:
    for encr, elen in (("aes-128-gcm", 20), ("chacha20poly1305", 36), ("aes-128-ctr", 20)):
        integ, ilen = ("sha1", 20) if encr.endswith("ctr") else ("null", 0)
        out, _ = pair(encr=encr, ekey=os.urandom(elen), integ=integ, ikey=os.urandom(ilen))
        ivs = set()
        for i in range(1, 300):
            esp = out.seal_payload(inner_packet(4, Mode.TUNNEL, 10))
            assert esp[4:8] == i.to_bytes(4, "big")
            iv = esp[8:16]
            assert iv == i.to_bytes(8, "big")
            ivs.add(iv)
        assert len(ivs) == 299


def test_cbc_iv_is_fresh_per_packet() -> None:
    out, inn = pair(encr="aes-128-cbc", ekey=os.urandom(16), integ="sha256", ikey=os.urandom(32))
    pkt = inner_packet(4, Mode.TUNNEL)
    esps = [out.seal_payload(pkt) for _ in range(200)]
    assert len({e[8:24] for e in esps}) == 200  # no IV twice
    assert len({e[24:40] for e in esps}) == 200  # so identical plaintexts never encrypt alike
    assert all(inn.open_payload(e) == pkt for e in esps)


@pytest.mark.parametrize(
    ("encr", "elen", "align"), [("aes-128-cbc", 16, 16), ("aes-128-gcm", 20, 4), ("null", 0, 4)]
)
def test_padding_is_monotonic_and_aligned(encr: str, elen: int, align: int) -> None:
    integ, ilen = ("sha256", 32) if encr in ("null", "aes-128-cbc") else ("null", 0)
    key = os.urandom(elen)
    out, inn = pair(encr=encr, ekey=key, integ=integ, ikey=os.urandom(ilen))
    for size in range(0, 40):
        pkt = inner_packet(4, Mode.TUNNEL, size)
        esp = out.seal_payload(pkt)
        nh, payload = inn.open_esp(esp)
        assert (nh, payload) == (wip.PROTO_IPIP, pkt)
        body = len(esp) - inn._lay.ct_off - inn._lay.icv_size
        assert body % align == 0
        padlen = body - len(pkt) - 2
        assert 0 <= padlen < align
        if encr == "null":  # plaintext visible: check the pad bytes themselves
            assert esp[8 + len(pkt) : 8 + len(pkt) + padlen] == bytes(range(1, padlen + 1))


def test_esn_high_bits_are_authenticated_and_wrap_the_low_bits() -> None:
    out, inn = pair(esn=True)
    out.seq = (1 << 32) - 3
    inn.replay.top = (1 << 32) - 3  # type: ignore[union-attr]
    lows = []
    for _ in range(5):
        wire = out.seal(inner_packet(4, Mode.TUNNEL))
        lows.append(struct.unpack_from("!I", wire, 24)[0])
        assert inn.open(wire)
    assert lows == [0xFFFFFFFE, 0xFFFFFFFF, 0, 1, 2]
    assert inn.replay.top == (1 << 32) + 2  # type: ignore[union-attr]
    # the same bytes with the receiver believing a different epoch do not verify (high bits in the AAD)
    _, other = pair(esn=False)
    wire = out.seal(inner_packet(4, Mode.TUNNEL))
    with pytest.raises(Exception) as ei:
        other.open(wire)
    assert ei.value.__class__.__name__ == "StateProtocolError"


def test_sequence_number_never_wraps() -> None:
    out, _ = pair()
    out.seq = (1 << 32) - 2
    out.seal(inner_packet(4, Mode.TUNNEL))
    with pytest.raises(SequenceOverflowError):
        out.seal(inner_packet(4, Mode.TUNNEL))
    assert out.seq == (1 << 32) - 1
    out_esn, _ = pair(esn=True)
    out_esn.seq = (1 << 32) - 1
    out_esn.seal(inner_packet(4, Mode.TUNNEL))
    assert out_esn.seq == 1 << 32


def test_dummy_packet_is_dropped_silently() -> None:
    out, inn = pair()
    esp = out.seal_esp(b"\x00" * 20, wesp.NEXT_HEADER_NONE)
    assert inn.open_payload(esp) == b""
    assert inn.packets == 0


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(ConfigError):
        EspSa(spec(Direction.OUT, encr="aes-128-gcm", integ="sha1", ikey=bytes(20)))
    with pytest.raises(ConfigError):
        EspSa(spec(Direction.OUT, encr="null", ekey=b"", integ="null"))
    with pytest.raises(ConfigError):
        EspSa(spec(Direction.OUT, encr="aes-128-gcm", ekey=bytes(19)))
    with pytest.raises(ConfigError):
        EspSa(spec(Direction.OUT, encr="rot13", ekey=bytes(16)))
    s = spec(Direction.OUT)
    with pytest.raises(ConfigError):
        # type: ignore[arg-type]
        EspSa(SaSpec(**{**{f: getattr(s, f) for f in s.__slots__}, "proto": IpsecProto.AH}))


@pytest.mark.parametrize("inner_family", [4, 6])
def test_ecn_congestion_is_carried_to_ecn_capable_inner_packets(inner_family: int) -> None:
    """RFC 6040 §4.2: outer CE → inner CE when the inner packet is ECT; Not-ECT stays as it is."""
    out, inn = pair()
    for inner_ecn, want in ((0, 0), (1, 3), (2, 3), (3, 3)):
        pkt = bytearray(inner_packet(inner_family, Mode.TUNNEL))
        if inner_family == 4:
            pkt[1] = 0xB8 | inner_ecn
            pkt[10:12] = b"\x00\x00"
            pkt[10:12] = wip.checksum(pkt[:20]).to_bytes(2, "big")
        else:
            pkt[1] = (pkt[1] & 0xCF) | inner_ecn << 4
        wire = bytearray(out.seal(bytes(pkt)))
        assert wire[1] & 3 == inner_ecn  # encapsulation copies ECN (RFC 6040 normal mode)
        wire[1] |= 3  # a router marks congestion on the outer header
        got = inn.open(bytes(wire))
        ecn = got[1] & 3 if inner_family == 4 else (got[1] >> 4) & 3
        assert ecn == want
        if inner_family == 4:
            assert wip.checksum(got[:20]) == 0
        assert got[2:] == bytes(pkt[2:]) if inner_family == 6 else got[12:] == bytes(pkt[12:])
        esp = out.seal_payload(bytes(pkt))
        assert inn.open_payload(esp, outer_tos=3) == got


def test_a_failed_seal_never_hands_its_sequence_number_to_another_packet() -> None:
    """A nonce is the sequence number: one consumed by a packet that then failed (too large for its
    outer header) is never reused, so no GCM/CTR/ChaCha nonce can repeat under one key."""
    out, inn = pair()
    first = out.seal(inner_packet(4, Mode.TUNNEL))
    big = wip.ipv4_header(bytes(4), bytes(4), wip.PROTO_UDP, 65500) + bytes(65500)
    with pytest.raises(OutError):
        out.seal(big)
    second = out.seal(inner_packet(4, Mode.TUNNEL))
    seqs = [struct.unpack_from("!I", w, 24)[0] for w in (first, second)]
    assert seqs == [1, 3]
    assert inn.open(first) and inn.open(second)
