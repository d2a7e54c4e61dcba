"""Reading and writing certificate files: PEM, DER and PKCS#12 (RFC 7468, RFC 5280, RFC 7292).

:func:`load` takes one file's bytes and returns everything in it: certificates (a chain is several),
private keys (PKCS#8, PKCS#1/SEC1 "traditional", encrypted or not), and CRLs, whatever the order
of PEM blocks, as RouterOS's ``/certificate import`` accepts them. Every parser is
``cryptography``'s. A passphrase that does not open a key or a PKCS#12 file is reported as such,
never echoed.

:func:`export_pem` and :func:`export_pkcs12` write one certificate, and its private key only when
a passphrase protects it (RouterOS's ``export-certificate … export-passphrase=``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ipsecd.crypto.sig import PrivateKey, SignatureError, key_kind

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.S)
_KEY_LABELS = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"}
MIN_PASSPHRASE = 4


class FormatError(ValueError):
    """A file that holds nothing usable, or a key or PKCS#12 file the passphrase does not open."""


@dataclass(slots=True)
class Loaded:
    """What one file held."""

    certificates: list[x509.Certificate] = field(default_factory=list)
    keys: list[PrivateKey] = field(default_factory=list, repr=False)
    crls: list[x509.CertificateRevocationList] = field(default_factory=list)


def load(data: bytes, passphrase: str = "") -> Loaded:
    """Everything in a PEM, DER or PKCS#12 file; FormatError when there is nothing."""
    if "\x00" in passphrase:  # cryptography 50 panics (not ValueError) on a NUL in a PKCS#12 password
        raise FormatError("a passphrase cannot contain a NUL character")
    secret = passphrase.encode() or None
    out = Loaded()
    blocks = [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(data)]
    try:
        if blocks:
            for label, block in blocks:
                _load_pem_block(label, block, secret, out)
        else:
            _load_der(data, secret, out)
    except UnsupportedAlgorithm as exc:
        raise FormatError(f"unsupported key or algorithm: {str(exc).splitlines()[0]}") from None
    if not (out.certificates or out.keys or out.crls):
        raise FormatError("the file holds no certificate, private key or CRL")
    return out


def parse_certificate(data: bytes, pem: bool = False) -> x509.Certificate:
    """One certificate, with what cryptography parses lazily (names, dates, public key, extensions)
    touched now, so a damaged part fails here and not in the middle of a validation. Every failure
    is a ValueError: from damaged input cryptography also raises TypeError, InvalidVersion,
    UnsupportedAlgorithm and DuplicateExtension, and the bytes come from a peer or a file."""
    try:
        cert = x509.load_pem_x509_certificate(data) if pem else x509.load_der_x509_certificate(data)
        for _ in (
            cert.subject,
            cert.issuer,
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
            cert.public_key(),
        ):
            pass
        for _ in cert.extensions:
            pass
    except Exception as exc:
        raise ValueError(f"certificate not readable: {_first_line(exc)}") from exc
    return cert


def parse_crl(data: bytes, pem: bool = False) -> x509.CertificateRevocationList:
    """One CRL, its entries and dates parsed now (as :func:`parse_certificate`)."""
    try:
        crl = x509.load_pem_x509_crl(data) if pem else x509.load_der_x509_crl(data)
        for _ in (crl.issuer, crl.last_update_utc, crl.next_update_utc, crl.extensions):
            pass
        for entry in crl:
            for _ in (entry.serial_number, entry.revocation_date_utc):
                pass
    except Exception as exc:
        raise ValueError(f"CRL not readable: {_first_line(exc)}") from exc
    return crl


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _load_pem_block(label: bytes, block: bytes, secret: bytes | None, out: Loaded) -> None:
    try:
        if label in (b"CERTIFICATE", b"X509 CERTIFICATE"):
            out.certificates.append(parse_certificate(block, pem=True))
        elif label == b"X509 CRL":
            out.crls.append(parse_crl(block, pem=True))
        elif label in _KEY_LABELS:
            out.keys.append(_usable(serialization.load_pem_private_key(block, secret)))
    except TypeError:
        raise FormatError("the private key is encrypted: give its passphrase") from None
    except ValueError as exc:
        raise FormatError(_key_message(label.decode(), exc)) from None


def _key_message(what: str, exc: ValueError) -> str:
    text = str(exc)
    if "password" in text.lower() or "decrypt" in text.lower():
        return f"{what}: wrong passphrase"
    return f"{what}: not readable ({text.splitlines()[0] if text else 'malformed'})"


def _load_der(data: bytes, secret: bytes | None, out: Loaded) -> None:
    try:
        out.certificates.append(parse_certificate(data))
        return
    except ValueError:
        pass
    try:
        out.crls.append(parse_crl(data))
        return
    except ValueError:
        pass
    try:
        out.keys.append(_usable(serialization.load_der_private_key(data, secret)))
        return
    except TypeError:
        raise FormatError("the private key is encrypted: give its passphrase") from None
    except ValueError:
        pass
    _load_pkcs12(data, secret, out)


def _load_pkcs12(data: bytes, secret: bytes | None, out: Loaded) -> None:
    try:
        bundle = pkcs12.load_pkcs12(data, secret)
    except ValueError as exc:
        if "password" in str(exc).lower() or "mac" in str(exc).lower():
            raise FormatError("PKCS#12: wrong passphrase") from None
        raise FormatError("the file is neither PEM, DER nor PKCS#12") from None
    if bundle.key is not None:
        out.keys.append(_usable(bundle.key))
    der = serialization.Encoding.DER
    for c in [*([bundle.cert] if bundle.cert is not None else []), *bundle.additional_certs]:
        try:
            out.certificates.append(parse_certificate(c.certificate.public_bytes(der)))
        except ValueError as exc:
            raise FormatError(f"PKCS#12: {exc}") from None


def _usable(key: object) -> PrivateKey:
    try:
        key_kind(key)  # type: ignore[arg-type]
    except SignatureError:
        raise FormatError(f"{type(key).__name__} keys cannot authenticate IKE") from None
    return key  # type: ignore[return-value]


def _check_passphrase(passphrase: str) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise FormatError(
            f"export-passphrase must be at least {MIN_PASSPHRASE} characters to export a private key"
        )
    return passphrase.encode()


def export_pem(cert: x509.Certificate, key: PrivateKey | None, passphrase: str = "") -> dict[str, bytes]:
    """``{"crt": PEM certificate, "key": encrypted PKCS#8 PEM}``; the key only with a passphrase."""
    files = {"crt": cert.public_bytes(serialization.Encoding.PEM)}
    if key is not None and passphrase:
        files["key"] = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(_check_passphrase(passphrase)),
        )
    return files


def export_pkcs12(
    name: str,
    cert: x509.Certificate,
    key: PrivateKey | None,
    chain: list[x509.Certificate],
    passphrase: str = "",
) -> bytes:
    """A PKCS#12 file with the certificate and its CA chain; the key only with a passphrase."""
    if key is not None and passphrase:
        secret = _check_passphrase(passphrase)
        enc: serialization.KeySerializationEncryption = serialization.BestAvailableEncryption(secret)
        return pkcs12.serialize_key_and_certificates(name.encode(), key, cert, chain or None, enc)
    return pkcs12.serialize_key_and_certificates(
        name.encode(), None, cert, chain or None, serialization.NoEncryption()
    )
