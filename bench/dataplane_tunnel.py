#!/usr/bin/env python3
"""Tunnel throughput: ipsecd ↔ ipsecd (TUN backend, static SAs) vs strongSwan kernel-libipsec, same run.

Same topology for both (tests/interop/sswan.py's ``Topology``: two namespaces, veth, "LAN" /32s on
``lo``), one SA pair, aes-128-gcm, ESP in UDP/4500 (what libipsec always does), TUN MTU 1400 on both
sides so every ESP packet fits the 1500-byte path (no outer fragmentation; ipsecd seals each ≤1400-byte
packet on its own and only batches the *sends* with UDP GSO). iperf3 between the LAN addresses:

- TCP: one stream, ``--secs`` seconds (default 10);
- UDP: 1300-byte datagrams, the highest offered rate whose loss stays below 1 % (bisection on short
  runs), with ``-w 2M`` for both (``UDP_FLAGS``): with the default 212 KB socket buffer the loss is
  the *receiving iperf3*'s buffer overflowing (``RcvbufErrors``) whenever it is descheduled on these
  2 shared cores, which measures the scheduler rather than the tunnel. ``--udp-flags ''`` restores
  the defaults.

Root, strongSwan and iperf3 required. Prints each figure and, last, the ratios ipsecd / libipsec::

    sudo .venv/bin/python bench/dataplane_tunnel.py [--secs 10] [--workers 1] [--skip-strongswan]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.interop.sswan import Netns, Topology, charon_pair, connect_charons  # noqa: E402

KEY_LR, KEY_RL = "5a" * 20, "a5" * 20
UDP_FLAGS = ["-w", "2M"]


def iperf_tcp(topo: Topology, secs: int) -> float:
    srv = topo.right.spawn(["iperf3", "-s", "-1", "-B", topo.right.lan], Path(tempfile.mktemp()))
    time.sleep(0.5)
    out = topo.left.run("iperf3", "-c", topo.right.lan, "-B", topo.left.lan, "-t", str(secs), "-J",
                        timeout=secs + 30).stdout
    srv.stop()
    return float(json.loads(out)["end"]["sum_received"]["bits_per_second"]) / 1e6


def iperf_udp(topo: Topology, mbit: float, secs: int = 3) -> float:
    """Loss (%) at an offered rate of ``mbit`` Mbit/s with 1300-byte datagrams."""
    srv = topo.right.spawn(["iperf3", "-s", "-1", "-B", topo.right.lan], Path(tempfile.mktemp()))
    time.sleep(0.4)
    out = topo.left.run("iperf3", "-c", topo.right.lan, "-B", topo.left.lan, "-u", "-l", "1300", "-b", f"{mbit}M",
                        "-t", str(secs), "-J", *UDP_FLAGS, timeout=secs + 30).stdout
    srv.stop()
    s = json.loads(out)["end"]["sum"]
    return float(s.get("lost_percent", 100.0))


def udp_ceiling(topo: Topology, start: float) -> float:
    """Highest offered rate (Mbit/s) with < 1 % loss: double until loss, then bisect."""
    lo, hi = 0.0, start
    while iperf_udp(topo, hi) < 1.0 and hi < 20000:
        lo, hi = hi, hi * 2
    for _ in range(4):
        mid = (lo + hi) / 2
        if iperf_udp(topo, mid) < 1.0:
            lo = mid
        else:
            hi = mid
    return lo


def ping_ok(topo: Topology) -> None:
    for _ in range(50):
        r = topo.left.run("ping", "-c", "1", "-W", "1", "-I", topo.left.lan, topo.right.lan, check=False)
        if r.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("tunnel does not pass ping")


def measure(topo: Topology, secs: int, udp_start: float) -> tuple[float, float]:
    ping_ok(topo)
    tcp = iperf_tcp(topo, secs)
    print(f"  TCP 1 stream {secs}s: {tcp:.0f} Mbit/s", flush=True)
    udp = udp_ceiling(topo, udp_start)
    print(f"  UDP 1300 B <1% loss: {udp:.0f} Mbit/s", flush=True)
    return tcp, udp


def strongswan(workdir: Path, secs: int) -> tuple[float, float]:
    print("strongSwan kernel-libipsec (aes128gcm16):", flush=True)
    with charon_pair("dpbs", workdir) as (topo, left, right):
        connect_charons(left, right, topo, esp="aes128gcm16")
        return measure(topo, secs, 100.0)


def static_doc(me: Netns, peer: Netns, out: tuple[int, str], inn: tuple[int, str], workers: int) -> dict[str, Any]:
    def sa(spi: int, direction: str, src: str, dst: str, key: str) -> dict[str, Any]:
        return {"spi": hex(spi), "direction": direction, "mode": "tunnel", "src": src, "dst": dst,
                "enc-algorithm": "aes-128-gcm", "enc-key": key, "policy": "p", "udp-encap": True}
    return {"tun": f"{me.name[:8]}-t", "mtu": 1400, "workers": workers,
            "policies": [{"id": "p", "src": f"{me.lan}/32", "dst": f"{peer.lan}/32", "tunnel": True,
                          "sa-src-address": me.wan, "sa-dst-address": peer.wan}],
            "sas": [sa(out[0], "out", str(me.wan), str(peer.wan), out[1]),
                    sa(inn[0], "in", str(peer.wan), str(me.wan), inn[1])]}


def ipsecd(workdir: Path, secs: int, workers: int) -> tuple[float, float]:
    print(f"ipsecd TUN backend (aes-128-gcm, {workers} worker(s) per side):", flush=True)
    with Topology("dpbi") as topo:
        procs = []
        for me, peer, out, inn in ((topo.left, topo.right, (0x1001, KEY_LR), (0x2002, KEY_RL)),
                                   (topo.right, topo.left, (0x2002, KEY_RL), (0x1001, KEY_LR))):
            path = workdir / f"{me.name}.json"
            path.write_text(json.dumps(static_doc(me, peer, out, inn, workers)))
            p = subprocess.Popen(["ip", "netns", "exec", me.name, sys.executable, "-m", "ipsecd", "dataplane",
                                  "static", str(path)], stdout=subprocess.PIPE, text=True, cwd=REPO)
            procs.append(p)
        try:
            for p in procs:
                assert p.stdout is not None and p.stdout.readline().strip() == "ready"
            result = measure(topo, secs, 200.0)
        finally:
            for p in procs:
                p.terminate()
                out_text, _ = p.communicate(timeout=20)
                print("  " + out_text.strip().splitlines()[-1] if out_text.strip() else "  (no report)")
        return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--skip-strongswan", action="store_true")
    ap.add_argument("--udp-flags", default=" ".join(UDP_FLAGS), help="extra iperf3 flags for the UDP runs")
    args = ap.parse_args()
    UDP_FLAGS[:] = args.udp_flags.split()
    print(f"iperf3: TCP -t {args.secs}; UDP -u -l 1300 -t 3 {' '.join(UDP_FLAGS)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="dpbench") as d:
        work = Path(d)
        ss = (0.0, 0.0) if args.skip_strongswan else strongswan(work, args.secs)
        me = ipsecd(work, args.secs, args.workers)
    if ss[0] and ss[1]:
        print(f"ipsecd/libipsec: TCP {me[0]:.0f}/{ss[0]:.0f} = {me[0] / ss[0]:.2f}x, "
              f"UDP {me[1]:.0f}/{ss[1]:.0f} = {me[1] / ss[1]:.2f}x")
    else:
        print(f"ipsecd: TCP {me[0]:.0f} Mbit/s, UDP {me[1]:.0f} Mbit/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
