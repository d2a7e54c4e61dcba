"""Chain validation against strongSwan `pki` certificates: good chains of every key type, and every
refusal with the reason an operator reads."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from ipsecd.pki.verify import CertificateRefused, Refusal, ValidationPolicy, validate

from .conftest import NOW, build, cert, crl, name


def _check(leaf: str, inter: list[str], anchors: list[str], **kw: object) -> list[str]:
    chain = validate(
        cert(leaf),
        [cert(n) for n in inter],
        [cert(n) for n in anchors],
        kw.get("crls", [crl()]),  # type: ignore[arg-type]
        kw.get("now", NOW),  # type: ignore[arg-type]
        kw.get("policy", ValidationPolicy()),  # type: ignore[arg-type]
    )
    return [c.subject.rfc4514_string() for c in chain.certificates]


def _refused(leaf: str, inter: list[str], anchors: list[str], **kw: object) -> CertificateRefused:
    with pytest.raises(CertificateRefused) as info:
        _check(leaf, inter, anchors, **kw)
    return info.value


@pytest.mark.parametrize(
    ("leaf", "inter", "anchor", "length"),
    [
        ("gw-rsa", [], "ca", 2),
        ("gw-ecdsa", ["intermediate"], "ca", 3),
        ("client", [], "ca", 2),
        ("client-pss", [], "ca", 2),  # RSASSA-PSS signature
        ("client-nosan", [], "ca", 2),
        ("ed-client", [], "ed-ca", 2),  # Ed25519, which cryptography's web-PKI verifier refuses
    ],
)
def test_good_chains(leaf: str, inter: list[str], anchor: str, length: int) -> None:
    path = _check(leaf, inter, [anchor, "ed-ca"] if anchor == "ca" else [anchor, "ca"])
    assert len(path) == length and path[0] == cert(leaf).subject.rfc4514_string()


def test_an_anchor_validates_alone_and_order_of_intermediates_does_not_matter() -> None:
    assert len(_check("gw-rsa", [], ["gw-rsa"])) == 1
    assert len(_check("gw-ecdsa", ["client", "rogue-ca", "intermediate"], ["ca"])) == 3


def test_missing_intermediate_names_the_ca_the_chain_wants() -> None:
    e = _refused("gw-ecdsa", [], ["ca"])
    assert e.kind is Refusal.UNKNOWN_CA
    assert "names issuer CN=ipsecd test intermediate CA,O=ipsecd test,C=CH" in e.reason


def test_wrong_ca_with_the_same_dn_is_unknown() -> None:
    e = _refused("rogue", [], ["ca"])
    assert e.kind is Refusal.UNKNOWN_CA and "not issued by a trusted CA" in e.reason


def test_expired_and_not_yet_valid_say_when() -> None:
    e = _refused("expired", [], ["ca"])
    assert e.kind is Refusal.EXPIRED and "expired on 2021-01-01" in e.reason
    e = _refused("gw-rsa", [], ["ca"], now=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert e.kind is Refusal.NOT_YET_VALID and "not valid before" in e.reason
    e = _refused("gw-rsa", [], ["ca"], now=dt.datetime(2037, 1, 1, tzinfo=dt.UTC))
    assert e.kind is Refusal.EXPIRED


def test_revoked_names_the_crl() -> None:
    e = _refused("revoked", [], ["ca"])
    assert e.kind is Refusal.REVOKED
    assert "revoked on 2026-" in e.reason and "by the CRL of CN=ipsecd test root CA" in e.reason
    # without the CRL it passes (crl-use=no)
    assert _check("revoked", [], ["ca"], crls=[])


def test_crl_use_requires_a_current_crl_of_every_issuer() -> None:
    strict = ValidationPolicy(crl_use=True)
    assert _check("gw-rsa", [], ["ca"], policy=strict)
    e = _refused("gw-rsa", [], ["ca"], crls=[], policy=strict)
    assert e.kind is Refusal.NO_CRL and "no CRL of CA CN=ipsecd test root CA" in e.reason
    e = _refused("gw-rsa", [], ["ca"], policy=strict, now=dt.datetime(2028, 6, 1, tzinfo=dt.UTC))
    assert e.kind is Refusal.NO_CRL and "outdated CRL" in e.reason
    # the intermediate has no CRL at all
    e = _refused("gw-ecdsa", ["intermediate"], ["ca"], policy=strict)
    assert "CA CN=ipsecd test intermediate CA" in e.reason


def test_a_crl_signed_by_someone_else_is_ignored() -> None:
    forged = crl()
    # the rogue CA has the root's DN: its certificates must not be judged by the root's CRL and vice versa
    assert _check("rogue", [], ["rogue-ca"], crls=[forged])


def test_wrong_eku() -> None:
    e = _refused("wrong-eku", [], ["ca"])
    assert e.kind is Refusal.KEY_USAGE and "not for IKE" in e.reason and "OCSPSigning" in e.reason


def test_ca_flag_missing() -> None:
    e = _refused("under-not-ca", ["not-ca"], ["ca"])
    assert e.kind is Refusal.NOT_A_CA and "CN=not-a-ca" in e.reason


def test_path_length() -> None:
    e = _refused("too-deep", ["intermediate", "sub-intermediate"], ["ca"])
    assert e.kind is Refusal.PATH_LENGTH and "allows 0 intermediate CA(s)" in e.reason


def test_unknown_critical_extension_is_refused() -> None:
    odd = build(
        name("x"), critical=[x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00")]
    )
    with pytest.raises(CertificateRefused) as info:
        validate(odd, [], [odd], [], NOW)
    assert info.value.kind is Refusal.UNSUPPORTED and "1.2.3.4" in info.value.reason


def test_path_building_is_bounded_when_the_peer_sends_a_maze() -> None:
    import time

    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    # eight CA certificates of one name and one key: each "signs" every other
    maze = [build(name("X"), signer=key, ca=True) for _ in range(8)]
    leaf = build(
        name("leaf"),
        issuer=name("X"),
        public=ec.generate_private_key(ec.SECP256R1()).public_key(),
        signer=key,
        ca=False,
    )
    start = time.perf_counter()
    with pytest.raises(CertificateRefused) as info:
        validate(leaf, maze, [cert("ca")], [], NOW)
    assert info.value.kind is Refusal.UNKNOWN_CA
    assert time.perf_counter() - start < 2


def test_rsa_keys_of_absurd_size_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build(name("CA"), signer=ca_key, ca=True)
    small = rsa.RSAPublicNumbers(65537, (1 << 511) | 1).public_key()
    leaf = build(name("tiny"), issuer=name("CA"), public=small, signer=ca_key, ca=False)
    with pytest.raises(CertificateRefused, match=r"outside 1024\.\.8192 bits"):
        validate(leaf, [], [ca], [], NOW)
