"""ipsecd against strongSwan 5.9 (kernel-libipsec) in namespaces, with real traffic between LANs.

charon (left) always UDP-encapsulates, so every test here also proves ipsecd's float to 4500 and
ESP-in-UDP. Each test owns its namespaces and processes and removes them even when it fails.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.scenarios import (
    DEFAULTS,
    GCM_ECP384,
    PROPOSAL_SETS,
    PSK,
    Proposals,
    charon_roadwarrior_conf,
    charon_roadwarrior_server_conf,
    charon_site_conf,
    ipsecd_roadwarrior_client_rsc,
    ipsecd_roadwarrior_rsc,
    ipsecd_site_rsc,
)
from tests.interop.sswan import Charon, Ipsecd, Netns, Topology, sh, swanctl_connection, wait_until
from tests.netns import tcp_transfer

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


class Pair:
    def __init__(self, topo: Topology, charon: Charon, ipsecd: Ipsecd) -> None:
        self.topo, self.charon, self.ipsecd = topo, charon, ipsecd

    def ping(self, count: int = 3) -> tuple[int, int]:
        return self.topo.left.ping(self.topo.right.lan, src=self.topo.left.lan, count=count)

    def tunnel_up(self, timeout: float, step: float = 0.2) -> None:
        """Waits for charon's CHILD_SA, then for ipsecd's SA pair: as the responder, charon has its
        CHILD_SA before ipsecd, the initiator, has read the IKE_AUTH response and installed its SAs, so
        a ping sent at once can reach ipsecd before its inbound SA."""
        wait_until("charon's CHILD_SA", lambda: bool(self.charon.child_sas()), timeout, step)
        wait_until("ipsecd's SA pair", lambda: len(self.rows("installed-sa")) >= 2, 10, step)

    def rows(self, menu: str) -> list[dict[str, object]]:
        out = self.ipsecd.exec(f"/ip ipsec {menu} print", as_json=True).stdout
        rows = json.loads(out)
        assert isinstance(rows, list)
        return rows

    def diagnostics(self) -> str:
        return (f"--- ipsecd log ---\n{self.ipsecd.log_text()[-6000:]}\n"
                f"--- charon log ---\n{self.charon.log_text()[-6000:]}")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Pair]:
    topo = Topology("ipds")
    with topo:
        charon = Charon(topo.left, tmp_path).start()
        charon.load(charon_site_conf(topo))
        ipsecd = Ipsecd(topo.right, tmp_path, ipsecd_site_rsc(topo, passive=True)).start()
        pair = Pair(topo, charon, ipsecd)
        try:
            yield pair
        except BaseException:
            print(pair.diagnostics())
            raise


def test_strongswan_initiates_default_proposals(site: Pair) -> None:
    site.charon.initiate("net")
    assert site.ping(5) == (5, 5)
    peers = site.rows("active-peers")
    assert len(peers) == 1
    assert peers[0]["state"] == "established" and peers[0]["side"] == "responder"
    assert peers[0]["natt-peer"] in ("yes", True)  # libipsec fakes NAT: we floated to 4500
    sas = site.rows("installed-sa")
    assert len(sas) == 2 and all(int(str(sa["current-bytes"])) > 0 for sa in sas)
    child = site.charon.child_sas()[0]
    assert child["encr-alg"] == "AES_CBC" and child["integ-alg"] == "HMAC_SHA1_96"


def _start(topo: Topology, tmp_path: Path, p: Proposals, *, charon_kw: dict[str, str] | None = None,
           rsc_kw: dict[str, Any] | None = None, passive: bool = True) -> Pair:
    charon = Charon(topo.left, tmp_path).start()
    charon.load(charon_site_conf(topo, p, **(charon_kw or {})))
    ipsecd = Ipsecd(topo.right, tmp_path, ipsecd_site_rsc(topo, p, passive=passive, **(rsc_kw or {}))).start()
    return Pair(topo, charon, ipsecd)


def test_ipsecd_initiates(tmp_path: Path) -> None:
    with Topology("ipdi") as topo:
        pair = _start(topo, tmp_path, DEFAULTS, passive=False)
        try:
            pair.tunnel_up(20)
            assert pair.ping(3) == (3, 3)
            assert pair.rows("active-peers")[0]["side"] == "initiator"
        except BaseException:
            print(pair.diagnostics())
            raise


@pytest.mark.parametrize("proposals", PROPOSAL_SETS[1:], ids=lambda p: p.name)
def test_proposal_sets(tmp_path: Path, proposals: Proposals) -> None:
    with Topology("ipdp") as topo:
        pair = _start(topo, tmp_path, proposals)
        try:
            pair.charon.initiate("net")
            assert pair.ping(3) == (3, 3)
            child = pair.charon.child_sas()[0]
            expected = {"aes-256-gcm": "AES_GCM_16", "chacha20poly1305": "CHACHA20_POLY1305"}
            assert child["encr-alg"] == expected[proposals.enc_algorithms]
        except BaseException:
            print(pair.diagnostics())
            raise


def _rekey_run(pair: Pair, who: str, count: int = 60, ike_rekey: bool = True) -> None:
    pair.charon.initiate("net")
    first_child = pair.charon.child_sas()[0]["spi-in"]
    sent, got = pair.topo.left.ping(pair.topo.right.lan, src=pair.topo.left.lan, count=count, interval=0.2)
    print(f"rekey under traffic ({who} rekeying): {sent - got} of {sent} pings lost")
    log = pair.ipsecd.log_text()
    assert log.count("CHILD_SA rekeyed") >= 2 and ("IKE SA rekeyed" in log or not ike_rekey)
    assert pair.charon.child_sas()[0]["spi-in"] != first_child
    assert got >= sent - 1
    assert pair.ping(3) == (3, 3)
    assert len(pair.rows("active-peers")) == 1
    # With 5 s lifetimes a CHILD_SA rekey is always near: the replaced pair stays installed until
    # its DELETE is answered (one round trip), so sample until that short overlap has passed.
    wait_until(
        "one SA pair installed", lambda: len(pair.rows("installed-sa")) == 2, timeout=3.0, interval=0.05
    )


def test_rekey_under_traffic_strongswan_rekeys(tmp_path: Path) -> None:
    """charon rekeys the CHILD_SA every 4 s and the IKE SA every 7 s while pings flow."""
    with Topology("ipdk") as topo:
        pair = _start(topo, tmp_path, DEFAULTS, charon_kw={"child_rekey": "4s", "rekey_time": "7s"})
        try:
            _rekey_run(pair, "strongSwan")
        except BaseException:
            print(pair.diagnostics())
            raise


def test_rekey_under_traffic_ipsecd_rekeys(tmp_path: Path) -> None:
    """ipsecd's own lifetimes drive the rekeys while pings flow: the proposal lifetime (5s) the
    CHILD_SA rekeys and the profile lifetime (9s) the IKE SA rekey (RFC 7296 §2.18)."""
    with Topology("ipdj") as topo:
        pair = _start(topo, tmp_path, DEFAULTS, rsc_kw={"sa_lifetime": "5s", "lifetime": "9s"})
        try:
            _rekey_run(pair, "ipsecd", count=60)
        except BaseException:
            print(pair.diagnostics())
            raise


def test_dead_peer_detected_and_reinitiated(tmp_path: Path) -> None:
    """charon is SIGKILLed (no DELETE): ipsecd's liveness checks (dpd-interval=2s, one retransmission)
    declare it dead and remove its SAs; when charon is back, ipsecd (not passive) brings the tunnel up."""
    with Topology("ipdd") as topo:
        pair = _start(topo, tmp_path, DEFAULTS, passive=False, rsc_kw={"dpd": "2s", "dpd_failures": 1})
        try:
            pair.tunnel_up(20)
            assert pair.ping(2) == (2, 2)
            pair.charon.kill()
            t0 = time.monotonic()
            wait_until("ipsecd to drop the dead peer", lambda: not pair.rows("active-peers"), 40, 0.5)
            print(f"dead peer removed after {time.monotonic() - t0:.1f} s")
            assert pair.rows("installed-sa") == []
            assert "is dead" in pair.ipsecd.log_text() or "gone" in pair.ipsecd.log_text()
            pair.charon = Charon(topo.left, tmp_path / "again").start()
            pair.charon.load(charon_site_conf(topo))
            pair.tunnel_up(40, 0.5)
            assert pair.ping(3) == (3, 3)
        except BaseException:
            print(pair.diagnostics())
            raise


@pytest.mark.parametrize("tunnel", ["split", "full"])
def test_road_warrior_gets_virtual_ip_and_dns(tmp_path: Path, tunnel: str) -> None:
    """A strongSwan road warrior gets an address and DNS from ipsecd's pool. ``split``: the template
    and the client's remote_ts name the gateway's LAN; ``full``: everything (template src-address
    0.0.0.0/0, client remote_ts 0.0.0.0/0), the usual "all traffic through the VPN" server."""
    with Topology("ipdw") as topo:
        charon = Charon(topo.left, tmp_path, install_vip=True).start()
        conf, rsc = charon_roadwarrior_conf(topo), ipsecd_roadwarrior_rsc(topo)
        if tunnel == "full":
            conf = conf.replace(f"remote_ts = {topo.right.lan}/32", "remote_ts = 0.0.0.0/0")
            rsc = rsc.replace(
                f"template=yes src-address={topo.right.lan}/32", "template=yes src-address=0.0.0.0/0"
            )
        charon.load(conf)
        ipsecd = Ipsecd(topo.right, tmp_path, rsc).start()
        pair = Pair(topo, charon, ipsecd)
        try:
            charon.initiate("net")
            ike = charon.list_sas()[0]
            vips = ike.get("local-vips")
            assert isinstance(vips, list) and vips and vips[0].startswith("10.243.0.")
            resolv = (charon.dir / "resolv.conf").read_text()
            assert "10.243.0.53" in resolv
            assert topo.left.ping(topo.right.lan, src=vips[0], count=3) == (3, 3)
            peers = pair.rows("active-peers")
            assert peers[0]["dynamic-address"] == vips[0]
            want = f"{topo.right.lan}/32" if tunnel == "split" else "0.0.0.0/0"
            assert charon.child_sas()[0]["remote-ts"] == [want]
        except BaseException:
            print(pair.diagnostics())
            raise


def test_through_nat(tmp_path: Path) -> None:
    with Topology("ipdt", nat=True) as topo:
        pair = _start(topo, tmp_path, DEFAULTS)
        try:
            pair.charon.initiate("net")
            pair.ping(1)  # the NAT box learns the mapping / neighbours on the first packet
            assert pair.ping(3) == (3, 3)
            peer = pair.rows("active-peers")[0]
            assert peer["remote-address"] == topo.left_seen_by_right
        except BaseException:
            print(pair.diagnostics())
            raise


@pytest.mark.parametrize(("initiator", "inner"), [("strongswan", 6), ("ipsecd", 6), ("strongswan", 4)])
def test_ipv6_peers(tmp_path: Path, initiator: str, inner: int) -> None:
    """IKE and ESP-in-UDP over IPv6 between the peers, IPv6 (or IPv4) LANs inside: NAT-D hashes, ID
    and TS payloads, the 4500 float and the TUN data plane's IPv6 sockets against strongSwan's."""
    with Topology("ipdv", ipv6=True) as topo:
        charon = Charon(topo.left, tmp_path).start()
        charon.load(charon_site_conf(topo, GCM_ECP384, v6=True, inner6=inner == 6))
        rsc = ipsecd_site_rsc(topo, GCM_ECP384, passive=initiator == "strongswan", v6=True, inner6=inner == 6)
        pair = Pair(topo, charon, Ipsecd(topo.right, tmp_path, rsc).start())
        try:
            if initiator == "strongswan":
                charon.initiate("net")
            else:
                wait_until("charon to see an established CHILD_SA", lambda: bool(charon.child_sas()), 20)
            lans = (topo.left.lan6, topo.right.lan6) if inner == 6 else (topo.left.lan, topo.right.lan)
            assert topo.left.ping(lans[1], src=lans[0], count=3) == (3, 3)
            (peer,) = pair.rows("active-peers")
            assert peer["remote-address"] == topo.left.wan6 and peer["local-address"] == topo.right.wan6
            assert peer["side"] == ("responder" if initiator == "strongswan" else "initiator")
            sas = pair.rows("installed-sa")
            assert {(sa["src-address"], sa["dst-address"]) for sa in sas} == {
                (topo.left.wan6, topo.right.wan6), (topo.right.wan6, topo.left.wan6)}
            assert all(int(str(sa["current-packets"])) >= 3 for sa in sas)
        except BaseException:
            print(pair.diagnostics())
            raise


def test_disjoint_subnets_in_one_child_are_narrowed_to_one_pair(tmp_path: Path) -> None:
    """strongSwan's ``local_ts`` of two disjoint ranges, both inside ipsecd's policy: an SA has one
    selector pair, so ipsecd answers with the first range only, charon installs exactly that, the
    first range's traffic flows, and ipsecd's log names the range left out."""
    with Topology("ipdx") as topo:
        left, right = topo.left, topo.right
        second = left.lan.rsplit(".", 2)[0] + ".11.1"  # another /32 of the left LAN's /16
        left.run("ip", "addr", "add", f"{second}/32", "dev", "lo")
        charon = Charon(left, tmp_path).start()
        charon.load(
            charon_site_conf(topo).replace(
                f"local_ts = {left.lan}/32", f"local_ts = {left.lan}/32,{second}/32"
            )
        )
        wide = left.lan.rsplit(".", 2)[0] + ".0.0/16"
        rsc = ipsecd_site_rsc(topo, passive=True).replace(f"dst-address={left.lan}/32", f"dst-address={wide}")
        pair = Pair(topo, charon, Ipsecd(right, tmp_path, rsc).start())
        try:
            charon.initiate("net")
            (child,) = charon.child_sas()
            assert child["local-ts"] == [f"{left.lan}/32"] and child["remote-ts"] == [f"{right.lan}/32"]
            assert pair.ping(3) == (3, 3)
            wait_until("the warning", lambda: "not " + f"{second}-{second}" in pair.ipsecd.log_text(), 5)
        except BaseException:
            print(pair.diagnostics())
            raise


def _two_children(topo: Topology, conf: str, rsc: str) -> tuple[str, str, str, str]:
    """A second LAN address on each side, and a second child (``net2``) / policy between them added to
    a site configuration: (swanctl conf, RouterOS script, left address, right address)."""
    left, right = topo.left, topo.right
    l2, r2 = left.lan.rsplit(".", 2)[0] + ".11.1", right.lan.rsplit(".", 2)[0] + ".12.1"
    left.run("ip", "addr", "add", f"{l2}/32", "dev", "lo")
    right.run("ip", "addr", "add", f"{r2}/32", "dev", "lo")
    end = "        }\n    }\n}"  # the children section's close, then the connection's
    net2 = conf[conf.index("            net {"):conf.index(end)].replace("net {", "net2 {") \
        .replace(f"local_ts = {left.lan}/32", f"local_ts = {l2}/32") \
        .replace(f"remote_ts = {right.lan}/32", f"remote_ts = {r2}/32")
    rsc += (f"/ip ipsec policy add peer=sswan tunnel=yes src-address={r2}/32 dst-address={l2}/32 "
            "proposal=interop\n")
    return conf.replace(end, net2 + end, 1), rsc, l2, r2


def test_two_policies_two_child_sas_in_one_ike_sa(tmp_path: Path) -> None:
    """ipsecd initiating with two policies to one peer: the first CHILD_SA rides on IKE_AUTH, the
    second comes by CREATE_CHILD_SA (with PFS) on the same IKE SA; strongSwan accepts each into its
    own child and both carry traffic. Then: charon rekeys the IKE SA (both CHILD_SAs move), deletes
    one CHILD_SA (traffic brings it back through an acquire), and ipsecd's clean stop deletes all."""
    with Topology("ipdc") as topo:
        left, right = topo.left, topo.right
        conf, rsc, l2, r2 = _two_children(topo, charon_site_conf(topo), ipsecd_site_rsc(topo, passive=False))
        charon = Charon(left, tmp_path).start()
        charon.load(conf)
        pair = Pair(topo, charon, Ipsecd(right, tmp_path, rsc).start())
        try:
            wait_until("two CHILD_SAs at charon", lambda: len(charon.child_sas()) == 2, 20)
            assert {str(c["name"]) for c in charon.child_sas()} == {"net", "net2"}
            assert len(charon.list_sas()) == 1
            assert pair.ping(3) == (3, 3)
            assert left.ping(r2, src=l2, count=3) == (3, 3)
            (peer,) = pair.rows("active-peers")
            assert str(peer["ph2-total"]) == "2"
            # charon rekeys the IKE SA: ipsecd moves both CHILD_SAs to the new one
            ike_spi = charon.list_sas()[0]["initiator-spi"]
            charon.swanctl("--rekey", "--ike", "net")
            wait_until(
                "the new IKE SA, alone",
                lambda: (
                    [s["initiator-spi"] for s in charon.list_sas()] != [ike_spi]
                    and len(charon.list_sas()) == 1
                ),
                10,
                0.1,
            )
            assert len(charon.child_sas()) == 2
            assert pair.ping(2) == (2, 2) and left.ping(r2, src=l2, count=2) == (2, 2)
            # charon deletes one CHILD_SA: ipsecd drops it; its traffic (level=require) brings it back
            charon.swanctl("--terminate", "--child", "net2")
            wait_until(
                "ipsecd to drop the deleted CHILD_SA",
                lambda: str(pair.rows("active-peers")[0]["ph2-total"]) == "1",
                10,
                0.1,
            )
            right.wait_ping(l2, r2, 15, 0.2, desc="traffic to bring net2 back")
            assert {str(c["name"]) for c in charon.child_sas()} == {"net", "net2"} and len(
                charon.list_sas()
            ) == 1
            # a clean stop tells charon (DELETE), which then holds no SA
            pair.ipsecd.stop()
            wait_until("charon to see the DELETE", lambda: not charon.list_sas(), 10, 0.1)
        except BaseException:
            print(pair.diagnostics())
            raise


