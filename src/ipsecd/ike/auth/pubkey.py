"""Digital-signature authentication for IKEv2 (``auth-method=digital-signature``): RFC 7296 §2.15,
§3.6–§3.8, RFC 7427 (method 14 and SIGNATURE_HASH_ALGORITHMS), RFC 4754 (ECDSA methods 9–11).

Signing: our AUTH is made with the private key of the identity's ``certificate=`` (from the
certificate store the daemon injects through :meth:`CredentialProvider.certificate_use`); the method
is RFC 7427's Digital Signature when the peer announced SIGNATURE_HASH_ALGORITHMS with a hash we
share, else the key's classic method (1 for RSA, 9–11 by curve) — :func:`ipsecd.crypto.sig.choose_auth`.

Verifying: the peer's chain comes from its CERT payloads (or ``remote-certificate=`` when it sent
none); :func:`ipsecd.pki.peer.accept_peer` validates it against the store's trusted CAs and CRLs and
applies ``match-by`` and ``remote-id`` (the peer's ID must be bound to its certificate unless
``remote-id=ignore``); only then is the AUTH checked with the leaf's public key. A refusal is one
line that says why and which RouterOS property to change.

The payload side (used by the ``ike_cert`` task): :func:`hash_notify` (RFC 7427 §4, sent in
IKE_SA_INIT both ways), :func:`cert_payloads` (our end entity and intermediates) and
:func:`certreq_payload` (SHA-1 hashes of our trusted CAs' keys, RFC 7296 §3.7), and
:func:`own_identity` (``my-id=auto`` sends the certificate's subjectAltName or DN).
"""

from __future__ import annotations

from collections.abc import Sequence

from ipsecd.crypto import sig
from ipsecd.crypto.errors import MalformedInputError
from ipsecd.pki import payloads as pki_payloads
from ipsecd.pki.identity import Identity, auto_id
from ipsecd.pki.peer import PeerRules, accept_peer, pick_identity
from ipsecd.pki.store import StoreError
from ipsecd.pki.verify import CertificateRefused, Refusal
from ipsecd.wire.enums import AuthMethod, IdType, NotifyType
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload

from ..errors import ConfigError
from .base import AuthContext, CertificateUse, CredentialProvider, register_authenticator

AUTH_METHOD = "digital-signature"
SIGNATURE_METHODS = frozenset(
    {AuthMethod.RSA_SIG, AuthMethod.ECDSA_256, AuthMethod.ECDSA_384, AuthMethod.ECDSA_521,
     AuthMethod.DIGITAL_SIGNATURE}
)
# what the operator changes for each kind of refusal (RouterOS properties and commands)
ADVICE = {
    Refusal.UNKNOWN_CA: "import the peer's CA with /certificate import and set trusted=yes",
    Refusal.EXPIRED: "the peer needs a renewed certificate (or check this host's clock)",
    Refusal.NOT_YET_VALID: "check this host's clock, or wait until the certificate is valid",
    Refusal.REVOKED: "the peer needs a new certificate",
    Refusal.NO_CRL: "import a current CRL with /certificate import, or set /certificate settings crl-use=no",
    Refusal.NOT_A_CA: "the peer's chain is wrong: its issuer must be a CA",
    Refusal.PATH_LENGTH: "the peer's chain is longer than its CA allows",
    Refusal.KEY_USAGE: "the peer needs a certificate whose key usage allows IKE signatures",
    Refusal.BAD_SIGNATURE: "the peer's chain does not verify against the trusted CA",
    Refusal.UNSUPPORTED: "the peer's certificate cannot be used by ipsecd",
    Refusal.ID_MISMATCH: "change the identity's remote-id= (or match-by=/remote-certificate=)",
    Refusal.NAME_CONSTRAINTS: "the peer's certificate is outside its CA's name constraints",
}


class PubkeyAuthenticator:
    """``auth-method=digital-signature``, both directions (see the module docstring)."""

    __slots__ = ("credentials",)

    def __init__(self, credentials: CredentialProvider) -> None:
        self.credentials = credentials

    def _use(self, local_id: str) -> CertificateUse:
        use = self.credentials.certificate_use(local_id)
        if use is None:
            raise ConfigError("auth-method=digital-signature needs the certificate store (/certificate)")
        return use

    def sign(self, octets: bytes, ctx: AuthContext) -> tuple[AuthMethod, bytes]:
        use = self._use(ctx.local_id)
        if not use.certificate:
            raise ConfigError("auth-method=digital-signature: set certificate= on the identity")
        try:
            key = use.store.private_key(use.certificate)
        except StoreError as exc:
            raise ConfigError(f"identity certificate={use.certificate}: {exc}") from None
        try:
            method, scheme = sig.choose_auth(key, ctx.peer_hashes)
        except sig.SignatureError as exc:
            raise ConfigError(f"certificate={use.certificate}: {exc}") from None
        return method, sig.ikev2_sign(key, method, scheme, octets)

    def verify(self, method: AuthMethod, data: bytes, octets: bytes, ctx: AuthContext) -> str | None:
        who = f"peer {ctx.remote_id}"
        if method not in SIGNATURE_METHODS:
            return f"{who} authenticates with {method.name}; the identity has auth-method=digital-signature"
        use = self._use(ctx.local_id)
        if ctx.peer_id is None:
            return f"{who} sent no ID payload"
        chain, _skipped = pki_payloads.chain_from_bodies(ctx.peer_certificates)
        rules = PeerRules(ctx.expected_id, use.match_by, use.remote_certificate)
        try:
            validated = accept_peer(use.store, chain, Identity(*ctx.peer_id), rules)
        except CertificateRefused as exc:
            return f"{who}: certificate refused ({exc.kind.value}): {exc.reason}; {ADVICE[exc.kind]}"
        except StoreError as exc:
            return f"{who}: {exc}"
        try:
            sig.ikev2_verify(validated.leaf.public_key(), method, data, octets)  # type: ignore[arg-type]
        except sig.SignatureError as exc:
            return f"{who}: AUTH signature does not verify with its certificate's key: {exc}"
        return None

    def verdict(self, result: object) -> str | None:
        return "no outside verdict was asked for"


