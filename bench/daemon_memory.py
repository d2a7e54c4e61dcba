#!/usr/bin/env python3
"""Memory per established IKE SA (with one CHILD_SA) at N tunnels, ipsecd as responder.

Issue 5 target: ≤ 8 KB per IKE SA + CHILD_SA above the idle process, at 10,000 tunnels. The
responder is a real ``ipsecd run`` process (memory data plane, loopback, unprivileged ports); the
initiators are the project's own sans-I/O IKE SAs in this process, driven over one UDP socket
(INITIAL_CONTACT off, so tunnels with the same identity coexist). The figure is the responder's
RSS growth (``/proc/PID/status`` VmRSS) divided by the established tunnels; no root needed.

A second, smaller run (``--breakdown-tunnels``, default 2000; 0 skips it) splits the growth by
layer: the responder runs under tracemalloc (which slows it and inflates RSS, hence neither the
figure nor 10,000 tunnels) and each Python allocation still live at the end is charged to the
innermost ``ipsecd`` line on its traceback, grouped by who owns that code (daemon, IKE core,
SAD/ESP, selectors/SPD, processor). What tracemalloc cannot see (OpenSSL contexts, allocator
slack) is the RSS figure minus the traced total.

Run:  .venv/bin/python bench/daemon_memory.py [--tunnels 10000] [--window 64]
                                              [--breakdown-tunnels 2000] [--lines N]
(``--lines N``: the top N allocation lines of the breakdown too)

Every initiator is on one address, and ``--window`` of them are half-open at once. The responder's
DoS protection would take that for a flood: above ``ddos-cookie-threshold`` (default 30) half-open
SAs it demands cookies, and then holds each address to 5 half-open SAs (strongSwan's
``block_threshold``), which throttles a single-source load to a crawl of retransmissions. A load test
from one host is what ``/ip ipsec settings ddos-cookie-threshold`` is for, as on a router: the
configuration sets it to twice the window. The initiators drive their own timers, so a datagram
lost on a busy machine is retransmitted rather than stalling the run.
"""

from __future__ import annotations

import argparse
import collections
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ipsecd.ike import events as ev  # noqa: E402
from ipsecd.ike.auth import StaticCredentials  # noqa: E402
from ipsecd.ike.v2.config import ChildConfig, ChildProposal, IkeConfig, IkeProposal  # noqa: E402
from ipsecd.ike.v2.sa import IkeSa  # noqa: E402
from ipsecd.policy.types import IpsecProto, Selector  # noqa: E402

PSK = "bench-memory-psk-0123456789"
RESPONDER = "127.0.0.2"
INITIATOR = "127.0.0.1"


def rsc(ike_port: int, cookie_threshold: int) -> str:
    return f"""\
/ip ipsec profile add name=mem enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256 \\
    dpd-interval=disable-dpd
/ip ipsec peer add name=init address={INITIATOR}/32 local-address={RESPONDER} port={ike_port} \\
    profile=mem exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=init auth-method=pre-shared-key secret="{PSK}"
/ip ipsec proposal add name=mem enc-algorithms=aes-128-gcm pfs-group=none
/ip ipsec policy add peer=init tunnel=yes src-address=10.20.0.0/16 dst-address=10.10.0.0/16 proposal=mem
/ip ipsec settings set ddos-cookie-threshold={cookie_threshold}
"""


# who owns which code (the team's split of issue 5's memory target); first matching prefix wins
LAYERS = (
    ("daemon (engine, transport, timers, glue, runtime)", ("daemon/",)),
    ("IKE core (ike, wire, crypto: IKE SA, keys)", ("ike/", "wire/", "crypto/")),
    (
        "SAD + ESP/AH transforms",
        ("policy/sad.py", "dataplane/esp.py", "dataplane/ah.py", "dataplane/memory.py"),
    ),
    ("processor / userspace data plane", ("dataplane/processor.py", "dataplane/userspace/")),
    ("selectors, SPD, other policy", ("policy/",)),
    ("other ipsecd", ("",)),
)
TRACE_DEPTH = 8
IDLE_SECONDS = 3.0


def layer_of(path: str) -> str:
    for name, prefixes in LAYERS:
        if path.startswith(prefixes):
            return name
    return "other"


