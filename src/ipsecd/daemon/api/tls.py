"""The TLS certificate of ``api-ssl`` and ``www-ssl``.

``/ip service set www-ssl certificate=NAME`` serves a certificate of the daemon's certificate store
(``/certificate``), as RouterOS does: it must be signed and have its private key; the chain up to
(without) its self-signed root goes with it (:func:`pem_from_store`).

RouterOS needs a certificate before ``www-ssl`` works; when none is named ipsecd makes one on first
start instead: a self-signed P-256 certificate for ``ipsecd`` (valid ten years), logged with its
SHA-256 fingerprint so a client can pin it (``curl --pinnedpubkey`` or a fingerprint check). With a
state directory (next to the database) it is kept there in one 0600 PEM file and reused; without one
(``--config`` runs) it lives as long as the process. The standard :mod:`ssl` module serves it: TLS
1.2 at least.
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ipsecd.pki.store import CertificateStore

log = logging.getLogger("ipsecd.api")

CERT_FILE = "api-tls.pem"


def generate_pem() -> bytes:
    """A fresh key and self-signed certificate, both PEM, key first."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ipsecd")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("ipsecd"), x509.DNSName("localhost")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def load_or_make(state_dir: str | None) -> bytes:
    """The kept certificate and key (PEM), or new ones (kept when there is a state directory);
    logs the certificate's fingerprint."""
    pem: bytes | None = None
    path = os.path.join(state_dir, CERT_FILE) if state_dir else None
    if path and os.path.exists(path):
        with open(path, "rb") as fh:
            pem = fh.read()
    if pem is None:
        pem = generate_pem()
        if path:
            _write_private(path, pem)
    cert = x509.load_pem_x509_certificate(pem)
    log.info(
        "api-ssl/www-ssl certificate %s, SHA-256 fingerprint %s",
        "kept in " + path if path else "generated",
        cert.fingerprint(hashes.SHA256()).hex(":"),
    )
    return pem


def pem_from_store(store: CertificateStore, name: str) -> bytes:
    """Key and certificate chain (PEM, key first) of ``certificate=name``; StoreError (one line,
    naming what is missing) when there is no such certificate, it is unsigned or has no key."""
    key = store.private_key(name)
    chain = store.chain(name)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)


def server_context(pem: bytes, tls_version: str) -> ssl.SSLContext:
    """A server context for one service: ``tls-version=any`` is TLS 1.2 or later (nothing older is
    safe), ``only-1.2`` exactly 1.2, ``only-1.3`` exactly 1.3."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if tls_version == "only-1.3" else ssl.TLSVersion.TLSv1_2
    if tls_version == "only-1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory() as tmp:  # ssl loads only from files; 0700 directory, gone at once
        tmp_path = os.path.join(tmp, CERT_FILE)
        _write_private(tmp_path, pem)
        ctx.load_cert_chain(tmp_path)
    return ctx