def test_ipsecd_road_warrior_client_of_a_strongswan_pool(tmp_path: Path) -> None:
    """RouterOS as a road-warrior client of a strongSwan gateway (``mode-config=request-only``):
    ipsecd gets a virtual IP and DNS from charon's pool, puts the address on its TUN device, narrows
    its policy to it and reaches the gateway's LAN from it."""
    with Topology("ipdr") as topo:
        charon = Charon(topo.left, tmp_path).start()
        charon.load(charon_roadwarrior_server_conf(topo))
        pair = Pair(topo, charon, Ipsecd(topo.right, tmp_path, ipsecd_roadwarrior_client_rsc(topo)).start())
        try:
            wait_until("charon to lease an address", lambda: bool(charon.list_sas()) and
                       bool(charon.list_sas()[0].get("remote-vips")), 20, 0.2)
            remote_vips = charon.list_sas()[0]["remote-vips"]
            assert isinstance(remote_vips, list)
            (vip,) = remote_vips
            assert vip.startswith("10.244.0.")
            (peer,) = pair.rows("active-peers")
            assert peer["dynamic-address"] == vip and peer["side"] == "initiator"
            assert f"{vip}/32" in topo.right.run("ip", "-4", "addr", "show").stdout  # on the TUN device
            wait_until("charon's CHILD_SA", lambda: bool(charon.child_sas()), 10, 0.2)
            (child,) = charon.child_sas()
            assert child["remote-ts"] == [f"{vip}/32"] and child["local-ts"] == [f"{topo.left.lan}/32"]
            assert topo.right.ping(topo.left.lan, src=vip, count=3) == (3, 3)
            # what it was given
            assert f"virtual IP {vip} assigned, DNS 10.244.0.53" in pair.ipsecd.log_text()
        except BaseException:
            print(pair.diagnostics())
            raise


