"""Certificates ipsecd makes itself, a certificate road warrior, and a revoked client, against
strongSwan 5.9 in namespaces (issue 12).

* ``/certificate add`` + ``sign`` in ipsecd's ``--config`` make a CA (RSA 2048), the gateway's
  certificate and a client's (ECDSA P-256); ``export-certificate`` hands charon the CA (PEM) and the
  client's key and certificate (PKCS#12 with a passphrase). charon, a road warrior with that
  certificate, validates the gateway's chain to ipsecd's CA, gets a virtual IP from ipsecd's
  mode-config pool, and pings the gateway's LAN from it.
* A client whose certificate the CA's CRL revokes (strongSwan ``pki`` vectors) is refused, with the
  one log line that says which CRL revoked it.

One topology and one charon for the module; ipsecd is started per test (its configuration differs).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipsecd.pki.store import CertificateStore
from tests.interop.scenarios import ipsecd_roadwarrior_rsc
from tests.interop.sswan import Charon, Ipsecd, Topology, wait_until
from tests.interop.test_ike_cert_sswan import charon_connection, explained, ipsecd_rsc

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "strongswan-pki"
P12_PASSPHRASE = "p12-passphrase-0123"

ISSUE = """\
/certificate add name=ca common-name="ipsecd RW CA" key-usage=key-cert-sign,crl-sign days-valid=30
/certificate sign ca
/certificate add name=gw common-name=gw.example.com subject-alt-name=DNS:gw.example.com \\
    key-usage=digital-signature,tls-server days-valid=30
/certificate sign gw ca=ca
/certificate add name=alice common-name=alice@example.com subject-alt-name=email:alice@example.com \\
    key-type=ec key-size=prime256v1 key-usage=digital-signature,tls-client days-valid=30
