"""``ipsecd run`` with IKEv1 peers (issue 10) in namespaces, TUN data plane, real ICMP between LANs.

Against strongSwan 5.9 IKEv1 (``version = 1``, kernel-libipsec; charon left, ipsecd right): a RouterOS
export with no ``exchange-mode`` at all and RouterOS's default profile and proposal (main mode, PSK,
PFS modp1024) with each side initiating; aggressive mode with FQDN identities, each side
initiating; a phase-2 re-key under traffic driven by ipsecd's own short proposal lifetime. And
ipsecd ⇄ ipsecd in base mode from two RouterOS scripts (strongSwan has no base mode).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.interop.sswan import Charon, Ipsecd, Topology, swanctl_connection, wait_until

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

PSK = "ikev1-daemon-interop-0123456789"


def _routeros(topo: Topology, *, extra_peer: str = "", identity: str = "", proposal: str = "") -> str:
    """ipsecd's script: RouterOS's default profile and proposal unless ``proposal`` replaces the
    default proposal's lifetime; the peer line has no exchange-mode unless ``extra_peer`` sets one."""
    left, right = topo.left, topo.right
    lines = [
        f"/ip ipsec peer add name=sswan address={topo.left_seen_by_right}/32{extra_peer}",
        f'/ip ipsec identity add peer=sswan secret="{PSK}"{identity}',
        f"/ip ipsec policy add peer=sswan tunnel=yes src-address={right.lan}/32 dst-address={left.lan}/32",
    ]
    if proposal:
        lines.insert(0, f"/ip ipsec proposal set [find name=default] {proposal}")
    return "\n".join(lines) + "\n"


def _charon(
    topo: Topology,
    *,
    aggressive: bool = False,
    ids: tuple[str, str] | None = None,
    rekey_time: str = "0",
    extra: str = "",
) -> str:
    """charon's IKEv1 connection matching RouterOS's defaults (aes128-sha1 with modp2048 or modp1024;
    ESP aes128-sha1 with PFS modp1024); identities: the addresses, or ``ids`` (ours, ipsecd's)."""
    left, right = topo.left, topo.right
    local_id, remote_id = ids or (left.wan, right.wan)
    conf = swanctl_connection(
        "net", local_addr=left.wan, remote_addr=right.wan, local_id=local_id, remote_id=remote_id,
        local_ts=f"{left.lan}/32", remote_ts=f"{right.lan}/32", psk=PSK,
        # aggressive mode offers one group (one KE payload): the default profile's first, modp1024
        proposals="aes128-sha1-modp2048,aes128-sha1-modp1024", esp_proposals="aes128-sha1-modp1024",
        rekey_time=rekey_time, extra=extra,
    )
    return conf.replace("version = 2", f"version = 1\n        aggressive = {'yes' if aggressive else 'no'}")


class Pair:
    def __init__(self, topo: Topology, tmp: Path, rsc: str, conf: str) -> None:
        self.topo = topo
        # charon answers aggressive mode with a PSK only when told it may (the PSK's hash is exposed)
        self.charon = Charon(
            topo.left, tmp, extra="    i_dont_care_about_security_and_use_aggressive_mode_psk = yes"
        ).start()
        self.charon.load(conf)
        self.ipsecd = Ipsecd(topo.right, tmp, rsc).start()

    def ping(self, count: int = 3, interval: float = 0.2) -> tuple[int, int]:
        return self.topo.left.ping(
            self.topo.right.lan, src=self.topo.left.lan, count=count, interval=interval
        )

    def rows(self, menu: str) -> list[dict[str, object]]:
        rows = json.loads(self.ipsecd.exec(f"/ip ipsec {menu} print", as_json=True).stdout)
        assert isinstance(rows, list)
        return rows

    def up(self, ipsecd_initiates: bool) -> None:
        if ipsecd_initiates:
            wait_until("charon to see ipsecd's IPsec SA", lambda: bool(self.charon.child_sas()), 20)
        else:
            self.charon.initiate("net")
        wait_until("ipsecd's IPsec SAs", lambda: len(self.rows("installed-sa")) == 2, 10)

    def diagnostics(self) -> str:
        return (
            f"--- ipsecd log ---\n{self.ipsecd.log_text()[-6000:]}\n"
            f"--- charon log ---\n{self.charon.log_text()[-6000:]}"
        )