def traced_serve(out: str, argv: list[str]) -> int:
    """Responder under tracemalloc; SIGUSR1 writes live allocations per innermost ipsecd line to
    ``out``.N (N counting from 0)."""
    tracemalloc.start(TRACE_DEPTH)
    dumps = [0]

    def dump(_sig: int, _frame: object) -> None:
        sizes: collections.Counter[str] = collections.Counter()
        for stat in tracemalloc.take_snapshot().statistics("traceback"):
            where = "(no ipsecd frame)"
            for frame in reversed(stat.traceback):  # innermost first
                if "/ipsecd/" in frame.filename and "/ipsecd/__main__" not in frame.filename:
                    where = f"{frame.filename.rsplit('/ipsecd/', 1)[1]}:{frame.lineno}"
                    break
            sizes[where] += stat.size
        Path(f"{out}.{dumps[0]}").write_text(json.dumps(sizes))
        dumps[0] += 1

    signal.signal(signal.SIGUSR1, dump)
    from ipsecd.cli import main as ipsecd_main

    return ipsecd_main(argv)


def snapshot(pid: int, out: str, n: int) -> dict[str, int]:
    os.kill(pid, signal.SIGUSR1)
    path = Path(f"{out}.{n}")
    deadline = time.monotonic() + 120
    while not path.exists() or not path.stat().st_size:
        if time.monotonic() > deadline:
            raise RuntimeError("responder wrote no tracemalloc snapshot")
        time.sleep(0.1)
    time.sleep(0.2)  # written in one call; let it finish
    return dict(json.loads(path.read_text()))


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the TUN data plane's workers are the daemon's children)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def tree_mem(pid: int) -> dict[str, int]:
    """KiB of RSS, PSS and USS (private clean + dirty) summed over ``pid`` and its descendants, from
    ``/proc/PID/smaps_rollup``; PSS charges pages the spawned workers share with each other once."""
    total = {"rss": 0, "pss": 0, "uss": 0, "procs": 0}
    for p in tree(pid):
        fields = {}
        for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()[1:]:
            key, _, rest = line.partition(":")
            fields[key] = int(rest.split()[0])
        total["rss"] += fields["Rss"]
        total["pss"] += fields["Pss"]
        total["uss"] += fields["Private_Clean"] + fields["Private_Dirty"]
        total["procs"] += 1
    return total


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Initiators:
    """Many sans-I/O initiator IKE SAs multiplexed on one UDP socket per port (IKE and NAT-T)."""

    def __init__(self, ike_port: int, natt_port: int) -> None:
        self.ike_port, self.natt_port = ike_port, natt_port
        self.socks = {}
        for port in (ike_port, natt_port):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            # the TUN data plane's workers bind 0.0.0.0:natt_port with SO_REUSEPORT; this more
            # specific bind takes what is sent to the initiator's address, theirs the responder's
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((INITIATOR, port))
            s.settimeout(0.005)
            self.socks[port] = s
        self.by_spi: dict[bytes, IkeSa] = {}
        self.pending: dict[IkeSa, None] = {}  # started, CHILD_SA not installed yet
        self.done = 0
        self.next_spi = 0x1000

    def spi(self, proto: IpsecProto) -> int:
        self.next_spi += 1
        return self.next_spi

    def start(self, n: int) -> IkeSa:
        sel = Selector(
            ipaddress.ip_network(f"10.10.{n // 256 % 256}.{n % 256}/32"), ipaddress.ip_network("10.20.0.1/32")
        )
        cfg = IkeConfig(
            local=(INITIATOR, self.ike_port),
            remote=(RESPONDER, self.ike_port),
            credentials=StaticCredentials(PSK.encode()),
            proposals=(IkeProposal(("aes-128",), ("sha256",), ("sha256",), ("ecp256",)),),
            children=(ChildConfig("c", sel, (ChildProposal(("aes-128-gcm",), (), "none"),)),),
            dpd_interval=None,
            send_initial_contact=False,
            force_encap=True,
            natt_port=self.natt_port,
        )
        sa = IkeSa.initiator(cfg, rng=os.urandom, spi_alloc=self.spi, now=time.monotonic())
        self.by_spi[sa.local_spi] = sa
        self.pending[sa] = None
        self.flush(sa)
        return sa

    def retransmit(self) -> None:
        """Drive the timers of the negotiations in flight: a datagram lost under load (a full socket
        buffer on a busy machine) is sent again, as a real initiator would, instead of stalling."""
        now = time.monotonic()
        for sa in list(self.pending):
            when = sa.get_timer()
            if when is not None and when <= now:
                sa.handle_timer(now)
                self.flush(sa)

    def flush(self, sa: IkeSa) -> None:
        now = time.monotonic()
        for data, (local, remote) in sa.datagrams_to_send(now):
            natt = local[1] == self.natt_port
            self.socks[local[1]].sendto((b"\0\0\0\0" + data) if natt else data, remote)
        while (e := sa.next_event()) is not None:
            if isinstance(e, ev.ChildSaInstalled):
                self.done += 1
                self.pending.pop(sa, None)
            elif isinstance(e, ev.IkeSaDeleted | ev.NegotiationFailed):
                print(f"initiator: {e}", file=sys.stderr)

    def poll(self) -> None:
        for port, s in self.socks.items():
            for _ in range(256):
                try:
                    data, addr = s.recvfrom(65535)
                except (TimeoutError, BlockingIOError):
                    break
                if port == self.natt_port:
                    if data[:4] != b"\0\0\0\0":
                        continue
                    data = data[4:]
                sa = self.by_spi.get(data[:8])
                if sa is None:
                    continue
                sa.receive_datagram(data, ((INITIATOR, port), (addr[0], addr[1])), time.monotonic())
                self.flush(sa)


