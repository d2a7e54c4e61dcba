"""IPv4, IPv6 and UDP headers as the data plane needs them; stateless, no I/O.

- IPv4 header (RFC 791 §3.1) and IPv6 header (RFC 8200 §3) parse and build, with the Internet
  checksum (RFC 1071) and the UDP pseudo-header sums (RFC 768, RFC 8200 §8.1).
- IPv6 extension-header walking (RFC 8200 §4): Hop-by-Hop, Routing, Fragment and Destination Options
  are skipped to the upper-layer protocol, and the point where IPsec inserts its header in transport
  mode is found (after Hop-by-Hop, Routing, and Destination Options that precede a Routing header:
  RFC 4303 §3.1.1, RFC 4302 §3.1.1).
- :func:`fix_transport_checksum`: after a transport-mode ESP-in-UDP packet is decapsulated behind a
  NAT, its TCP/UDP checksum still covers the addresses the peer used, not the ones the receiver sees
  (RFC 3948 §3.1.2): recomputed, or zeroed for UDP over IPv4.
- :func:`flow_of` extracts the 5-tuple the SPD classifies on (RFC 4301 §4.4.1.1): non-initial
  fragments carry no ports (OPAQUE, reported as 0); ICMP/ICMPv6 put type and code in the source and
  destination port fields as Linux's XFRM does.

Layouts::

     IPv4                                   IPv6
     0       4       8              16               31    0     4           12                   31
    +-------+-------+---------------+----------------+    +-----+-------------+--------------------+
    |Version|  IHL  |Type of Service|  Total Length  |    | Ver | Traffic Cls |     Flow Label     |
    +-------+-------+-------+-------+----------------+    +-----+-------------+------+-------------+
    |    Identification   | Flags |  Fragment Off  |    |    Payload Length  | Next | Hop Limit   |
    +---------------+-----+-------+----------------+    +--------------------+------+-------------+
    |      TTL      |Protocol|   Header Checksum   |    |      Source Address (128 bits)         |
    +---------------+--------+---------------------+    +----------------------------------------+
    |      Source Address  /  Destination Address   |    |    Destination Address (128 bits)      |
    +------------------------------------------------+    +----------------------------------------+
"""

from __future__ import annotations

import struct
import sys
from array import array
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

PROTO_HOPOPTS = 0
PROTO_ICMP = 1
PROTO_IPIP = 4
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_IPV6 = 41
PROTO_ROUTING = 43
PROTO_FRAGMENT = 44
PROTO_ESP = 50
PROTO_AH = 51
PROTO_ICMPV6 = 58
PROTO_NONE = 59
PROTO_DSTOPTS = 60

IPV4 = struct.Struct("!BBHHHBBH4s4s")
IPV6 = struct.Struct("!IHBB16s16s")
UDP = struct.Struct("!HHHH")
#: The first 7 bytes of an IPv4 or IPv6 header in one unpack: version/IHL (or version/traffic class),
#: TOS (or traffic class/flow), IPv4 total length, IPv4 identification (or IPv6 payload length),
#: IPv4 flags byte. Enough to validate a packet's version and length without a full parse.
IP_START = struct.Struct("!BBHHB")
#: IPv4 version/IHL, TOS, total length, flags/fragment offset, protocol: what a receiver checks first.
IPV4_START = struct.Struct("!BBH2xHxB")
_PORTS = struct.Struct("!HH")
_ICMP = struct.Struct("!BB")
_U16 = struct.Struct("!H")
IPV4_HEADER_LEN = 20
IPV6_HEADER_LEN = 40
UDP_HEADER_LEN = 8
_SWAP = sys.byteorder == "little"
_EXT_SKIP = frozenset({PROTO_HOPOPTS, PROTO_ROUTING, PROTO_DSTOPTS})


class IpHeaderError(ValueError):
    """A header that is truncated or inconsistent (lengths, version, extension chain)."""


def ones_sum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """16-bit ones'-complement sum of ``data`` (RFC 1071), folded, plus ``start``.

    Sums native-order 16-bit words and swaps at the end (RFC 1071 §2(B): the sum is byte-order
    independent), which keeps the loop in C.
    """
    if len(data) & 1:
        data = bytes(data) + b"\0"
    words = array("H")
    words.frombytes(data)
    s = sum(words)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    if _SWAP:
        s = ((s & 0xFF) << 8) | (s >> 8)
    s += start
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """Internet checksum (complement of :func:`ones_sum`)."""
    return ~ones_sum(data, start) & 0xFFFF