@pytest.mark.parametrize("restarted", ["ipsecd", "strongswan"])
def test_initial_contact_after_a_restart_replaces_the_old_sas(tmp_path: Path, restarted: str) -> None:
    """One side vanishes without DELETEs (SIGKILL; no DPD) and comes back: its new IKE_AUTH carries
    INITIAL_CONTACT (RFC 7296 §2.4), so the other side drops the SAs it still held for it — one IKE
    SA and one CHILD_SA pair remain, and traffic flows."""
    with Topology("ipdz") as topo:
        pair = _start(topo, tmp_path, DEFAULTS, passive=False)
        try:
            pair.tunnel_up(20)
            assert pair.ping(2) == (2, 2)
            if restarted == "ipsecd":
                old = pair.charon.list_sas()[0]["initiator-spi"]
                pair.ipsecd.kill()
                pair.ipsecd = Ipsecd(topo.right, tmp_path / "again", ipsecd_site_rsc(topo)).start()
                wait_until("charon to hold only the new IKE SA",
                           lambda: [s["initiator-spi"] for s in pair.charon.list_sas()] not in ([], [old])
                           and len(pair.charon.list_sas()) == 1, 20, 0.2)
                assert len(pair.charon.child_sas()) == 1
            else:
                old_peer = pair.rows("active-peers")[0]["spii"]
                pair.charon.kill()
                pair.charon = Charon(topo.left, tmp_path / "again").start()
                pair.charon.load(charon_site_conf(topo))
                pair.charon.initiate("net")
                wait_until("ipsecd to hold only the new IKE SA",
                           lambda: [p["spii"] for p in pair.rows("active-peers")] not in ([], [old_peer])
                           and len(pair.rows("active-peers")) == 1, 20, 0.2)
                assert len(pair.rows("installed-sa")) == 2
            assert pair.ping(3) == (3, 3)
        except BaseException:
            print(pair.diagnostics())
            raise


