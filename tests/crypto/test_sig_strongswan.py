"""crypto/sig.py against signatures strongSwan made: the certificates and the CRL its `pki` tool
signed (tests/vectors/strongswan-pki) carry an AlgorithmIdentifier of the same ASN.1 type as
RFC 7427's and a signature over their to-be-signed part, so parse_algorithm_identifier and
Scheme.verify must accept every one of them (RSA PKCS#1, RSASSA-PSS with strongSwan's parameters,
ECDSA, Ed25519) and refuse them over other bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ipsecd.crypto import der, sig
from ipsecd.crypto.sig import SignatureError

VECTORS = Path(__file__).parent.parent / "vectors" / "strongswan-pki"
SIGNED = [
    ("gw-rsa", "ca", "sha256WithRSAEncryption"),
    ("client-pss", "ca", "rsassa-pss-sha256"),
    ("intermediate", "ca", "sha256WithRSAEncryption"),
    ("gw-ecdsa", "intermediate", "ecdsa-with-sha256"),
    ("ed-client", "ed-ca", "ed25519"),
    ("ed-ca", "ed-ca", "ed25519"),
]


def _load(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((VECTORS / f"{name}.crt").read_bytes())


def _parts(signed_der: bytes) -> tuple[bytes, bytes, bytes]:
    """(to-be-signed DER, signatureAlgorithm DER, signature) of a certificate or CRL (RFC 5280 §4.1)."""
    tbs, alg, bits = der.read_all(der.read_one(signed_der, der.SEQUENCE).value)
    assert bits.tag == 0x03 and bits.value[0] == 0  # BIT STRING without unused bits
    return tbs.raw, alg.raw, bits.value[1:]


@pytest.mark.parametrize(("name", "issuer", "scheme"), SIGNED, ids=[s[0] for s in SIGNED])
def test_strongswan_certificate_signatures_verify(name: str, issuer: str, scheme: str) -> None:
    tbs, alg, signature = _parts(_load(name).public_bytes(serialization.Encoding.DER))
    parsed = sig.parse_algorithm_identifier(alg)
    assert parsed.name == scheme
    key = _load(issuer).public_key()
    assert isinstance(key, sig.PublicKey)
    parsed.verify(key, tbs, signature)
    with pytest.raises(SignatureError, match="does not verify"):
        parsed.verify(key, tbs + b"\x00", signature)


def test_strongswan_pss_parameters() -> None:
    _, alg, _ = _parts(_load("client-pss").public_bytes(serialization.Encoding.DER))
    scheme = sig.parse_algorithm_identifier(alg)
    assert (scheme.pss_salt, scheme.mgf1_hash) == (32, sig.SignatureHash.SHA2_256)
    assert scheme.algorithm_identifier() == alg  # strongSwan writes the errata's DER form, as we do


def test_strongswan_crl_signature_verifies() -> None:
    crl = x509.load_pem_x509_crl((VECTORS / "ca.crl").read_bytes())
    tbs, alg, signature = _parts(crl.public_bytes(serialization.Encoding.DER))
    key = _load("ca").public_key()
    assert isinstance(key, sig.PublicKey)
    sig.parse_algorithm_identifier(alg).verify(key, tbs, signature)
