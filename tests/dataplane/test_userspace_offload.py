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
    return struct.unpack_from("<BBHHHH", w)  # type: ignore[return-value]


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
