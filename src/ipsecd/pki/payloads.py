"""Certificates in IKE messages: what the ``ike_cert`` task (IKEv2, RFC 7296 §3.6, §3.7) and IKEv1's
main and aggressive modes (RFC 2409 §5.1, RFC 4945 §3.2) send and take.

* :func:`cert_payloads` — our chain, end entity first, one CERT payload (X.509 Certificate -
  Signature) each; the self-signed root is left out (the peer must already trust it).
* :func:`certreq_payload` — a CERTREQ naming every trusted CA by the SHA-1 of its
  SubjectPublicKeyInfo (:meth:`CertificateStore.key_ids`), or None when we trust none.
* :func:`received_chain` — the DER certificates of the peer's CERT payloads in order, the
  encodings we do not use (Hash and URL, raw keys, CRLs in CERT) skipped, with how many were.
* IKEv1 (:func:`ikev1_cert_payloads`, :func:`ikev1_certreq_payloads`, :func:`ikev1_received_chain`):
  the same CERT layout, but a CR names one CA by its DER Distinguished Name (RFC 4945 §3.2.4), so
  there is one CR per trusted CA.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev1 import enums as v1enums
from ipsecd.wire.ikev1 import payloads as v1
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
    return _x509_only((p.encoding is CertEncoding.X509_CERT_SIGNATURE, p.data) for p in payloads)


def chain_from_bodies(bodies: Iterable[bytes]) -> tuple[list[bytes], int]:
    """:func:`received_chain` from CERT payload bodies as the IKE_AUTH task hands them over
    (``AuthContext.peer_certificates``: encoding octet, then the data); a body too short to be a
    CERT payload counts as skipped."""
    payloads: list[CertPayload] = []
    skipped = 0
    for body in bodies:
        try:
            payloads.append(CertPayload.decode_body(body))
        except WireError:
            skipped += 1
    chain, more = received_chain(payloads)
    return chain, skipped + more


def _x509_only(items: Iterable[tuple[bool, bytes]]) -> tuple[list[bytes], int]:
    chain: list[bytes] = []
    skipped = 0
    for is_x509, data in items:
        if is_x509 and len(chain) < MAX_PEER_CERTIFICATES:
            chain.append(data)
        else:
            skipped += 1
    return chain, skipped


def ikev1_cert_payloads(chain: Sequence[x509.Certificate]) -> list[v1.CertPayload]:
    """IKEv1 CERT payloads (X.509 Certificate - Signature) for our chain, root left out."""
    return [v1.CertPayload(v1enums.CertEncoding.X509_SIG, p.data) for p in cert_payloads(chain)]


def ikev1_certreq_payloads(store: CertificateStore) -> list[v1.CertReqPayload]:
    """One CR per trusted CA, naming it by its DER subject DN (RFC 4945 §3.2.4)."""
    return [
        v1.CertReqPayload(v1enums.CertEncoding.X509_SIG, ca.subject.public_bytes())
        for ca in store.anchors()
        if ca in store.authorities()
    ]


def ikev1_received_chain(payloads: Iterable[v1.CertPayload]) -> tuple[list[bytes], int]:
    """The peer's X.509 certificates from its IKEv1 CERT payloads (as :func:`received_chain`)."""
    return _x509_only((p.encoding is v1enums.CertEncoding.X509_SIG, p.data) for p in payloads)
