"""Certificate chain validation for IKE peers (RFC 5280 §6, as strongSwan and Windows apply it to IKE).

:func:`validate` builds a path from the peer's end-entity certificate through the intermediates it
sent (or the store holds) to a trusted anchor, and checks along it: each signature
(``Certificate.verify_directly_issued_by``: RSA PKCS#1 and PSS, ECDSA, Ed25519, Ed448), the validity
dates against an injected clock, basicConstraints cA on every issuer and their pathLenConstraint,
keyUsage (keyCertSign on issuers, digitalSignature on the end entity when the extension is present),
name constraints (RFC 5280 §4.2.1.10, :mod:`.constraints`),
extendedKeyUsage (when present, one IKE may use: serverAuth, clientAuth, ipsecIKE (RFC 4945 §5.1.3.12),
Windows' "IP security IKE intermediate", or anyExtendedKeyUsage), unknown critical extensions, and
revocation by CRLs whose issuer and signature check out, under a ``crl-use`` policy: with it, every
certificate below the anchor needs a current CRL of its issuer.

Why not ``cryptography.x509.verification`` (its ``PolicyBuilder``/``Store`` client verifier, checked
for cryptography 50): it implements the CA/Browser-Forum web PKI profile, which refuses Ed25519/Ed448
keys and signatures (issue 12 wants Ed25519), RSA keys under 2048 bits still found in IKE
deployments' old CAs, and requires extensions (authorityKeyIdentifier …) that strongSwan's ``pki``
and RouterOS do not always write; it has no CRL checking; and it fails with one string, while each
refusal here must name its cause for an operator (which CA the chain names, when it expired, which
CRL revoked it).

Refusals raise :class:`CertificateRefused`; ``reason`` is the one log line, ``kind`` a stable code.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, ObjectIdentifier

from . import constraints

IPSEC_IKE = ObjectIdentifier("1.3.6.1.5.5.7.3.17")  # id-kp-ipsecIKE, RFC 4945 §5.1.3.12
IKE_INTERMEDIATE = ObjectIdentifier("1.3.6.1.5.5.8.2.2")  # Windows' "IP security IKE intermediate"
IKE_PURPOSES = frozenset(
    {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
        IPSEC_IKE,
        IKE_INTERMEDIATE,
    }
)
HANDLED_EXTENSIONS = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.NAME_CONSTRAINTS,
    }
)
MAX_DEPTH = 8
MAX_STEPS = 64
MAX_PATHS = 8
RSA_BITS = (1024, 8192)


class Refusal(Enum):
    """Why a certificate was refused (stable codes for counters and tests)."""

    UNKNOWN_CA = "unknown-ca"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    REVOKED = "revoked"
    NO_CRL = "no-crl"
    NOT_A_CA = "not-a-ca"
    PATH_LENGTH = "path-length"
    KEY_USAGE = "key-usage"
    BAD_SIGNATURE = "bad-signature"
    UNSUPPORTED = "unsupported-extension"
    ID_MISMATCH = "id-mismatch"
    NAME_CONSTRAINTS = "name-constraints"


class CertificateRefused(Exception):
    """A certificate that does not validate; ``reason`` says why in an operator's terms."""

    def __init__(self, kind: Refusal, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """What validation requires beyond RFC 5280: ``crl_use`` (RouterOS's ``/certificate settings
    crl-use``) makes a current CRL of every issuer mandatory; ``max_depth`` bounds path building."""

    crl_use: bool = False
    max_depth: int = MAX_DEPTH


DEFAULT_POLICY = ValidationPolicy()


@dataclass(frozen=True, slots=True)
class ValidatedChain:
    """The path found, end entity first, anchor last."""

    certificates: tuple[x509.Certificate, ...]
    crls_checked: tuple[x509.CertificateRevocationList, ...] = field(default=())

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def anchor(self) -> x509.Certificate:
        return self.certificates[-1]


def dn(name: x509.Name) -> str:
    """A Distinguished Name as operators read it (RFC 4514)."""
    return name.rfc4514_string() or "(empty DN)"


def validate(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    now: dt.datetime,
    policy: ValidationPolicy = DEFAULT_POLICY,
) -> ValidatedChain:
    """The validated path from ``leaf`` to one of ``anchors``, or CertificateRefused.

    A certificate that is itself an anchor (a pinned peer certificate) validates alone. Among several
    paths the first that passes every check wins; when none does, the refusal of the longest one
    is reported, as that is the one closest to success.
    """
    _check_end_entity(leaf)
    paths = _paths(leaf, list(intermediates), list(anchors), policy.max_depth)
    if not paths:
        raise CertificateRefused(
            Refusal.UNKNOWN_CA,
            f"certificate {dn(leaf.subject)} is not issued by a trusted CA: its chain names issuer "
            f"{dn(_top_issuer(leaf, intermediates).issuer)}, which is not a trusted CA in the store",
        )
    failure: CertificateRefused | None = None
    for path in sorted(paths, key=len, reverse=True):
        try:
            return _check_path(path, crls, now, policy)
        except CertificateRefused as exc:
            failure = failure or exc
    assert failure is not None
    raise failure


def _top_issuer(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate]) -> x509.Certificate:
    """The highest certificate reachable by names alone: the one whose issuer the operator lacks."""
    current, seen = leaf, {leaf}
    while True:
        nxt = next((c for c in intermediates if c.subject == current.issuer and c not in seen), None)
        if nxt is None:
            return current
        seen.add(nxt)
        current = nxt


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _paths(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    anchors: list[x509.Certificate],
    max_depth: int,
) -> list[list[x509.Certificate]]:
    """Paths leaf → … → anchor whose names and signatures chain (depth-first, no loops).

    A peer chooses the intermediates, so the search is bounded: each (certificate, issuer) signature
    is checked once, and it stops after :data:`MAX_STEPS` extensions or :data:`MAX_PATHS` paths (eight
    certificates sharing one name and key would otherwise offer 8! paths).
    """
    if leaf in set(anchors):  # certificates hash and compare by their DER
        return [[leaf]]
    anchors = [a for a in anchors if _sane_key(a)]
    intermediates = [c for c in intermediates if _sane_key(c) and c not in set(anchors)]
    checked: dict[tuple[x509.Certificate, x509.Certificate], bool] = {}
    found: list[list[x509.Certificate]] = []
    steps = 0

    def signed(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        if cert.issuer != issuer.subject:
            return False
        if (cert, issuer) not in checked:
            checked[cert, issuer] = _signed_by(cert, issuer)
        return checked[cert, issuer]

    def extend(path: list[x509.Certificate]) -> None:
        nonlocal steps
        steps += 1
        tip = path[-1]
        if len(path) > max_depth or steps > MAX_STEPS or len(found) >= MAX_PATHS:
            return
        found.extend([*path, anchor] for anchor in anchors if signed(tip, anchor))
        for inter in intermediates:
            if inter not in path and signed(tip, inter):
                extend([*path, inter])

    extend([leaf])
    return found


def _sane_key(cert: x509.Certificate) -> bool:
    """Keys a validation may spend time on: RSA within :data:`RSA_BITS`, or any other type."""
    key = cert.public_key()
    return not isinstance(key, rsa.RSAPublicKey) or RSA_BITS[0] <= key.key_size <= RSA_BITS[1]


def _check_path(
    path: list[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    now: dt.datetime,
    policy: ValidationPolicy,
) -> ValidatedChain:
    for cert in path:
        _check_dates(cert, now)
        _check_critical(cert)
    for depth, issuer in enumerate(path[1:]):
        _check_issuer(issuer, intermediates_below=depth)
        _check_name_constraints(path, depth + 1)
    used: list[x509.CertificateRevocationList] = []
    for cert, issuer in itertools.pairwise(path):
        used.extend(_check_revocation(cert, issuer, crls, now, policy))
    return ValidatedChain(tuple(path), tuple(used))


def _check_dates(cert: x509.Certificate, now: dt.datetime) -> None:
    if now > cert.not_valid_after_utc:
        raise CertificateRefused(
            Refusal.EXPIRED, f"certificate {dn(cert.subject)} expired on {_when(cert.not_valid_after_utc)}"
        )
    if now < cert.not_valid_before_utc:
        raise CertificateRefused(
            Refusal.NOT_YET_VALID,
            f"certificate {dn(cert.subject)} is not valid before {_when(cert.not_valid_before_utc)}",
        )


def _when(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _check_critical(cert: x509.Certificate) -> None:
    for ext in cert.extensions:
        if ext.critical and ext.oid not in HANDLED_EXTENSIONS:
            name = _oid_name(ext.oid)
            raise CertificateRefused(
                Refusal.UNSUPPORTED,
                f"certificate {dn(cert.subject)} has the critical extension {name}, "
                "which ipsecd does not check",
            )


def _check_name_constraints(path: list[x509.Certificate], ca_index: int) -> None:
    """The CA at ``ca_index`` constrains every certificate below it but self-issued intermediates."""
    ca = path[ca_index]
    nc = constraints.constraints_of(ca)
    if nc is None:
        return
    for i, cert in enumerate(path[:ca_index]):
        if i > 0 and cert.subject == cert.issuer:
            continue
        try:
            constraints.check(cert, nc, dn(ca.subject))
        except constraints.NameConstraintViolation as exc:
            raise CertificateRefused(
                Refusal.NAME_CONSTRAINTS, f"certificate {dn(cert.subject)}: {exc}"
            ) from None


def _oid_name(oid: ObjectIdentifier) -> str:
    """cryptography's name for an OID when it has one, with the dotted form for the rest."""
    name = getattr(oid, "_name", "")
    return name if name and name != "Unknown OID" else oid.dotted_string


def _check_issuer(issuer: x509.Certificate, intermediates_below: int) -> None:
    """An issuer must be a CA (RFC 5280 §4.2.1.9), allowed this many intermediates below it, and
    allowed to sign certificates (§4.2.1.3)."""
    try:
        bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise CertificateRefused(
            Refusal.NOT_A_CA,
            f"certificate {dn(issuer.subject)} signed another certificate but is not a CA "
            "(basicConstraints CA flag missing)",
        )
    if bc.path_length is not None and intermediates_below > bc.path_length:
        raise CertificateRefused(
            Refusal.PATH_LENGTH,
            f"CA {dn(issuer.subject)} allows {bc.path_length} intermediate CA(s) below it, the chain has "
            f"{intermediates_below}",
        )
    ku = _key_usage(issuer)
    if ku is not None and not ku.key_cert_sign:
        raise CertificateRefused(
            Refusal.KEY_USAGE, f"CA {dn(issuer.subject)} lacks the keyCertSign key usage"
        )


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _check_end_entity(cert: x509.Certificate) -> None:
    """The peer's own certificate must allow signing and, when it restricts its purposes, IKE, with a
    key of sane size (RSA of 1024..8192 bits)."""
    if not _sane_key(cert):
        raise CertificateRefused(
            Refusal.KEY_USAGE, f"certificate {dn(cert.subject)} has an RSA key outside 1024..8192 bits"
        )
    ku = _key_usage(cert)
    if ku is not None and not (ku.digital_signature or ku.content_commitment):
        raise CertificateRefused(
            Refusal.KEY_USAGE,
            f"certificate {dn(cert.subject)} does not allow digital signatures (key usage)",
        )
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not IKE_PURPOSES.intersection(eku):
        names = ", ".join(_oid_name(o) for o in eku)
        raise CertificateRefused(
            Refusal.KEY_USAGE,
            f"certificate {dn(cert.subject)} is not for IKE: its extended key usage is {names}; it needs "
            "serverAuth, clientAuth or ipsecIKE",
        )


def _check_revocation(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    now: dt.datetime,
    policy: ValidationPolicy,
) -> list[x509.CertificateRevocationList]:
    """Check ``cert`` against every CRL its issuer signed; with crl-use one of them must be current."""
    own = [c for c in crls if c.issuer == issuer.subject and _crl_signed_by(c, issuer)]
    for crl in own:
        revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if revoked is not None:
            raise CertificateRefused(
                Refusal.REVOKED,
                f"certificate {dn(cert.subject)} (serial {cert.serial_number:x}) was revoked on "
                f"{_when(revoked.revocation_date_utc)} by the CRL of {dn(issuer.subject)} "
                f"issued {_when(crl.last_update_utc)}",
            )
    current = [c for c in own if c.next_update_utc is None or c.next_update_utc >= now]
    if policy.crl_use and not current:
        what = "an outdated CRL" if own else "no CRL"
        raise CertificateRefused(
            Refusal.NO_CRL,
            f"crl-use=yes and the store holds {what} of CA {dn(issuer.subject)} "
            f"(needed for {dn(cert.subject)}): import a current one",
        )
    return own


_CRL_CHECKS: dict[tuple[bytes, bytes, x509.Certificate], bool] = {}
CRL_CHECK_CACHE = 256


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed ``crl``; remembered per (CRL, issuer), since every validation of a
    chain below that CA asks again and the answer cannot change."""
    memo = (crl.tbs_certlist_bytes, crl.signature, issuer)
    known = _CRL_CHECKS.get(memo)
    if known is not None:
        return known
    try:
        valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm):
        valid = False
    if len(_CRL_CHECKS) >= CRL_CHECK_CACHE:
        _CRL_CHECKS.clear()
    _CRL_CHECKS[memo] = valid
    return valid
