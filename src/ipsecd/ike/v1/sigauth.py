"""Hybrid authentication (draft-ietf-ipsec-isakmp-hybrid-auth-05), the gateway's side: HybridInitRSA
(64221), RouterOS's ``auth-method=rsa-signature-hybrid``.

The gateway proves itself with its certificate, the client only with XAuth afterwards (no PSK):

* SKEYID = prf(Ni_b | Nr_b, g^xy), the signature methods' (RFC 2409 §5.1);
* the client sends HASH_I as with a PSK, computed with that SKEYID — it proves only that the client
  took part in this exchange, XAuth authenticates the user;
* the gateway answers message 6 with IDir, CERT (its certificate, then the CAs above it, X.509
  signature encoding) and SIG_R = its RSA (PKCS#1 without DigestInfo) or ECDSA signature over HASH_R,
  as strongSwan's hybrid client checks it against its trusted CA.

The certificate and key are the identity's ``certificate=`` from the ``/certificate`` store
(``IkeConfig.credentials.certificate_use``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.serialization import Encoding

from ipsecd.crypto import keymat, sig
from ipsecd.crypto.errors import CryptoError
from ipsecd.pki.store import StoreError
from ipsecd.wire.ikev1.enums import AuthMethod, CertEncoding, NotifyType
from ipsecd.wire.ikev1.payloads import CertPayload, IdPayload, Payload, SigPayload

from .config import V1ProtocolError

if TYPE_CHECKING:
    from .phase1 import Phase1

SIGNED = frozenset({AuthMethod.HYBRID_INIT_RSA})


def skeyid(p1: Phase1) -> bytes:
    assert p1.algs is not None
    return keymat.skeyid_sig(p1.algs.hash.name, p1.ni, p1.nr, p1.g_xy)


def responder_proof(p1: Phase1, ours: IdPayload) -> list[Payload]:
    """CERT payloads and SIG_R for message 6 (or aggressive mode's message 2)."""
    sa = p1.sa
    use = sa.config.credentials.certificate_use(sa.config.my_id)
    if use is None or not use.certificate:
        raise V1ProtocolError(
            NotifyType.AUTHENTICATION_FAILED, "rsa-signature-hybrid needs the identity's certificate="
        )
    try:
        key = use.store.private_key(use.certificate)
        chain = use.store.chain(use.certificate)
        signature = sig.ikev1_sign(key, p1.hash_r(ours.body()))
    except (StoreError, CryptoError) as e:
        raise V1ProtocolError(
            NotifyType.AUTHENTICATION_FAILED, f"certificate={use.certificate}: {e}"
        ) from None
    certs: list[Payload] = [CertPayload(CertEncoding.X509_SIG, c.public_bytes(Encoding.DER)) for c in chain]
    return [*certs, SigPayload(signature)]
