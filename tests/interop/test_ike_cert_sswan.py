"""auth-method=digital-signature against strongSwan 5.9 in namespaces, with traffic (issue 12).

Certificates are strongSwan ``pki``'s (tests/vectors/strongswan-pki): charon (left) is
``alice@example.com`` (ECDSA P-256, by the root CA), ipsecd (right) a gateway — ``gw-rsa``
(RSA 2048, by the root, SAN gw.example.com) or ``gw-ecdsa`` (P-256, by an intermediate CA, SAN
gw2.example.com). ipsecd's store (``certificates`` beside its database) is filled before it starts;
its identity checks ``remote-id`` against the client certificate's SAN. Each side initiates; RFC 7427
and (charon's ``signature_authentication = no``) the classic methods; a remote-id mismatch is
refused with the one explaining log line.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipsecd.pki.store import CertificateStore
from tests.interop.scenarios import DEFAULTS, ipsecd_site_rsc
from tests.interop.sswan import Charon, Ipsecd, Topology, wait_until

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "strongswan-pki"
GATEWAYS = {"gw-rsa": "gw.example.com", "gw-ecdsa": "gw2.example.com"}


def charon_conf(topo: Topology, gw_id: str) -> str:
    return f"connections {{\n{charon_connection(topo, gw_id)}}}\n"


def charon_connection(
    topo: Topology, gw_id: str, name: str = "net", cert: str = "client.crt", extra: str = ""
) -> str:
    """One swanctl connection (and its CHILD_SA) named ``name``, authenticating with ``cert``."""
    left, right = topo.left, topo.right
    return f"""\
    {name} {{
        version = 2
        local_addrs = {left.wan}
        remote_addrs = {right.wan}
        rekey_time = 0
        mobike = no
{extra}        local {{
            auth = pubkey
            certs = {cert}
            id = alice@example.com
        }}
        remote {{
            auth = pubkey
            id = {gw_id}
        }}
        children {{
            {name} {{
                mode = tunnel
                local_ts = {left.lan}/32
                remote_ts = {right.lan}/32
                rekey_time = 0
                dpd_action = clear
            }}
        }}
    }}
"""


def ipsecd_rsc(topo: Topology, *, passive: bool, remote_id: str) -> str:
    """The site configuration, its PSK identity replaced by a RouterOS digital-signature one."""
    rsc = ipsecd_site_rsc(topo, DEFAULTS, passive=passive)
    head, _, rest = rsc.partition("/ip ipsec identity add")
    _, _, tail = rest.partition("/ip ipsec proposal")
    return (f"{head}/ip ipsec identity add peer=sswan auth-method=digital-signature certificate=gw \\\n"
            f"    remote-id={remote_id}\n/ip ipsec proposal{tail}")


def start(topo: Topology, tmp_path: Path, gw: str, *, passive: bool, classic: bool = False,
          remote_id: str = "user-fqdn:alice@example.com", prefill: bool = True) -> tuple[Charon, Ipsecd]:
    """charon with its certificate and ipsecd whose store was filled through the store's API (not
    started when ``prefill`` is false: the test configures it itself)."""
    charon = Charon(topo.left, tmp_path, extra="    signature_authentication = no\n" if classic else "")
    for sub in ("x509ca", "x509", "ecdsa"):
        (charon.swanctl_dir / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(VECTORS / "ca.crt", charon.swanctl_dir / "x509ca" / "ca.crt")
    shutil.copy(VECTORS / "client.crt", charon.swanctl_dir / "x509" / "client.crt")
    shutil.copy(VECTORS / "client.key", charon.swanctl_dir / "ecdsa" / "client.key")
    charon.start()
    charon.load(charon_conf(topo, GATEWAYS[gw]))
    ipsecd = Ipsecd(topo.right, tmp_path, ipsecd_rsc(topo, passive=passive, remote_id=remote_id))
    if not prefill:
        return charon, ipsecd
    fill_store(ipsecd, gw)
    return charon, ipsecd.start()


def fill_store(ipsecd: Ipsecd, gw: str) -> None:
    """ipsecd's certificate store before it starts: the root CA (trusted), the intermediate for
    ``gw-ecdsa``, and the gateway's certificate (named ``gw``) with its key."""
    store = CertificateStore(ipsecd.dir / "certificates")
    store.import_file(VECTORS / "ca.crt", name="ca", trusted=True)
    if gw == "gw-ecdsa":
        store.import_file(VECTORS / "intermediate.crt", name="intermediate", trusted=False)
    store.import_file(VECTORS / f"{gw}.crt", name="gw")
    store.import_file(VECTORS / f"{gw}.key")


def diagnostics(charon: Charon, ipsecd: Ipsecd) -> str:
    return f"--- ipsecd ---\n{ipsecd.log_text()[-5000:]}\n--- charon ---\n{charon.log_text()[-5000:]}"


