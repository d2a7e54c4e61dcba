"""Shared fixtures of the pki tests: strongSwan `pki` certificates (tests/vectors/strongswan-pki)
and the injected time they are checked at."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

VECTORS = Path(__file__).parent.parent / "vectors" / "strongswan-pki"
NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)


def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((VECTORS / f"{name}.crt").read_bytes())


def crl(name: str = "ca") -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl((VECTORS / f"{name}.crl").read_bytes())