def pseudo_sum(src: bytes, dst: bytes, proto: int, length: int) -> int:
    """Ones'-complement sum of the IPv4 (RFC 768) or IPv6 (RFC 8200 §8.1) pseudo-header."""
    return ones_sum(src + dst, proto + (length & 0xFFFF) + (length >> 16))


def ipv4_header(
    src: bytes, dst: bytes, proto: int, payload_len: int, *, tos: int = 0, ident: int = 0,
    df: bool = False, ttl: int = 64,
) -> bytes:
    """A 20-byte IPv4 header with its checksum. Raises :class:`IpHeaderError` above 65535 bytes."""
    total = IPV4_HEADER_LEN + payload_len
    if total > 0xFFFF:
        raise IpHeaderError(f"IPv4 packet of {total} bytes exceeds 65535")
    hdr = IPV4.pack(0x45, tos, total, ident & 0xFFFF, 0x4000 if df else 0, ttl, proto, 0, src, dst)
    csum = checksum(hdr)
    return hdr[:10] + _U16.pack(csum) + hdr[12:]


def ipv6_header(
    src: bytes, dst: bytes, next_header: int, payload_len: int, *, tclass: int = 0, flow: int = 0,
    hop_limit: int = 64,
) -> bytes:
    """A 40-byte IPv6 header. Raises :class:`IpHeaderError` above 65535 payload bytes (no jumbograms)."""
    if payload_len > 0xFFFF:
        raise IpHeaderError(f"IPv6 payload of {payload_len} bytes exceeds 65535")
    return IPV6.pack(
        0x60000000 | (tclass << 20) | (flow & 0xFFFFF), payload_len, next_header, hop_limit, src, dst
    )


def ip_header(
    src: bytes, dst: bytes, proto: int, payload_len: int, *, tos: int = 0, df: bool = False,
    ident: int = 0,
) -> bytes:
    """IPv4 or IPv6 header chosen by the address length (4 or 16 bytes)."""
    if len(src) == 4:
        return ipv4_header(src, dst, proto, payload_len, tos=tos, ident=ident, df=df)
    return ipv6_header(src, dst, proto, payload_len, tclass=tos)


def udp_datagram(
    sport: int, dport: int, payload: bytes, src: bytes, dst: bytes, *, v4_checksum: bool = False
) -> bytes:
    """UDP header + payload. IPv6 always gets a checksum (RFC 8200 §8.1); IPv4 only when asked
    (RFC 3948 §2.1: ESP-in-UDP over IPv4 SHOULD carry a zero checksum)."""
    length = UDP_HEADER_LEN + len(payload)
    if length > 0xFFFF:
        raise IpHeaderError(f"UDP datagram of {length} bytes exceeds 65535")
    if len(src) == 16 or v4_checksum:
        hdr = UDP.pack(sport, dport, length, 0)
        csum = checksum(hdr + payload, pseudo_sum(src, dst, PROTO_UDP, length)) or 0xFFFF
        return UDP.pack(sport, dport, length, csum) + payload
    return UDP.pack(sport, dport, length, 0) + payload


@dataclass(slots=True)
class IpPacket:
    """Where things are in one IP packet (offsets into the buffer :func:`parse` was given).

    ``proto`` is the first protocol that is not an IPv6 Hop-by-Hop/Routing/Destination-Options/Fragment
    header, at ``l4_off``; ``nh_pos`` is the index of the byte that names it. ``ins_off``/``ins_nh_pos``
    are where a transport-mode ESP/AH header goes and the byte that must then name it. ``length`` is
    the packet length the header claims (trailing link-layer padding beyond it is not part of it).
    """

    version: int
    src: bytes
    dst: bytes
    proto: int
    l4_off: int
    nh_pos: int
    ins_off: int
    ins_nh_pos: int
    length: int
    tos: int
    fragment: bool  # any fragment (MF set or offset non-zero)
    first_fragment: bool  # offset zero: upper-layer header present


