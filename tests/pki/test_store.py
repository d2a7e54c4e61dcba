"""The certificate store: import (PEM, DER, PKCS#12, keys after certificates, CRLs), print rows and
flags, add + sign, export, trust, remove, persistence with 0600 keys, and peer validation."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.pki.issue import Template
from ipsecd.pki.store import CertificateStore, StoreError, spki_sha1
from ipsecd.pki.verify import CertificateRefused, Refusal

from .conftest import NOW, VECTORS, cert


def _store(directory: Path | None = None) -> CertificateStore:
    return CertificateStore(directory, clock=lambda: NOW)


def _row(store: CertificateStore, name: str) -> dict[str, str]:
    return next(r for r in store.rows() if r["name"] == name)


def test_import_pem_then_its_key_attaches() -> None:
    s = _store()
    r = s.import_file(VECTORS / "ca.crt")
    assert r.certificates == ["ca.crt_0"] and r.keys == 0
    s.import_file(VECTORS / "gw-rsa.crt", name="gw")
    assert _row(s, "gw")["flags"] == ""
    s.import_file(VECTORS / "gw-rsa.key")  # pki writes PKCS#1 "RSA PRIVATE KEY"
    row = _row(s, "gw")
    assert row["flags"] == "K"
    assert row["common-name"] == "gw.example.com"
    assert row["subject-alt-name"] == "DNS:gw.example.com,IP:192.0.2.1"
    assert (row["key-type"], row["key-size"]) == ("rsa", "2048")
    assert row["key-usage"] == "tls-server,1.3.6.1.5.5.8.2.2"
    assert row["days-valid"] == "3652" and row["invalid-before"] == "2026-01-01 " + row["invalid-before"][11:]
    assert row["issuer"] == "CN=ipsecd test root CA,O=ipsecd test,C=CH"
    assert row["fingerprint"] == cert("gw-rsa").fingerprint(hashes.SHA256()).hex()
    assert _row(s, "ca.crt_0")["flags"] == "AT"
    assert "PRIVATE" not in repr(s.rows()) and "PRIVATE" not in repr(s.get("gw"))


def test_a_key_without_its_certificate_is_refused() -> None:
    with pytest.raises(StoreError, match="import its certificate first"):
        _store().import_file(VECTORS / "client.key")


def test_import_der_pkcs12_and_crl() -> None:
    s = _store()
    assert s.import_file(VECTORS / "gw-rsa.der").certificates == ["gw-rsa.der_0"]
    with pytest.raises(StoreError, match="wrong passphrase"):
        s.import_file(VECTORS / "gw-ecdsa.p12", passphrase="nope")
    r = s.import_file(VECTORS / "gw-ecdsa.p12", passphrase="test-passphrase", name="gw2")
    assert r.certificates == ["gw2", "gw2_1"] and r.keys == 1
    assert _row(s, "gw2")["flags"] == "K" and _row(s, "gw2_1")["flags"] == "AT"
    assert (_row(s, "gw2")["key-type"], _row(s, "gw2")["key-size"]) == ("ec", "prime256v1")
    s.import_file(VECTORS / "ca.crt", name="ca")
    s.import_file(VECTORS / "revoked.crt", name="revoked")
    assert s.import_file(VECTORS / "ca.crl").crls == 1
    assert _row(s, "revoked")["flags"] == "R"
    [crl_row] = s.crl_rows()
    assert crl_row["revoked"] == "1" and crl_row["next-update"].startswith("2028-01-01")
    again = s.import_file(VECTORS / "ca.crt")
    assert again.skipped == 1 and again.certificates == []
    with pytest.raises(StoreError, match="neither PEM, DER nor PKCS#12"):
        s.import_bytes(b"hello", "", "junk")
    with pytest.raises(StoreError, match="cannot read"):
        s.import_file(VECTORS / "missing.pem")


def test_expired_flag_and_trusted() -> None:
    s = _store()
    s.import_file(VECTORS / "expired.crt", name="old")
    assert _row(s, "old")["flags"] == "E"
    s.set_trusted("old", True)
    assert _row(s, "old")["flags"] == "ET" and _row(s, "old")["trusted"] == "yes"
    s.import_file(VECTORS / "intermediate.crt", name="im", trusted=False)
    assert _row(s, "im")["flags"] == "A"


def test_add_sign_export_and_remove(tmp_path: Path) -> None:
    s = _store(tmp_path / "certs")
    s.add(
        "ca",
        Template("ipsecd CA", key_type="ec", key_size="prime256v1", key_usage=("key-cert-sign", "crl-sign")),
    )
    assert _row(s, "ca")["flags"] == "" and _row(s, "ca")["common-name"] == "ipsecd CA"
    assert s.sign("ca") == []
    assert _row(s, "ca")["flags"] == "KAT"
    s.add("gw", Template("gw.example.com", ("DNS:gw.example.com",), "rsa", 2048, ("tls-server",)))
    assert s.sign("gw", ca="ca") == []
    assert _row(s, "gw")["flags"] == "KI" and _row(s, "gw")["ca"] == "ca"
    s.add("bare", Template("bare", key_type="ed25519", key_size=0))
    warnings = s.sign("bare", ca="ca")
    assert any("DNS:" in w for w in warnings)
    with pytest.raises(StoreError, match="already signed"):
        s.sign("gw")
    with pytest.raises(StoreError, match="already exists"):
        s.add("gw", Template("x"))
    # peer validation through the store, and what IKE asks of it
    gw_der = s.certificate("gw").public_bytes(serialization.Encoding.DER)
    assert s.validate_peer([gw_der]).anchor == s.certificate("ca")
    assert s.key_ids() == [spki_sha1(s.certificate("ca"))]
    assert s.chain("gw") == [s.certificate("gw")]
    # export: the key only with a passphrase
    files = s.export("gw")
    assert list(files) == ["gw.crt"]
    files = s.export("gw", passphrase="secret-pass")
    assert b"ENCRYPTED PRIVATE KEY" in files["gw.key"]
    key = serialization.load_pem_private_key(files["gw.key"], b"secret-pass")
    assert key.public_key() == s.certificate("gw").public_key()
    p12 = pkcs12.load_pkcs12(s.export("gw", "pkcs12", "secret-pass")["gw.p12"], b"secret-pass")
    assert p12.key is not None and p12.cert is not None
    assert pkcs12.load_pkcs12(s.export("gw", "pkcs12")["gw.p12"], None).key is None
    with pytest.raises(StoreError, match="at least 4"):
        s.export("gw", passphrase="x")
    with pytest.raises(StoreError, match="pem or pkcs12"):
        s.export("gw", "der")
    # remove is refused while an identity uses the certificate
    with pytest.raises(StoreError, match="used by identity gw-identity"):
        s.remove("gw", used_by=["gw-identity"])
    s.remove("bare")
    with pytest.raises(StoreError, match="no certificate named 'bare'"):
        s.get("bare")


def test_persistence_keeps_keys_private(tmp_path: Path) -> None:
    d = tmp_path / "certs"
    s = _store(d)
    s.import_file(VECTORS / "ca.crt", name="ca")
    s.import_file(VECTORS / "gw-rsa.crt", name="gw")
    s.import_file(VECTORS / "gw-rsa.key")
    s.import_file(VECTORS / "ca.crl")
    s.add("pending", Template("p", ("DNS:p.example",), key_usage=("tls-client",)))
    s.set_crl_use(True)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    keys = list(d.glob("*.key"))
    assert len(keys) == 1 and stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    again = _store(d)
    assert again.rows() == s.rows() and len(again.crls()) == 1 and again.crl_use
    assert again.private_key("gw").public_key() == cert("gw-rsa").public_key()
    again.remove("gw")
    assert list(d.glob("*.key")) == []


def test_validate_peer_uses_store_cas_crls_and_remote_certificate() -> None:
    s = _store()
    s.import_file(VECTORS / "ca.crt", name="ca")
    s.import_file(VECTORS / "intermediate.crt", name="im", trusted=False)
    s.import_file(VECTORS / "ca.crl")
    der = lambda n: cert(n).public_bytes(serialization.Encoding.DER)  # noqa: E731
    assert len(s.validate_peer([der("gw-ecdsa")]).certificates) == 3  # intermediate from the store
    with pytest.raises(CertificateRefused) as info:
        s.validate_peer([der("revoked")])
    assert info.value.kind is Refusal.REVOKED
    with pytest.raises(CertificateRefused, match="sent no certificate"):
        s.validate_peer([])
    s.import_file(VECTORS / "client.crt", name="alice")
    assert s.validate_peer([], remote_certificate="alice").leaf == cert("client")
    with pytest.raises(CertificateRefused, match="does not parse"):
        s.validate_peer([b"\x30\x00"])
    s.set_crl_use(True)
    with pytest.raises(CertificateRefused) as info:
        s.validate_peer([der("gw-ecdsa")])
    assert info.value.kind is Refusal.NO_CRL
    assert isinstance(s.anchors()[0], x509.Certificate)


def test_a_bundle_imports_whole_or_not_at_all(tmp_path: Path) -> None:
    s = _store()
    both = (VECTORS / "client.crt").read_bytes() + (VECTORS / "client.key").read_bytes()
    r = s.import_bytes(both, "", "bundle.pem")
    assert r.certificates == ["bundle.pem"] and r.keys == 1 and _row(s, "bundle.pem")["flags"] == "K"
    stray = (VECTORS / "gw-rsa.crt").read_bytes() + (VECTORS / "wrong-eku.key").read_bytes()
    with pytest.raises(StoreError, match="import its certificate first"):
        s.import_bytes(stray, "", "stray.pem")
    assert s.names() == ["bundle.pem"]


def test_encrypted_pem_keys_need_their_passphrase() -> None:
    source = _store()
    source.import_file(VECTORS / "gw-rsa.crt", name="gw")
    source.import_file(VECTORS / "gw-rsa.key")
    files = source.export("gw", passphrase="right-pass")
    s = _store()
    s.import_bytes(files["gw.crt"], "", "gw")
    with pytest.raises(StoreError, match="encrypted: give its passphrase"):
        s.import_bytes(files["gw.key"], "", "gw.key")
    with pytest.raises(StoreError, match="wrong passphrase"):
        s.import_bytes(files["gw.key"], "wrong-pass", "gw.key")
    s.import_bytes(files["gw.key"], "right-pass", "gw.key")
    assert _row(s, "gw")["flags"] == "K"


def test_validated_chains_are_remembered_until_something_changes() -> None:
    clock = [NOW]
    s = CertificateStore(None, clock=lambda: clock[0])
    s.import_file(VECTORS / "ca.crt", name="ca")
    der = cert("revoked").public_bytes(serialization.Encoding.DER)
    first = s.validate_peer([der])
    assert s.validate_peer([der]) is first  # remembered
    s.import_file(VECTORS / "ca.crl")  # a change forgets: the CRL now revokes it
    with pytest.raises(CertificateRefused) as info:
        s.validate_peer([der])
    assert info.value.kind is Refusal.REVOKED
    gw = cert("gw-rsa").public_bytes(serialization.Encoding.DER)
    s.validate_peer([gw])
    clock[0] = dt.datetime(2036, 6, 1, tzinfo=dt.UTC)  # past the certificate's end: checked again
    with pytest.raises(CertificateRefused) as info:
        s.validate_peer([gw])
    assert info.value.kind is Refusal.EXPIRED
    clock[0] = NOW
    s.set_crl_use(True)
    s.validate_peer([gw])
    clock[0] = dt.datetime(2028, 2, 1, tzinfo=dt.UTC)  # the CRL is outdated now
    with pytest.raises(CertificateRefused) as info:
        s.validate_peer([gw])
    assert info.value.kind is Refusal.NO_CRL


@settings(deadline=None, max_examples=100)
@given(st.integers(0, 2000), st.binary(min_size=1, max_size=3))
def test_a_damaged_peer_certificate_is_refused_not_a_crash(at: int, junk: bytes) -> None:
    s = _store()
    s.import_file(VECTORS / "ca.crt", name="ca")
    good = cert("gw-rsa").public_bytes(serialization.Encoding.DER)
    at %= len(good)
    try:
        s.validate_peer([good[:at] + junk + good[at + len(junk) :]])
    except CertificateRefused:
        pass
