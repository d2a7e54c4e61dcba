"""EAP over IKEv2 against strongSwan 5.9 and FreeRADIUS 3.2, in namespaces, with traffic (issue 13).

* strongSwan as the road warrior (``eap-mschapv2``, Debian's libcharon-extauth-plugins) → ipsecd
  as an ``auth-method=eap-radius`` gateway with a certificate (gw-rsa, SAN gw.example.com) →
  FreeRADIUS in ipsecd's namespace (127.0.0.1, ``require_message_authenticator = yes``); a wrong
  password is refused and ipsecd's log says why.
* ipsecd as the ``auth-method=eap`` client (eap-mschapv2) → strongSwan as the gateway with its
  certificate and a local EAP-MSCHAPv2 secret.

One topology, one FreeRADIUS and one charon serve the module (charon's connections are reloaded per
test); each test runs its own ipsecd.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipsecd.pki.store import CertificateStore
from tests.interop import freeradius as fr
from tests.interop.scenarios import DEFAULTS, ipsecd_site_rsc
from tests.interop.sswan import Charon, Ipsecd, Topology, wait_until

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "strongswan-pki"
GW_ID = "gw.example.com"


class Setup:
    def __init__(self, topo: Topology, radius: fr.FreeRadius, charon: Charon) -> None:
        self.topo, self.radius, self.charon = topo, radius, charon


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    why = fr.available()
    if why:
        pytest.skip(why)
    workdir = tmp_path_factory.mktemp("eap")
    with Topology("ipeap") as topo:
        radius = fr.FreeRadius(ns=topo.right.name)
        try:
            charon = Charon(topo.left, workdir, plugins="eap-identity eap-mschapv2")
            for sub in ("x509ca", "x509", "rsa"):
                (charon.swanctl_dir / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(VECTORS / "ca.crt", charon.swanctl_dir / "x509ca" / "ca.crt")
            shutil.copy(VECTORS / "gw-rsa.crt", charon.swanctl_dir / "x509" / "gw-rsa.crt")
            shutil.copy(VECTORS / "gw-rsa.key", charon.swanctl_dir / "rsa" / "gw-rsa.key")
            charon.start()
            try:
                yield Setup(topo, radius, charon)
            finally:
                charon.stop()
        finally:
            radius.close()


def children(topo: Topology, local: str, remote: str) -> str:
    return f"""\
        children {{
            net {{
                mode = tunnel
                local_ts = {local}/32
                remote_ts = {remote}/32
                rekey_time = 0
                esp_proposals = {DEFAULTS.esp}
            }}
        }}"""


def client_conf(topo: Topology, password: str) -> str:
    """charon as the road warrior: EAP-MSCHAPv2 as alice, the gateway by its certificate."""
    left, right = topo.left, topo.right
    return f"""\
connections {{
    rw {{
        version = 2
        local_addrs = {left.wan}
        remote_addrs = {right.wan}
        proposals = {DEFAULTS.ike}
        rekey_time = 0
        mobike = no
        local {{
            auth = eap-mschapv2
            eap_id = alice
        }}
        remote {{
            auth = pubkey
            id = {GW_ID}
        }}
{children(topo, left.lan, right.lan)}
    }}
}}
secrets {{
    eap-alice {{
        id = alice
        secret = "{password}"
    }}
}}
"""


def gateway_conf(topo: Topology) -> str:
    """charon as the gateway: its certificate, the client by EAP-MSCHAPv2 with a local secret."""
    left, right = topo.left, topo.right
    return f"""\
