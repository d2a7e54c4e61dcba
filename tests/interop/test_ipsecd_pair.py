"""ipsecd ⇄ ipsecd in namespaces from RouterOS site-to-site scripts (both sides' .rsc), TUN data
plane, real ICMP between the LANs; and the ``ipsecd demo --netns`` main job itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ipsecd.daemon.netns_demo import site_rsc
from tests.interop.sswan import REPO, Ipsecd, Topology, wait_until

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

PSK = "pair-site-to-site-0123456789"


def _rsc(me_wan: str, me_lan: str, peer_wan: str, peer_lan: str, passive: bool) -> str:
    return f"""\
/ip ipsec profile add name=s2s enc-algorithm=aes-256 hash-algorithm=sha256 dh-group=x25519
/ip ipsec peer add name=other address={peer_wan}/32 profile=s2s exchange-mode=ike2 \\
    passive={"yes" if passive else "no"}
/ip ipsec identity add peer=other auth-method=pre-shared-key secret="{PSK}"
/ip ipsec proposal add name=s2s enc-algorithms=aes-256-gcm pfs-group=none
/ip ipsec policy add peer=other tunnel=yes src-address={me_lan}/32 dst-address={peer_lan}/32 proposal=s2s
"""


def test_site_to_site(tmp_path: Path) -> None:
    with Topology("ipdq") as topo:
        left, right = topo.left, topo.right
        resp = Ipsecd(right, tmp_path, _rsc(right.wan, right.lan, left.wan, left.lan, passive=True)).start()
        init = Ipsecd(left, tmp_path, _rsc(left.wan, left.lan, right.wan, right.lan, passive=False)).start()
        try:
            left.wait_ping(right.lan, left.lan)
            assert left.ping(right.lan, src=left.lan, count=5) == (5, 5)
            out = init.exec("/ip ipsec active-peers print").stdout
            assert right.wan in out and "established" in out
        except BaseException:
            print(
                f"--- initiator ---\n{init.log_text()[-5000:]}\n--- responder ---\n{resp.log_text()[-5000:]}"
            )
            raise


def test_site_rsc_is_what_the_netns_demo_loads() -> None:
    text = site_rsc("A", "B")
    assert "passive=yes" not in text and "address=10.251.0.2/32" in text
    assert "passive=yes" in site_rsc("B", "A")


def test_netns_demo() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ipsecd", "demo", "--netns"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "5 received" in r.stdout and "established" in r.stdout


def test_road_warrior_client_of_ipsecd_pool(tmp_path: Path) -> None:
    """``mode-config=request-only``: the client gets a virtual IP from the gateway's /ip pool, puts it
    on its TUN device and pings the gateway's LAN from it through the tunnel."""
    with Topology("ipdw") as topo:
        left, right = topo.left, topo.right
        gateway = f"""\
/ip pool add name=rw-pool ranges=10.77.0.10-10.77.0.20
/ip ipsec mode-config add name=rw responder=yes address-pool=rw-pool split-include={right.lan}/32
/ip ipsec profile add name=rw enc-algorithm=aes-256 hash-algorithm=sha256 dh-group=x25519
/ip ipsec proposal add name=rw enc-algorithms=aes-256-gcm pfs-group=none
/ip ipsec peer add name=rw address={left.wan}/32 profile=rw exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=rw secret="{PSK}" mode-config=rw generate-policy=port-strict
/ip ipsec policy add template=yes group=default src-address={right.lan}/32 dst-address=10.77.0.0/24 \\
    proposal=rw
"""
        client = f"""\
/ip ipsec profile add name=rw enc-algorithm=aes-256 hash-algorithm=sha256 dh-group=x25519
/ip ipsec proposal add name=rw enc-algorithms=aes-256-gcm pfs-group=none
/ip ipsec peer add name=gw address={right.wan}/32 profile=rw exchange-mode=ike2
/ip ipsec identity add peer=gw secret="{PSK}" mode-config=request-only
/ip ipsec policy add peer=gw tunnel=yes src-address=0.0.0.0/0 dst-address={right.lan}/32 proposal=rw
"""
        resp = Ipsecd(right, tmp_path, gateway).start()
        init = Ipsecd(left, tmp_path, client).start()
        try:
            wait_until(
                "a virtual IP",
                lambda: "10.77.0." in init.exec("/ip ipsec active-peers print detail").stdout,
                20,
                0.2,
            )
            vip = next(
                w.split("=", 1)[1].strip('"')
                for w in init.exec("/ip ipsec active-peers print detail").stdout.split()
                if w.startswith("dynamic-address=")
            )
            assert vip.startswith("10.77.0.")
            assert f"{vip}/32" in left.run("ip", "-4", "addr", "show").stdout  # on the TUN device
            left.wait_ping(right.lan, vip)
            assert left.ping(right.lan, src=vip, count=5) == (5, 5)
        except BaseException:
            print(f"--- client ---\n{init.log_text()[-5000:]}\n--- gateway ---\n{resp.log_text()[-5000:]}")
            raise
