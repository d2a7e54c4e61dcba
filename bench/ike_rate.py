#!/usr/bin/env python3
"""IKE_SA + first CHILD_SA setups per second with ipsecd as responder, vs a strongSwan responder.

Issue 5 target: responder CPU time per established SA at most strongSwan's, and the setup rate not
below strongSwan's, driven by the same initiator in the same run. The initiator is a charon
(kernel-libipsec) in namespace ``<p>L`` driven over VICI by C client threads, each looping a
blocking ``initiate``; the responder in ``<p>R`` is first a charon, then ``ipsecd run``. Responder
CPU is read from ``/proc/PID/task/*/schedstat`` (on-CPU nanoseconds over all threads).

Run as root from the repository:  .venv/bin/python bench/ike_rate.py [--total 400] [--conc 8]
                                  [--groups ecp256,x25519] [--only strongswan|ipsecd]
                                  [--runs tun:info,tun:warning,memory:warning]
                                  [--repeat 3] [--old-src /path/to/old/src]

ipsecd runs as a user runs it: the ``tun`` data plane (real SAs in its packet workers, as the anchor
installs real SAs into kernel-libipsec) at the default log level (``info``: a line per SA), then at
``warning`` (no line per SA, like the charons' loglevel -1); the ``memory`` data plane is the second
figure, showing the cost of IKE alone. Responder CPU is summed over every process of the responder's
session: the daemon *and* its data-plane workers (or charon's threads).

``--repeat N`` runs everything N times (interleaved) and reports medians; ``--old-src`` adds an
``ipsecd@old`` responder running another source tree (e.g. a ``git worktree`` of the old commit) in
the same run, so old and new are compared under the same load.
The table splits the CPU into the session leader (the daemon, or charon) and the rest (the data-plane
workers; charon's threads are already in its own figure). The last lines are the figures: each
ipsecd run's rate and CPU/SA and the ratios to strongSwan's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tests.interop.sswan as sswan
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


def session_pids(sid: int) -> list[int]:
    """Every live process of session ``sid`` (the responder was started in its own session: the
    daemon, its spawned data-plane workers and multiprocessing's helpers)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # after "pid (comm)": state ppid pgrp session ...
            out.append(int(stat.parent.name))
    return out


def proc_cpu_ns(sid: int | None) -> dict[int, int]:
    """On-CPU nanoseconds of every thread, per process of session ``sid``. A process that exits
    between two readings loses its time: the workers live as long as the daemon, so none does."""
    out: dict[int, int] = {}
    if sid is None:
        return out
    for pid in session_pids(sid):
        total = 0
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError):
                pass
        out[pid] = total
    return out


def responder_rsc(topo: Topology, group: str, version: int = 2) -> str:
    """ipsecd's configuration: IKEv2, or IKEv1 main mode (``version`` 1)."""
    left, right = topo.left, topo.right
    mode = "ike2" if version == 2 else "main"
    return f"""\
/ip ipsec profile add name=rate enc-algorithm=aes-128 hash-algorithm=sha256 dh-group={ROS_GROUP[group]}
/ip ipsec peer add name=init address={left.wan}/32 profile=rate exchange-mode={mode} passive=yes
/ip ipsec identity add peer=init auth-method=pre-shared-key secret="{PSK}" my-id=fqdn:right.test \
    remote-id=fqdn:left.test
/ip ipsec proposal add name=rate enc-algorithms=aes-128-gcm pfs-group=none
/ip ipsec policy add peer=init tunnel=yes src-address={right.lan}/32 dst-address={left.lan}/32 proposal=rate
"""