def parse(buf: bytes | bytearray | memoryview) -> IpPacket:
    """Locate the headers of an IPv4 or IPv6 packet; :class:`IpHeaderError` if it is malformed."""
    n = len(buf)
    if n < 1:
        raise IpHeaderError("empty packet")
    version = buf[0] >> 4
    if version == 4:
        if n < IPV4_HEADER_LEN:
            raise IpHeaderError(f"IPv4 packet of {n} bytes shorter than its header")
        vihl, tos, total, _ident, frag, _ttl, proto, _csum, src, dst = IPV4.unpack_from(buf)
        ihl = (vihl & 0x0F) * 4
        if ihl < IPV4_HEADER_LEN or total < ihl or total > n:
            raise IpHeaderError(f"IPv4 header length {ihl} / total length {total} invalid for {n} bytes")
        offset = frag & 0x1FFF
        return IpPacket(4, src, dst, proto, ihl, 9, ihl, 9, total, tos,
                        bool(frag & 0x2000) or offset != 0, offset == 0)
    if version == 6:
        if n < IPV6_HEADER_LEN:
            raise IpHeaderError(f"IPv6 packet of {n} bytes shorter than its header")
        vtf, plen, nh, _hlim, src, dst = IPV6.unpack_from(buf)
        length = IPV6_HEADER_LEN + plen
        if length > n:
            raise IpHeaderError(f"IPv6 payload length {plen} exceeds the {n - IPV6_HEADER_LEN} bytes present")
        off, nh_pos = IPV6_HEADER_LEN, 6
        ins_off, ins_nh_pos = off, nh_pos
        fragment, first = False, True
        while nh in _EXT_SKIP or nh == PROTO_FRAGMENT:
            if off + 8 > length:
                raise IpHeaderError(f"IPv6 extension header {nh} truncated")
            if nh == PROTO_FRAGMENT:
                ext_len = 8
                fo = _U16.unpack_from(buf, off + 2)[0]
                fragment = True
                first = (fo >> 3) == 0
            else:
                ext_len = (buf[off + 1] + 1) * 8
            if off + ext_len > length:
                raise IpHeaderError(f"IPv6 extension header {nh} of {ext_len} bytes truncated")
            # Transport-mode IPsec goes after Hop-by-Hop and Routing, and after Destination Options only
            # when a Routing header follows them (RFC 4303 §3.1.1 figure; RFC 4302 §3.1.1).
            nxt = buf[off]
            if nh in (PROTO_HOPOPTS, PROTO_ROUTING) or (nh == PROTO_DSTOPTS and nxt == PROTO_ROUTING):
                ins_off, ins_nh_pos = off + ext_len, off
            nh_pos = off
            off += ext_len
            nh = nxt
            if fragment and not first:
                break
        return IpPacket(6, src, dst, nh, off, nh_pos, ins_off, ins_nh_pos, length, (vtf >> 20) & 0xFF,
                        fragment, first)
    raise IpHeaderError(f"IP version {version} is neither 4 nor 6")


@dataclass(frozen=True, slots=True)
class Flow:
    """The SPD's view of a packet (RFC 4301 §4.4.1.1): addresses as integers, protocol, ports."""

    version: int
    src: int
    dst: int
    proto: int
    sport: int
    dport: int

    def addresses(self) -> tuple[IPv4Address | IPv6Address, IPv4Address | IPv6Address]:
        if self.version == 4:
            return IPv4Address(self.src), IPv4Address(self.dst)
        return IPv6Address(self.src), IPv6Address(self.dst)

    def host_networks(self) -> tuple[IPv4Network | IPv6Network, IPv4Network | IPv6Network]:
        """Source and destination as single-host networks (the selector of an Acquire)."""
        if self.version == 4:
            return IPv4Network(self.src), IPv4Network(self.dst)
        return IPv6Network(self.src), IPv6Network(self.dst)


def flow_of(buf: bytes | bytearray | memoryview) -> Flow:
    """5-tuple of a packet; ports are 0 when absent (non-initial fragment, truncated, portless proto)."""
    p = parse(buf)
    sport = dport = 0
    proto, off = p.proto, p.l4_off
    if p.first_fragment:
        if proto in (PROTO_TCP, PROTO_UDP, 132, 136) and off + 4 <= p.length:  # TCP, UDP, SCTP, UDP-Lite
            sport, dport = _PORTS.unpack_from(buf, off)
        elif proto in (PROTO_ICMP, PROTO_ICMPV6) and off + 2 <= p.length:
            sport, dport = _ICMP.unpack_from(buf, off)
    return Flow(p.version, int.from_bytes(p.src, "big"), int.from_bytes(p.dst, "big"), proto, sport, dport)



