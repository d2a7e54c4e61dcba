"""Certificates in IKEv2 messages (RFC 7296 §3.6, §3.7, §2.15): what the ``ike_cert`` task sends and
takes.

* :func:`cert_payloads` — our chain, end entity first, one CERT payload (X.509 Certificate -
  Signature) each; the self-signed root is left out (the peer must already trust it).
* :func:`certreq_payload` — a CERTREQ naming every trusted CA by the SHA-1 of its
  SubjectPublicKeyInfo (:meth:`CertificateStore.key_ids`), or None when we trust none.
* :func:`received_chain` — the DER certificates of the peer's CERT payloads in order, the
  encodings we do not use (Hash and URL, raw keys, CRLs in CERT) skipped, with how many were.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ipsecd.wire.ikev2.payloads.cert import CertEncoding, CertPayload, CertReqPayload

from .store import CertificateStore

MAX_PEER_CERTIFICATES = 8


def cert_payloads(chain: Sequence[x509.Certificate]) -> list[CertPayload]:
    """CERT payloads for our chain (from :meth:`CertificateStore.chain`)."""
    return [
        CertPayload(CertEncoding.X509_CERT_SIGNATURE, c.public_bytes(serialization.Encoding.DER))
        for c in chain
        if c is chain[0] or c.subject != c.issuer
    ]


def certreq_payload(store: CertificateStore) -> CertReqPayload | None:
    """The CERTREQ we send: our trusted CAs' key hashes."""
    key_ids = store.key_ids()
    return CertReqPayload.for_authorities(key_ids) if key_ids else None


def received_chain(payloads: Iterable[CertPayload]) -> tuple[list[bytes], int]:
    """The peer's X.509 certificates (DER, as sent: end entity first) and how many CERT payloads
    were skipped (other encodings, or beyond :data:`MAX_PEER_CERTIFICATES`)."""
    chain: list[bytes] = []
    skipped = 0
    for p in payloads:
        if p.encoding is CertEncoding.X509_CERT_SIGNATURE and len(chain) < MAX_PEER_CERTIFICATES:
            chain.append(p.data)
        else:
            skipped += 1
    return chain, skipped
