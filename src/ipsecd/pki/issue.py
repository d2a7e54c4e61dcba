"""Making keys and certificates inside ipsecd, as RouterOS's ``/certificate add`` + ``sign`` do.

A :class:`Template` holds what ``add`` takes (common-name, subject-alt-name, key-type, key-size,
key-usage, days-valid and the subject's other RDNs); :func:`issue` signs it, with a CA's key or, for
``sign`` without ``ca=``, with its own key (self-signed). ``key-cert-sign`` in the key usage makes a
CA (basicConstraints cA, critical, RFC 5280 §4.2.1.9). RouterOS's key-usage names map onto keyUsage
bits and extendedKeyUsage purposes; a subjectKeyIdentifier and, below a CA, an
authorityKeyIdentifier are always written, so chains build by key as well as by name.

Keys: RSA 2048/4096 (e = 65537), ECDSA P-256/P-384 (RouterOS calls them prime256v1/secp384r1) and
Ed25519. Certificates are signed with SHA-256 (RSA PKCS#1 v1.5, ECDSA on P-256) or SHA-384 (P-384).

:func:`gateway_warnings` says what Windows' built-in IKEv2 client will miss in a server certificate
(EKU serverAuth, a dNSName SAN equal to the name it dials; Microsoft's "Certificate requirements"
for IKEv2 VPN), so ``add`` can warn before anyone dials.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ipsecd.crypto.sig import PrivateKey

KEY_TYPES = ("rsa", "ec", "ed25519")
RSA_SIZES = (2048, 4096)
EC_CURVES: dict[str, ec.EllipticCurve] = {"prime256v1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}
# RouterOS key-usage name -> keyUsage bit (constructor argument) or EKU purpose
KU_BITS = {
    "digital-signature": "digital_signature",
    "content-commitment": "content_commitment",
    "key-encipherment": "key_encipherment",
    "data-encipherment": "data_encipherment",
    "key-agreement": "key_agreement",
    "key-cert-sign": "key_cert_sign",
    "crl-sign": "crl_sign",
}
EKU_NAMES = {
    "tls-server": ExtendedKeyUsageOID.SERVER_AUTH,
    "tls-client": ExtendedKeyUsageOID.CLIENT_AUTH,
    "ipsec-ike": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.17"),
    "code-sign": ExtendedKeyUsageOID.CODE_SIGNING,
    "email-protect": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamp": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp-sign": ExtendedKeyUsageOID.OCSP_SIGNING,
}
DEFAULT_KEY_USAGE = ("digital-signature", "key-encipherment", "tls-server", "tls-client")
CA_KEY_USAGE = ("key-cert-sign", "crl-sign")
_SUBJECT_FIELDS = (
    ("country", NameOID.COUNTRY_NAME),
    ("state", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("common_name", NameOID.COMMON_NAME),
)


class IssueError(ValueError):
    """A template that cannot become a certificate; the message names the field."""


@dataclass(frozen=True, slots=True)
class Template:
    """What ``/certificate add`` records before ``sign``."""

    common_name: str
    subject_alt_name: tuple[str, ...] = ()
    key_type: str = "rsa"
    key_size: int | str = 2048
    key_usage: tuple[str, ...] = ()
    days_valid: int = 365
    country: str = ""
    state: str = ""
    locality: str = ""
    organization: str = ""
    unit: str = ""

    @property
    def is_ca(self) -> bool:
        return "key-cert-sign" in self.key_usage

    def subject(self) -> x509.Name:
        attrs = [
            x509.NameAttribute(oid, getattr(self, attr))
            for attr, oid in _SUBJECT_FIELDS
            if getattr(self, attr)
        ]
        if not attrs:
            raise IssueError("a certificate needs at least a common-name")
        return x509.Name(attrs)


def generate_key(key_type: str, key_size: int | str) -> PrivateKey:
    """A new private key of ``key-type``/``key-size`` (RSA bits, or the curve's RouterOS name)."""
    if key_type == "rsa":
        if key_size not in RSA_SIZES:
            raise IssueError(f"key-size={key_size}: RSA keys are 2048 or 4096 bits")
        return rsa.generate_private_key(65537, int(key_size))
    if key_type == "ec":
        curve = EC_CURVES.get(str(key_size))
        if curve is None:
            raise IssueError(f"key-size={key_size}: EC keys are prime256v1 or secp384r1")
        return ec.generate_private_key(curve)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise IssueError(f"key-type={key_type} is not one of {', '.join(KEY_TYPES)}")


def parse_san(entry: str) -> x509.GeneralName:
    """One subject-alt-name entry as RouterOS writes it: ``DNS:…``, ``IP:…`` or ``email:…``."""
    kind, sep, value = entry.partition(":")
    if not sep or not value:
        raise IssueError(f"subject-alt-name {entry!r} is not DNS:, IP: or email:")
    if kind.upper() == "DNS":
        return x509.DNSName(value)
    if kind.upper() == "IP":
        try:
            return x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            raise IssueError(f"subject-alt-name {entry!r}: not an IP address") from None
    if kind.lower() == "email":
        return x509.RFC822Name(value)
    raise IssueError(f"subject-alt-name {entry!r} is not DNS:, IP: or email:")


def _signing_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def issue(
    template: Template,
    key: PrivateKey,
    now: dt.datetime,
    serial: int,
    ca: tuple[x509.Certificate, PrivateKey] | None = None,
) -> x509.Certificate:
    """Sign ``template`` for ``key``: by ``ca`` (its certificate and private key) or self-signed."""
    if template.days_valid < 1:
        raise IssueError(f"days-valid={template.days_valid} must be at least 1")
    usage = template.key_usage or (CA_KEY_USAGE if ca is None and template.is_ca else DEFAULT_KEY_USAGE)
    unknown = [u for u in usage if u not in KU_BITS and u not in EKU_NAMES]
    if unknown:
        raise IssueError(f"key-usage: unknown value(s) {', '.join(unknown)}")
    subject = template.subject()
    issuer_cert, issuer_key = ca if ca is not None else (None, key)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=template.days_valid))
        .add_extension(x509.BasicConstraints(ca="key-cert-sign" in usage, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    bits = {arg: name in usage for name, arg in KU_BITS.items()}
    if any(bits.values()):
        builder = builder.add_extension(
            x509.KeyUsage(**bits, encipher_only=False, decipher_only=False), critical=True
        )
    purposes = [EKU_NAMES[u] for u in usage if u in EKU_NAMES]
    if purposes:
        builder = builder.add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
    if template.subject_alt_name:
        sans = [parse_san(s) for s in template.subject_alt_name]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if issuer_cert is not None:
        issuer_public = issuer_cert.public_key()
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public)  # type: ignore[arg-type]
        builder = builder.add_extension(aki, critical=False)
        _check_can_sign(issuer_cert)
    return builder.sign(issuer_key, _signing_hash(issuer_key))


def _check_can_sign(ca: x509.Certificate) -> None:
    try:
        if ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return
    except x509.ExtensionNotFound:
        pass
    raise IssueError(f"{ca.subject.rfc4514_string()} is not a CA (its key-usage lacks key-cert-sign)")


def gateway_warnings(cert: x509.Certificate) -> list[str]:
    """What Windows' IKEv2 client needs and this server certificate lacks (empty: nothing)."""
    warnings = []
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.SERVER_AUTH not in eku:
            warnings.append(
                "Windows clients need key-usage tls-server (EKU serverAuth) in a gateway certificate"
            )
    except x509.ExtensionNotFound:
        warnings.append("Windows clients need key-usage tls-server (EKU serverAuth) in a gateway certificate")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    if not dns:
        warnings.append(
            "Windows clients need subject-alt-name=DNS:<the name they dial>; this certificate has no DNS name"
        )
    return warnings
