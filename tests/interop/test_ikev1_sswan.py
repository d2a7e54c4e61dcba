"""ipsecd's IKEv1 core against strongSwan 5.9 IKEv1 (``version = 1``, kernel-libipsec) in namespaces.

A test-only driver (``ikev1_driver.py``) runs our sans-I/O SA over real UDP sockets in the left
namespace; charon is in the right one. Each test brings up main mode (or aggressive mode) and one
quick mode, with either side initiating, and checks both ends: our events, and charon's own list of
SAs (IKEv1 SA established, CHILD_SA installed with the SPIs we negotiated). charon's libipsec fakes
a NAT, so every run also proves NAT-D handling and the float to 4500.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.sswan import REPO, Charon, Proc, Topology, wait_until

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

PSK = "ikev1-interop-psk-0123456789"


def charon_v1_conf(topo: Topology, *, aggressive: bool = False, local_id: str = "", remote_id: str = "",
                   proposals: str = "aes128-sha256-ecp256", esp: str = "aes128-sha256-ecp256") -> str:
    right, left = topo.right, topo.left
    lid, rid = local_id or right.wan, remote_id or left.wan
    return f"""\
connections {{
    v1 {{
        version = 1
        aggressive = {"yes" if aggressive else "no"}
        local_addrs = {right.wan}
        remote_addrs = {topo.left_seen_by_right}
        proposals = {proposals}
        rekey_time = 0
        dpd_delay = 0
        local {{
            auth = psk
            id = {lid}
        }}
        remote {{
            auth = psk
            id = {rid}
        }}
        children {{
            net {{
                mode = tunnel
                local_ts = {right.lan}/32
                remote_ts = {left.lan}/32
                esp_proposals = {esp}
                rekey_time = 0
                start_action = none
            }}
        }}
    }}
}}
secrets {{
    ike-v1 {{
        id-a = {lid}
        id-b = {rid}
        secret = "{PSK}"
    }}
}}
"""


class Driver:
    def __init__(self, topo: Topology, workdir: Path, role: str, *extra: str) -> None:
        left, right = topo.left, topo.right
        args = [sys.executable, "-m", "tests.interop.ikev1_driver", "--role", role, "--local", left.wan,
                "--remote", right.wan, "--psk", PSK, "--local-ts", f"{left.lan}/32",
                "--remote-ts", f"{right.lan}/32", "--seconds", "60", *extra]
        env = {"PYTHONPATH": f"{REPO / 'src'}:{REPO}"}
        self.proc: Proc = left.spawn(["env", *(f"{k}={v}" for k, v in env.items()), *args],
                                     workdir / f"driver-{role}.log")

    def listening(self) -> None:
        wait_until("the driver's sockets", lambda: "listening" in self.proc.output(), timeout=15)

    def events(self) -> list[dict[str, object]]:
        out = []
        for line in self.proc.output().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def installed(self) -> dict[str, object] | None:
        return next((e for e in self.events() if e["event"] == "ChildSaInstalled"), None)


@pytest.fixture
def topo_charon(tmp_path: Path) -> Iterator[tuple[Topology, Charon]]:
    topo = Topology("ik1")
    with topo:
        charon = Charon(topo.right, tmp_path, loglevel=2,
                        extra="    i_dont_care_about_security_and_use_aggressive_mode_psk = yes").start()
        yield topo, charon


def _check(topo: Topology, charon: Charon, driver: Driver) -> None:
    try:
        wait_until("our quick mode", lambda: driver.installed() is not None, timeout=30)
        wait_until(
            "charon's CHILD_SA",
            lambda: any(c.get("state") == "INSTALLED" for c in charon.child_sas()),
            timeout=10,
        )
    except TimeoutError:
        print(driver.proc.output()[-5000:], "\n--- charon ---\n", charon.log_text()[-8000:])
        raise
    ike, = charon.list_sas()
    assert ike["version"] == "1" and ike["state"] == "ESTABLISHED"
    child, = charon.child_sas()
    ours = driver.installed()
    assert ours is not None
    inbound, outbound = ours["inbound"], ours["outbound"]
    assert isinstance(inbound, dict) and isinstance(outbound, dict)
    assert (
        int(str(child["spi-in"]), 16) == outbound["spi"] and int(str(child["spi-out"]), 16) == inbound["spi"]
    )
    assert child["encr-alg"] == "AES_CBC" and child["integ-alg"] == "HMAC_SHA2_256_128"
    established = next(e for e in driver.events() if e["event"] == "IkeSaEstablished")
    assert established["nat_remote"] is True  # libipsec's faked NAT: we used NAT-D and UDP 4500
    swanctl = charon.swanctl("--list-sas")
    assert "IKEv1" in swanctl and "INSTALLED" in swanctl


def test_main_mode_we_initiate(topo_charon: tuple[Topology, Charon], tmp_path: Path) -> None:
    topo, charon = topo_charon
    charon.load(charon_v1_conf(topo))
    driver = Driver(topo, tmp_path, "initiator")
    _check(topo, charon, driver)


def test_main_mode_strongswan_initiates(topo_charon: tuple[Topology, Charon], tmp_path: Path) -> None:
    topo, charon = topo_charon
    charon.load(charon_v1_conf(topo))
    driver = Driver(topo, tmp_path, "responder")
    driver.listening()
    charon.initiate("net", "v1")
    _check(topo, charon, driver)


def test_aggressive_mode_fqdn_both_roles(topo_charon: tuple[Topology, Charon], tmp_path: Path) -> None:
    topo, charon = topo_charon
    charon.load(charon_v1_conf(topo, aggressive=True, local_id="gw.example", remote_id="client.example"))
    ids = ("--mode", "aggressive", "--my-id", "fqdn:client.example", "--remote-id", "fqdn:gw.example")
    driver = Driver(topo, tmp_path, "initiator", *ids)
    _check(topo, charon, driver)
    driver.proc.stop()
    charon.terminate_all()
    second = Driver(topo, tmp_path / "again", "responder", *ids)
    second.listening()
    charon.initiate("net", "v1")
    _check(topo, charon, second)


def test_pfs_several_proposals_behind_nat(tmp_path: Path) -> None:
    """ipsecd behind a masquerading NAT initiates; its first quick-mode proposal is not acceptable to
    charon, the second (modp2048 PFS) is; phase 1 uses modp2048 too."""
    with Topology("ik2", nat=True) as topo:
        charon = Charon(topo.right, tmp_path, loglevel=2).start()
        charon.load(charon_v1_conf(topo, proposals="aes256-sha1-modp2048", esp="aes128-sha256-modp2048"))
        driver = Driver(
            topo,
            tmp_path,
            "initiator",
            "--encr",
            "aes-256",
            "--hash",
            "sha1",
            "--dh",
            "modp2048",
            "--child-proposals",
            "aes-256-cbc/sha1/modp2048;aes-128-cbc/sha256/modp2048",
        )
        _check(topo, charon, driver)
        established = next(e for e in driver.events() if e["event"] == "IkeSaEstablished")
        assert established["nat_local"] is True  # the real NAT: we are behind it
        (ike,) = charon.list_sas()
        assert (
            ike["dh-group"] == "MODP_2048" and ike["encr-alg"] == "AES_CBC" and ike["encr-keysize"] == "256"
        )
        (child,) = charon.child_sas()
        assert child["dh-group"] == "MODP_2048"
