"""``/certificate print`` fields and flags of one store entry, as RouterOS shows them.

Fields: name, common-name, subject-alt-name (``DNS:…,IP:…,email:…``), key-type (rsa, ec, ed25519,
ed448), key-size (bits for RSA, the curve's name for EC), key-usage (RouterOS's names for keyUsage
bits and extendedKeyUsage purposes), days-valid, trusted, issuer, serial-number (hex), fingerprint
(SHA-256 of the DER, hex), invalid-before, invalid-after, ca (the store CA that signed it).
Flags, in RouterOS's order: K private-key, A authority (basicConstraints cA), I issued (signed by a
CA of this store), R revoked (listed by a CRL of its issuer in the store), E expired, T trusted.
A template not yet signed shows what ``add`` recorded and no flags.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from .issue import EKU_NAMES, KU_BITS, Template

_EKU_NAME = {oid: name for name, oid in EKU_NAMES.items()}


def describe(
    name: str,
    cert: x509.Certificate | None,
    template: Template | None,
    has_key: bool,
    trusted: bool,
    ca: str,
    crls: Sequence[x509.CertificateRevocationList],
    now: dt.datetime,
) -> dict[str, str]:
    """One ``print`` row (property name → value, plus ``flags``)."""
    if cert is None:
        assert template is not None
        return {
            "name": name,
            "flags": "",
            "common-name": template.common_name,
            "subject-alt-name": ",".join(template.subject_alt_name),
            "key-type": template.key_type,
            "key-size": str(template.key_size),
            "key-usage": ",".join(template.key_usage),
            "days-valid": str(template.days_valid),
            "trusted": "no",
        }
    is_ca = _basic_ca(cert)
    revoked = any(
        c.issuer == cert.issuer and c.get_revoked_certificate_by_serial_number(cert.serial_number)
        for c in crls
    )
    expired = now > cert.not_valid_after_utc
    flags = "".join(
        f
        for f, on in (
            ("K", has_key),
            ("A", is_ca),
            ("I", bool(ca)),
            ("R", revoked),
            ("E", expired),
            ("T", trusted),
        )
        if on
    )
    key_type, key_size = key_info(cert)
    return {
        "name": name,
        "flags": flags,
        "common-name": ", ".join(
            str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ),
        "subject-alt-name": subject_alt_names(cert),
        "key-type": key_type,
        "key-size": key_size,
        "key-usage": ",".join(key_usage_names(cert)),
        "days-valid": str((cert.not_valid_after_utc - cert.not_valid_before_utc).days),
        "trusted": "yes" if trusted else "no",
        "issuer": cert.issuer.rfc4514_string(),
        "serial-number": f"{cert.serial_number:X}",
        "fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
        "invalid-before": cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M:%S"),
        "invalid-after": cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S"),
        "ca": ca,
    }


def _basic_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def key_info(cert: x509.Certificate) -> tuple[str, str]:
    """key-type and key-size as RouterOS prints them."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", str(key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec", {"secp256r1": "prime256v1"}.get(key.curve.name, key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", "256"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", "456"
    return type(key).__name__, ""


def subject_alt_names(cert: x509.Certificate) -> str:
    """``DNS:gw.example,IP:192.0.2.1,email:alice@example``."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ""
    out = [f"DNS:{n}" for n in sans.get_values_for_type(x509.DNSName)]
    out += [f"IP:{n}" for n in sans.get_values_for_type(x509.IPAddress)]
    out += [f"email:{n}" for n in sans.get_values_for_type(x509.RFC822Name)]
    return ",".join(out)


def key_usage_names(cert: x509.Certificate) -> list[str]:
    """RouterOS's names for the keyUsage bits and extendedKeyUsage purposes present."""
    names = []
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        names += [name for name, attr in KU_BITS.items() if _bit(ku, attr)]
    except x509.ExtensionNotFound:
        pass
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        names += [_EKU_NAME.get(oid, oid.dotted_string) for oid in eku]
    except x509.ExtensionNotFound:
        pass
    return names


def _bit(ku: x509.KeyUsage, attr: str) -> bool:
    try:
        return bool(getattr(ku, attr))
    except ValueError:  # encipher/decipher_only without keyAgreement
        return False