def run_once(
    tunnels: int, window: int, traced: bool, dataplane: str = "memory"
) -> tuple[float, dict[str, int], dict[str, int], float, dict[str, int] | None]:
    """One responder, ``tunnels`` tunnels: (seconds, idle and loaded memory of the responder and its
    workers in KiB (:func:`tree_mem`), share of a core the loaded responder uses while nothing happens,
    per-line growth in bytes when ``traced``)."""
    ike_port, natt_port = free_port(RESPONDER), free_port(RESPONDER)
    with tempfile.TemporaryDirectory(prefix="ipd-mem-") as tmp:
        conf = Path(tmp) / "r.rsc"
        conf.write_text(rsc(ike_port, 2 * window))
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        ipsecd_args = [
            "--db",
            f"{tmp}/db",
            "--control",
            f"{tmp}/ctl",
            "run",
            "--config",
            str(conf),
            "--dataplane",
            dataplane,
            "--ike-port",
            str(ike_port),
            "--natt-port",
            str(natt_port),
            "--log-level",
            "warning",
        ]
        trace_out = f"{tmp}/trace"
        cmd = (
            [sys.executable, __file__, "--serve-traced", trace_out, "--", *ipsecd_args]
            if traced
            else [sys.executable, "-m", "ipsecd", *ipsecd_args]
        )
        proc = subprocess.Popen(cmd, env=env)
        growth = None
        try:
            while not Path(f"{tmp}/ctl").exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"responder exited with {proc.returncode}")
                time.sleep(0.05)
            init = Initiators(ike_port, natt_port)
            init.start(0)  # warm-up tunnel: lazy imports and caches are part of the idle process
            while init.done < 1:
                init.poll()
                init.retransmit()
            time.sleep(0.5)
            idle = tree_mem(proc.pid)
            before = snapshot(proc.pid, trace_out, 0) if traced else {}
            t0 = time.monotonic()
            started = 1
            while init.done < tunnels + 1:
                while started < tunnels + 1 and started - init.done < window:
                    init.start(started)
                    started += 1
                init.poll()
                init.retransmit()
                if time.monotonic() - t0 > 600:
                    raise RuntimeError(f"only {init.done - 1} tunnels after 600 s")
            elapsed = time.monotonic() - t0
            time.sleep(1.0)
            loaded = tree_mem(proc.pid)
            cpu0 = cpu_seconds(proc.pid)
            time.sleep(IDLE_SECONDS)  # timers and data-plane polls of the loaded daemon, no traffic
            idle_cpu = (cpu_seconds(proc.pid) - cpu0) / IDLE_SECONDS
            if traced:
                after = snapshot(proc.pid, trace_out, 1)
                growth = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    return elapsed, idle, loaded, idle_cpu, growth


