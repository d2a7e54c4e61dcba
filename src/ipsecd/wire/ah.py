"""AH header layout and the ICV input rules for mutable fields (RFC 4302 §2, §3.3.3.1).

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Next Header   |  Payload Len  |          RESERVED             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                 Security Parameters Index (SPI)               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                    Sequence Number Field                      |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                Integrity Check Value-ICV (variable)           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Payload Len is the AH length in 32-bit words minus 2 (§2.2). The ICV field is padded to a multiple of
32 bits for IPv4 and 64 bits for IPv6 (§2.6, §3.3.3.2.1).

ICV input (§3.3.3.1): IPv4 TOS, flags, fragment offset, TTL and checksum count as zero, and so does
every option other than the immutable ones (§3.3.3.1.1.2 — End of List, NOP, Security, Extended
Security, Commercial Security, Router Alert, Sender Directed Multi-Destination Delivery; options are
classified by their number, the low five bits of the type). IPv6 traffic class, flow label and hop
limit count as zero, and so does the data of any Hop-by-Hop or Destination option whose type has the
"may change en route" bit 0x20 (RFC 8200 §4.2). A Routing header is covered as it will look at the
destination: the receiver sees it so; a sender with segments left is refused (type 0 is deprecated,
RFC 5095).
"""

from __future__ import annotations

import struct

HEADER = struct.Struct("!BBHII")
HEADER_LEN = 12
IMMUTABLE_IPV4_OPTIONS = frozenset({0, 1, 2, 5, 6, 20, 21})
_HOPOPTS, _ROUTING, _DSTOPTS = 0, 43, 60


class AhFormatError(ValueError):
    """Malformed AH header or an IPv4/IPv6 option area that cannot be walked."""


def icv_field_len(icv_size: int, ipv6: bool) -> int:
    """Length of the ICV field: ``icv_size`` padded so the AH header is 32/64-bit aligned."""
    align = 8 if ipv6 else 4
    return ((HEADER_LEN + icv_size + align - 1) & -align) - HEADER_LEN


def header(next_header: int, spi: int, seq_low: int, icv_field: int) -> bytes:
    """An AH header with an all-zero ICV field of ``icv_field`` bytes."""
    return HEADER.pack(next_header, (HEADER_LEN + icv_field) // 4 - 2, 0, spi, seq_low) + bytes(icv_field)


def parse(buf: bytes | bytearray | memoryview, off: int, end: int) -> tuple[int, int, int, int]:
    """(next header, AH length in bytes, SPI, sequence number) of the AH header at ``off``."""
    if off + HEADER_LEN > end:
        raise AhFormatError(f"AH header truncated ({end - off} bytes)")
    nh, plen, _res, spi, seq = HEADER.unpack_from(buf, off)
    length = (plen + 2) * 4
    if length < HEADER_LEN or off + length > end:
        raise AhFormatError(f"AH length {length} invalid for {end - off} bytes")
    return nh, length, spi, seq


def zero_ipv4_mutable(hdr: bytearray) -> None:
    """Zero, in place, what §3.3.3.1.1 excludes from the ICV in an IPv4 header (with options)."""
    hdr[1] = 0  # TOS
    hdr[6] = hdr[7] = 0  # flags, fragment offset
    hdr[8] = 0  # TTL
    hdr[10] = hdr[11] = 0  # checksum
    i, end = 20, len(hdr)
    while i < end:
        opt = hdr[i]
        if opt == 0:  # End of Option List: the rest is padding
            break
        if opt == 1:
            i += 1
            continue
        if i + 1 >= end or hdr[i + 1] < 2 or i + hdr[i + 1] > end:
            raise AhFormatError(f"IPv4 option {opt} at {i} malformed")
        olen = hdr[i + 1]
        if (opt & 0x1F) not in IMMUTABLE_IPV4_OPTIONS:
            hdr[i : i + olen] = bytes(olen)
        i += olen


def zero_ipv6_mutable(buf: bytearray, ext_end: int, sending: bool) -> None:
    """Zero, in place, the IPv6 header's mutable fields and the mutable option data of the extension
    headers between the fixed header and ``ext_end`` (where the AH header starts)."""
    buf[0] = 0x60
    buf[1] = buf[2] = buf[3] = 0  # traffic class, flow label
    buf[7] = 0  # hop limit
    nh, off = buf[6], 40
    while off < ext_end:
        if off + 2 > ext_end:
            raise AhFormatError("IPv6 extension header truncated")
        ext_len = (buf[off + 1] + 1) * 8
        if off + ext_len > ext_end:
            raise AhFormatError("IPv6 extension header overruns")
        if nh in (_HOPOPTS, _DSTOPTS):
            i, end = off + 2, off + ext_len
            while i < end:
                otype = buf[i]
                if otype == 0:  # Pad1
                    i += 1
                    continue
                if i + 1 >= end or i + 2 + buf[i + 1] > end:
                    raise AhFormatError(f"IPv6 option {otype} malformed")
                olen = buf[i + 1]
                if otype & 0x20:
                    buf[i + 2 : i + 2 + olen] = bytes(olen)
                i += 2 + olen
        elif nh == _ROUTING:
            if sending and buf[off + 3]:
                raise AhFormatError("AH over a Routing header with segments left is not supported")
        else:
            raise AhFormatError(f"extension header {nh} before AH")
        nh = buf[off]
        off += ext_len
