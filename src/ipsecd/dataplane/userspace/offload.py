"""TUN ``IFF_VNET_HDR`` writes with receive coalescing (GRO) for decrypted TCP and UDP.

Every packet the TUN device takes costs one trip through the kernel's receive path (IP, TCP, socket
wake-up) — measured as the largest single cost of the receiving worker. Like the kernel's own GRO (and
wireguard-go's TUN offload), :func:`coalesce` merges consecutive in-order IPv4 TCP segments of one
flow from a receive batch into one large packet written with a ``virtio_net_hdr`` saying
``GSO_TCPV4``: the kernel then handles up to 64 KB at once, exactly as if a NIC had done GRO.

Segments merge only when nothing but the payload differs: same addresses, ports, TOS, TTL, DF, ACK
number, window and TCP options, plain ACK (PSH allowed on the last), equal sizes (the last may be
shorter), contiguous sequence numbers. The merged packet carries the pseudo-header sum in its TCP
checksum field with ``NEEDS_CSUM`` (``CHECKSUM_PARTIAL``), as the virtio spec requires for GSO; the
segments' own checksums are not re-verified — their content was just authenticated by the ESP ICV
of the peer that sent it. UDP (Linux ≥ 6.2, ``VIRTIO_NET_HDR_GSO_UDP_L4``, the receive-side twin of the ``UDP_SEGMENT`` the
worker sends with): consecutive IPv4 datagrams of one flow with equal payload sizes (the last may be
shorter), nonzero checksums, the same TOS/TTL/DF and IP IDs counting up by one (or DF set, where the
ID carries nothing, RFC 6864 §4.1) become one packet whose UDP length and checksum field cover the
whole run; the kernel cuts it back into the original datagrams — same payloads, same IDs counting
up from the first, checksums computed afresh — before any socket or forwarding path sees them.

Everything else is written alone with an all-zero header (the kernel checks its checksum as usual).
"""

from __future__ import annotations

import struct

from ipsecd.wire import ip as wip

VNET_HDR_LEN = 10
#: virtio_net_hdr for a packet with no offload: the kernel validates it normally.
PLAIN = bytes(VNET_HDR_LEN)
_VNET = struct.Struct("<BBHHHH")  # flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
_NEEDS_CSUM = 1
_GSO_TCPV4 = 1
_GSO_UDP_L4 = 5
#: At most this many datagrams per UDP GSO write (the kernel's own UDP_SEGMENT limit is 64 or more).
UDP_MAX_SEGMENTS = 64
_MAX = 65535
_U16 = struct.Struct("!H")
_SEQ = struct.Struct("!I")


def _mergeable(pkt: bytes) -> int:
    """TCP header length if ``pkt`` is an IPv4 TCP data segment GRO may merge, else 0."""
    if len(pkt) < 40 or pkt[0] != 0x45 or pkt[9] != 6 or (pkt[6] & 0x3F) or pkt[7]:
        return 0
    thl = (pkt[32] >> 4) * 4
    if thl < 20 or (pkt[33] & ~0x08) != 0x10:  # ACK, optionally PSH; nothing else
        return 0
    total = (pkt[2] << 8) | pkt[3]
    if total != len(pkt) or total <= 20 + thl:
        return 0
    return thl


