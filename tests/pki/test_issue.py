"""Certificates made inside ipsecd (/certificate add + sign): every key type, CA and server
templates, the chain validates, OpenSSL agrees, and the Windows warnings."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from ipsecd.pki import issue
from ipsecd.pki.issue import IssueError, Template
from ipsecd.pki.verify import validate

from .conftest import NOW, VECTORS


@pytest.fixture(scope="module")
def ca() -> tuple[x509.Certificate, issue.PrivateKey]:
    key = issue.generate_key("ec", "prime256v1")
    t = Template("ipsecd CA", key_type="ec", key_size="prime256v1", key_usage=("key-cert-sign", "crl-sign"))
    return issue.issue(t, key, NOW, 1), key


@pytest.mark.parametrize(
    ("key_type", "key_size"),
    [("rsa", 2048), ("ec", "prime256v1"), ("ec", "secp384r1"), ("ed25519", 0)],
)
def test_server_certificates_of_every_key_type_validate(
    ca: tuple[x509.Certificate, issue.PrivateKey], key_type: str, key_size: int | str
) -> None:
    t = Template(
        "gw.example.com", ("DNS:gw.example.com", "IP:192.0.2.1"), key_type, key_size, ("tls-server",)
    )
    key = issue.generate_key(key_type, key_size)
    cert = issue.issue(t, key, NOW, 2, ca)
    chain = validate(cert, [], [ca[0]], [], NOW)
    assert chain.anchor == ca[0]
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    assert issue.gateway_warnings(cert) == []


def test_the_ca_is_a_ca_and_self_signed(ca: tuple[x509.Certificate, issue.PrivateKey]) -> None:
    cert = ca[0]
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    cert.verify_directly_issued_by(cert)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_verifies_our_chain(tmp_path: Path, ca: tuple[x509.Certificate, issue.PrivateKey]) -> None:
    t = Template("gw.example.com", ("DNS:gw.example.com",), "rsa", 2048, ("digital-signature", "tls-server"))
    cert = issue.issue(t, issue.generate_key("rsa", 2048), NOW, 3, ca)
    (tmp_path / "ca.pem").write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "gw.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    done = subprocess.run(
        [
            "openssl",
            "verify",
            "-attime",
            str(int(NOW.timestamp())),
            "-purpose",
            "sslserver",
            "-CAfile",
            "ca.pem",
            "gw.pem",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_windows_warnings_say_what_is_missing(ca: tuple[x509.Certificate, issue.PrivateKey]) -> None:
    key = issue.generate_key("ec", "prime256v1")
    bare = issue.issue(
        Template("gw", key_type="ec", key_size="prime256v1", key_usage=("tls-client",)), key, NOW, 4, ca
    )
    warnings = issue.gateway_warnings(bare)
    assert len(warnings) == 2 and "serverAuth" in warnings[0] and "DNS:" in warnings[1]


def test_bad_templates_are_refused(ca: tuple[x509.Certificate, issue.PrivateKey]) -> None:
    with pytest.raises(IssueError, match="RSA keys are 2048 or 4096"):
        issue.generate_key("rsa", 1024)
    with pytest.raises(IssueError, match="prime256v1 or secp384r1"):
        issue.generate_key("ec", "secp521r1")
    with pytest.raises(IssueError, match="key-type=dsa"):
        issue.generate_key("dsa", 2048)
    key = issue.generate_key("ed25519", 0)
    with pytest.raises(IssueError, match="unknown value"):
        issue.issue(Template("x", key_usage=("teleport",)), key, NOW, 5)
    with pytest.raises(IssueError, match="days-valid"):
        issue.issue(Template("x", days_valid=0), key, NOW, 5)
    with pytest.raises(IssueError, match="DNS:, IP: or email:"):
        issue.issue(Template("x", ("URI:x",)), key, NOW, 5)
    with pytest.raises(IssueError, match="not an IP"):
        issue.issue(Template("x", ("IP:x",)), key, NOW, 5)
    with pytest.raises(IssueError, match="common-name"):
        issue.issue(Template(""), key, NOW, 5)
    leaf = issue.issue(Template("leaf"), key, NOW, 6, ca)
    with pytest.raises(IssueError, match="is not a CA"):
        issue.issue(Template("below"), issue.generate_key("ed25519", 0), NOW, 7, (leaf, key))


@pytest.mark.skipif(
    shutil.which("pki") is None, reason="strongSwan's pki tool not installed (strongswan-pki)"
)
@pytest.mark.parametrize(
    ("ca_type", "ca_size", "leaf_type", "leaf_size"),
    [("rsa", 2048, "ec", "prime256v1"), ("ec", "secp384r1", "rsa", 2048), ("ed25519", 0, "ed25519", 0)],
)
def test_strongswan_pki_verifies_our_certificates(
    tmp_path: Path, ca_type: str, ca_size: int | str, leaf_type: str, leaf_size: int | str
) -> None:
    now = dt.datetime.now(dt.UTC)  # pki checks validity at the real time
    ca_key = issue.generate_key(ca_type, ca_size)
    ca_cert = issue.issue(
        Template("ipsecd CA", key_type=ca_type, key_size=ca_size, key_usage=("key-cert-sign", "crl-sign")),
        ca_key,
        now,
        1,
    )
    t = Template("gw.example.com", ("DNS:gw.example.com",), leaf_type, leaf_size, ("tls-server",))
    leaf = issue.issue(t, issue.generate_key(leaf_type, leaf_size), now, 2, (ca_cert, ca_key))
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "gw.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "other.pem").write_bytes((VECTORS / "ca.crt").read_bytes())

    def pki_verify(cacert: str) -> subprocess.CompletedProcess[str]:
        cmd = ["pki", "--verify", "--in", "gw.pem", "--cacert", cacert]
        return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)

    ok = pki_verify("ca.pem")
    assert ok.returncode == 0 and "certificate trusted" in ok.stdout, ok.stdout + ok.stderr
    assert pki_verify("other.pem").returncode != 0