def test_ipsecd_behind_nat_initiates(tmp_path: Path) -> None:
    """The branch-router case: ipsecd behind a masquerading NAT initiates to a strongSwan gateway
    that accepts any address. NAT-D shows ipsecd its own NAT, IKE floats to 4500, ESP goes in UDP,
    and strongSwan sees ipsecd at the NAT's address."""
    with Topology("ipdb", nat=True) as topo:
        left, right = topo.left, topo.right
        conf = swanctl_connection(
            "net", local_addr=right.wan, remote_addr="%any", local_id="right.test", remote_id="left.test",
            local_ts=f"{right.lan}/32", remote_ts=f"{left.lan}/32", psk=PSK, proposals="aes128-sha256-ecp256",
            esp_proposals="aes128gcm16")
        rsc = f"""\
/ip ipsec profile add name=interop enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec peer add name=gw address={right.wan}/32 profile=interop exchange-mode=ike2
/ip ipsec identity add peer=gw secret="{PSK}" my-id=fqdn:left.test remote-id=fqdn:right.test
/ip ipsec proposal add name=interop enc-algorithms=aes-128-gcm pfs-group=none
/ip ipsec policy add peer=gw tunnel=yes src-address={left.lan}/32 dst-address={right.lan}/32 proposal=interop
"""
        charon = Charon(right, tmp_path).start()
        charon.load(conf)
        ipsecd = Ipsecd(left, tmp_path, rsc).start()
        pair = Pair(topo, charon, ipsecd)
        try:
            wait_until("the tunnel", lambda: bool(charon.child_sas()), 20)
            (ike,) = charon.list_sas()
            assert ike["remote-host"] == topo.left_seen_by_right and ike["remote-port"] != "500"
            assert ike.get("nat-remote") == "yes"
            (peer,) = pair.rows("active-peers")
            assert peer["natt-peer"] == "yes" and peer["side"] == "initiator"
            assert left.ping(right.lan, src=left.lan, count=3) == (3, 3)
        except BaseException:
            print(pair.diagnostics())
            raise