def _check(pair: Pair, ipsecd_initiates: bool) -> None:
    assert pair.ping(5) == (5, 5)
    (peer,) = pair.rows("active-peers")
    assert peer["state"] == "established" and str(peer["ph2-total"]) == "1"
    assert peer["side"] == ("initiator" if ipsecd_initiates else "responder")
    (ike,) = pair.charon.list_sas()
    assert ike["version"] == "1" and ike["state"] == "ESTABLISHED"
    log = pair.ipsecd.log_text()
    # the peer's vendor IDs, once (charon does not announce its product unless send_vendor_id = yes)
    assert log.count("says it is") == 1 and "DPD" in log.split("says it is")[1].split("\n")[0]


@pytest.mark.parametrize("ipsecd_initiates", [False, True], ids=["sswan-initiates", "ipsecd-initiates"])
def test_main_mode_from_an_export_without_exchange_mode(tmp_path: Path, ipsecd_initiates: bool) -> None:
    with Topology("iv1m") as topo:
        rsc = _routeros(topo, extra_peer="" if ipsecd_initiates else " passive=yes")
        assert "exchange-mode" not in rsc and "profile=" not in rsc and "proposal=" not in rsc
        pair = Pair(topo, tmp_path, rsc, _charon(topo))
        try:
            pair.up(ipsecd_initiates)
            _check(pair, ipsecd_initiates)
            assert pair.charon.child_sas()[0]["dh-group"] == "MODP_1024"  # the default proposal's PFS
        except BaseException:
            print(pair.diagnostics())
            raise


@pytest.mark.parametrize("ipsecd_initiates", [False, True], ids=["sswan-initiates", "ipsecd-initiates"])
def test_aggressive_mode_with_fqdn_identities(tmp_path: Path, ipsecd_initiates: bool) -> None:
    with Topology("iv1a") as topo:
        passive = "" if ipsecd_initiates else " passive=yes"
        rsc = _routeros(
            topo,
            extra_peer=f" exchange-mode=aggressive{passive}",
            identity=" my-id=fqdn:right.test remote-id=fqdn:left.test",
        )
        pair = Pair(topo, tmp_path, rsc, _charon(topo, aggressive=True, ids=("left.test", "right.test")))
        try:
            pair.up(ipsecd_initiates)
            _check(pair, ipsecd_initiates)
            (ike,) = pair.charon.list_sas()
            assert ike["remote-id"] == "right.test"
        except BaseException:
            print(pair.diagnostics())
            raise


def test_phase2_rekey_under_traffic_loses_no_ping(tmp_path: Path) -> None:
    """The default proposal's lifetime set to 20 s: ipsecd re-keys phase 2 at its soft lifetime (90 %;
    the TUN data plane checks lifetimes every second) by a new quick mode, moves traffic to the new
    SAs and deletes the old ones a second later, while pings flow."""
    with Topology("iv1r") as topo:
        rsc = _routeros(topo, proposal="lifetime=20s")
        pair = Pair(topo, tmp_path, rsc, _charon(topo))
        try:
            pair.up(True)
            first = {str(sa["spi"]) for sa in pair.rows("installed-sa")}
            sent, got = pair.ping(count=110, interval=0.2)
            print(f"phase-2 re-keys under traffic: {sent - got} of {sent} pings lost")
            assert (sent, got) == (110, 110)
            assert "deleted: re-keyed" in pair.ipsecd.log_text()
            wait_until("one SA pair installed", lambda: len(pair.rows("installed-sa")) == 2, 3, 0.05)
            assert not first & {str(sa["spi"]) for sa in pair.rows("installed-sa")}
            assert len(pair.rows("active-peers")) == 1
        except BaseException:
            print(pair.diagnostics())
            raise


def _base_rsc(me_lan: str, peer_wan: str, peer_lan: str, passive: bool) -> str:
    return f"""\
/ip ipsec peer add name=other address={peer_wan}/32 exchange-mode=base passive={"yes" if passive else "no"}
/ip ipsec identity add peer=other secret="{PSK}"
/ip ipsec policy add peer=other tunnel=yes src-address={me_lan}/32 dst-address={peer_lan}/32
"""


