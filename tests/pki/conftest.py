"""Shared fixtures of the pki tests: strongSwan `pki` certificates (tests/vectors/strongswan-pki)
and the injected time they are checked at."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VECTORS = Path(__file__).parent.parent / "vectors" / "strongswan-pki"
NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)


def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((VECTORS / f"{name}.crt").read_bytes())


def crl(name: str = "ca") -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl((VECTORS / f"{name}.crl").read_bytes())


def build(
    subject: x509.Name,
    *,
    issuer: x509.Name | None = None,
    public: Any = None,
    signer: Any = None,
    ca: bool | None = None,
    sans: Sequence[x509.GeneralName] = (),
    critical: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    """A certificate made on the spot, valid a day either side of NOW: self-signed by a fresh P-256
    key unless ``signer`` (and ``issuer``) say otherwise; ``public`` may be any public key."""
    key = signer or ec.generate_private_key(ec.SECP256R1())
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(public or key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    for ext in critical:
        b = b.add_extension(ext, critical=True)
    return b.sign(key, hashes.SHA256())


def name(cn: str, org: str = "") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])