@pytest.mark.parametrize("initiator", ["strongswan", "ipsecd"])
def test_invalid_ke_payload_retry(tmp_path: Path, initiator: str) -> None:
    """The initiator's first KE is for a group the responder does not take: INVALID_KE_PAYLOAD names
    the group it wants and the initiator retries with it (RFC 7296 §1.2) — ipsecd as either side."""
    with Topology("ipdg") as topo:
        if initiator == "strongswan":  # charon guesses ecp256 first; ipsecd takes modp2048 only
            ike, groups = "aes128-sha256-ecp256-modp2048", "modp2048"
        else:  # ipsecd guesses ecp256 (its first dh-group); charon takes modp2048 only
            ike, groups = "aes128-sha256-modp2048", "ecp256,modp2048"
        p = Proposals(
            "ke", "aes-128", "sha256", groups, "aes-128-cbc", "sha256", "none", ike=ike, esp="aes128-sha256"
        )
        pair = _start(topo, tmp_path, p, passive=initiator == "strongswan")
        try:
            if initiator == "strongswan":
                pair.charon.initiate("net")
            else:
                pair.tunnel_up(20)
            assert pair.charon.list_sas()[0]["dh-group"] == "MODP_2048"
            assert pair.ping(3) == (3, 3)
            way = "parsed IKE_SA_INIT response 0 [ N(INVAL_KE) ]" if initiator == "strongswan" else \
                "generating IKE_SA_INIT response 0 [ N(INVAL_KE) ]"
            assert way in pair.charon.log_text()
        except BaseException:
            print(pair.diagnostics())
            raise


