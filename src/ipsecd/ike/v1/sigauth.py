"""Signature authentication of phase 1 (RFC 2409 §5.1, RFC 4754 for ECDSA): RouterOS's
``auth-method=digital-signature`` (both sides sign) and ``rsa-signature-hybrid`` (only the gateway).

``digital-signature`` (RSA_SIG 3, or ECDSA_256/384/521 by our key's curve, the method strongSwan
picks for the same key): SKEYID as below; each side sends its ID, CERT payloads (its certificate and
the CAs above it) and SIG over its HASH_I/HASH_R; the peer's chain is validated by the certificate
store (``pki.peer.accept_peer``: trusted CAs, CRLs, ``match-by``, and ``remote-id`` bound to the
certificate) before the signature is checked with the leaf's key. ``my-id=auto`` sends the
certificate's first subjectAltName, else its subject DN (``pki.identity.auto_id``).

Hybrid authentication (draft-ietf-ipsec-isakmp-hybrid-auth-05), the gateway's side: HybridInitRSA
(64221).

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

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from ipsecd.crypto import keymat, sig
from ipsecd.crypto.errors import CryptoError
from ipsecd.pki import payloads as pki_payloads
from ipsecd.pki.identity import Identity
from ipsecd.pki.peer import PeerRules, accept_peer
from ipsecd.pki.store import StoreError
from ipsecd.pki.verify import CertificateRefused
from ipsecd.wire.ikev1.enums import AuthMethod, CertEncoding, NotifyType
from ipsecd.wire.ikev1.payloads import CertPayload, IdPayload, Payload, SigPayload

from ..auth.base import CertificateUse
from ..auth.pubkey import ADVICE
from ..errors import ConfigError
from ..v2.config import IkeConfig
from .config import Ikev1Options, V1ProtocolError

if TYPE_CHECKING:
    from .phase1 import Phase1

MUTUAL = frozenset({AuthMethod.RSA_SIG, AuthMethod.ECDSA_256, AuthMethod.ECDSA_384, AuthMethod.ECDSA_521})
SIGNED = MUTUAL | {AuthMethod.HYBRID_INIT_RSA}
_ECDSA_PRF = {AuthMethod.ECDSA_256: "sha256", AuthMethod.ECDSA_384: "sha384", AuthMethod.ECDSA_521: "sha512"}
_CURVES = {256: AuthMethod.ECDSA_256, 384: AuthMethod.ECDSA_384, 521: AuthMethod.ECDSA_521}


def phase1_auth(config: IkeConfig, options: Ikev1Options) -> AuthMethod:
    """The phase-1 transforms' authentication method: ``Ikev1Options.phase1_auth``, or for
    ``digital-signature`` the one of our certificate's key (RSA_SIG, or ECDSA by curve size)."""
    if not options.signatures:
        return options.phase1_auth
    use = _use(config)
    try:
        key = use.store.private_key(use.certificate)
    except StoreError as e:
        raise ConfigError(f"identity certificate={use.certificate}: {e}") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        method = _CURVES.get(key.curve.key_size)
        if method is None:
            raise ConfigError(
                f"certificate={use.certificate}: IKEv1 signs with P-256, P-384 or P-521 keys,"
                f" not {key.curve.name}"
            )
        return method
    return AuthMethod.RSA_SIG


def ecdsa_prf(config: IkeConfig, options: Ikev1Options) -> str | None:
    """The HMAC hash of HASH_I/HASH_R with an ECDSA method: the curve's (SHA-256 for ECDSA_256,
    SHA-384, SHA-512), not the negotiated PRF, as RFC 4754 and strongSwan's keymat_v1 have it;
    None for every other method. The signature is then over that HASH as its digest."""
    if not options.signatures:
        return None
    return _ECDSA_PRF.get(phase1_auth(config, options))


def _use(config: IkeConfig) -> CertificateUse:
    use = config.credentials.certificate_use(config.my_id)
    if use is None or not use.certificate:
        raise ConfigError(f"auth-method={config.auth_method} needs the identity's certificate=")
    return use


def skeyid(p1: Phase1) -> bytes:
    assert p1.algs is not None
    return keymat.skeyid_sig(p1.algs.hash.name, p1.ni, p1.nr, p1.g_xy)


def responder_proof(p1: Phase1, ours: IdPayload) -> list[Payload]:
    """CERT payloads and SIG_R for message 6 (or aggressive mode's message 2)."""
    return proof(p1, p1.hash_r(ours.body()))


def proof(p1: Phase1, hash_value: bytes) -> list[Payload]:
    """CERT payloads and our SIG over ``hash_value`` (HASH_I or HASH_R)."""
    try:
        use = _use(p1.sa.config)
    except ConfigError as e:
        raise V1ProtocolError(NotifyType.AUTHENTICATION_FAILED, str(e)) from None
    try:
        key = use.store.private_key(use.certificate)
        chain = use.store.chain(use.certificate)
        signature = sig.ikev1_sign(key, hash_value)
    except (StoreError, CryptoError) as e:
        raise V1ProtocolError(
            NotifyType.AUTHENTICATION_FAILED, f"certificate={use.certificate}: {e}"
        ) from None
    certs: list[Payload] = [CertPayload(CertEncoding.X509_SIG, c.public_bytes(Encoding.DER)) for c in chain]
    return [*certs, SigPayload(signature)]


def certreqs(p1: Phase1) -> list[Payload]:
    """CERTREQ payloads naming our trusted CAs, for ``digital-signature`` (strongSwan sends its
    certificate only when asked: ``send_cert = ifasked``); none otherwise."""
    if not p1.sa.options.signatures:
        return []
    return list(pki_payloads.ikev1_certreq_payloads(_use(p1.sa.config).store))


def verify_peer(p1: Phase1, payloads: list[Payload], idp: IdPayload, hash_value: bytes) -> None:
    """The peer's CERT chain validated and bound to its ID (``remote-id``/``match-by``), then its SIG
    over ``hash_value`` checked with the leaf's key; AUTHENTICATION-FAILED says why otherwise."""
    from .ids import identity_text, v2_identity

    sa = p1.sa
    text = identity_text(idp)
    signature = next((p.data for p in payloads if isinstance(p, SigPayload)), None)
    if signature is None:
        raise V1ProtocolError(NotifyType.PAYLOAD_MALFORMED, f"peer {text!r} sent no SIG payload")
    use = _use(sa.config)
    chain, _skipped = pki_payloads.ikev1_received_chain(p for p in payloads if isinstance(p, CertPayload))
    rules = PeerRules(sa.config.remote_id, use.match_by, use.remote_certificate)
    try:
        validated = accept_peer(use.store, chain, Identity(*v2_identity(idp)), rules)
        sig.ikev1_verify(validated.leaf.public_key(), hash_value, signature)  # type: ignore[arg-type]
    except CertificateRefused as e:
        raise V1ProtocolError(
            NotifyType.AUTHENTICATION_FAILED,
            f"peer {text!r}: certificate refused ({e.kind.value}): {e.reason}; {ADVICE[e.kind]}",
        ) from None
    except (StoreError, CryptoError) as e:
        raise V1ProtocolError(NotifyType.AUTHENTICATION_FAILED, f"peer {text!r}: {e}") from None
    sa.remote_id = text