def signs(auth_method: str, credentials: CredentialProvider, my_id: str) -> bool:
    """The identity authenticates itself with a certificate's signature: ``digital-signature``, and
    an ``eap-radius`` gateway with ``certificate=`` (without one only EAP-only clients, RFC 5998, can
    connect, as the manual says)."""
    if auth_method == AUTH_METHOD:
        return True
    return auth_method == "eap-radius" and _signing_use(credentials, my_id) is not None


def _signing_use(credentials: CredentialProvider, local_id: str) -> CertificateUse | None:
    use = credentials.certificate_use(local_id)
    return use if use is not None and use.certificate else None


def hash_notify() -> NotifyPayload:
    """SIGNATURE_HASH_ALGORITHMS with the hashes we verify (RFC 7427 §4)."""
    return NotifyPayload(NotifyType.SIGNATURE_HASH_ALGORITHMS, data=sig.encode_hash_algorithms())


def peer_hashes(notify: NotifyPayload | None) -> tuple[int, ...] | None:
    """The hashes of the peer's SIGNATURE_HASH_ALGORITHMS notify; None without one, or a malformed one
    (the classic methods are used then)."""
    if notify is None:
        return None
    try:
        return sig.decode_hash_algorithms(notify.data) or None
    except MalformedInputError:
        return None


def cert_payloads(credentials: CredentialProvider, local_id: str) -> list[Payload]:
    """CERT payloads for our certificate and its intermediates (RFC 7296 §3.6), none without one."""
    use = _signing_use(credentials, local_id)
    if use is None:
        return []
    try:
        return list(pki_payloads.cert_payloads(use.store.chain(use.certificate)))
    except StoreError as exc:
        raise ConfigError(f"identity certificate={use.certificate}: {exc}") from None


def certreq_payload(credentials: CredentialProvider, local_id: str) -> list[Payload]:
    """A CERTREQ naming our trusted CAs (RFC 7296 §3.7); none when we trust none."""
    use = credentials.certificate_use(local_id)
    req = pki_payloads.certreq_payload(use.store) if use is not None else None
    return [req] if req is not None else []


def own_identity(credentials: CredentialProvider, my_id: str) -> tuple[IdType, bytes] | None:
    """``my-id=auto`` with a certificate: its first subjectAltName, else its subject DN; a written
    ``dn:`` identity too (``ike.v2.config.parse_identity`` does the rest)."""
    use = _signing_use(credentials, my_id)
    if my_id == "auto" and use is not None:
        try:
            ident = auto_id(use.store.certificate(use.certificate))
        except StoreError as exc:
            raise ConfigError(f"identity certificate={use.certificate}: {exc}") from None
        return ident.id_type, ident.data
    return None


def check_credentials(credentials: CredentialProvider, my_id: str) -> None:
    """ConfigError with the one line to act on when a digital-signature identity cannot work: no
    store, a ``certificate=`` or ``remote-certificate=`` naming no certificate, or no private key."""
    use = credentials.certificate_use(my_id)
    if use is None:
        raise ConfigError("auth-method=digital-signature needs the certificate store (/certificate)")
    if not use.certificate:
        raise ConfigError("auth-method=digital-signature: set certificate= on the identity")
    try:
        use.store.private_key(use.certificate)
        use.store.certificate(use.certificate)
    except StoreError as exc:
        raise ConfigError(f"identity certificate={use.certificate}: {exc}") from None
    if use.remote_certificate:
        try:
            use.store.certificate(use.remote_certificate)
        except StoreError as exc:
            raise ConfigError(f"identity remote-certificate={use.remote_certificate}: {exc}") from None
    elif use.match_by == "certificate":
        raise ConfigError("match-by=certificate needs remote-certificate= on the identity")


register_authenticator(AUTH_METHOD, PubkeyAuthenticator)


def pick_by_certificate(
    candidates: Sequence[tuple[CredentialProvider, str, str]],
    peer_id: tuple[IdType, bytes],
    bodies: Sequence[bytes],
) -> int | None:
    """Which of a peer's identities (credentials, my-id, remote-id; in configuration order) takes a
    peer by its certificate and ID: the index of the first digital-signature one whose rules
    (``remote-id`` or ``match-by=certificate`` with ``remote-certificate``) accept the peer's
    validated chain (:func:`ipsecd.pki.peer.pick_identity`). None when none does: the identity in
    use then refuses the peer with its own reason."""
    rules: list[tuple[str, PeerRules]] = []
    store = None
    for i, (credentials, my_id, remote_id) in enumerate(candidates):
        use = credentials.certificate_use(my_id)
        if use is None or not use.certificate:
            continue
        store = use.store
        rules.append((str(i), PeerRules(remote_id, use.match_by, use.remote_certificate)))
    if store is None:
        return None
    chain, _skipped = pki_payloads.chain_from_bodies(bodies)
    try:
        name, _ = pick_identity(store, chain, Identity(*peer_id), rules)
    except (CertificateRefused, StoreError):
        return None
    return int(name)