def rate_connection(me: Netns, other: Netns, my_id: str, other_id: str, group: str, version: int = 2) -> str:
    """The swanctl connection both charons use, seen from ``me`` (IKEv1: main mode)."""
    conf = swanctl_connection(
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
    return conf.replace("version = 2", f"version = {version}")


def load_initiator(init: Charon, topo: Topology, group: str, version: int = 2) -> None:
    init.load(rate_connection(topo.left, topo.right, "left.test", "right.test", group, version))


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


@dataclass(frozen=True)
class Responder:
    """One responder configuration: strongSwan, or ipsecd with a data plane, log level and source."""

    which: str  # "strongswan" or "ipsecd"
    dataplane: str = "tun"
    log_level: str = "info"
    src: Path | None = None  # ipsecd's source tree (None: this repository's)
    tag: str = ""  # "@old" for --old-src

    @property
    def label(self) -> str:
        if self.which == "strongswan":
            return "strongswan"
        return f"ipsecd{self.tag} {self.dataplane}/{self.log_level}"


def measure(
    init: Charon, pid: int | None, stop: Callable[[], object], total: int, conc: int, label: str
) -> tuple[list[float], list[str], float, dict[int, int]]:
    """A warm-up, then ``drive``: (latencies, errors, wall seconds, CPU nanoseconds by responder
    process); the responder (``stop``) and the initiator are stopped after."""
    try:
        warm, werr, _ = drive(init, 4, 1)  # first SA pays for lazy imports and key caches
        if not warm:
            raise RuntimeError(f"{label}: warm-up failed: {werr[:1]}")
        cpu0 = proc_cpu_ns(pid)
        lat, errors, wall = drive(init, total, conc)
        cpu1 = proc_cpu_ns(pid)
    finally:
        stop()
        init.stop()
    return lat, errors, wall, {p: cpu1[p] - cpu0.get(p, 0) for p in cpu1}


def one(
    topo: Topology, workdir: Path, resp: Responder, group: str, total: int, conc: int, version: int = 2
) -> dict[str, object]:
    stop: Callable[[], object]
    wd = workdir / f"{resp.label.replace(' ', '-').replace('/', '-')}-{group}"
    init = Charon(topo.left, wd, loglevel=-1, threads=96, extra=CHARON_TUNING).start()
    if resp.which == "strongswan":
        resp_charon = Charon(topo.right, wd, loglevel=-1, threads=32, extra=CHARON_TUNING).start()
        resp_charon.load(rate_connection(topo.right, topo.left, "right.test", "left.test", group, version))
        pid, stop = resp_charon.pid, resp_charon.stop
    else:
        # the harness runs ``REPO/src``; an old tree is run by pointing it there for this start only
        repo = sswan.REPO
        if resp.src is not None:
            sswan.REPO = resp.src.parent
        try:
            daemon = Ipsecd(
                topo.right,
                wd,
                responder_rsc(topo, group, version),
                dataplane=resp.dataplane,
                extra_args=["--log-level", resp.log_level],
            ).start()
        finally:
            sswan.REPO = repo
        pid, stop = daemon.proc.pid if daemon.proc else None, daemon.stop
    load_initiator(init, topo, group, version)
    lat, errors, wall, spent = measure(init, pid, stop, total, conc, resp.label)
    ok = len(lat)
    lat.sort()
    main_ns = spent.pop(pid, 0) if pid is not None else 0  # the session leader: daemon or charon
    others_ns = sum(spent.values())
    return {
        "responder": resp.label,
        "group": group,
        "conc": conc,
        "ok": ok,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "sa_per_s": ok / wall if wall else 0.0,
        "cpu_ms_per_sa": (main_ns + others_ns) / 1e6 / ok if ok else float("nan"),
        "main_ms_per_sa": main_ns / 1e6 / ok if ok else float("nan"),
        "others_ms_per_sa": others_ns / 1e6 / ok if ok else float("nan"),
        "p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
    }


def median_of(rows: list[dict[str, object]]) -> dict[str, object]:
    """One row: the medians of the numeric fields of ``rows`` (the same responder and group)."""
    out = dict(rows[0])
    for key in ("ok", "errors", "sa_per_s", "cpu_ms_per_sa", "main_ms_per_sa", "others_ms_per_sa", "p50_ms"):
        out[key] = statistics.median(float(r[key]) for r in rows)  # type: ignore[arg-type]
    out["runs"] = len(rows)
    return out


def main(version: int = 2, doc: str | None = None, groups: str = "ecp256,x25519") -> int:
    """Run the benchmark for IKE ``version`` (``bench/ikev1_rate.py`` passes 1)."""
    ap = argparse.ArgumentParser(
        description=doc or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--total", type=int, default=400)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--groups", default=groups)
    ap.add_argument("--only", choices=["strongswan", "ipsecd"])
    ap.add_argument(
        "--runs",
        default="tun:info,tun:warning,memory:warning",
        help="ipsecd runs as DATAPLANE:LOGLEVEL (default: tun at the default level info, tun at "
        "warning, then memory at warning as the second figure)",
    )
    ap.add_argument("--repeat", type=int, default=1, help="run everything N times, report medians")
    ap.add_argument("--old-src", type=Path, help="also run ipsecd from this source tree (label @old)")
    args = ap.parse_args()
    resps: list[Responder] = []
    if args.only != "ipsecd":
        resps.append(Responder("strongswan"))
    if args.only != "strongswan":
        for spec in args.runs.split(","):
            dataplane, _, level = spec.partition(":")
            if args.old_src is not None:
                resps.append(Responder("ipsecd", dataplane, level or "info", args.old_src.resolve(), "@old"))
            resps.append(Responder("ipsecd", dataplane, level or "info"))
    groups = args.groups.split(",")
    raw: dict[tuple[str, str], list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="ipd-rate-") as tmp, Topology("ipdr") as topo:
        for _ in range(args.repeat):
            for group in groups:
                for resp in resps:
                    try:
                        r = one(topo, Path(tmp), resp, group, args.total, args.conc, version)
                    except (RuntimeError, TimeoutError) as exc:
                        print(f"{resp.label} {group}: FAILED: {exc}", file=sys.stderr)
                        continue
                    raw.setdefault((resp.label, group), []).append(r)
    results = [median_of(rows) for rows in raw.values()]
    print(
        f"{'responder':24s} {'group':8s} {'conc':>4s} {'ok':>5s} {'err':>4s} {'SA/s':>7s} "
        f"{'cpu ms/SA':>9s} {'(main':>6s} {'+rest)':>6s} {'p50 ms':>7s} {'runs':>4s}"
    )
    for r in results:
        print(
            f"{r['responder']!s:24s} {r['group']!s:8s} {r['conc']:4d} {r['ok']:5.0f} {r['errors']:4.0f} "
            f"{r['sa_per_s']:7.1f} {r['cpu_ms_per_sa']:9.2f} {r['main_ms_per_sa']:6.2f} "
            f"{r['others_ms_per_sa']:6.2f} {r['p50_ms']:7.1f} {r['runs']:4d}"
        )
    for group in groups:
        by = {str(r["responder"]): r for r in results if r["group"] == group}
        s = by.get("strongswan")
        if s is None:
            continue
        for label, i in by.items():
            if label == "strongswan":
                continue
            print(
                f"{group} {label}: {i['sa_per_s']:.0f} SA/s, {i['cpu_ms_per_sa']:.2f} ms CPU/SA; strongSwan "
                f"{s['sa_per_s']:.0f} SA/s, {s['cpu_ms_per_sa']:.2f} ms CPU/SA; rate ratio "
                f"{float(i['sa_per_s']) / max(float(s['sa_per_s']), 1e-9):.2f}, CPU ratio "  # type: ignore[arg-type]
                f"{float(i['cpu_ms_per_sa']) / float(s['cpu_ms_per_sa']):.2f}"  # type: ignore[arg-type]
            )
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
