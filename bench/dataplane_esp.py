#!/usr/bin/env python3
"""ESP per-packet cost: EspSa seal+open vs bare AESGCM encrypt+decrypt, and packets per second.

Target (issue 4): encapsulate+decapsulate of a 1400-byte packet with aes-128-gcm costs at most 3× a
bare ``cryptography`` AESGCM encrypt+decrypt of the same payload, measured in the same run. Also
prints 64 B and 1400 B packets/s for aes-128-gcm, aes-256-cbc+sha256 and chacha20poly1305 (tunnel
mode, IPv4, one core, encap and decap separately). The last line is the ratio.

    .venv/bin/python bench/dataplane_esp.py [--packets N]
"""

from __future__ import annotations

import argparse
import os
import time
from ipaddress import ip_address

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ipsecd.crypto import registry
from ipsecd.dataplane.base import Direction, IpsecProto, Mode, SaSpec
from ipsecd.dataplane.esp import EspSa
from ipsecd.wire import ip as wip


def inner(size: int) -> bytes:
    """An IPv4/UDP packet of ``size`` bytes in total."""
    a, b = ip_address("10.1.0.1").packed, ip_address("10.2.0.1").packed
    udp = wip.udp_datagram(1, 2, os.urandom(size - 28), a, b)
    return wip.ipv4_header(a, b, wip.PROTO_UDP, len(udp)) + udp


def sa_pair(encr: str, integ: str) -> tuple[EspSa, EspSa]:
    ekey = os.urandom(registry.encr(encr).keymat_size)
    ikey = os.urandom(registry.integ(integ).key_size)

    def mk(d: Direction) -> EspSa:
        return EspSa(SaSpec(0x1000, d, IpsecProto.ESP, Mode.TUNNEL, ip_address("192.0.2.1"),
                            ip_address("192.0.2.2"), encr, ekey, integ, ikey, replay_window=1024))

    return mk(Direction.OUT), mk(Direction.IN)


def best_of(fn: "callable[[], float]", rounds: int = 5) -> float:  # type: ignore[valid-type]
    return min(fn() for _ in range(rounds))


def bare_aesgcm(n: int, size: int) -> float:
    """Seconds per packet: AESGCM encrypt + decrypt of ``size`` bytes, cached object."""
    g = AESGCM(os.urandom(16))
    pt, aad = os.urandom(size), os.urandom(8)
    nonces = [os.urandom(12) for _ in range(n)]

    def run() -> float:
        t = time.perf_counter()
        for nonce in nonces:
            g.decrypt(nonce, g.encrypt(nonce, pt, aad), aad)
        return (time.perf_counter() - t) / n

    return best_of(run)


def esp_roundtrip(n: int, size: int, encr: str, integ: str) -> float:
    """Seconds per packet: seal (full outer packet) + open."""
    pkt = inner(size)

    def run() -> float:
        out, inn = sa_pair(encr, integ)
        seal, open_ = out.seal, inn.open
        t = time.perf_counter()
        for _ in range(n):
            open_(seal(pkt))
        return (time.perf_counter() - t) / n

    return best_of(run)


def esp_pps(n: int, size: int, encr: str, integ: str) -> tuple[float, float]:
    """(encap packets/s, decap packets/s)."""
    pkt = inner(size)

    def enc() -> float:
        out, _ = sa_pair(encr, integ)
        seal = out.seal
        t = time.perf_counter()
        for _ in range(n):
            seal(pkt)
        return (time.perf_counter() - t) / n

    def dec() -> float:
        out, inn = sa_pair(encr, integ)
        wires = [out.seal(pkt) for _ in range(n)]
        open_ = inn.open
        t = time.perf_counter()
        for w in wires:
            open_(w)
        return (time.perf_counter() - t) / n

    return 1 / best_of(enc, 3), 1 / best_of(dec, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=20000)
    n = ap.parse_args().packets
    for encr, integ in (("aes-128-gcm", "null"), ("aes-256-cbc", "sha256"), ("chacha20poly1305", "null")):
        for size in (64, 1400):
            e, d = esp_pps(n, size, encr, integ)
            name = encr if integ == "null" else f"{encr}+{integ}"
            print(f"{name:24} {size:5} B  encap {e / 1e3:7.1f} kpps  decap {d / 1e3:7.1f} kpps")
    bare = bare_aesgcm(n, 1400)
    esp = esp_roundtrip(n, 1400, "aes-128-gcm", "null")
    print(f"bare AESGCM encrypt+decrypt 1400 B: {bare * 1e6:.2f} µs")
    print(f"EspSa seal+open 1400 B aes-128-gcm: {esp * 1e6:.2f} µs")
    print(f"ratio EspSa/bare (target <= 3.0): {esp / bare:.2f}x")


if __name__ == "__main__":
    main()
