"""Name constraints: strongSwan pki's constrained CA (permitted example.com, excluded
bad.example.com), and generated certificates for addresses, mailboxes, DNs and other types."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ipsecd.pki import constraints
from ipsecd.pki.verify import CertificateRefused, Refusal, validate

from .conftest import NOW, build, cert, crl, name


def test_strongswan_constrained_ca() -> None:
    anchors, inter = [cert("ca")], [cert("nc-ca")]
    assert len(validate(cert("nc-inside"), inter, anchors, [crl()], NOW).certificates) == 3
    with pytest.raises(CertificateRefused) as info:
        validate(cert("nc-outside"), inter, anchors, [crl()], NOW)
    assert info.value.kind is Refusal.NAME_CONSTRAINTS
    assert (
        "DNSName vpn.example.org is outside the names CA CN=ipsecd test constrained CA" in info.value.reason
    )
    with pytest.raises(CertificateRefused, match=r"x\.bad\.example\.com is among the names CA .* excludes"):
        validate(cert("nc-excluded"), inter, anchors, [crl()], NOW)


_KEY = ec.generate_private_key(ec.SECP256R1())


def _leaf(sans: list[x509.GeneralName], org: str = "ipsecd test") -> x509.Certificate:
    return build(name("leaf", org), sans=sans, signer=_KEY)


def _ok(leaf: x509.Certificate, nc: x509.NameConstraints) -> bool:
    try:
        constraints.check(leaf, nc, "CA")
    except constraints.NameConstraintViolation:
        return False
    return True


def test_dns_subtrees() -> None:
    nc = x509.NameConstraints([x509.DNSName("example.com")], None)
    assert _ok(_leaf([x509.DNSName("example.com")]), nc)
    assert _ok(_leaf([x509.DNSName("A.Example.COM.")]), nc)
    assert not _ok(_leaf([x509.DNSName("badexample.com")]), nc)
    assert _ok(_leaf([x509.IPAddress(ipaddress.ip_address("10.0.0.1"))]), nc)  # other types unconstrained
    dotted = x509.NameConstraints([x509.DNSName(".example.com")], None)
    assert not _ok(_leaf([x509.DNSName("example.com")]), dotted)
    assert _ok(_leaf([x509.DNSName("a.example.com")]), dotted)


def test_address_subtrees() -> None:
    nc = x509.NameConstraints([x509.IPAddress(ipaddress.ip_network("198.51.100.0/24"))], None)
    assert _ok(_leaf([x509.IPAddress(ipaddress.ip_address("198.51.100.7"))]), nc)
    assert not _ok(_leaf([x509.IPAddress(ipaddress.ip_address("198.51.101.7"))]), nc)
    assert not _ok(_leaf([x509.IPAddress(ipaddress.ip_address("2001:db8::1"))]), nc)
    excluded = x509.NameConstraints(None, [x509.IPAddress(ipaddress.ip_network("2001:db8::/32"))])
    assert not _ok(_leaf([x509.IPAddress(ipaddress.ip_address("2001:db8::1"))]), excluded)


def test_mailbox_subtrees() -> None:
    for constraint, ok, bad in [
        ("example.com", "alice@Example.com", "alice@sub.example.com"),
        (".example.com", "alice@sub.example.com", "alice@example.com"),
        ("alice@example.com", "alice@example.com", "bob@example.com"),
    ]:
        nc = x509.NameConstraints([x509.RFC822Name(constraint)], None)
        assert _ok(_leaf([x509.RFC822Name(ok)]), nc), constraint
        assert not _ok(_leaf([x509.RFC822Name(bad)]), nc), constraint


def test_directory_name_subtrees() -> None:
    org = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "IPsecD  Test")])
    nc = x509.NameConstraints([x509.DirectoryName(org)], None)
    assert _ok(_leaf([]), nc)  # O=ipsecd test, CN=leaf lies under O=IPsecD Test
    assert not _ok(_leaf([], org="other"), nc)


def test_a_name_of_a_constrained_type_we_do_not_check_is_refused() -> None:
    nc = x509.NameConstraints([x509.UniformResourceIdentifier("https://example.com")], None)
    assert _ok(_leaf([x509.DNSName("a.example.com")]), nc)
    assert not _ok(_leaf([x509.UniformResourceIdentifier("https://example.com/x")]), nc)