_MISMATCHES = {
    # what charon is given instead of the matching setting -> what ipsecd's log must say
    "ike-proposal": (
        {"proposals": "aes256gcm16-prfsha384-ecp384"},
        ["NO_PROPOSAL_CHOSEN", "ENCR offered [aes-256-gcm]", "change profile"],
    ),
    "esp-proposal": (
        {"esp_proposals": "aes256gcm16"},
        [
            "NO_PROPOSAL_CHOSEN",
            "(10.242.2.1/32 -> 10.242.1.1/32) from 10.241.0.1",
            "ENCR offered [aes-256-gcm] accepted [aes-256-cbc,aes-192-cbc,aes-128-cbc]",
            "proposal enc-algorithms",
        ],
    ),
    "psk": (
        {"psk": "not-the-secret"},
        ["authentication failed", "pre-shared key mismatch (check identity secret=)"],
    ),
    "identity": ({"local_id": "someone.else"}, ["does not match remote-id=fqdn:left.test"]),
    "selectors": ({"remote_ts": "10.99.0.0/24"}, ["TS_UNACCEPTABLE", "no policy matches"]),
}


@pytest.mark.parametrize("kind", list(_MISMATCHES))
def test_failed_negotiations_are_explained(tmp_path: Path, kind: str) -> None:
    """strongSwan initiates with one setting that does not match: the negotiation fails and ipsecd's
    log says what the peer offered against what it accepts, and which RouterOS property to change."""
    change, expected = _MISMATCHES[kind]
    with Topology("ipdf") as topo:
        left, right = topo.left, topo.right
        kw: dict[str, Any] = dict(
            local_addr=left.wan,
            remote_addr=right.wan,
            local_id="left.test",
            remote_id="right.test",
            local_ts=f"{left.lan}/32",
            remote_ts=f"{right.lan}/32",
            psk=PSK,
            proposals=DEFAULTS.ike,
            esp_proposals=DEFAULTS.esp,
        )
        kw.update(change)
        charon = Charon(left, tmp_path, retransmit_tries=1).start()
        charon.load(swanctl_connection("net", **kw))
        pair = Pair(topo, charon, Ipsecd(right, tmp_path, ipsecd_site_rsc(topo, passive=True)).start())
        try:
            with pytest.raises(RuntimeError):
                charon.initiate("net", timeout_ms=5000)
            wait_until("ipsecd's explanation", lambda: all(e in pair.ipsecd.log_text() for e in expected), 5)
            assert pair.rows("installed-sa") == []
        except BaseException:
            print(pair.diagnostics())
            raise


def test_ipsecd_rekeys_an_ike_sa_carrying_two_child_sas(tmp_path: Path) -> None:
    """ipsecd's profile lifetime (6s) rekeys an IKE SA that carries two CHILD_SAs: both move to the
    new IKE SA at strongSwan's end too (RFC 7296 §2.18), and both keep carrying traffic. strongSwan's
    liveness checks (every 1s) are answered throughout."""
    with Topology("ipde") as topo:
        left, right = topo.left, topo.right
        conf, rsc, l2, r2 = _two_children(topo, charon_site_conf(topo, dpd_delay="1s"),
                                          ipsecd_site_rsc(topo, passive=False, lifetime="6s"))
        charon = Charon(left, tmp_path).start()
        charon.load(conf)
        pair = Pair(topo, charon, Ipsecd(right, tmp_path, rsc).start())
        try:
            wait_until("two CHILD_SAs", lambda: len(charon.child_sas()) == 2, 20)
            first = charon.list_sas()[0]["initiator-spi"]
            wait_until("ipsecd's IKE SA rekey", lambda: "IKE SA rekeyed" in pair.ipsecd.log_text(), 15, 0.2)
            wait_until(
                "charon on the new IKE SA alone",
                lambda: (
                    [s["initiator-spi"] for s in charon.list_sas()] not in ([], [first])
                    and len(charon.list_sas()) == 1
                ),
                10,
                0.1,
            )
            assert {str(c["name"]) for c in charon.child_sas()} == {"net", "net2"}
            assert pair.ping(2) == (2, 2) and left.ping(r2, src=l2, count=2) == (2, 2)
            assert "sending DPD request" in charon.log_text() and "giving up" not in charon.log_text()
        except BaseException:
            print(pair.diagnostics())
            raise


@pytest.mark.parametrize(
    ("initiator", "nat"), [("strongswan", False), ("ipsecd", False), ("strongswan", True)]
)
def test_default_identities_are_addresses(tmp_path: Path, initiator: str, nat: bool) -> None:
    """RouterOS's defaults, ``my-id=auto`` and ``remote-id=auto``, against strongSwan identities that
    are the peers' IP addresses (its default): ipsecd sends ID_IPV4_ADDR of its address and accepts
    the peer's — behind a NAT too, where the peer's ID is its private address (``auto`` accepts
    every ID, as the manual says)."""
    with Topology("ipda", nat=nat) as topo:
        left, right = topo.left, topo.right
        charon = Charon(left, tmp_path).start()
        charon.load(charon_site_conf(topo).replace("left.test", left.wan).replace("right.test", right.wan))
        rsc = ipsecd_site_rsc(topo, passive=initiator == "strongswan").replace(
            " my-id=fqdn:right.test remote-id=fqdn:left.test", "")
        assert "my-id" not in rsc
        pair = Pair(topo, charon, Ipsecd(right, tmp_path, rsc).start())
        try:
            if initiator == "strongswan":
                charon.initiate("net")
            else:
                wait_until("the tunnel", lambda: bool(charon.child_sas()), 20)
            (ike,) = charon.list_sas()
            assert ike["local-id"] == left.wan and ike["remote-id"] == right.wan
            assert pair.ping(3) == (3, 3)
        except BaseException:
            print(pair.diagnostics())
            raise