connections {{
    gw {{
        version = 2
        local_addrs = {left.wan}
        remote_addrs = {right.wan}
        proposals = {DEFAULTS.ike}
        rekey_time = 0
        mobike = no
        local {{
            auth = pubkey
            certs = gw-rsa.crt
            id = {GW_ID}
        }}
        remote {{
            auth = eap-mschapv2
            eap_id = %any
        }}
{children(topo, left.lan, right.lan)}
    }}
}}
secrets {{
    eap-alice {{
        id = alice
        secret = "{fr.USERS["alice"]}"
    }}
}}
"""


def ipsecd_rsc(topo: Topology, identity: str, *, passive: bool, extra: str = "") -> str:
    """The interop site configuration with ``identity`` instead of its PSK identity."""
    rsc = ipsecd_site_rsc(topo, DEFAULTS, passive=passive)
    head, _, rest = rsc.partition("/ip ipsec identity add")
    _, _, tail = rest.partition("/ip ipsec proposal")
    return f"{head}/ip ipsec identity add peer=sswan {identity}\n/ip ipsec proposal{tail}{extra}"


def gateway(s: Setup, tmp_path: Path) -> Ipsecd:
    rsc = ipsecd_rsc(
        s.topo,
        "auth-method=eap-radius certificate=gw",
        passive=True,
        extra=f"/radius add service=ipsec address=127.0.0.1 secret={fr.SECRET} timeout=1s\n",
    )
    ipsecd = Ipsecd(s.topo.right, tmp_path, rsc)
    store = CertificateStore(ipsecd.dir / "certificates")
    store.import_file(VECTORS / "ca.crt", name="ca", trusted=True)
    store.import_file(VECTORS / "gw-rsa.crt", name="gw")
    store.import_file(VECTORS / "gw-rsa.key")
    return ipsecd.start()


def diagnostics(s: Setup, ipsecd: Ipsecd) -> str:
    return (
        f"--- ipsecd ---\n{ipsecd.log_text()[-6000:]}\n--- charon ---\n{s.charon.log_text()[-6000:]}"
        f"\n--- freeradius ---\n{s.radius.log.read_text()[-3000:]}"
    )


def sa_pair(ipsecd: Ipsecd) -> bool:
    return ipsecd.exec("/ip ipsec installed-sa print count-only").stdout.strip() == "2"


def test_strongswan_road_warrior_through_ipsecd_to_freeradius(setup: Setup, tmp_path: Path) -> None:
    s = setup
    s.charon.load(client_conf(s.topo, fr.USERS["alice"]))
    ipsecd = gateway(s, tmp_path)
    try:
        s.charon.initiate("net")
        wait_until("ipsecd to install the SA pair", lambda: sa_pair(ipsecd), 20)
        assert s.topo.left.ping(s.topo.right.lan, src=s.topo.left.lan, count=3) == (3, 3)
        sa = s.charon.list_sas()[0]
        assert sa["remote-id"] == GW_ID and sa["state"] == "ESTABLISHED"
        log = s.charon.log_text()
        assert "EAP method EAP_MSCHAPV2 succeeded, MSK established" in log
        assert f"authentication of '{GW_ID}' with RSA" in log
    except BaseException:
        print(diagnostics(s, ipsecd))
        raise
    finally:
        s.charon.terminate_all()
        ipsecd.stop()


def test_a_wrong_password_is_refused_and_explained(setup: Setup, tmp_path: Path) -> None:
    s = setup
    s.charon.load(client_conf(s.topo, "not-the-password"))
    ipsecd = gateway(s, tmp_path)
    try:
        with pytest.raises(RuntimeError):
            s.charon.initiate("net", timeout_ms=10000)
        wait_until("ipsecd's refusal", lambda: "authentication failed" in ipsecd.log_text())
        line = next(x for x in ipsecd.log_text().splitlines() if "authentication failed" in x)
        assert "EAP user alice: the RADIUS server rejected the client (Access-Reject" in line, line
        assert not sa_pair(ipsecd)
    except BaseException:
        print(diagnostics(s, ipsecd))
        raise
    finally:
        s.charon.terminate_all()
        ipsecd.stop()


def test_ipsecd_eap_client_to_a_strongswan_gateway(setup: Setup, tmp_path: Path) -> None:
    s = setup
    s.charon.load(gateway_conf(s.topo))
    rsc = ipsecd_rsc(
        s.topo,
        f"auth-method=eap eap-methods=eap-mschapv2 username=alice password={fr.USERS['alice']}"
        f" remote-id=fqdn:{GW_ID}",
        passive=False,
    )
    ipsecd = Ipsecd(s.topo.right, tmp_path, rsc)
    CertificateStore(ipsecd.dir / "certificates").import_file(VECTORS / "ca.crt", name="ca", trusted=True)
    ipsecd.start()
    try:
        wait_until("ipsecd to install the SA pair", lambda: sa_pair(ipsecd), 20)
        assert s.topo.left.ping(s.topo.right.lan, src=s.topo.left.lan, count=3) == (3, 3)
        log = s.charon.log_text()
        assert "EAP method EAP_MSCHAPV2 succeeded, MSK established" in log
        assert "authentication of '10." in log and "with EAP successful" in log
    except BaseException:
        print(diagnostics(s, ipsecd))
        raise
    finally:
        s.charon.terminate_all()
        ipsecd.stop()
