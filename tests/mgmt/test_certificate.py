"""The /certificate menu over the pki store: add + sign a CA and a gateway, print with flags,
import, export-certificate (0600, key only with a passphrase), set trusted, remove refused while an
identity uses it, crl print, and the refusals."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from ipsecd.mgmt import Config, Session
from ipsecd.mgmt.certificate import CERTIFICATE, CRL, CertificateMenu, users_of
from ipsecd.mgmt.commands import Call
from ipsecd.mgmt.errors import ConfigError, InvalidValue, NoSuchItem, ScriptSyntaxError, UnknownProperty
from ipsecd.mgmt.txn import Txn
from ipsecd.mgmt.views import render_detail, render_table
from ipsecd.pki.store import CertificateStore

from .conftest import run_ok

VECTORS = Path(__file__).parent.parent / "vectors" / "strongswan-pki"
NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def menu(tmp_path: Path) -> CertificateMenu:
    return CertificateMenu(CertificateStore(tmp_path / "store", clock=lambda: NOW), lambda name: [], tmp_path)


def _call(m: CertificateMenu, verb: str, *items: str, path: str = "/certificate", **args: str) -> str:
    out = m.call(Call(path, verb, tuple(items), {k.replace("_", "-"): v for k, v in args.items()}))
    if out.rows is not None:
        menu = CERTIFICATE if path == "/certificate" else CRL
        return render_table(menu, out.rows, list(menu.columns), False)
    return out.text


def test_add_sign_print(menu: CertificateMenu) -> None:
    _call(
        menu,
        "add",
        name="ca",
        common_name="ipsecd CA",
        key_type="ec",
        key_size="prime256v1",
        key_usage="key-cert-sign,crl-sign",
        days_valid="3650",
    )
    _call(
        menu,
        "add",
        name="gw",
        common_name="gw.example.com",
        subject_alt_name="DNS:gw.example.com,IP:192.0.2.1",
        key_usage="digital-signature,tls-server",
    )
    table = _call(menu, "print")
    assert "ipsecd CA" in table and "DNS:gw.example.com,IP:192.0.2.1" in table
    assert table.startswith("Columns:")  # RouterOS 7's table: no legend while no item has a flag
    assert _call(menu, "sign", "ca") == ""
    assert _call(menu, "sign", "gw", ca="ca") == ""
    # then only the flags in use, in capitals
    legend = "Flags: K - PRIVATE-KEY; A - AUTHORITY; I - ISSUED; T - TRUSTED\nColumns:"
    assert _call(menu, "print").startswith(legend)
    rows = menu.call(Call("/certificate", "print")).rows
    assert rows is not None
    assert [(r.values["name"], r.flags) for r in rows] == [("ca", "KAT"), ("gw", "KI")]
    gw = rows[1].values
    assert gw["key-type"] == "rsa" and gw["key-size"] == "2048" and gw["ca"] == "ca"
    assert gw["key-usage"] == "digital-signature,tls-server" and len(gw["fingerprint"]) == 64
    detail = render_detail(CERTIFICATE, rows, False, False)
    assert "serial-number=" in detail and "invalid-after=" in detail and "PRIVATE" not in detail
    # a server certificate without what Windows needs: the warning says so
    _call(menu, "add", name="bare", common_name="bare", key_type="ed25519", key_usage="tls-server")
    assert "warning: Windows clients need subject-alt-name=DNS:" in _call(menu, "sign", "bare", ca="ca")


def test_import_export_set_remove(tmp_path: Path) -> None:
    users = {"gw": ["identity *1 (peer=roadwarrior)"]}
    m = CertificateMenu(CertificateStore(None, clock=lambda: NOW), lambda n: users.get(n, []), tmp_path)
    out = _call(m, "import", file_name=str(VECTORS / "ca.crt"), name="ca")
    assert out.startswith("certificates-imported: 1\nprivate-keys-imported: 0\n")
    _call(m, "import", file_name=str(VECTORS / "gw-rsa.crt"), name="gw")
    assert "private-keys-imported: 1" in _call(m, "import", file_name=str(VECTORS / "gw-rsa.key"))
    _call(m, "import", file_name=str(VECTORS / "ca.crl"))
    assert "ipsecd test root CA" in _call(m, "print", path="/certificate crl")
    _call(m, "export-certificate", "gw")
    assert (tmp_path / "gw.crt").exists() and not (tmp_path / "gw.key").exists()
    _call(m, "export-certificate", "gw", type="pkcs12", export_passphrase="secret-pass", file_name="out")
    assert stat.S_IMODE((tmp_path / "out.p12").stat().st_mode) == 0o600
    _call(m, "export-certificate", "1", export_passphrase="secret-pass")
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "gw.key").read_bytes()
    _call(m, "set", "ca", trusted="no")
    rows = m.call(Call("/certificate", "print")).rows
    assert rows is not None and rows[0].flags == "A"
    with pytest.raises(ConfigError, match=r"used by identity \*1 \(peer=roadwarrior\)"):
        _call(m, "remove", "gw")
    _call(m, "remove", "*1")
    assert [r.values["name"] for r in m.call(Call("/certificate", "print")).rows or []] == ["gw"]


def test_refusals(menu: CertificateMenu) -> None:
    with pytest.raises(ScriptSyntaxError):
        _call(menu, "generate-key")
    with pytest.raises(UnknownProperty, match="unknown argument colour"):
        _call(menu, "add", name="x", common_name="x", colour="red")
    with pytest.raises(InvalidValue, match="key-size=1024"):
        _call(menu, "add", name="x", common_name="x", key_size="1024")
    with pytest.raises(InvalidValue, match="common-name is required"):
        _call(menu, "add", name="x")
    with pytest.raises(InvalidValue, match="URI:x"):
        _call(menu, "add", name="x", common_name="x", subject_alt_name="URI:x")
    with pytest.raises(NoSuchItem):
        _call(menu, "sign", "nope")
    _call(menu, "add", name="x", common_name="x")
    with pytest.raises(ConfigError, match="no certificate named 'ca'"):
        _call(menu, "sign", "x", ca="ca")
    with pytest.raises(ConfigError, match="cannot read"):
        _call(menu, "import", file_name="/nonexistent.pem")
    with pytest.raises(ConfigError, match="wrong passphrase"):
        _call(menu, "import", file_name=str(VECTORS / "gw-ecdsa.p12"), passphrase="nope")
    with pytest.raises(InvalidValue, match="only trusted"):
        _call(menu, "set", "x")


def test_users_of_reads_the_identity_and_service_menus(config: Config) -> None:
    s = Session(config)
    run_ok(s, "/ip ipsec peer add name=rw address=192.0.2.9")
    run_ok(s, "/ip ipsec identity add peer=rw auth-method=digital-signature remote-certificate=gw")
    txn = Txn(config.state, config.next_num)
    [identity] = txn.items("/ip ipsec identity")
    assert users_of(txn)("gw") == [f"identity {identity.id} (peer=rw)"]
    assert users_of(txn)("ca") == []
    # issue 14: a TLS service serving it counts too
    run_ok(s, "/ip service set www-ssl certificate=ca")
    txn = Txn(config.state, config.next_num)
    assert users_of(txn)("ca") == ["/ip service www-ssl"]


def test_settings_crl_use(menu: CertificateMenu) -> None:
    assert menu.call(Call("/certificate settings", "print")).values == {"crl-use": "no"}
    menu.call(Call("/certificate settings", "set", (), {"crl-use": "yes"}))
    assert menu.store.crl_use
    assert menu.call(Call("/certificate settings", "print")).values == {"crl-use": "yes"}
    with pytest.raises(UnknownProperty):
        menu.call(Call("/certificate settings", "set", (), {"crl-download": "yes"}))
    with pytest.raises(InvalidValue):
        menu.call(Call("/certificate settings", "set", (), {"crl-use": "maybe"}))