def test_two_road_warriors_sharing_one_identity(tmp_path: Path) -> None:
    """Two strongSwan clients from different addresses with the same identity and PSK (a shared
    secret with remote-id=auto, or clients behind different NATs whose ID is the same private
    address): each gets its own address from the pool and its own CHILD_SA, both reach the gateway's
    LAN, and one leaving does not take the other's lease."""
    with Topology("ipdy") as topo:
        left, right = topo.left, topo.right
        second = Netns("ipdyS", iface="ipdyS-eth", wan="10.246.0.1", lan=left.lan)
        topo.spaces.append(second)  # removed with the topology
        sh(["ip", "netns", "add", second.name])
        sh(["ip", "-n", second.name, "link", "set", "lo", "up"])
        Topology._veth(second, second.iface, right, "ipdyR-e2")
        second.run("ip", "addr", "add", f"{second.wan}/24", "dev", second.iface)
        right.run("ip", "addr", "add", "10.246.0.2/24", "dev", "ipdyR-e2")
        clients = []
        for ns, server in ((left, right.wan), (second, "10.246.0.2")):
            charon = Charon(ns, tmp_path / ns.name, install_vip=True).start()
            charon.load(
                charon_roadwarrior_conf(topo)
                .replace(f"local_addrs = {left.wan}", f"local_addrs = {ns.wan}")
                .replace(f"remote_addrs = {right.wan}", f"remote_addrs = {server}")
            )
            clients.append(charon)
        ipsecd = Ipsecd(right, tmp_path, ipsecd_roadwarrior_rsc(topo)).start()
        pair = Pair(topo, clients[0], ipsecd)
        try:
            vips = []
            for charon in clients:
                charon.initiate("net")
                (vip,) = charon.list_sas()[0]["local-vips"]  # type: ignore[misc]
                vips.append(vip)
            assert len(set(vips)) == 2, vips
            for ns, vip in zip((left, second), vips, strict=True):
                assert ns.ping(right.lan, src=vip, count=2) == (2, 2)
            assert sorted(str(p["dynamic-address"]) for p in pair.rows("active-peers")) == sorted(vips)
            clients[0].swanctl("--terminate", "--ike", "net")
            wait_until("the first client gone", lambda: len(pair.rows("active-peers")) == 1, 10, 0.1)
            assert second.ping(right.lan, src=vips[1], count=2) == (2, 2)
            clients[0].initiate("net")  # comes back: not onto the address the second one holds
            (again,) = clients[0].list_sas()[0]["local-vips"]  # type: ignore[misc]
            assert again != vips[1] and left.ping(right.lan, src=again, count=2) == (2, 2)
        except BaseException:
            print(pair.diagnostics())
            raise


#: More of the registry against strongSwan (kernel-libipsec: ESP through strongSwan's own crypto):
#: (RouterOS profile enc/hash/dh, proposal enc/auth/pfs, swanctl ike, swanctl esp, charon's names).
MORE_ALGORITHMS = (
    Proposals(
        "aes-ctr-sha512-modp4096",
        "aes-256",
        "sha512",
        "modp4096",
        "aes-256-ctr",
        "sha512",
        "modp3072",
        ike="aes256-sha512-modp4096",
        esp="aes256ctr-sha512-modp3072",
    ),
    Proposals(
        "3des-md5-modp1536",
        "3des",
        "sha1",
        "modp1536",
        "3des",
        "md5",
        "none",
        ike="3des-sha1-modp1536",
        esp="3des-md5",
    ),
    Proposals(
        "camellia-sha384-ecp521",
        "camellia-256",
        "sha384",
        "ecp521",
        "camellia-128",
        "sha256",
        "ecp256",
        ike="camellia256-sha384-ecp521",
        esp="camellia128-sha256-ecp256",
    ),
    Proposals(
        "aes192-gcm-ecp256",
        "aes-192",
        "sha256",
        "ecp256",
        "aes-192-gcm",
        "null",
        "none",
        ike="aes192-sha256-ecp256",
        esp="aes192gcm16",
    ),
)


@pytest.mark.parametrize("proposals", MORE_ALGORITHMS, ids=lambda p: p.name)
def test_more_algorithms(tmp_path: Path, proposals: Proposals) -> None:
    """IKE and ESP with more of the manual's algorithms and groups, against strongSwan: it initiates
    with exactly that set, the CHILD_SA carries traffic, and a CHILD_SA rekey (with the PFS group)
    works too."""
    with Topology("ipdm") as topo:
        pair = _start(topo, tmp_path, proposals)
        try:
            pair.charon.initiate("net")
            assert pair.ping(2) == (2, 2)
            spi = pair.charon.child_sas()[0]["spi-in"]
            pair.charon.swanctl("--rekey", "--child", "net")
            wait_until(
                "the rekeyed CHILD_SA",
                lambda: (
                    [c["spi-in"] for c in pair.charon.child_sas() if c.get("state") == "INSTALLED"]
                    not in ([], [spi])
                ),
                10,
                0.1,
            )
            assert pair.ping(2) == (2, 2)
        except BaseException:
            print(pair.diagnostics())
            raise


