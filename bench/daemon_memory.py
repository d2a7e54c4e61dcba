#!/usr/bin/env python3
"""Memory per established IKE SA (with one CHILD_SA) at N tunnels, ipsecd as responder.

Issue 5 target: ≤ 8 KB per IKE SA + CHILD_SA above the idle process, at 10,000 tunnels. The
responder is a real ``ipsecd run`` process (memory data plane, loopback, unprivileged ports); the
initiators are the project's own sans-I/O IKE SAs in this process, driven over one UDP socket
(INITIAL_CONTACT off, so tunnels with the same identity coexist). The figure is the responder's
RSS growth (``/proc/PID/status`` VmRSS) divided by the established tunnels; no root needed.

Run:  .venv/bin/python bench/daemon_memory.py [--tunnels 10000] [--window 64]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ipsecd.dataplane.base import IpsecProto, Selector  # noqa: E402
from ipsecd.ike import events as ev  # noqa: E402
from ipsecd.ike.v2.config import ChildConfig, ChildProposal, IkeConfig, IkeProposal  # noqa: E402
from ipsecd.ike.v2.sa import IkeSa  # noqa: E402

PSK = "bench-memory-psk-0123456789"
RESPONDER = "127.0.0.2"
INITIATOR = "127.0.0.1"


def rsc(ike_port: int) -> str:
    return f"""\
/ip ipsec profile add name=mem enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256 dpd-interval=disable-dpd
/ip ipsec peer add name=init address={INITIATOR}/32 local-address={RESPONDER} port={ike_port} profile=mem exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=init auth-method=pre-shared-key secret="{PSK}"
/ip ipsec proposal add name=mem enc-algorithms=aes-128-gcm pfs-group=none
/ip ipsec policy add peer=init tunnel=yes src-address=10.20.0.0/16 dst-address=10.10.0.0/16 proposal=mem
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


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
            s.bind((INITIATOR, port))
            s.settimeout(0.005)
            self.socks[port] = s
        self.by_spi: dict[bytes, IkeSa] = {}
        self.done = 0
        self.next_spi = 0x1000

    def spi(self, proto: IpsecProto) -> int:
        self.next_spi += 1
        return self.next_spi

    def start(self, n: int) -> IkeSa:
        sel = Selector(ipaddress.ip_network(f"10.10.{n // 256 % 256}.{n % 256}/32"),
                       ipaddress.ip_network("10.20.0.1/32"))
        cfg = IkeConfig(local=(INITIATOR, self.ike_port), remote=(RESPONDER, self.ike_port), psk=PSK.encode(),
                        proposals=(IkeProposal(("aes-128",), ("sha256",), ("sha256",), ("ecp256",)),),
                        children=(ChildConfig("c", sel, (ChildProposal(("aes-128-gcm",), (), "none"),)),),
                        dpd_interval=None, send_initial_contact=False, force_encap=True, natt_port=self.natt_port)
        sa = IkeSa.initiator(cfg, rng=os.urandom, spi_alloc=self.spi, now=time.monotonic())
        self.by_spi[sa.local_spi] = sa
        self.flush(sa)
        return sa

    def flush(self, sa: IkeSa) -> None:
        now = time.monotonic()
        for data, (local, remote) in sa.datagrams_to_send(now):
            natt = local[1] == self.natt_port
            self.socks[local[1]].sendto((b"\0\0\0\0" + data) if natt else data, remote)
        while (e := sa.next_event()) is not None:
            if isinstance(e, ev.ChildSaInstalled):
                self.done += 1
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tunnels", type=int, default=10000)
    ap.add_argument("--window", type=int, default=64, help="negotiations in flight at once")
    args = ap.parse_args()
    ike_port, natt_port = free_port(RESPONDER), free_port(RESPONDER)
    with tempfile.TemporaryDirectory(prefix="ipd-mem-") as tmp:
        conf = Path(tmp) / "r.rsc"
        conf.write_text(rsc(ike_port))
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        proc = subprocess.Popen([sys.executable, "-m", "ipsecd", "--db", f"{tmp}/db", "--control", f"{tmp}/ctl", "run",
                                 "--config", str(conf), "--dataplane", "memory", "--ike-port", str(ike_port),
                                 "--natt-port", str(natt_port), "--log-level", "warning"], env=env)
        try:
            while not Path(f"{tmp}/ctl").exists():
                time.sleep(0.05)
            init = Initiators(ike_port, natt_port)
            init.start(0)  # warm-up tunnel: lazy imports and caches are part of the idle process
            while init.done < 1:
                init.poll()
            time.sleep(0.5)
            idle = rss_kib(proc.pid)
            t0 = time.monotonic()
            started = 1
            while init.done < args.tunnels + 1:
                while started < args.tunnels + 1 and started - init.done < args.window:
                    init.start(started)
                    started += 1
                init.poll()
                if time.monotonic() - t0 > 600:
                    raise RuntimeError(f"only {init.done - 1} tunnels after 600 s")
            elapsed = time.monotonic() - t0
            time.sleep(1.0)
            loaded = rss_kib(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    n = args.tunnels
    per = (loaded - idle) * 1024 / n
    print(f"{n} tunnels established in {elapsed:.1f} s; responder RSS idle {idle} KiB, loaded {loaded} KiB")
    print(f"memory per IKE SA + CHILD_SA: {per / 1024:.2f} KiB (target <= 8 KiB, ratio {per / 8192:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
