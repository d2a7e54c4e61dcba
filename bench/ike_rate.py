#!/usr/bin/env python3
"""IKE_SA + first CHILD_SA setups per second with ipsecd as responder, vs a strongSwan responder.

Issue 5 target: responder CPU time per established SA at most strongSwan's, and the setup rate not
below strongSwan's, driven by the same initiator in the same run. The initiator is a charon
(kernel-libipsec) in namespace ``<p>L`` driven over VICI by C client threads, each looping a
blocking ``initiate``; the responder in ``<p>R`` is first a charon, then ``ipsecd run``. Responder
CPU is read from ``/proc/PID/task/*/schedstat`` (on-CPU nanoseconds over all threads).

Run as root from the repository:  .venv/bin/python bench/ike_rate.py [--total 400] [--conc 8]
                                  [--groups ecp256,x25519] [--only strongswan|ipsecd]
                                  [--dataplane tun|memory]
                                  [--log-level warning|info]
Both responders log the same: the charons run with loglevel -1 and ipsecd with --log-level warning,
so neither writes a line per SA (``--log-level info`` shows what ipsecd's per-SA lines cost).
The last line is the figure: ipsecd's rate and CPU/SA and the ratios to strongSwan's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.interop.sswan import Charon, Ipsecd, Netns, Topology, Vici, swanctl_connection

PSK = "bench-rate-psk-0123456789"
# strongSwan's load-test tuning: no DoS protection, no half-open limits, a thread per blocking
# VICI initiate (the default 16 threads stall at 8 concurrent initiates).
CHARON_TUNING = """\
    ikesa_table_size = 4096
    ikesa_table_segments = 16
    reuse_ikesa = no
    dos_protection = no
    cookie_threshold = 10000000
    block_threshold = 10000000
    init_limit_half_open = 0
    init_limit_job_load = 0
"""
SWAN_GROUP = {"ecp256": "ecp256", "x25519": "x25519", "modp2048": "modp2048"}
ROS_GROUP = {"ecp256": "ecp256", "x25519": "x25519", "modp2048": "modp2048"}


def proc_cpu_ns(pid: int | None) -> int:
    total = 0
    if pid is None:
        return 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            pass
    return total


def responder_rsc(topo: Topology, group: str) -> str:
    left, right = topo.left, topo.right
    return f"""\
/ip ipsec profile add name=rate enc-algorithm=aes-128 hash-algorithm=sha256 dh-group={ROS_GROUP[group]}
/ip ipsec peer add name=init address={left.wan}/32 profile=rate exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=init auth-method=pre-shared-key secret="{PSK}" my-id=fqdn:right.test \
    remote-id=fqdn:left.test
