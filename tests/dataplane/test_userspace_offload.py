"""TUN write coalescing (offload.coalesce): which TCP segments merge, the merged packet's headers, and
what is written alone; GSO send batching (udp.GsoSender) on loopback."""

from __future__ import annotations

import socket
import struct
from ipaddress import ip_address

from ipsecd.dataplane.userspace import offload, udp
from ipsecd.wire import ip as wip

SRC, DST = ip_address("10.1.0.1").packed, ip_address("10.2.0.1").packed


def seg(seq: int, payload: bytes, flags: int = 0x10, sport: int = 1000, ts: bytes = b"") -> bytes:
    thl = 20 + len(ts)
    tcp = struct.pack("!HHIIBBHHH", sport, 80, seq, 77, (thl // 4) << 4, flags, 500, 0, 0) + ts
    return wip.ipv4_header(SRC, DST, 6, len(tcp) + len(payload), df=True) + tcp + payload


def vnet(w: bytes) -> tuple[int, int, int, int, int, int]:
    flags, gso_type, hdr_len, gso_size, cstart, coff = struct.unpack_from("<BBHHHH", w)
    return flags, gso_type, hdr_len, gso_size, cstart, coff


def test_contiguous_segments_merge_into_one_gso_packet() -> None:
    ts = b"\x01\x01\x08\x0a" + bytes(8)
    pkts = [seg(1000 + 100 * i, bytes([i]) * 100, ts=ts) for i in range(5)]
    pkts[-1] = seg(1400, b"\x04" * 60, flags=0x18, ts=ts)  # shorter last segment with PSH ends the run
    out = offload.coalesce(pkts)
    assert len(out) == 1
    flags, gso_type, hdr_len, gso_size, cstart, coff = vnet(out[0])
    assert (flags, gso_type, hdr_len, gso_size, cstart, coff) == (1, 1, 52, 100, 20, 16)
    pkt = out[0][offload.VNET_HDR_LEN:]
    assert len(pkt) == 52 + 460 and (pkt[2] << 8 | pkt[3]) == len(pkt)
    assert wip.checksum(pkt[:20]) == 0  # IPv4 header checksum recomputed
    assert pkt[33] == 0x18 and struct.unpack_from("!I", pkt, 24)[0] == 1000
    assert pkt[52:] == b"".join(p[52:] for p in pkts)
    assert struct.unpack_from("!H", pkt, 36)[0] == wip.pseudo_sum(SRC, DST, 6, len(pkt) - 20)


def test_what_does_not_merge_is_written_alone() -> None:
    gap = [seg(1, b"a" * 100), seg(201, b"b" * 100)]  # sequence gap
    flows = [seg(1, b"a" * 100), seg(101, b"b" * 100, sport=2000)]  # another flow
    syn = [seg(1, b"a" * 100, flags=0x02), seg(101, b"b" * 100, flags=0x02)]
    bigger = [seg(1, b"a" * 50), seg(51, b"b" * 100)]  # a segment larger than the first
    udp_pkt = wip.ipv4_header(SRC, DST, 17, 12) + b"\x00\x01\x00\x02\x00\x0c\x00\x00abcd"
    for pkts in (gap, flows, syn, bigger, [udp_pkt]):
        out = offload.coalesce(pkts)
        assert out == [offload.PLAIN + p for p in pkts]


def test_gso_sender_batches_equal_sizes_into_separate_datagrams() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        g = udp.GsoSender(tx)
        addr = rx.getsockname()
        sent = [bytes([i]) * 300 for i in range(10)] + [b"short"]
        for d in sent:
            g.add(d, addr)
        g.flush()
        got = [rx.recv(2000) for _ in sent]
        assert got == sent and g.errors == 0
    finally:
        rx.close()
        tx.close()


def dgram(ident: int, payload: bytes, sport: int = 5001, df: bool = True) -> bytes:
    udp_len = 8 + len(payload)
    hdr = bytearray(wip.ipv4_header(SRC, DST, 17, udp_len, ident=ident, df=df))
    u = bytearray(struct.pack("!HHHH", sport, 5201, udp_len, 0) + payload)
    u[6:8] = struct.pack("!H", wip.checksum(u, wip.pseudo_sum(SRC, DST, 17, udp_len)) or 0xFFFF)
    return bytes(hdr + u)


def segment_udp_gso(w: bytes) -> list[bytes]:
    """What the kernel does with a GSO_UDP_L4 write (__udp_gso_segment + inet_gso_segment): cut the
    payload into gso_size pieces, IP ID counting up, lengths and both checksums computed afresh."""
    flags, gso_type, hdr_len, gso_size, cstart, coff = vnet(w)
    assert (flags, gso_type, hdr_len, cstart, coff) == (1, 5, 28, 20, 6)
    pkt = w[offload.VNET_HDR_LEN:]
    assert (pkt[2] << 8 | pkt[3]) == len(pkt) and wip.checksum(pkt[:20]) == 0
    udp_len = len(pkt) - 20
    assert struct.unpack_from("!H", pkt, 24)[0] == udp_len
    # the partial checksum field holds the pseudo-header sum for the whole run (CHECKSUM_PARTIAL)
    assert struct.unpack_from("!H", pkt, 26)[0] == wip.pseudo_sum(SRC, DST, 17, udp_len)
    ident = struct.unpack_from("!H", pkt, 4)[0]
    out = []
    body = pkt[28:]
    for k, off in enumerate(range(0, len(body), gso_size)):
        payload = body[off : off + gso_size]
        out.append(dgram((ident + k) & 0xFFFF, payload, sport=struct.unpack_from("!H", pkt, 20)[0],
                         df=bool(pkt[6] & 0x40)))
    return out


def test_udp_datagrams_coalesce_into_gso_write_that_segments_back_to_them() -> None:
    pkts = [dgram((65533 + i) & 0xFFFF, bytes([i]) * 1300, df=False) for i in range(6)]
    pkts.append(dgram((65533 + 6) & 0xFFFF, b"end", df=False))  # a shorter last datagram ends the run
    pkts.append(dgram(4, b"x" * 1300, df=False))  # a new run
    out = offload.coalesce(pkts)
    assert len(out) == 2
    assert segment_udp_gso(out[0]) == pkts[:7]
    assert out[1] == offload.PLAIN + pkts[7]


def test_udp_runs_are_capped_and_df_datagrams_need_no_consecutive_ids() -> None:
    pkts = [dgram(0, bytes([i % 256]) * 1000) for i in range(offload.UDP_MAX_SEGMENTS + 3)]
    out = offload.coalesce(pkts)
    assert len(out) == 2
    first, rest = segment_udp_gso(out[0]), segment_udp_gso(out[1])
    assert len(first) == offload.UDP_MAX_SEGMENTS
    # with DF the ID carries nothing (RFC 6864): only it may differ from the originals
    assert [p[:4] + p[6:10] + p[12:] for p in first + rest] == [p[:4] + p[6:10] + p[12:] for p in pkts]


def test_udp_that_does_not_merge_is_written_alone() -> None:
    bigger = [dgram(1, b"a" * 100), dgram(2, b"b" * 200)]
    flows = [dgram(1, b"a" * 100), dgram(2, b"b" * 100, sport=7)]
    gap = [dgram(1, b"a" * 100, df=False), dgram(3, b"b" * 100, df=False)]  # no DF: IDs must count up
    nocsum = [dgram(1, b"a" * 100), dgram(2, b"b" * 100)]
    nocsum = [p[:26] + b"\0\0" + p[28:] for p in nocsum]  # checksum 0: the kernel would add one
    for pkts in (bigger, flows, gap, nocsum):
        assert offload.coalesce(pkts) == [offload.PLAIN + p for p in pkts]
