"""Identities against certificates: my-id=auto, the binding rules, remote-id forms and
match-by=certificate, on strongSwan `pki` certificates and (hypothesis) on generated ones."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.pki.identity import Identity, IdentityError, auto_id, bound_to, check_remote_id, match_certificate
from ipsecd.wire.enums import IdType

from .conftest import build, cert, name

GW = cert("gw-rsa")  # SAN gw.example.com, 192.0.2.1; DN C=CH, O=ipsecd test, CN=gw.example.com


def test_parse_and_print_the_routeros_forms() -> None:
    assert Identity.parse("fqdn:gw.example.com") == Identity(IdType.ID_FQDN, b"gw.example.com")
    assert Identity.parse("user-fqdn:a@b.c") == Identity(IdType.ID_RFC822_ADDR, b"a@b.c")
    assert Identity.parse("address:192.0.2.1") == Identity(IdType.ID_IPV4_ADDR, bytes([192, 0, 2, 1]))
    assert Identity.parse("address:2001:db8::1").id_type is IdType.ID_IPV6_ADDR
    assert Identity.parse("key-id:0x0102") == Identity(IdType.ID_KEY_ID, b"\x01\x02")
    assert Identity.parse("key-id:abc") == Identity(IdType.ID_KEY_ID, b"abc")
    for text in ("fqdn:gw.example.com", "user-fqdn:a@b.c", "address:192.0.2.1", "address:2001:db8::1"):
        assert str(Identity.parse(text)) == text
    dn = Identity(IdType.ID_DER_ASN1_DN, GW.subject.public_bytes())
    assert str(dn) == "dn:CN=gw.example.com,O=ipsecd test,C=CH"
    assert bound_to(Identity.parse(str(dn)), GW)  # what str() writes, parse() reads back
    for bad in ("gw.example.com", "fqdn:", "address:not-an-ip", "dn:===", "key-id:0xzz", "ipv4:1.2.3.4"):
        with pytest.raises(IdentityError):
            Identity.parse(bad)


def test_dn_text_in_either_rdn_order() -> None:
    peer = Identity(IdType.ID_DER_ASN1_DN, GW.subject.public_bytes())
    for text in (
        "dn:C=CH, O=ipsecd test, CN=gw.example.com",
        "dn:CN=gw.example.com,O=ipsecd test,C=CH",
        "dn:cn=GW.example.com, o=ipsecd   TEST, c=ch",
    ):
        assert check_remote_id(text, peer, GW) is None, text
    assert check_remote_id("dn:CN=other,O=ipsecd test,C=CH", peer, GW) is not None


def test_auto_id_prefers_the_san_then_the_dn() -> None:
    assert auto_id(GW) == Identity(IdType.ID_FQDN, b"gw.example.com")
    assert auto_id(cert("client")) == Identity(IdType.ID_RFC822_ADDR, b"alice@example.com")
    nosan = cert("client-nosan")
    assert auto_id(nosan) == Identity(IdType.ID_DER_ASN1_DN, nosan.subject.public_bytes())


def test_binding_rules() -> None:
    assert bound_to(Identity.parse("fqdn:GW.Example.COM"), GW)
    assert bound_to(Identity.parse("fqdn:gw.example.com."), GW)
    assert bound_to(Identity.parse("address:192.0.2.1"), GW)
    assert not bound_to(Identity.parse("address:192.0.2.2"), GW)
    assert not bound_to(Identity.parse("address:::ffff:192.0.2.1"), GW)  # byte-equal, not "the same"
    assert bound_to(Identity.parse("user-fqdn:alice@EXAMPLE.com"), cert("client"))
    assert not bound_to(Identity.parse("user-fqdn:Alice@example.com"), cert("client"))  # local part exact
    # the CN never stands in for a missing SAN
    assert not bound_to(Identity.parse("fqdn:nosan.example.com"), cert("client-nosan"))
    assert not bound_to(Identity.parse("fqdn:gw.example.com"), cert("mismatch"))
    # key IDs: the SHA-1 of the public key (what strongSwan's pki writes as subjectKeyIdentifier)
    ski = x509.SubjectKeyIdentifier.from_public_key(GW.public_key()).digest  # type: ignore[arg-type]
    assert bound_to(Identity(IdType.ID_KEY_ID, ski), GW)
    assert not bound_to(Identity(IdType.ID_KEY_ID, b"x" * 20), GW)
    assert not bound_to(Identity(IdType.ID_DER_ASN1_DN, b"\x30\x03\x31"), GW)  # malformed DN


def test_remote_id_forms() -> None:
    peer = Identity.parse("fqdn:gw.example.com")
    assert check_remote_id("auto", peer, GW) is None
    assert check_remote_id("fqdn:GW.example.com", peer, GW) is None
    assert check_remote_id("ignore", Identity.parse("fqdn:anything"), GW) is None
    why = check_remote_id("fqdn:vpn.example.com", peer, GW)
    assert why == "peer's ID is fqdn:gw.example.com, remote-id expects fqdn:vpn.example.com"
    # auto still binds the ID to the certificate
    why = check_remote_id("auto", Identity.parse("fqdn:gw.example.com"), cert("mismatch"))
    assert (
        why
        == "peer's ID fqdn:gw.example.com is not in its certificate (subjectAltName DNS:other.example.com)"
    )
    assert check_remote_id("address:192.0.2.1", Identity.parse("address:192.0.2.1"), GW) is None
    assert check_remote_id("address:192.0.2.1", peer, GW) is not None


def test_match_by_certificate_is_exact() -> None:
    assert match_certificate(GW, cert("gw-rsa")) is None
    why = match_certificate(GW, cert("mismatch"))
    assert why is not None and "is not remote-certificate" in why


# -- hypothesis: generated certificates ------------------------------------------------------------

_KEY = ec.generate_private_key(ec.SECP256R1())
_label = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_fqdn = st.lists(_label, min_size=2, max_size=4).map(".".join)


def _with_sans(sans: list[x509.GeneralName]) -> x509.Certificate:
    return build(name("h"), sans=sans, signer=_KEY)


@settings(max_examples=40, deadline=None)
@given(_fqdn, _fqdn, st.booleans())
def test_fqdn_matches_exactly_its_dnsname_ignoring_case(san: str, other: str, upper: bool) -> None:
    c = _with_sans([x509.DNSName(san)])
    claimed = san.upper() if upper else san
    assert check_remote_id("auto", Identity.parse(f"fqdn:{claimed}"), c) is None
    assert check_remote_id(f"fqdn:{san}", Identity.parse(f"fqdn:{claimed}"), c) is None
    assert bound_to(Identity.parse(f"fqdn:{other}"), c) == (other.lower() == san.lower())
    assert auto_id(c) == Identity(IdType.ID_FQDN, san.encode())


@settings(max_examples=40, deadline=None)
@given(st.ip_addresses(), st.ip_addresses())
def test_addresses_match_byte_for_byte(
    san: ipaddress.IPv4Address | ipaddress.IPv6Address, other: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> None:
    c = _with_sans([x509.IPAddress(san)])
    assert bound_to(Identity.parse(f"address:{san}"), c)
    assert bound_to(Identity.parse(f"address:{other}"), c) == (other.packed == san.packed)
    assert str(auto_id(c)) == f"address:{san}"