def print_breakdown(growth: dict[str, int], n: int, rss_per: float, rss_tunnels: int, lines: int) -> None:
    by_layer: collections.Counter[str] = collections.Counter()
    for where, size in growth.items():
        by_layer[layer_of(where)] += size
    traced = sum(by_layer.values())
    print(
        f"per-layer breakdown ({n} tunnels under tracemalloc; live Python allocations per tunnel, charged to "
        "the innermost ipsecd line; the not-traced rest uses the RSS figure):"
    )
    for name, _ in LAYERS:
        print(f"  {by_layer.get(name, 0) / n:8.0f} B  {name}")
    print(f"  {by_layer.get('other', 0) / n:8.0f} B  no ipsecd frame (interpreter, stdlib)")
    print(
        f"  {traced / n:8.0f} B  traced total (bounded caches and dict growth amortise over fewer tunnels "
        f"here than in the {rss_tunnels}-tunnel RSS run; RSS minus traced: {rss_per - traced / n:.0f} B)"
    )
    if lines:
        print(f"top {lines} allocation lines (B per tunnel):")
        for where, size in sorted(growth.items(), key=lambda kv: -kv[1])[:lines]:
            print(f"  {size / n:8.0f}  {where}")


def in_private_netns() -> None:
    """Re-run this script in a network namespace of its own (``unshare --net``, loopback up): the TUN
    data plane creates a device and routes for every tunnel, which must not touch the host's."""
    if os.environ.get("IPSECD_BENCH_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    env = dict(os.environ, IPSECD_BENCH_NETNS="1")
    os.execvpe("unshare", ["unshare", "--net", "--", sys.executable, __file__, *sys.argv[1:]], env)


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-traced":
        return traced_serve(sys.argv[2], sys.argv[4:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tunnels", type=int, default=10000)
    ap.add_argument("--window", type=int, default=64, help="negotiations in flight at once")
    ap.add_argument(
        "--dataplane",
        choices=("memory", "tun", "both"),
        default="both",
        help="responder's data plane; tun needs root and runs in a private network namespace",
    )
    ap.add_argument(
        "--breakdown-tunnels", type=int, default=2000, help="tunnels of the tracemalloc run (0: none)"
    )
    ap.add_argument("--lines", type=int, default=0, help="print the top N allocation lines too")
    args = ap.parse_args()
    n = args.tunnels
    planes = ("memory", "tun") if args.dataplane == "both" else (args.dataplane,)
    if "tun" in planes:
        if os.geteuid() != 0:
            print("the tun data plane needs root (a TUN device, routes); run as root or --dataplane memory")
            return 2
        in_private_netns()
    per_plane: dict[str, float] = {}
    for plane in planes:
        elapsed, idle, loaded, idle_cpu, _ = run_once(n, args.window, traced=False, dataplane=plane)
        per = (loaded["pss"] - idle["pss"]) * 1024 / n
        per_plane[plane] = per
        print(
            f"[{plane}] {n} tunnels established in {elapsed:.1f} s; {loaded['procs']} process(es) "
            f"(daemon + data-plane workers); loaded responder with no traffic uses {100 * idle_cpu:.1f}% "
            "of a core"
        )
        for key in ("rss", "pss", "uss"):
            print(
                f"[{plane}]   {key.upper()} idle {idle[key]} KiB, loaded {loaded[key]} KiB, per tunnel "
                f"{(loaded[key] - idle[key]) / n:.2f} KiB"
            )
        print(
            f"[{plane}] memory per IKE SA + CHILD_SA (PSS growth, all processes): {per / 1024:.2f} KiB "
            f"(target <= 8 KiB, ratio {per / 8192:.2f})"
        )
    if len(per_plane) == 2:
        print(
            f"tun vs memory data plane per tunnel: {per_plane['tun'] / 1024:.2f} vs "
            f"{per_plane['memory'] / 1024:.2f} KiB (ratio {per_plane['tun'] / per_plane['memory']:.2f}; "
            f"the workers' share {(per_plane['tun'] - per_plane['memory']) / 1024:.2f} KiB)"
        )
    if args.breakdown_tunnels and "memory" in planes:
        _t, _i, _l, _c, growth = run_once(args.breakdown_tunnels, args.window, traced=True)
        assert growth is not None
        print_breakdown(growth, args.breakdown_tunnels, per_plane["memory"], n, args.lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