def coalesce(pkts: list[bytes]) -> list[bytes]:
    """The TUN writes (each with its virtio_net_hdr) for ``pkts`` in order, TCP runs merged."""
    out: list[bytes] = []
    i, n = 0, len(pkts)
    while i < n:
        first = pkts[i]
        if len(first) > 28 and first[9] == 17:
            i = _udp_run(pkts, i, out)
            continue
        thl = _mergeable(first)
        if not thl or first[33] & 0x08:
            out.append(PLAIN + first)
            i += 1
            continue
        hlen = 20 + thl
        mss = len(first) - hlen
        seq = (_SEQ.unpack_from(first, 24)[0] + mss) & 0xFFFFFFFF
        payloads = [first[hlen:]]
        total = len(first)
        psh = False
        # everything but IP id/length/checksum, TCP seq, PSH and checksum must be equal
        tos, frag_ttl_proto, flow, ack_off, win, opts = (first[1], first[6:10], first[12:24], first[28:33],
                                                         first[34:36], first[38:hlen])
        j = i + 1
        while j < n:
            p = pkts[j]
            if (len(p) <= hlen or p[0] != 0x45 or p[1] != tos or (p[33] & 0xF7) != 0x10
                    or p[12:24] != flow or p[28:33] != ack_off or p[6:10] != frag_ttl_proto or p[34:36] != win
                    or p[38:hlen] != opts or _SEQ.unpack_from(p, 24)[0] != seq):
                break
            size = len(p) - hlen
            if size > mss or total + size > _MAX:
                break
            payloads.append(p[hlen:])
            total += size
            seq = (seq + size) & 0xFFFFFFFF
            j += 1
            if size < mss or p[33] & 0x08:
                psh = bool(p[33] & 0x08)
                break
        if j == i + 1:
            out.append(PLAIN + first)
            i += 1
            continue
        hdr = bytearray(first[:hlen])
        hdr[2:4] = _U16.pack(total)
        hdr[10:12] = b"\0\0"
        hdr[10:12] = _U16.pack(wip.checksum(hdr[:20]))
        if psh:
            hdr[33] |= 0x08
        # CHECKSUM_PARTIAL: the field holds the folded (uncomplemented) pseudo-header sum
        hdr[36:38] = _U16.pack(wip.pseudo_sum(first[12:16], first[16:20], 6, total - 20) & 0xFFFF)
        out.append(b"".join((_VNET.pack(_NEEDS_CSUM, _GSO_TCPV4, hlen, mss, 20, 16), hdr, *payloads)))
        i = j
    return out


def _udp_run(pkts: list[bytes], i: int, out: list[bytes]) -> int:
    """Append the write for the UDP run starting at ``pkts[i]`` (see the module docstring) to
    ``out``; returns the index after the run."""
    first = pkts[i]
    n = len(pkts)
    total = total0 = len(first)
    # IPv4 without options or fragmentation, UDP length = the rest, checksum present
    if (first[0] != 0x45 or (first[6] & 0x3F) or first[7] or ((first[2] << 8) | first[3]) != total
            or ((first[24] << 8) | first[25]) != total - 20 or not (first[26] | first[27]) or i + 1 == n):
        out.append(PLAIN + first)
        return i + 1
    size = total - 28
    # a full-size datagram matches when these equal the first's (bytes 0-3: version, IHL, TOS, total
    # length; 6-9: DF, TTL, protocol; 12-23: addresses and ports; 24-25: UDP length) and its checksum
    # is present; without DF its ID must count up too — a shorter one ends the run (checked in full)
    lead, frag_ttl_proto, flow, ulen = first[:4], first[6:10], first[12:24], first[24:26]
    ident = -1 if first[6] & 0x40 else (first[4] << 8) | first[5]
    j = i + 1
    end = min(n, i + UDP_MAX_SEGMENTS)
    while j < end:
        p = pkts[j]
        if (p[:4] != lead or p[12:24] != flow or p[6:10] != frag_ttl_proto or p[24:26] != ulen
                or not (p[26] | p[27]) or len(p) != total0
                or (ident >= 0 and ((p[4] << 8) | p[5]) != (ident + j - i) & 0xFFFF)):
            plen = len(p)
            psize = plen - 28
            if (0 < psize < size and total + psize <= _MAX and p[:2] == lead[:2] and p[12:24] == flow
                    and p[6:10] == frag_ttl_proto and ((p[2] << 8) | p[3]) == plen
                    and ((p[24] << 8) | p[25]) == plen - 20 and (p[26] | p[27])
                    and (ident < 0 or ((p[4] << 8) | p[5]) == (ident + j - i) & 0xFFFF)):
                total += psize
                j += 1
            break
        if total + size > _MAX:
            break
        total += size
        j += 1
    if j == i + 1:
        out.append(PLAIN + first)
        return j
    hdr = bytearray(first[:28])
    hdr[2:4] = _U16.pack(total)
    hdr[10:12] = b"\0\0"
    hdr[10:12] = _U16.pack(wip.checksum(hdr[:20]))
    hdr[24:26] = _U16.pack(total - 20)
    # CHECKSUM_PARTIAL: the folded pseudo-header sum over the whole run's UDP length
    hdr[26:28] = _U16.pack(wip.pseudo_sum(first[12:16], first[16:20], 17, total - 20) & 0xFFFF)
    out.append(b"".join((_VNET.pack(_NEEDS_CSUM, _GSO_UDP_L4, 28, size, 20, 6), hdr,
                         *[p[28:] for p in pkts[i:j]])))
    return j
