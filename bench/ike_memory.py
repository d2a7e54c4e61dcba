"""Memory per established IKE SA with one CHILD_SA at 10,000 tunnels, ipsecd as responder.

10,000 ipsecd initiators (each discarded once established) bring up IKE SAs with one CHILD_SA each
against one in-process IKE router (ecp256, aes-128-cbc/sha256 IKE SA, aes-128-gcm CHILD_SA). The
figure is the growth of the process's resident set divided by the number of SAs, i.e. memory per
SA above the idle process, against the issue's target of 8 KB. With ``--trace``, tracemalloc's view
(Python objects only, no OpenSSL contexts) instead; tracing inflates the RSS figure, so it is off
by default.

    .venv/bin/python bench/ike_memory.py [N] [--trace]
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc

from ipsecd.ike.events import IkeSaEstablished
from ipsecd.ike.v2.sa import IkeSa, ikev2_router

sys.path.insert(0, os.path.dirname(__file__))
from ike_handshake import INI, RESP, configs

TARGET = 8 * 1024


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--trace"]
    trace = "--trace" in sys.argv
    n = int(args[0]) if args else 10000
    icfg, rcfg = configs("ecp256")
    spis = iter(range(0x1000, 0x1000 + 4 * n))
    mgr = ikev2_router(lambda a: rcfg, rng=os.urandom, spi_alloc=lambda p: next(spis), now=0.0,
                     cookie_threshold=10 * n, max_half_open=10 * n)
    # warm up every code path and allocator pool once, then measure from an idle baseline
    for _ in range(2):
        ini = IkeSa.initiator(icfg, rng=os.urandom, spi_alloc=lambda p: next(spis), now=0.0)
        for _round in range(2):
            (data, _), = ini.datagrams_to_send(0.0)
            mgr.receive_datagram(data, (RESP, INI), 0.0)
            for reply, _ in mgr.datagrams_to_send(0.0):
                ini.receive_datagram(reply, (INI, RESP), 0.0)
            mgr.events()
    gc.collect()
    base_rss = rss()
    if trace:
        tracemalloc.start()
    base_py = tracemalloc.get_traced_memory()[0]
    established = 0
    for k in range(n):
        ini = IkeSa.initiator(icfg, rng=os.urandom, spi_alloc=lambda p: next(spis), now=0.0)
        for _round in range(2):
            (data, _), = ini.datagrams_to_send(0.0)
            mgr.receive_datagram(data, (RESP, INI), 0.0)
            for reply, _ in mgr.datagrams_to_send(0.0):
                ini.receive_datagram(reply, (INI, RESP), 0.0)
            established += sum(isinstance(e, IkeSaEstablished) for _, e in mgr.events())
        del ini
        if k % 2000 == 1999:
            print(f"{k + 1} SAs ...", flush=True)
    gc.collect()
    py = tracemalloc.get_traced_memory()[0] - base_py
    tracemalloc.stop()
    grown = rss() - base_rss
    assert established == n and len(mgr.by_spi) == n + 2
    if trace:
        print(f"python objects (tracemalloc): {py / n:.0f} B per SA")
        return
    print(f"memory per established IKE SA + CHILD_SA at {n} SAs: {grown / n / 1024:.2f} KB RSS "
          f"(target 8 KB: ratio {grown / n / TARGET:.2f})")


if __name__ == "__main__":
    main()