@pytest.mark.root
def test_base_mode_ipsecd_pair(tmp_path: Path) -> None:
    with Topology("iv1b") as topo:
        left, right = topo.left, topo.right
        resp = Ipsecd(right, tmp_path, _base_rsc(right.lan, left.wan, left.lan, passive=True)).start()
        init = Ipsecd(left, tmp_path, _base_rsc(left.lan, right.wan, right.lan, passive=False)).start()
        try:
            left.wait_ping(right.lan, left.lan)
            assert left.ping(right.lan, src=left.lan, count=5) == (5, 5)
            assert "initiating IKEv1 (base mode)" in init.log_text()
            out = resp.exec("/ip ipsec active-peers print").stdout
            assert left.wan in out and "established" in out
        except BaseException:
            print(
                f"--- initiator ---\n{init.log_text()[-5000:]}\n--- responder ---\n{resp.log_text()[-5000:]}"
            )
            raise


def _spis(pair: Pair) -> set[str]:
    return {str(sa["spi"]) for sa in pair.rows("installed-sa")}


# charon proposes rekey_time + over_time as the phase-1 lifetime and re-authenticates at rekey_time
_REAUTH = "        over_time = 6s\n        rand_time = 0s"


def test_sswan_reauthentication_keeps_the_ipsec_sas(tmp_path: Path) -> None:
    """charon re-keys an IKEv1 SA by re-authenticating (rekey_time 6 s, lifetime 12 s): a new main
    mode, its CHILD_SA moved to the new IKE_SA, the old one left to its lifetime. ipsecd's new ISAKMP
    SA adopts the IPsec SAs, which outlive the old one — pings flow throughout — and charon's later
    DELETE of the CHILD_SA, sent over the new IKE_SA, removes them."""
    with Topology("iv1u") as topo:
        pair = Pair(
            topo,
            tmp_path,
            _routeros(topo, extra_peer=" passive=yes"),
            _charon(topo, rekey_time="6s", extra=_REAUTH),
        )
        try:
            pair.up(False)
            spis, (first,) = _spis(pair), pair.rows("active-peers")
            assert pair.ping(count=36, interval=0.3) == (36, 36)
            assert "IKE_SA net[2] established" in pair.charon.log_text()  # the re-authentication
            wait_until(  # charon re-authenticates every 6 s: at most the current SA and its predecessor
                "the first ISAKMP SA to go",
                lambda: first["spii"] not in {p["spii"] for p in pair.rows("active-peers")},
                10,
            )
            assert _spis(pair) == spis
            assert "adopts 1 IPsec SA(s)" in pair.ipsecd.log_text()
            pair.charon.swanctl("--terminate", "--child", "net", "--timeout", "5")
            wait_until(
                "ipsecd to act on the DELETE over the new ISAKMP SA", lambda: not pair.rows("installed-sa"), 5
            )
        except BaseException:
            print(pair.diagnostics())
            raise


def test_ipsecd_phase1_rekey_against_sswan_loses_no_ping(tmp_path: Path) -> None:
    """ipsecd re-keys phase 1 (lifetime 10 s, DPD on: at 85 %): the new ISAKMP SA adopts the IPsec SA
    and re-keys it by quick mode, the old ISAKMP SA DELETEs itself at its lifetime; charon (unique=no,
    its default) adopts its CHILD_SA into the new IKE_SA too ("detected reauth") and acts on the
    DELETE of the old one. No ping is lost."""
    with Topology("iv1p") as topo:
        rsc = _routeros(topo) + "/ip ipsec profile set [find name=default] lifetime=10s dpd-interval=4s\n"
        pair = Pair(topo, tmp_path, rsc, _charon(topo))
        try:
            pair.up(True)
            spis = _spis(pair)
            sent, got = pair.ping(count=44, interval=0.25)  # over the re-key at 8.5 s, before the next
            print(f"phase-1 re-key under traffic: {sent - got} of {sent} pings lost")
            assert (sent, got) == (44, 44)
            log = pair.ipsecd.log_text()
            assert "re-keying phase 1" in log and "adopts 1 IPsec SA(s)" in log
            wait_until(
                "one ISAKMP SA at each end",
                lambda: len(pair.rows("active-peers")) == 1 and len(pair.charon.list_sas()) == 1,
                5,
            )
            wait_until("the old IPsec SA to go", lambda: len(pair.rows("installed-sa")) == 2, 3)
            assert not _spis(pair) & spis
            assert len(pair.charon.child_sas()) == 1
        except BaseException:
            print(pair.diagnostics())
            raise