def fix_transport_checksum(pkt: bytes) -> bytes:
    """``pkt`` with its TCP/UDP checksum made valid for its own addresses (RFC 3948 §3.1.2).

    The sender computed the checksum over its real addresses; a NAT rewrote the outer ones and the
    transport-mode receiver rebuilt the IP header from the SA's (the addresses it sees), so the
    checksum no longer matches. The RFC allows an incremental update from the NAT-OA addresses
    (step 1–2) or a recomputation; ipsecd recomputes — it needs no NAT-OA and the content was just
    authenticated by the ESP ICV — except that UDP over IPv4 simply gets checksum 0 (§3.1.2 step 4;
    "no checksum" is legal there, unlike IPv6, RFC 8200 §8.1). Fragments and truncated headers are
    returned unchanged (the stack will drop them as before)."""
    try:
        p = parse(pkt)
    except IpHeaderError:
        return pkt
    proto, off, stop = p.proto, p.l4_off, p.length
    if p.fragment or not (
        (proto == PROTO_TCP and stop - off >= 20) or (proto == PROTO_UDP and stop - off >= 8)
    ):
        return pkt
    pos = off + (16 if proto == PROTO_TCP else 6)
    buf = bytearray(pkt)
    buf[pos : pos + 2] = b"\0\0"
    if proto == PROTO_UDP and p.version == 4:
        return bytes(buf)
    csum = checksum(memoryview(buf)[off:stop], pseudo_sum(p.src, p.dst, proto, stop - off))
    if proto == PROTO_UDP and csum == 0:
        csum = 0xFFFF  # a computed zero is sent as all ones (RFC 768)
    _U16.pack_into(buf, pos, csum)
    return bytes(buf)


def rewrite_header(header: bytes | bytearray, nh_pos: int, proto: int, total: int) -> bytearray:
    """A copy of the IP header chain ``header`` with the byte at ``nh_pos`` set to ``proto`` and the
    length (and IPv4 checksum) set for a packet of ``total`` bytes."""
    hdr = bytearray(header)
    hdr[nh_pos] = proto
    if hdr[0] >> 4 == 4:
        if total > 0xFFFF:
            raise IpHeaderError(f"IPv4 packet of {total} bytes exceeds 65535")
        ihl = (hdr[0] & 0x0F) * 4
        _U16.pack_into(hdr, 2, total)
        hdr[10] = hdr[11] = 0
        _U16.pack_into(hdr, 10, checksum(hdr[:ihl]))
    else:
        if total - IPV6_HEADER_LEN > 0xFFFF:
            raise IpHeaderError(f"IPv6 payload of {total - IPV6_HEADER_LEN} bytes exceeds 65535")
        _U16.pack_into(hdr, 4, total - IPV6_HEADER_LEN)
    return hdr


def splice(packet: bytes, cut: int, nh_pos: int, proto: int, payload: bytes | memoryview) -> bytes:
    """``packet``'s headers up to ``cut`` followed by ``payload``, with the byte at ``nh_pos`` set to
    ``proto`` and the lengths fixed: how transport-mode IPsec inserts and removes its header while
    keeping the original IP header and options."""
    hdr = rewrite_header(packet[:cut], nh_pos, proto, cut + len(payload))
    hdr += payload
    return bytes(hdr)


class OuterHeader:
    """The outer IP header of one tunnel (fixed addresses and protocol), built per packet with an
    incremental checksum: the constant words are summed once, so each packet adds only TOS, length,
    identification and flags (RFC 1624 style) instead of re-summing the header.

    The folded ones'-complement sum of a non-zero plain sum of 16-bit words lies in 1 … 0xFFFF and is
    congruent to it modulo 0xFFFF, so its complement, the checksum, is the negated plain sum modulo
    0xFFFF: one operation instead of two folds."""

    __slots__ = ("dst", "neg_base", "proto", "src", "v6")

    def __init__(self, src: bytes, dst: bytes, proto: int) -> None:
        self.src, self.dst, self.proto = src, dst, proto
        self.v6 = len(src) == 16
        # public for a caller that packs the header together with what follows it (ESP's fast path):
        # the checksum is ``(neg_base - tos - total - ident - flags) % 0xFFFF``
        self.neg_base = -ones_sum(src + dst, 0x4500 + (64 << 8 | proto))

    def build(self, payload_len: int, tos: int = 0, flags: int = 0, ident: int = 0) -> bytes:
        """The header for ``payload_len`` bytes; ``flags`` is the IPv4 flags word (0x4000 for DF)."""
        if self.v6:
            return ipv6_header(self.src, self.dst, self.proto, payload_len, tclass=tos)
        total = IPV4_HEADER_LEN + payload_len
        if total > 0xFFFF:
            raise IpHeaderError(f"IPv4 packet of {total} bytes exceeds 65535")
        return IPV4.pack(0x45, tos, total, ident, flags, 64, self.proto,
                         (self.neg_base - tos - total - ident - flags) % 0xFFFF, self.src, self.dst)
