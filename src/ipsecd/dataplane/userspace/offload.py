"""TUN ``IFF_VNET_HDR`` writes with receive coalescing (GRO) for decrypted TCP.

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
of the peer that sent it. Everything else is written alone with an all-zero header (the kernel checks
its checksum as usual).
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