/certificate sign alice ca=ca
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Topology, Charon, Path]]:
    tmp = tmp_path_factory.mktemp("certrw")
    with Topology("ipcw") as topo:
        charon = Charon(topo.left, tmp, install_vip=True)
        for sub in ("x509ca", "x509", "ecdsa", "pkcs12"):
            (charon.swanctl_dir / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(VECTORS / "ca.crt", charon.swanctl_dir / "x509ca" / "ca.crt")
        shutil.copy(VECTORS / "revoked.crt", charon.swanctl_dir / "x509" / "revoked.crt")
        shutil.copy(VECTORS / "revoked.key", charon.swanctl_dir / "ecdsa" / "revoked.key")
        yield topo, charon.start(), tmp


def road_warrior_conf(topo: Topology) -> str:
    """charon asks for a virtual IP, authenticates with the PKCS#12 ipsecd exported (its certificate
    is found by the identity) and trusts the CA ipsecd made."""
    return f"""\
connections {{
    rw {{
        version = 2
        local_addrs = {topo.left.wan}
        remote_addrs = {topo.right.wan}
        proposals = aes256-sha256-ecp256
        vips = 0.0.0.0
        mobike = no
        rekey_time = 0
        local {{
            auth = pubkey
            id = alice@example.com
        }}
        remote {{
            auth = pubkey
            id = gw.example.com
        }}
        children {{
            rw {{
                local_ts = dynamic
                remote_ts = {topo.right.lan}/32
                esp_proposals = aes256-sha1
                rekey_time = 0
            }}
        }}
    }}
}}
secrets {{
    pkcs12-alice {{
        file = alice.p12
        secret = "{P12_PASSPHRASE}"
    }}
}}
"""


def test_road_warrior_with_certificates_ipsecd_issued(setup: tuple[Topology, Charon, Path]) -> None:
    topo, charon, tmp = setup
    rsc = ipsecd_roadwarrior_rsc(topo)
    head, _, rest = rsc.partition("/ip ipsec identity add")
    _, _, tail = rest.partition("policy-template-group=rw\n")
    rsc = (
        ISSUE + head + "/ip ipsec identity add peer=rw auth-method=digital-signature certificate=gw \\\n"
        "    remote-id=user-fqdn:alice@example.com mode-config=rw generate-policy=port-strict "
        "policy-template-group=rw\n" + tail
    )
    ipsecd = Ipsecd(topo.right, tmp / "rw", rsc).start()
    with explained(charon, ipsecd):
        out = tmp / "out"
        out.mkdir()
        ipsecd.exec(f"/certificate export-certificate ca file-name={out}/ipsecd-ca")
        ipsecd.exec(
            f"/certificate export-certificate alice type=pkcs12 export-passphrase={P12_PASSPHRASE} "
            f"file-name={out}/alice"
        )
        shutil.copy(out / "ipsecd-ca.crt", charon.swanctl_dir / "x509ca" / "ipsecd-ca.crt")
        shutil.copy(out / "alice.p12", charon.swanctl_dir / "pkcs12" / "alice.p12")
        charon.load(road_warrior_conf(topo))
        charon.initiate("rw")
        ike = charon.list_sas()[0]
        vips = ike.get("local-vips")
        assert isinstance(vips, list) and vips and vips[0].startswith("10.243.0."), ike
        assert ike["remote-id"] == "gw.example.com"
        assert topo.left.ping(topo.right.lan, src=vips[0], count=3) == (3, 3)
        # charon checked the gateway's certificate against the CA ipsecd made
        assert 'using trusted ca certificate "CN=ipsecd RW CA"' in charon.log_text()
        charon.terminate_all()


def gateway(topo: Topology, workdir: Path, rsc: str, *, crl: bool = False) -> Ipsecd:
    """ipsecd started with ``rsc`` and the gw-rsa certificate, the root CA (and its CRL) in its store."""
    ipsecd = Ipsecd(topo.right, workdir, rsc)
    store = CertificateStore(ipsecd.dir / "certificates")
    store.import_file(VECTORS / "ca.crt", name="ca", trusted=True)
    if crl:
        store.import_file(VECTORS / "ca.crl")
    store.import_file(VECTORS / "gw-rsa.crt", name="gw")
    store.import_file(VECTORS / "gw-rsa.key")
    return ipsecd.start()


def test_a_revoked_client_is_refused_and_explained(setup: tuple[Topology, Charon, Path]) -> None:
    topo, charon, tmp = setup
    charon.load(
        f"connections {{\n{charon_connection(topo, 'gw.example.com', 'revoked', 'revoked.crt')}}}\n".replace(
            "id = alice@example.com", "id = revoked.example.com"
        )
    )
    rsc = ipsecd_rsc(topo, passive=True, remote_id="fqdn:revoked.example.com")
    ipsecd = gateway(topo, tmp / "revoked", rsc, crl=True)
    with explained(charon, ipsecd):
        with pytest.raises(RuntimeError):
            charon.initiate("revoked", timeout_ms=8000)
        assert "received AUTHENTICATION_FAILED notify error" in charon.log_text()
        line = next(x for x in ipsecd.log_text().splitlines() if "certificate refused" in x)
        assert "certificate refused (revoked)" in line and "CN=revoked.example.com" in line
        assert "by the CRL of CN=ipsecd test root CA" in line
        assert ipsecd.exec("/ip ipsec installed-sa print count-only").stdout.strip() == "0"


def test_the_identity_is_picked_by_the_clients_certificate(setup: tuple[Topology, Charon, Path]) -> None:
    """Two digital-signature identities for the same peer: the first expects bob, the second alice.
    charon, alice, gets the second one (the first alone would refuse her), and traffic flows."""
    topo, charon, tmp = setup
    shutil.copy(VECTORS / "client.crt", charon.swanctl_dir / "x509" / "client.crt")
    shutil.copy(VECTORS / "client.key", charon.swanctl_dir / "ecdsa" / "client.key")
    charon.load(f"connections {{\n{charon_connection(topo, 'gw.example.com', 'multi')}}}\n")
    rsc = ipsecd_rsc(topo, passive=True, remote_id="user-fqdn:bob@example.com") + (
        "/ip ipsec identity add peer=sswan auth-method=digital-signature certificate=gw "
        "remote-id=user-fqdn:alice@example.com\n"
    )
    ipsecd = gateway(topo, tmp / "multi", rsc)
    with explained(charon, ipsecd):
        charon.initiate("multi")
        wait_until(
            "ipsecd to install the SA pair",
            lambda: ipsecd.exec("/ip ipsec installed-sa print count-only").stdout.strip() == "2",
        )
        assert topo.left.ping(topo.right.lan, src=topo.left.lan, count=3) == (3, 3)
        assert "certificate refused" not in ipsecd.log_text()
        charon.terminate_all()
