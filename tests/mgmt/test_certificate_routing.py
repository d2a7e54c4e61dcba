"""``/certificate`` through the console's command layer (Session → Commands → the daemon's store):
add + sign, print, set trusted, crl and settings, export-certificate; and an identity whose
certificate= / remote-certificate= names no certificate is refused with one line (issue 12)."""

from __future__ import annotations

import os
from pathlib import Path

from ipsecd.mgmt import Session
from ipsecd.mgmt.client import Target
from ipsecd.mgmt.model import open_config
from ipsecd.pki.store import CertificateStore, store_directory


class Runtime:
    """The daemon's runtime as mgmt sees it: no live rows, the certificate store."""

    def __init__(self, store: CertificateStore | None) -> None:
        self.certificates = store

    def rows(self, menu: str) -> list[dict[str, object]]:
        return []

    def command(self, menu: str, name: str, args: dict[str, str]) -> str:
        return ""


def ok(s: Session, line: str) -> str:
    r = s.execute(line)
    assert r.rc == 0, (line, r.stderr)
    return r.stdout


def test_certificate_menu_is_routed(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path / "certificates")
    s = Session(open_config(None), Runtime(store))
    ok(s, "/certificate add name=ca common-name=ca key-usage=key-cert-sign,crl-sign")
    ok(s, "/certificate sign ca")
    ok(
        s,
        "/certificate add name=gw common-name=gw.example.com subject-alt-name=DNS:gw.example.com "
        "key-type=ec key-size=prime256v1",
    )
    ok(s, "/certificate sign gw ca=ca")
    ok(s, "/certificate set ca trusted=yes")
    table = ok(s, "/certificate print")
    # a column per flag in use (RouterOS 7): K, A, I, T
    assert "0 KA T ca " in table and "1 K I  gw    gw.example.com  DNS:gw.example.com" in table
    assert "BEGIN" not in ok(s, "/certificate print detail")  # never a key
    assert ok(s, "/certificate settings print") == "  crl-use: no\n"
    assert store.names() == ["ca", "gw"] and CertificateStore(tmp_path / "certificates").names() == [
        "ca",
        "gw",
    ]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        ok(s, "/certificate export-certificate gw type=pem")
    finally:
        os.chdir(cwd)
    exported = tmp_path / "gw.crt"
    assert exported.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert exported.stat().st_mode & 0o777 == 0o600 and not (tmp_path / "gw.key").exists()


def test_an_identity_naming_no_certificate_is_refused(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path / "certificates")
    s = Session(open_config(None), Runtime(store))
    ok(s, "/ip ipsec peer add name=p address=192.0.2.1/32 exchange-mode=ike2")
    r = s.execute("/ip ipsec identity add peer=p auth-method=digital-signature certificate=nope")
    assert r.rc == 1 and r.stderr.count("\n") == 1
    assert "certificate=nope: no such certificate; import it first (/certificate import)" in r.stderr
    assert s.execute("/ip ipsec identity print count-only").stdout == "0\n"
    ok(s, "/certificate add name=gw common-name=gw")
    ok(s, "/certificate sign gw")
    ok(s, "/ip ipsec identity add peer=p auth-method=digital-signature certificate=gw")
    r = s.execute("/certificate remove gw")
    assert r.rc == 1 and "identity" in r.stderr


def test_a_certificate_an_api_service_serves_is_not_removed(tmp_path: Path) -> None:
    """Issue 14: ``/certificate remove`` refuses what an ``/ip service`` serves, in one line naming
    the service; once the service serves another, the remove goes through."""
    store = CertificateStore(tmp_path / "certificates")
    s = Session(open_config(None), Runtime(store))
    ok(s, "/certificate add name=web common-name=web")
    ok(s, "/certificate sign web")
    ok(s, "/ip service set www-ssl certificate=web")
    r = s.execute("/certificate remove web")
    assert r.rc == 1 and r.stderr.count("\n") == 1
    assert "certificate 'web' is used by /ip service www-ssl: change that first" in r.stderr
    assert store.names() == ["web"]
    ok(s, "/ip service set www-ssl certificate=none")
    ok(s, "/certificate remove web")
    assert store.names() == []


def test_without_the_daemon_the_menu_says_so() -> None:
    r = Session(open_config(None), Runtime(None)).execute("/certificate print")
    assert r.rc == 1 and "the certificate store is the running daemon's" in r.stderr


def test_certificate_import_in_a_script_and_on_the_console(tmp_path: Path) -> None:
    """``/certificate import`` is the store's import, not a script import, in a configuration
    script (the daemon runs ``--config`` with its store) and on the console."""
    vectors = Path(__file__).resolve().parents[1] / "vectors" / "strongswan-pki"
    store = CertificateStore(tmp_path / "certificates")
    config = open_config(None)
    config.import_script(
        f"/certificate import file-name={vectors / 'ca.crt'} name=ca trusted=yes\n"
        f"/certificate import file-name={vectors / 'gw-rsa.crt'} name=gw\n"
        f"/certificate import file-name={vectors / 'gw-rsa.key'}\n"
        "/ip ipsec peer add name=p address=192.0.2.1/32 exchange-mode=ike2\n"
        "/ip ipsec identity add peer=p auth-method=digital-signature certificate=gw\n",
        "site.rsc",
        runtime=Runtime(store),
    )
    assert store.names() == ["ca", "gw"] and store.private_key("gw") is not None
    s = Session(config, Runtime(store))
    ok(s, f"/certificate import file-name={vectors / 'client.crt'} name=alice")
    assert "alice" in store.names()


def test_without_a_daemon_the_store_beside_the_database_answers(tmp_path: Path) -> None:
    """``ipsecd exec``/``console`` with no daemon listening run on the database, and ``/certificate``
    on the store the daemon loads from beside it; commands that need the daemon still say so."""
    db = str(tmp_path / "etc" / "config.db")
    target = Target(db, str(tmp_path / "no-daemon.sock"))
    for line in (
        "/certificate add name=ca common-name=ca key-usage=key-cert-sign,crl-sign",
        "/certificate sign ca",
        "/certificate add name=gw common-name=gw.example.com key-type=ec key-size=prime256v1",
        "/certificate sign gw ca=ca",
        "/ip ipsec peer add name=p address=192.0.2.1/32 exchange-mode=ike2",
        "/ip ipsec identity add peer=p auth-method=digital-signature certificate=gw",
    ):
        r = target.execute(line)
        assert r.rc == 0, (line, r.stderr)
    assert not target.remote
    assert "1 K I  gw    gw.example.com" in target.execute("/certificate print").stdout
    store = CertificateStore(store_directory(db))
    assert store.names() == ["ca", "gw"] and store.private_key("gw") is not None
    r = target.execute("/ip ipsec identity add peer=p auth-method=digital-signature certificate=nope")
    assert r.rc == 1 and "certificate=nope: no such certificate" in r.stderr
    r = target.execute("/ip ipsec active-peers kill-connections")
    assert r.rc == 1 and "needs the running daemon" in r.stderr
    # a fresh process (a new Target) sees the same store
    again = Target(db, str(tmp_path / "no-daemon.sock"))
    assert "gw.example.com" in again.execute("/certificate print").stdout
