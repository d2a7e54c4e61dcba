"""wire/ip.py: Internet checksum, IPv4/IPv6/UDP headers, extension-header walking, 5-tuples."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipsecd.wire import ip as wip

A4, B4 = ip_address("10.0.0.1").packed, ip_address("10.0.0.2").packed
A6, B6 = ip_address("2001:db8::1").packed, ip_address("2001:db8::2").packed


def _slow_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def test_rfc1071_example() -> None:
    # RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2
    assert wip.ones_sum(bytes.fromhex("0001f203f4f5f6f7")) == 0xDDF2
    assert wip.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


@given(st.binary(max_size=200), st.integers(0, 0xFFFF))
def test_checksum_matches_the_definition(data: bytes, start: int) -> None:
    want = _slow_sum(data) + start
    while want >> 16:
        want = (want & 0xFFFF) + (want >> 16)
    assert wip.ones_sum(data, start) == want


def test_ipv4_header_round_trip() -> None:
    h = wip.ipv4_header(A4, B4, wip.PROTO_UDP, 100, tos=0x28, ident=0x1234, df=True, ttl=33)
    assert len(h) == 20 and wip.checksum(h) == 0
    p = wip.parse(h + bytes(100) + b"ethernet-pad")
    assert (p.version, p.src, p.dst, p.proto, p.l4_off, p.length, p.tos) == (4, A4, B4, 17, 20, 120, 0x28)
    assert not p.fragment and p.first_fragment


def test_ipv6_header_round_trip() -> None:
    h = wip.ipv6_header(A6, B6, wip.PROTO_TCP, 8, tclass=0xB8, flow=0x12345)
    p = wip.parse(h + bytes(8))
    assert (p.version, p.src, p.dst, p.proto, p.l4_off, p.length, p.tos) == (6, A6, B6, 6, 40, 48, 0xB8)


def test_size_limits() -> None:
    with pytest.raises(wip.IpHeaderError):
        wip.ipv4_header(A4, B4, 17, 65516)
    with pytest.raises(wip.IpHeaderError):
        wip.ipv6_header(A6, B6, 17, 65536)
    with pytest.raises(wip.IpHeaderError):
        wip.udp_datagram(1, 2, bytes(65528), A4, B4)


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x45" * 19, b"\x44" + bytes(19), b"\x45\x00\x00\x50" + bytes(16), b"\x60" + bytes(38),
     b"\x70" + bytes(40), wip.ipv6_header(A6, B6, 17, 100)],
)
def test_malformed_headers(bad: bytes) -> None:
    with pytest.raises(wip.IpHeaderError):
        wip.parse(bad)


def _ext(nh: int, body_len: int = 6) -> bytes:
    return bytes([nh, (body_len + 2) // 8 - 1]) + bytes(body_len)


def test_ipv6_extension_walk_and_insertion_point() -> None:
    # Hop-by-Hop → Destination Options → Routing → Destination Options → UDP
    chain = _ext(60) + _ext(43) + bytes([60, 0, 0, 0]) + bytes(4) + _ext(17)
    udp = wip.UDP.pack(1000, 2000, 8, 0)
    pkt = wip.ipv6_header(A6, B6, wip.PROTO_HOPOPTS, len(chain) + 8) + chain + udp
    p = wip.parse(pkt)
    assert p.proto == wip.PROTO_UDP and p.l4_off == 40 + 32 and p.nh_pos == 40 + 24
    assert p.ins_off == 40 + 24 and p.ins_nh_pos == 40 + 16  # after Routing, before the last Dest Opts
    assert wip.flow_of(pkt).sport == 1000


def test_ipv6_fragments() -> None:
    frag_first = bytes([17, 0, 0x00, 0x01]) + bytes(4)  # offset 0, M=1
    udp = wip.UDP.pack(5, 6, 8, 0)
    first = wip.ipv6_header(A6, B6, wip.PROTO_FRAGMENT, 16) + frag_first + udp
    p = wip.parse(first)
    assert p.fragment and p.first_fragment and p.proto == 17
    assert (wip.flow_of(first).sport, wip.flow_of(first).dport) == (5, 6)
    later = wip.ipv6_header(A6, B6, wip.PROTO_FRAGMENT, 16) + bytes([17, 0, 0x00, 0x10]) + bytes(4) + udp
    p = wip.parse(later)
    assert p.fragment and not p.first_fragment
    assert (wip.flow_of(later).sport, wip.flow_of(later).dport) == (0, 0)  # OPAQUE ports


def test_ipv6_truncated_extension() -> None:
    pkt = wip.ipv6_header(A6, B6, wip.PROTO_HOPOPTS, 8) + bytes([17, 3]) + bytes(6)  # claims 32 bytes
    with pytest.raises(wip.IpHeaderError):
        wip.parse(pkt)


def test_flow_of_ports_icmp_and_fragments() -> None:
    tcp = wip.ipv4_header(A4, B4, wip.PROTO_TCP, 20) + wip.UDP.pack(443, 55000, 0, 0) + bytes(12)
    f = wip.flow_of(tcp)
    assert f == wip.Flow(4, int(IPv4Address(A4)), int(IPv4Address(B4)), 6, 443, 55000)
    assert f.addresses() == (IPv4Address(A4), IPv4Address(B4))
    assert [str(n) for n in f.host_networks()] == ["10.0.0.1/32", "10.0.0.2/32"]
    icmp = wip.ipv4_header(A4, B4, wip.PROTO_ICMP, 8) + bytes([8, 0]) + bytes(6)
    assert (wip.flow_of(icmp).sport, wip.flow_of(icmp).dport) == (8, 0)  # type, code
    frag = bytearray(wip.ipv4_header(A4, B4, wip.PROTO_UDP, 8) + wip.UDP.pack(1, 2, 8, 0))
    frag[6:8] = b"\x00\x10"  # offset 16*8
    assert wip.flow_of(bytes(frag)).sport == 0
    short = wip.ipv4_header(A4, B4, wip.PROTO_UDP, 2) + b"\x00\x01"
    assert wip.flow_of(short).sport == 0
    v6 = wip.ipv6_header(A6, B6, wip.PROTO_ICMPV6, 4) + bytes([128, 0, 0, 0])
    f6 = wip.flow_of(v6)
    assert (f6.version, f6.proto, f6.sport) == (6, 58, 128)
    assert f6.addresses()[0] == IPv6Address(A6)
    assert str(f6.host_networks()[1]) == "2001:db8::2/128"


def test_udp_checksums_verify() -> None:
    d6 = wip.udp_datagram(4500, 4500, b"payload!", A6, B6)
    assert wip.checksum(d6, wip.pseudo_sum(A6, B6, wip.PROTO_UDP, len(d6))) == 0
    d4 = wip.udp_datagram(4500, 4500, b"payload!", A4, B4)
    assert d4[6:8] == b"\x00\x00"  # RFC 3948 §2.1: zero over IPv4
    d4c = wip.udp_datagram(1, 2, b"odd", A4, B4, v4_checksum=True)
    assert wip.checksum(d4c, wip.pseudo_sum(A4, B4, wip.PROTO_UDP, len(d4c))) == 0


def test_splice_rewrites_protocol_length_and_checksum() -> None:
    pkt = wip.ipv4_header(A4, B4, wip.PROTO_UDP, 8) + bytes(8)
    out = wip.splice(pkt, 20, 9, wip.PROTO_ESP, b"x" * 30)
    p = wip.parse(out)
    assert (p.proto, p.length) == (50, 50) and wip.checksum(out[:20]) == 0
    pkt6 = wip.ipv6_header(A6, B6, wip.PROTO_UDP, 8) + bytes(8)
    out6 = wip.splice(pkt6, 40, 6, wip.PROTO_AH, b"y" * 12)
    assert wip.parse(out6).length == 52 and out6[6] == 51
    with pytest.raises(wip.IpHeaderError):
        wip.splice(pkt, 20, 9, 50, bytes(65516))


@given(st.binary(min_size=4, max_size=4), st.binary(min_size=4, max_size=4), st.integers(0, 255),
       st.integers(0, 255), st.integers(0, 0xFFFF - 20), st.integers(0, 0xFFFF), st.booleans())
def test_outer_header_incremental_checksum_equals_the_full_one(
    src: bytes, dst: bytes, proto: int, tos: int, plen: int, ident: int, df: bool
) -> None:
    """The negated-sum-modulo-0xFFFF checksum is the RFC 1071 one, byte for byte."""
    built = wip.OuterHeader(src, dst, proto).build(plen, tos, 0x4000 if df else 0, ident)
    assert built == wip.ipv4_header(src, dst, proto, plen, tos=tos, ident=ident, df=df)
    assert wip.checksum(built) == 0


def test_outer_header_checksum_when_the_folded_sum_is_0xffff() -> None:
    """The one case where the complement is 0, not 0xFFFF: the header words (checksum field zero) sum
    to a multiple of 0xFFFF. Pick the identification that makes it so."""
    src, dst = A4, B4
    base = wip.ipv4_header(src, dst, wip.PROTO_ESP, 100)
    partial = wip.ones_sum(base[:10] + base[12:])  # without the checksum
    ident = 0xFFFF - partial  # now the folded sum of all words is 0xFFFF
    hdr = wip.OuterHeader(src, dst, wip.PROTO_ESP).build(100, 0, 0, ident)
    assert hdr[10:12] == b"\0\0"
    assert hdr == wip.ipv4_header(src, dst, wip.PROTO_ESP, 100, ident=ident)
    with pytest.raises(wip.IpHeaderError):
        wip.OuterHeader(src, dst, wip.PROTO_ESP).build(0xFFFF - 19)
    v6 = wip.OuterHeader(A6, B6, wip.PROTO_ESP).build(100, 0x28)
    assert v6 == wip.ipv6_header(A6, B6, wip.PROTO_ESP, 100, tclass=0x28)


def test_ip_start_reads_version_lengths_and_flags() -> None:
    v4 = wip.ipv4_header(A4, B4, wip.PROTO_UDP, 80, tos=0x2E, df=True)
    assert wip.IP_START.unpack_from(v4) == (0x45, 0x2E, 100, 0, 0x40)
    assert wip.IPV4_START.unpack_from(v4) == (0x45, 0x2E, 100, 0x4000, wip.PROTO_UDP)
    v6 = wip.ipv6_header(A6, B6, wip.PROTO_UDP, 80, tclass=0xB8)
    b0, b1, _, plen, _ = wip.IP_START.unpack_from(v6)
    assert (b0 >> 4, ((b0 & 0x0F) << 4) | (b1 >> 4), plen) == (6, 0xB8, 80)


def _tcp(src: bytes, dst: bytes, payload: bytes) -> bytes:
    """A TCP segment (20-byte header) with a correct checksum for ``src`` → ``dst``."""
    hdr = bytearray(b"\x04\xd2\x16\x2e" + bytes(8) + b"\x50\x18\x01\x00" + bytes(4))
    hdr[16:18] = wip.checksum(bytes(hdr) + payload, wip.pseudo_sum(src, dst, wip.PROTO_TCP, 20 + len(payload))
                              ).to_bytes(2, "big")
    return bytes(hdr) + payload


def _valid(pkt: bytes) -> bool:
    p = wip.parse(pkt)
    return (
        wip.checksum(pkt[p.l4_off : p.length], wip.pseudo_sum(p.src, p.dst, p.proto, p.length - p.l4_off))
        == 0
    )


@pytest.mark.parametrize("v6", [False, True])
def test_fix_transport_checksum_after_a_nat_rewrote_the_addresses(v6: bool) -> None:
    """RFC 3948 §3.1.2: the sender's checksum covers its private address; the receiver sees the NAT's."""
    private, public, server = (A6, ip_address("2001:db8::99").packed, B6) if v6 else \
        (ip_address("192.168.1.5").packed, ip_address("198.51.100.7").packed, B4)
    seg = _tcp(private, server, b"odd-length payload!")
    seen = wip.ip_header(public, server, wip.PROTO_TCP, len(seg)) + seg  # as rebuilt from the SA
    assert not _valid(seen)
    fixed = wip.fix_transport_checksum(seen)
    assert (
        _valid(fixed)
        and fixed[: -len(seg) + 16] == seen[: -len(seg) + 16]
        and fixed[-len(seg) + 18 :] == seen[-len(seg) + 18 :]
    )

    dgram = wip.udp_datagram(1234, 53, b"query", private, server, v4_checksum=True)
    seen = wip.ip_header(public, server, wip.PROTO_UDP, len(dgram)) + dgram
    fixed = wip.fix_transport_checksum(seen)
    if v6:  # IPv6 UDP must carry a checksum: recomputed
        assert not _valid(seen) and _valid(fixed)
    else:  # UDP over IPv4: zero means "none" (§3.1.2 step 4)
        assert fixed[26:28] == b"\0\0" and fixed[:26] == seen[:26] and fixed[28:] == seen[28:]


def test_fix_transport_checksum_leaves_other_packets_alone() -> None:
    icmp = wip.ipv4_header(A4, B4, wip.PROTO_ICMP, 8) + bytes(8)
    short_tcp = wip.ipv4_header(A4, B4, wip.PROTO_TCP, 10) + bytes(10)
    frag = bytearray(wip.ipv4_header(A4, B4, wip.PROTO_TCP, 40) + bytes(40))
    frag[6] = 0x20  # more fragments
    for pkt in (icmp, short_tcp, bytes(frag), b"\x45garbage"):
        assert wip.fix_transport_checksum(pkt) == pkt
