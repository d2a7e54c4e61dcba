"""A tiny pcap writer for tests: IPv4/UDP datagrams as raw-IP frames (linktype 101), so tshark can
dissect what our IKE SAs sent. On port 4500 the non-ESP marker (RFC 3948 §2.2) is prepended."""

from __future__ import annotations

import struct
from pathlib import Path

_GLOBAL = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_packet(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    if src[1] == 4500 or dst[1] == 4500:
        payload = bytes(4) + payload
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     bytes(map(int, src[0].split("."))), bytes(map(int, dst[0].split("."))))
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return ip + udp


def write_pcap(path: Path, packets: list[bytes]) -> None:
    records = [struct.pack("<IIII", n, 0, len(p), len(p)) + p for n, p in enumerate(packets)]
    path.write_bytes(_GLOBAL + b"".join(records))