/ip ipsec proposal add name=rate enc-algorithms=aes-128-gcm pfs-group=none
/ip ipsec policy add peer=init tunnel=yes src-address={right.lan}/32 dst-address={left.lan}/32 proposal=rate
"""


def rate_connection(me: Netns, other: Netns, my_id: str, other_id: str, group: str) -> str:
    """The swanctl connection both charons use, seen from ``me``."""
    return swanctl_connection(
        "rate",
        local_addr=me.wan,
        remote_addr=other.wan,
        local_id=my_id,
        remote_id=other_id,
        local_ts=f"{me.lan}/32",
        remote_ts=f"{other.lan}/32",
        psk=PSK,
        proposals=f"aes128-sha256-{SWAN_GROUP[group]}",
        esp_proposals="aes128gcm16",
        extra="        unique = never\n",
    )


def load_initiator(init: Charon, topo: Topology, group: str) -> None:
    init.load(rate_connection(topo.left, topo.right, "left.test", "right.test", group))


def drive(init: Charon, total: int, conc: int) -> tuple[list[float], list[str], float]:
    """``total`` initiations from ``conc`` threads; (latencies, errors, wall seconds)."""
    req: dict[str, object] = {
        "ike": "rate",
        "child": "net",
        "timeout": "10000",
        "init-limits": "no",
        "loglevel": "-1",
    }
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    left = [total]

    def worker() -> None:
        with Vici(init.vici_path) as v:
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                t0 = time.perf_counter()
                res = v.request("initiate", req)
                dt = time.perf_counter() - t0
                with lock:
                    (lat.append(dt) if res.get("success") == "yes" else errors.append(str(res.get("errmsg"))))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, errors, time.perf_counter() - t0


def one(
    topo: Topology, workdir: Path, which: str, group: str, total: int, conc: int, log_level: str,
    dataplane: str = "tun",
) -> dict[str, object]:
    stop: Callable[[], object]
    init = Charon(
        topo.left, workdir / f"{which}-{group}", loglevel=-1, threads=96, extra=CHARON_TUNING
    ).start()
    if which == "strongswan":
        resp_charon = Charon(
            topo.right, workdir / f"{which}-{group}", loglevel=-1, threads=32, extra=CHARON_TUNING
        ).start()
        resp_charon.load(rate_connection(topo.right, topo.left, "right.test", "left.test", group))
        pid, stop = resp_charon.pid, resp_charon.stop
    else:
        daemon = Ipsecd(
            topo.right,
            workdir / f"{which}-{group}",
            responder_rsc(topo, group),
            dataplane=dataplane,
            extra_args=["--log-level", log_level],
        ).start()
        pid, stop = daemon.proc.pid if daemon.proc else None, daemon.stop
    load_initiator(init, topo, group)
    try:
        warm, werr, _ = drive(init, 4, 1)  # first SA pays for lazy imports and key caches
        if not warm:
            raise RuntimeError(f"{which}: warm-up failed: {werr[:1]}")
        cpu0 = proc_cpu_ns(pid)
        lat, errors, wall = drive(init, total, conc)
        cpu1 = proc_cpu_ns(pid)
    finally:
        stop()
        init.stop()
    ok = len(lat)
    lat.sort()
    return {
        "responder": which,
        "group": group,
        "conc": conc,
        "ok": ok,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "sa_per_s": ok / wall if wall else 0.0,
        "cpu_ms_per_sa": (cpu1 - cpu0) / 1e6 / ok if ok else float("nan"),
        "p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total", type=int, default=400)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--groups", default="ecp256,x25519")
    ap.add_argument("--only", choices=["strongswan", "ipsecd"])
    ap.add_argument(
        "--dataplane",
        choices=["tun", "memory"],
        default="tun",
        help="ipsecd's data plane (default tun: it installs real SAs, as the anchor does)",
    )
    ap.add_argument(
        "--log-level",
        choices=["warning", "info"],
        default="warning",
        help="ipsecd's --log-level (default warning: like the charons' loglevel -1, no line per SA)",
    )
    args = ap.parse_args()
    results: list[dict[str, object]] = []
    whos = [args.only] if args.only else ["strongswan", "ipsecd"]
    with tempfile.TemporaryDirectory(prefix="ipd-rate-") as tmp, Topology("ipdr") as topo:
        for group in args.groups.split(","):
            for who in whos:
                try:
                    results.append(one(topo, Path(tmp), who, group, args.total, args.conc, args.log_level,
                                       args.dataplane))
                except (RuntimeError, TimeoutError) as exc:
                    print(f"{who} {group}: FAILED: {exc}", file=sys.stderr)
    print(
        f"{'responder':11s} {'group':8s} {'conc':>4s} {'ok':>5s} {'err':>4s} {'SA/s':>7s} "
        f"{'cpu ms/SA':>9s} {'p50 ms':>7s}"
    )
    for r in results:
        print(
            f"{r['responder']!s:11s} {r['group']!s:8s} {r['conc']:4d} {r['ok']:5d} {r['errors']:4d} "
            f"{r['sa_per_s']:7.1f} {r['cpu_ms_per_sa']:9.2f} {r['p50_ms']:7.1f}"
        )
    for group in args.groups.split(","):
        by = {r["responder"]: r for r in results if r["group"] == group}
        if "ipsecd" in by and "strongswan" in by:
            i, s = by["ipsecd"], by["strongswan"]
            print(
                f"{group}: ipsecd {i['sa_per_s']:.0f} SA/s, {i['cpu_ms_per_sa']:.2f} ms CPU/SA; strongSwan "
                f"{s['sa_per_s']:.0f} SA/s, {s['cpu_ms_per_sa']:.2f} ms CPU/SA; rate ratio "
                f"{float(i['sa_per_s']) / max(float(s['sa_per_s']), 1e-9):.2f}, CPU ratio "  # type: ignore[arg-type]
                f"{float(i['cpu_ms_per_sa']) / float(s['cpu_ms_per_sa']):.2f}"
            )  # type: ignore[arg-type]
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