@contextlib.contextmanager
def explained(charon: Charon, ipsecd: Ipsecd) -> Iterator[None]:
    """Both logs printed when the block fails; ipsecd stopped after it either way."""
    try:
        yield
    except BaseException:
        print(diagnostics(charon, ipsecd))
        raise
    finally:
        ipsecd.stop()


@pytest.mark.parametrize(
    ("gw", "initiator", "classic"),
    [
        ("gw-rsa", "strongswan", False),
        ("gw-rsa", "ipsecd", False),
        ("gw-ecdsa", "strongswan", False),
        ("gw-ecdsa", "ipsecd", True),
        ("gw-rsa", "strongswan", True),
    ],
)
def test_certificates_with_traffic(tmp_path: Path, gw: str, initiator: str, classic: bool) -> None:
    with Topology("ipdc") as topo:
        charon, ipsecd = start(topo, tmp_path, gw, passive=initiator == "strongswan", classic=classic)
        try:
            if initiator == "strongswan":
                charon.initiate("net")
            else:
                wait_until("charon to see a CHILD_SA", lambda: bool(charon.child_sas()), 20)
            wait_until("ipsecd to install the SA pair", lambda: ipsecd.exec(
                "/ip ipsec installed-sa print count-only").stdout.strip() == "2")
            assert topo.left.ping(topo.right.lan, src=topo.left.lan, count=3) == (3, 3)
            sa = charon.list_sas()[0]
            assert sa["remote-id"] == GATEWAYS[gw] and sa["local-id"] == "alice@example.com"
            # charon names the scheme it verified ours with: RFC 7427's (RSA_EMSA_PKCS1_SHA2_256,
            # ECDSA_WITH_SHA256_DER) or a classic method's ("RSA signature", "ECDSA-256 signature")
            line = next(
                x for x in charon.log_text().splitlines() if f"authentication of '{GATEWAYS[gw]}'" in x
            )
            assert line.endswith("successful") and ("signature successful" in line) == classic, line
        except BaseException:
            print(diagnostics(charon, ipsecd))
            raise


def test_a_remote_id_mismatch_is_refused_and_explained(tmp_path: Path) -> None:
    with Topology("ipdc") as topo:
        charon, ipsecd = start(topo, tmp_path, "gw-rsa", passive=True, remote_id="user-fqdn:bob@example.com")
        try:
            with pytest.raises(RuntimeError):
                charon.initiate("net", timeout_ms=8000)
            wait_until("ipsecd's refusal", lambda: "certificate refused (id-mismatch)" in ipsecd.log_text())
            line = next(x for x in ipsecd.log_text().splitlines() if "certificate refused" in x)
            assert (
                "peer's ID is user-fqdn:alice@example.com, remote-id expects user-fqdn:bob@example.com"
                in line
            )
            assert "change the identity's remote-id=" in line
        except BaseException:
            print(diagnostics(charon, ipsecd))
            raise


def test_a_routeros_shaped_configuration(tmp_path: Path) -> None:
    """The whole set-up as a RouterOS user writes it: ``/certificate import`` of the CA, the
    gateway certificate and its key, then ``/ip ipsec identity add auth-method=digital-signature
    certificate=gw``; strongSwan initiates, traffic flows, ``/certificate print`` shows the store."""
    with Topology("ipdc") as topo:
        charon, _ = start(topo, tmp_path, "gw-rsa", passive=True, prefill=False)
        certs = "".join(
            f"/certificate import file-name={VECTORS / f} {extra}\n"
            for f, extra in (("ca.crt", "name=ca trusted=yes"), ("gw-rsa.crt", "name=gw"), ("gw-rsa.key", ""))
        )
        ipsecd = Ipsecd(
            topo.right,
            tmp_path / "ros",
            certs + ipsecd_rsc(topo, passive=True, remote_id="user-fqdn:alice@example.com"),
        ).start()
        try:
            charon.initiate("net")
            # charon is up when our response arrives; our SA pair is installed just after we sent it
            wait_until("ipsecd to install the SA pair", lambda: ipsecd.exec(
                "/ip ipsec installed-sa print count-only").stdout.strip() == "2")
            assert topo.left.ping(topo.right.lan, src=topo.left.lan, count=3) == (3, 3)
            table = ipsecd.exec("/certificate print").stdout
            # ipsecd exec against the daemon's store: row 0 is the CA, flags A and T (one column per group)
            rows = {line.split()[0]: line.split() for line in table.splitlines() if line[:1].isdigit()}
            assert "".join(rows["0"][1 : rows["0"].index("ca")]) == "AT", table
            assert "ipsecd test root CA" in table
            assert rows["1"][1:5] == ["K", "gw", "gw.example.com", "DNS:gw.example.com,IP:192.0.2.1"], table
            stat = (ipsecd.dir / "certificates").stat()
            assert stat.st_mode & 0o777 == 0o700
        except BaseException:
            print(diagnostics(charon, ipsecd))
            raise
