#!/usr/bin/env python3
"""Floods against an ``ipsecd run --dataplane tun`` responder while an established tunnel runs
(issue 17, "prove it": a benchmark, not a test; root, network namespaces).

Two namespaces (``tests.interop.sswan.Topology``): ``left`` runs the legitimate initiator (ipsecd,
TUN data plane) and the flooder, ``right`` the responder under attack (ipsecd, TUN data plane), with
a second, passive peer for 198.18.0.0/15 (RFC 2544's benchmark network, where the spoofed sources
come from) so that spoofed IKE_SA_INITs reach the IKE core as a road-warrior gateway would see them.
Each flood runs ``--seconds`` at the rate one sender process reaches (``--procs`` more), from
spoofed sources (raw socket, ``IP_HDRINCL``), one after the other:

- ``ike-sa-init``: spoofed IKE_SA_INIT requests (x25519 KE, random SPIs) to UDP/500;
- ``natt-ike``: marker-tagged IKE (a well-formed header, unknown SPIs) to UDP/4500;
- ``bad-esp``: ESP with unknown SPIs and junk to UDP/4500.

During each: the established tunnel's ping loss (20 pings/s); then, ``--joins`` times while the flood
goes on, the legitimate initiator's IKE SA is killed and the time it needs to get in again is
measured from its log (median and worst reported), from the line that
says it initiates (ipsecd waits 2 s before re-initiating, not counted) to the one that says its
CHILD_SA is installed, retransmissions included; then whether traffic flows; the responder's RSS
(daemon plus workers) at the end, and the responder's log lines. The legitimate peer uses UDP
encapsulation (ipsecd's default), so its IKE_AUTH and ESP share UDP/4500 with the ``natt-ike`` and
``bad-esp`` floods.

``--old REV`` runs everything twice in the same invocation — first with the responder from commit
REV (a temporary ``git worktree``), then from this tree; the initiator is this tree's both times —
and prints each figure with the ratio new/old.

    sudo .venv/bin/python bench/flood.py [--seconds 10] [--procs 1] [--only natt-ike] [--old REV]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.interop.sswan import Ipsecd, Netns, Topology, wait_until

PSK = "bench-flood-psk-0123456789"
SPOOF_NET = "198.18.0.0/15"
FLOODS = ("ike-sa-init", "natt-ike", "bad-esp")


def rsc(me_lan: str, peer_wan: str, peer_lan: str, *, passive: bool, road_warriors: bool) -> str:
    lines = [
        "/ip ipsec profile add name=s2s enc-algorithm=aes-256 hash-algorithm=sha256 dh-group=x25519",
        "/ip ipsec proposal add name=s2s enc-algorithms=aes-256-gcm pfs-group=none",
        f"/ip ipsec peer add name=other address={peer_wan}/32 profile=s2s exchange-mode=ike2 "
        f"passive={'yes' if passive else 'no'}",
        f'/ip ipsec identity add peer=other auth-method=pre-shared-key secret="{PSK}"',
        f"/ip ipsec policy add peer=other tunnel=yes src-address={me_lan}/32 dst-address={peer_lan}/32 "
        "proposal=s2s",
    ]
    if road_warriors:
        lines += [
            f"/ip ipsec peer add name=rw address={SPOOF_NET} profile=s2s exchange-mode=ike2 passive=yes",
            f'/ip ipsec identity add peer=rw auth-method=pre-shared-key secret="{PSK}"',
        ]
    return "\n".join(lines) + "\n"


# --- packets (built here, so the script runs unchanged against an old tree) ---------------------------


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ip_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An IPv4 + UDP packet (UDP checksum 0: allowed over IPv4, RFC 768)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, socket.inet_aton(src),
                      socket.inet_aton(dst))
    return hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:] + udp


def _payload(next_type: int, body: bytes) -> bytes:
    return struct.pack("!BBH", next_type, 0, 4 + len(body)) + body


def ike_sa_init() -> bytes:
    """An IKE_SA_INIT request (RFC 7296 §1.2): SA (aes-cbc-256, sha256 PRF and integrity, x25519),
    KE (group 31), Ni; random SPIi."""
    transforms = [(1, 12, struct.pack("!HH", 0x800E, 256)), (2, 5, b""), (3, 12, b""), (4, 31, b"")]
    body = b""
    for i, (ttype, tid, attr) in enumerate(transforms):
        body += (
            struct.pack("!BBHBBH", 0 if i == len(transforms) - 1 else 3, 0, 8 + len(attr), ttype, 0, tid)
            + attr
        )
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(body), 1, 1, 0, len(transforms)) + body
    sa = _payload(34, proposal)
    ke = _payload(40, struct.pack("!HH", 31, 0) + os.urandom(32))
    nonce = _payload(0, os.urandom(32))
    msg = sa + ke + nonce
    return os.urandom(8) + bytes(8) + struct.pack("!BBBBII", 33, 0x20, 34, 0x08, 0, 28 + len(msg)) + msg


def natt_ike() -> bytes:
    """A marker-tagged IKE_AUTH request with unknown SPIs and a consistent Length (RFC 3948 §2.2)."""
    body = os.urandom(200)
    return bytes(4) + os.urandom(16) + struct.pack("!BBBBII", 46, 0x20, 35, 0x08, 1, 28 + len(body)) + body


def bad_esp() -> bytes:
    return struct.pack("!II", int.from_bytes(os.urandom(4), "big") | 0x100000, 1) + os.urandom(120)


def packets(kind: str, dst: str, n: int = 2048) -> list[bytes]:
    out = []
    for k in range(n):
        src = f"198.{18 + (k >> 16 & 1)}.{k >> 8 & 255}.{k & 255 or 1}"
        if kind == "ike-sa-init":
            out.append(ip_udp(src, dst, 500, 500, ike_sa_init()))
        elif kind == "natt-ike":
            out.append(ip_udp(src, dst, 4500, 4500, natt_ike()))
        else:
            out.append(ip_udp(src, dst, 4500, 4500, bad_esp()))
    return out


def flooder(ns: str, kind: str, dst: str, seconds: float, sent: Any, stop: Any) -> None:
    """One sender process inside ``ns``: raw IPv4 socket, as fast as it goes for ``seconds`` or
    until ``stop`` is set."""
    from tests.netns import setns

    fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    setns(fd)
    os.close(fd)
    pkts = packets(kind, dst)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setblocking(False)
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end and not stop.is_set():
        for p in pkts[: 256]:
            try:
                s.sendto(p, (dst, 0))
                n += 1
            except BlockingIOError:
                pass
        pkts = pkts[256:] + pkts[:256]
    with sent.get_lock():
        sent.value += n


# --- measurements -------------------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` and its children (the data-plane workers), kB."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if int(entry) != pid and ppid != pid:
                continue
            with open(f"/proc/{entry}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue
    return total


def loss(left: Netns, dst: str, src: str, count: int) -> float:
    sent, got = left.ping(dst, src=src, count=count, interval=0.05, wait=1.0)
    return 100.0 * (sent - got) / max(sent, 1)


def _lines(proc: Ipsecd, pattern: str) -> int:
    return len(re.findall(pattern, proc.log_text()))


def peer_in(init: Ipsecd, timeout: float) -> float:
    """Seconds from the initiator's next "initiating" log line to its next "CHILD_SA" line (polled
    every 10 ms), inf when it does not get in within ``timeout``."""
    starts, children = _lines(init, r"peer other: initiating"), _lines(init, r"peer other: CHILD_SA")
    deadline = time.monotonic() + timeout
    began = None
    while time.monotonic() < deadline:
        if began is None and _lines(init, r"peer other: initiating") > starts:
            began = time.monotonic()
        if began is not None and _lines(init, r"peer other: CHILD_SA") > children:
            return time.monotonic() - began
        time.sleep(0.01)
    return float("inf")


def run_flood(
    kind: str, topo: Topology, init: Ipsecd, resp: Ipsecd, seconds: float, procs: int, joins: int
) -> dict[str, float]:
    """One flood: ``seconds`` of it with the tunnel's loss measured over the middle third, then the
    legitimate peer killed and let in again ``joins`` times while it goes on (median and worst)."""
    left, right = topo.left, topo.right
    assert resp.proc is not None
    lines0 = resp.log_text().count("\n")
    sent = multiprocessing.Value("q", 0)
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    floods = [
        ctx.Process(target=flooder, args=(left.name, kind, right.wan, seconds + 60 * joins, sent, stop))
        for _ in range(procs)
    ]
    start = time.monotonic()
    for p in floods:
        p.start()
    time.sleep(min(2.0, seconds / 4))
    pct = loss(left, right.lan, left.lan, int(seconds * 20 / 3))
    times, flows = [], 0
    for _ in range(joins):
        init.exec("/ip ipsec active-peers kill-connections", check=False)
        times.append(peer_in(init, 30))
        flows += left.ping(right.lan, src=left.lan, count=3, interval=0.2, wait=1)[1] > 0
    stop.set()
    for p in floods:
        p.join()
    elapsed = time.monotonic() - start
    times.sort()
    result = {
        "pps": sent.value / elapsed,
        "loss %": pct,
        "peer in s": times[len(times) // 2],
        "peer in max s": times[-1],
        "traffic after": float(flows == joins),
        "rss MB": rss_kb(resp.proc.pid) / 1024,
        "log lines": resp.log_text().count("\n") - lines0,
    }
    wait_until(
        "the tunnel after the flood",
        lambda: left.ping(right.lan, src=left.lan, count=1, wait=1)[1] == 1,
        60,
        0.2,
    )
    return result


def run_all(args: argparse.Namespace, src: Path | None, label: str) -> dict[str, dict[str, float]]:
    """Every flood against a responder running the tree ``src`` (None: this one)."""
    print(f"--- responder: {label}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ipsecd-flood-"))
    out: dict[str, dict[str, float]] = {}
    with Topology("ipdf") as topo:
        left, right = topo.left, topo.right
        for conf in ("all", "default"):
            right.run("sysctl", "-qw", f"net.ipv4.conf.{conf}.rp_filter=0")
        right.run("ip", "route", "add", SPOOF_NET, "via", left.wan)
        resp = Ipsecd(
            right,
            work,
            rsc(right.lan, left.wan, left.lan, passive=True, road_warriors=True),
            extra_args=["--log-level", "info"],
            src=src,
        ).start()
        init = Ipsecd(
            left,
            work,
            rsc(left.lan, right.wan, right.lan, passive=False, road_warriors=False),
            extra_args=["--log-level", "info"],
        ).start()
        wait_until("the tunnel", lambda: left.ping(right.lan, src=left.lan, count=1, wait=1)[1] == 1, 30, 0.2)
        assert resp.proc is not None
        base = {"loss %": loss(left, right.lan, left.lan, 40), "rss MB": rss_kb(resp.proc.pid) / 1024}
        print(f"baseline: loss {base['loss %']:.1f} %, responder RSS {base['rss MB']:.1f} MB", flush=True)
        for kind in (args.only,) if args.only else FLOODS:
            r = out[kind] = run_flood(kind, topo, init, resp, args.seconds, args.procs, args.joins)
            print(
                f"{kind:12s} {r['pps']:9,.0f} pps  tunnel loss {r['loss %']:5.1f} %  peer in "
                f"{r['peer in s']:5.2f} s (median of {args.joins}, worst {r['peer in max s']:5.2f} s; "
                f"traffic {'flows' if r['traffic after'] else 'DOES NOT flow'} after each)  "
                f"responder RSS {r['rss MB']:6.1f} MB  log lines {r['log lines']:,.0f}",
                flush=True,
            )
        alive = resp.proc.alive()
        print(f"responder {'alive' if alive else 'DEAD'} after the floods; its last log lines:")
        print("\n".join(resp.log_text().splitlines()[-5:]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--procs", type=int, default=1, help="sender processes per flood")
    ap.add_argument("--only", choices=FLOODS)
    ap.add_argument("--joins", type=int, default=5, help="times the legitimate peer is let in again")
    ap.add_argument("--old", metavar="REV", help="also run the responder from this commit, first")
    args = ap.parse_args()
    if not args.old:
        run_all(args, None, "this tree")
        return
    repo = Path(__file__).resolve().parents[1]
    tree = Path(tempfile.mkdtemp(prefix="ipsecd-flood-old-"))  # the old commit's src/ only
    archive = subprocess.run(["git", "-C", str(repo), "archive", args.old, "src"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    try:
        old = run_all(args, tree / "src", f"{args.old} (old)")
        new = run_all(args, None, "this tree (new)")
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    print("--- new against old, same run (ratio new/old)")
    for kind, o in old.items():
        n = new[kind]
        cells = [
            f"{k} {o[k]:,.2f} -> {n[k]:,.2f}" + (f" ({n[k] / o[k]:.2f})" if o[k] else "")
            for k in ("pps", "loss %", "peer in s", "peer in max s", "rss MB", "log lines")
        ]
        print(f"{kind:12s} " + "; ".join(cells))


if __name__ == "__main__":
    main()
