"""IKEv1 auth-method=digital-signature against strongSwan 5.9 (``version = 1``, ``auth = pubkey``) in
namespaces, with traffic through the tunnel (issues 10 and 12).

IKEv1 signs with the key's own method (RSA_SIG 3, ECDSA_256 9), which both ends must share: an
ECDSA pair (charon ``alice@example.com``, ipsecd ``gw-ecdsa`` below the intermediate CA, which
ipsecd sends in a CERT payload) with charon initiating, and an RSA pair (charon ``client-pss``,
``bob.example.com``; ipsecd ``gw-rsa``) with ipsecd initiating, and aggressive mode (ECDSA, ipsecd
initiating). The certificates are tests/vectors/strongswan-pki's; each side's ID is its
certificate's subjectAltName.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.interop.scenarios import DEFAULTS
from tests.interop.sswan import Charon, Ipsecd, Topology, wait_until
from tests.interop.test_ike_cert_sswan import (
    GATEWAYS,
    VECTORS,
    charon_connection,
    diagnostics,
    fill_store,
    ipsecd_rsc,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

CLIENTS = {"client": ("alice@example.com", "ecdsa"), "client-pss": ("bob.example.com", "rsa")}


@pytest.mark.parametrize(
    ("gw", "client", "initiator", "mode"),
    [
        ("gw-ecdsa", "client", "strongswan", "main"),
        ("gw-rsa", "client-pss", "ipsecd", "main"),
        ("gw-ecdsa", "client", "ipsecd", "aggressive"),
    ],
)
def test_ikev1_certificates_with_traffic(
    tmp_path: Path, gw: str, client: str, initiator: str, mode: str
) -> None:
    client_id, key_dir = CLIENTS[client]
    with Topology("iv1c") as topo:
        charon = Charon(topo.left, tmp_path, loglevel=2)
        for sub in ("x509ca", "x509", key_dir):
            (charon.swanctl_dir / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(VECTORS / "ca.crt", charon.swanctl_dir / "x509ca" / "ca.crt")
        shutil.copy(VECTORS / f"{client}.crt", charon.swanctl_dir / "x509" / f"{client}.crt")
        shutil.copy(VECTORS / f"{client}.key", charon.swanctl_dir / key_dir / f"{client}.key")
        charon.start()
        extra = f"        proposals = {DEFAULTS.ike}\n"  # IKEv1's defaults are not the profile's
        conn = charon_connection(topo, GATEWAYS[gw], cert=f"{client}.crt", extra=extra)
        aggressive = f"version = 1\n        aggressive = {'yes' if mode == 'aggressive' else 'no'}"
        conn = conn.replace("version = 2", aggressive).replace("        mobike = no\n", "")
        conn = conn.replace(
            "mode = tunnel\n", f"mode = tunnel\n                esp_proposals = {DEFAULTS.esp}\n"
        )
        charon.load(f"connections {{\n{conn.replace('alice@example.com', client_id)}}}\n")
        remote_id = f"{'user-fqdn' if '@' in client_id else 'fqdn'}:{client_id}"
        rsc = ipsecd_rsc(topo, passive=initiator == "strongswan", remote_id=remote_id)
        ipsecd = Ipsecd(topo.right, tmp_path, rsc.replace("exchange-mode=ike2", f"exchange-mode={mode}"))
        fill_store(ipsecd, gw)
        ipsecd.start()
        try:
            if initiator == "strongswan":
                charon.initiate("net")
            else:
                wait_until("charon to see a CHILD_SA", lambda: bool(charon.child_sas()), 20)
            wait_until(
                "ipsecd to install the SA pair",
                lambda: ipsecd.exec("/ip ipsec installed-sa print count-only").stdout.strip() == "2",
            )
            assert topo.left.ping(topo.right.lan, src=topo.left.lan, count=3) == (3, 3)
            (sa,) = charon.list_sas()
            assert sa["version"] == "1" and sa["state"] == "ESTABLISHED"
            assert sa["remote-id"] == GATEWAYS[gw] and sa["local-id"] == client_id
            # charon verified our SIG with the gateway certificate's key
            line = next(
                x for x in charon.log_text().splitlines() if f"authentication of '{GATEWAYS[gw]}'" in x
            )
            assert line.endswith("successful"), line
        except BaseException:
            print(diagnostics(charon, ipsecd))
            raise
        finally:
            ipsecd.stop()