def test_both_sides_initiate_at_once(tmp_path: Path) -> None:
    """strongSwan (start_action=start) and ipsecd (not passive) bring the tunnel up at the same moment:
    two IKE SAs may cross, each with INITIAL_CONTACT. Neither side may drop the SA the other keeps:
    traffic flows both ways afterwards, and both ends hold the same CHILD_SA SPIs."""
    with Topology("ipdo") as topo:
        charon = Charon(topo.left, tmp_path).start()
        ipsecd = Ipsecd(topo.right, tmp_path, ipsecd_site_rsc(topo, passive=False))
        charon.load(charon_site_conf(topo, start_action="start"))
        pair = Pair(topo, charon, ipsecd.start())
        try:
            wait_until("a tunnel", lambda: bool(charon.child_sas()), 20)
            time.sleep(2)  # let any crossing exchanges and deletes settle
            assert pair.ping(3) == (3, 3)
            theirs = {c["spi-in"] for c in charon.child_sas()} | {c["spi-out"] for c in charon.child_sas()}
            ours = {str(r["spi"]).lower().removeprefix("0x").rjust(8, "0") for r in pair.rows("installed-sa")}
            assert ours and ours <= {str(s) for s in theirs}, (ours, theirs)
        except BaseException:
            print(pair.diagnostics())
            raise


def test_full_size_packets_and_a_bulk_transfer(tmp_path: Path) -> None:
    """Packets at every size up to what the tunnel takes, in both directions, and 8 MB of TCP through
    a strongSwan peer: padding, inner lengths and the MTU of both TUN devices agree with libipsec's."""
    with Topology("ipdu") as topo:
        pair = _start(topo, tmp_path, GCM_ECP384)
        left, right = topo.left, topo.right
        try:
            pair.charon.initiate("net")
            for size in (0, 1, 15, 16, 17, 1000, 1300, 1350, 1372):  # 1372 + 28 = the TUN MTU of 1400
                for a, b in ((left, right), (right, left)):
                    r = a.run(
                        "ping",
                        "-n",
                        "-c",
                        "1",
                        "-W",
                        "2",
                        "-M",
                        "do",
                        "-s",
                        str(size),
                        "-I",
                        a.lan,
                        b.lan,
                        check=False,
                    )
                    assert " 0% packet loss" in r.stdout, (size, a.name, r.stdout)
            got = tcp_transfer(
                lambda argv: subprocess.Popen(right.cmd(*argv), stdout=subprocess.PIPE, text=True),
                lambda argv: left.run(*argv, timeout=60).stdout,
                right.lan,
                left.lan,
                8 << 20,
            )
            assert got == 8 << 20
            assert pair.rows("statistics")[0].get("in-state-protocol-errors", "0") in ("0", 0)
        except BaseException:
            print(pair.diagnostics())
            raise


@pytest.mark.parametrize("initiator", ["ipsecd", "strongswan"])
@pytest.mark.parametrize(("exchange", "port"), [("IKE_SA_INIT", 500), ("IKE_AUTH", 4500)])
def test_lost_response_is_retransmitted_for(tmp_path: Path, exchange: str, port: int, initiator: str) -> None:
    """The responder's first IKE_SA_INIT or IKE_AUTH response is lost on the way (nftables drops it at
    ipsecd's end, coming in or going out): the initiator retransmits the same request, the responder
    answers it again — from its cache for IKE_AUTH (RFC 7296 §2.1), which for ``strongswan`` means
    ipsecd's cache — and the tunnel comes up."""
    with Topology("ipdl") as topo:
        right = topo.right
        hook, match = ("input", "sport") if initiator == "ipsecd" else ("output", "sport")
        right.run("nft", "add", "table", "inet", "ipdl")
        right.run("nft", "add", "chain", "inet", "ipdl", "c", f"{{ type filter hook {hook} priority 0 ; }}")
        right.run("nft", "add", "rule", "inet", "ipdl", "c", "udp", match, str(port), "counter", "drop")

        def dropped() -> bool:
            return " packets 0 " not in right.run("nft", "list", "table", "inet", "ipdl").stdout

        pair = _start(topo, tmp_path, DEFAULTS, passive=initiator == "strongswan")
        try:
            if initiator == "strongswan":
                with pair.charon.vici() as v:  # -1: do not wait for the outcome (VICI README)
                    v.request("initiate", {"child": "net", "timeout": "-1"})
            wait_until("the first response dropped", dropped, 15, 0.05)
            right.run("nft", "delete", "table", "inet", "ipdl")
            wait_until(
                "ipsecd's CHILD_SA after the retransmission",
                lambda: len(pair.rows("installed-sa")) == 2,
                20,
                0.2,
            )
            # charon retransmits 4 s and 11.2 s after its request: the second must fit under CI load
            wait_until("charon's CHILD_SA", lambda: bool(pair.charon.child_sas()), 20, 0.2)
            assert pair.ping(2) == (2, 2)
            if initiator == "ipsecd" and exchange == "IKE_AUTH":
                assert (
                    "received retransmit of request with ID 1, retransmitting response"
                    in pair.charon.log_text()
                )
            if initiator == "strongswan":
                assert f"retransmit 1 of request with message ID {0 if exchange == 'IKE_SA_INIT' else 1}" \
                    in pair.charon.log_text()
            assert len(pair.charon.list_sas()) == 1
        except BaseException:
            print(pair.diagnostics())
            raise
