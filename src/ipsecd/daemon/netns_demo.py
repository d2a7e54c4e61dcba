"""``ipsecd demo --netns`` (root): two gateways in network namespaces, TUN data plane, ping through.

Everything goes through the command-line contract (DESIGN.md §4), exactly as an operator would:
two ``ipsecd run --config site-X.rsc --dataplane tun`` daemons in namespaces ``ipdemoA``/``ipdemoB``
joined by a veth, each with a "LAN" /32 on ``lo``; a ping between the LAN addresses has to cross the
tunnel (loopback traffic never would). Then ``ipsecd exec`` prints each side's active-peers,
installed-sa and statistics. Namespaces and daemons are removed on the way out, even on failure;
processes are stopped by their own PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREFIX = "ipdemo"
WAN = {"A": "10.251.0.1", "B": "10.251.0.2"}
LAN = {"A": "10.252.1.1", "B": "10.252.2.1"}
PSK = "demo-netns-secret-0123456789"


def site_rsc(me: str, peer: str) -> str:
    """The RouterOS site-to-site configuration of gateway ``me`` (the manual's defaults otherwise)."""
    return f"""\
/ip ipsec profile add name=demo enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec peer add name=to-{peer} address={WAN[peer]}/32 profile=demo \
exchange-mode=ike2{" passive=yes" if me == "B" else ""}
/ip ipsec identity add peer=to-{peer} auth-method=pre-shared-key secret="{PSK}"
/ip ipsec proposal add name=demo enc-algorithms=aes-128-gcm pfs-group=ecp256
/ip ipsec policy add peer=to-{peer} tunnel=yes src-address={LAN[me]}/32 dst-address={LAN[peer]}/32 \
proposal=demo
"""


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(args, text=True, capture_output=True, timeout=60)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def _ns(side: str) -> str:
    return f"{PREFIX}{side}"


def _topology_up() -> None:
    for side in "AB":
        if Path(f"/run/netns/{_ns(side)}").exists():
            _sh("ip", "netns", "del", _ns(side), check=False)
        _sh("ip", "netns", "add", _ns(side))
    _sh(
        "ip",
        "link",
        "add",
        f"{PREFIX}A-eth",
        "netns",
        _ns("A"),
        "type",
        "veth",
        "peer",
        "name",
        f"{PREFIX}B-eth",
        "netns",
        _ns("B"),
    )
    for side in "AB":
        ns = _ns(side)
        _sh("ip", "-n", ns, "link", "set", "lo", "up")
        _sh("ip", "-n", ns, "addr", "add", f"{WAN[side]}/24", "dev", f"{PREFIX}{side}-eth")
        _sh("ip", "-n", ns, "link", "set", f"{PREFIX}{side}-eth", "up")
        _sh("ip", "-n", ns, "addr", "add", f"{LAN[side]}/32", "dev", "lo")


def _topology_down() -> None:
    for side in "AB":
        _sh("ip", "netns", "del", _ns(side), check=False)


def _ipsecd(workdir: Path, side: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ipsecd",
        "--db",
        str(workdir / f"{side}.db"),
        "--control",
        str(workdir / f"{side}.control"),
        *args,
    ]


def _start_gateway(workdir: Path, side: str, peer: str) -> subprocess.Popen[bytes]:
    """``ipsecd run`` for one gateway in its namespace, once its control socket is up."""
    rsc = workdir / f"site-{side}.rsc"
    rsc.write_text(site_rsc(side, peer))
    log = open(workdir / f"{side}.log", "wb")
    run = ("run", "--config", str(rsc), "--dataplane", "tun", "--tun", f"{PREFIX}{side}0")
    cmd = ["ip", "netns", "exec", _ns(side), *_ipsecd(workdir, side, *run)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(200):
        if (workdir / f"{side}.control").exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        raise RuntimeError(f"gateway {side} exited:\n{(workdir / f'{side}.log').read_text()}")
    return proc


def _ping(*args: str) -> subprocess.CompletedProcess[str]:
    """ping from A's LAN address to B's, through the tunnel."""
    return _sh("ip", "netns", "exec", _ns("A"), "ping", "-n", *args, "-I", LAN["A"], LAN["B"], check=False)


def _ping_until_up() -> bool:
    """The first pings may race the IKE_AUTH exchange: up to 20 tries."""
    for _ in range(20):
        if _ping("-c", "1", "-W", "1").returncode == 0:
            return True
        time.sleep(0.25)
    return False


def run_netns_demo() -> int:
    if os.geteuid() != 0:
        print("ipsecd demo --netns needs root (network namespaces, TUN)", file=sys.stderr)
        return 1
    if shutil.which("ip") is None:
        print("ipsecd demo --netns needs iproute2 (ip)", file=sys.stderr)
        return 1
    procs: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="ipsecd-demo-"))
    try:
        _topology_up()
        for side, peer in (("B", "A"), ("A", "B")):  # responder first, so the initiator finds it up
            procs.append(_start_gateway(workdir, side, peer))
        print(f"gateway A {WAN['A']} (LAN {LAN['A']})  <->  gateway B {WAN['B']} (LAN {LAN['B']})")
        ok = _ping_until_up()
        r = _ping("-c", "5", "-i", "0.2")
        print(r.stdout.strip())
        for side in "AB":
            for menu in ("active-peers", "installed-sa", "statistics"):
                out = _sh(*_ipsecd(workdir, side, "exec", f"/ip ipsec {menu} print"), check=False)
                said = out.stdout.rstrip() + out.stderr.rstrip()
                print(f"\n[gateway {side}] /ip ipsec {menu} print\n{said}")
        return 0 if ok and r.returncode == 0 else 1
    except RuntimeError as exc:
        print(f"ipsecd demo --netns: {exc}", file=sys.stderr)
        return 1
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        _topology_down()
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
