"""IKE_SA + first CHILD_SA establishments with ipsecd as responder, in process (no sockets).

An ipsecd initiator drives N complete IKE_SA_INIT + IKE_AUTH exchanges (PSK, aes-128-cbc/sha256,
first CHILD_SA aes-128-gcm) against one IKE router as responder, for ecp256 and curve25519. Reports
handshakes/s and the responder's CPU time per established SA (time spent inside its calls only),
with the ratio against strongSwan's responder CPU per SA: issue #5 quoted ~1.3 ms, but
``bench/ike_rate.py`` measures 0.62-0.74 ms for strongSwan here (2026-11), so the anchor is 0.7 ms.
This is the IKE core alone: the daemon's sockets, timers and data plane come on top of it, which
``bench/ike_rate.py`` includes. Best of three runs per group; the last line is the figure (the worse
group). Before it, the cost of answering one spoofed IKE_SA_INIT with a stateless COOKIE (the
router in COOKIE mode: what a flood costs per packet, RFC 7296 §2.6).

    .venv/bin/python bench/ike_handshake.py [N]
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from ipaddress import ip_network

from ipsecd.ike.auth import StaticCredentials
from ipsecd.ike.events import IkeSaEstablished
from ipsecd.ike.router import Router
from ipsecd.ike.v2.config import ChildConfig, ChildProposal, IkeConfig, IkeProposal
from ipsecd.ike.v2.sa import IkeSa, ikev2_router
from ipsecd.policy.types import Selector

STRONGSWAN_CPU_MS = 0.7  # strongSwan 5.9.8 responder CPU per IKE SA + CHILD_SA in bench/ike_rate.py runs
INI, RESP = ("192.0.2.1", 500), ("198.51.100.2", 500)


def configs(group: str) -> tuple[IkeConfig, IkeConfig]:
    prop = (IkeProposal(("aes-128",), ("sha256",), ("sha256",), (group,)),)
    cprop = (ChildProposal(("aes-128-gcm",), ("sha256",), "none"),)
    sel_i = Selector(ip_network("10.1.0.0/16"), ip_network("10.2.0.0/16"))
    sel_r = Selector(ip_network("10.2.0.0/16"), ip_network("10.1.0.0/16"))
    def side(local: tuple[str, int], remote: tuple[str, int], sel: Selector) -> IkeConfig:
        return IkeConfig(local, remote, StaticCredentials(b"secret"), proposals=prop,
                         children=(ChildConfig("c", sel, cprop),), dpd_interval=None)

    return side(INI, RESP, sel_i), side(RESP, INI, sel_r)


def responder(rcfg: IkeConfig, n: int, spis: Iterator[int]) -> Router:
    """The IKE router answering ``n`` initiators with ``rcfg`` (no COOKIEs, no half-open limit)."""
    return ikev2_router(
        lambda a: rcfg,
        rng=os.urandom,
        spi_alloc=lambda p: next(spis),
        now=0.0,
        cookie_threshold=10 * n,
        max_half_open=10 * n,
    )


def run(group: str, n: int) -> tuple[float, float]:
    icfg, rcfg = configs(group)
    spis = iter(range(0x1000, 0x1000 + 4 * n))
    mgr = responder(rcfg, n, spis)
    responder_cpu = 0.0
    established = 0
    start = time.perf_counter()
    for _ in range(n):
        ini = IkeSa.initiator(icfg, rng=os.urandom, spi_alloc=lambda p: next(spis), now=0.0)
        for _round in range(2):
            ((data, _),) = ini.datagrams_to_send(0.0)
            t0 = time.process_time()
            mgr.receive_datagram(data, (RESP, INI), 0.0)
            out = mgr.datagrams_to_send(0.0)
            events = mgr.events()
            responder_cpu += time.process_time() - t0
            established += sum(isinstance(e, IkeSaEstablished) for _, e in events)
            for reply, _ in out:
                ini.receive_datagram(reply, (INI, RESP), 0.0)
    wall = time.perf_counter() - start
    assert established == n, (established, n)
    return n / wall, responder_cpu / n * 1000


def cookie_cost(n: int = 20000) -> float:
    """Microseconds per spoofed IKE_SA_INIT answered with a COOKIE (each from its own address)."""
    icfg, rcfg = configs("ecp256")
    router = ikev2_router(lambda a: rcfg, rng=os.urandom, spi_alloc=lambda p: 1, now=0.0, cookie_threshold=0)
    template = IkeSa.initiator(icfg, rng=os.urandom, spi_alloc=lambda p: 1, now=0.0).datagrams_to_send(0.0)[
        0
    ][0]
    sources = [
        ((RESP, (f"198.18.{k >> 8 & 255}.{k & 255}", 500)), k.to_bytes(8, "big") + template[8:])
        for k in range(n)
    ]
    start = time.process_time()
    for addr, data in sources:
        router.receive_datagram(data, addr, 0.0)
        router.datagrams_to_send(0.0)
        router.events()
    cost = (time.process_time() - start) / n * 1e6
    assert router.counters["cookies-sent"] == n
    return cost


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    print(f"COOKIE answer per spoofed IKE_SA_INIT: {min(cookie_cost() for _ in range(3)):.1f} µs")
    worst = 0.0
    for group in ("ecp256", "x25519"):
        runs = [run(group, n) for _ in range(3)]  # best of three: the machine is shared
        rate, cpu_ms = max(r[0] for r in runs), min(r[1] for r in runs)
        worst = max(worst, cpu_ms)
        print(
            f"{group}: {rate:.0f} handshakes/s (both ends in one process), responder CPU {cpu_ms:.3f} ms/SA"
        )
    print(
        f"responder CPU per established IKE SA + CHILD_SA: {worst:.3f} ms "
        f"(strongSwan ~{STRONGSWAN_CPU_MS} ms: ratio {worst / STRONGSWAN_CPU_MS:.2f})"
    )


if __name__ == "__main__":
    main()
