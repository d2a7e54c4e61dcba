"""The authentication seam of IKE (RFC 7296 §2.15, §2.16; DESIGN.md §3).

An :class:`Authenticator` turns the signed octets of one side into the AUTH payload it sends and
checks the AUTH payload of the other; which one an IKE SA uses comes from the identity's
``auth-method`` (:func:`authenticator_for`). Secrets never come from configuration rows: the daemon
injects a :class:`CredentialProvider` (pre-shared keys by identity, private keys, certificates and
trust anchors, EAP and XAuth user secrets; later RADIUS), and the authenticator asks it.

A verdict that takes time (a RADIUS server, an EAP backend) is not waited for: ``verify`` raises
:class:`~ipsecd.ike.v2.tasks.base.AwaitVerdict` with a token, the SA goes on answering everything
else, and the daemon later calls ``provide_verdict(token, result)``; ``result`` then goes to
:meth:`Authenticator.verdict`.

Every comparison of a secret-derived value is constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ipsecd.crypto.keymat import PrfAlgorithm
from ipsecd.pki.store import CertificateStore
from ipsecd.wire.enums import AuthMethod, IdType

from ..errors import ConfigError

Endpoint = tuple[str, int]


class CredentialProvider(Protocol):
    """Where an IKE SA gets its secrets; the daemon injects one (identities as RouterOS writes them,
    ``fqdn:gw.example`` …, the peer's as it showed it)."""

    def shared_key(self, local_id: str, remote_id: str) -> bytes | None:
        """The pre-shared key between the two identities (also the EAP-less PSK of XAuth)."""

    def private_key(self, local_id: str) -> object | None:
        """Our private key for ``local_id`` (a ``cryptography`` key object), for signatures."""

    def certificates(self, local_id: str) -> Sequence[bytes]:
        """Our certificate chain for ``local_id`` (DER, end entity first)."""

    def trust_anchors(self) -> Sequence[bytes]:
        """CA certificates (DER) a peer's chain must end at."""

    def eap_secret(self, user: str) -> bytes | None:
        """An EAP user's password (EAP server, or EAP client for our own ``user``)."""

    def xauth_secret(self, user: str) -> bytes | None:
        """An XAuth user's password (IKEv1)."""

    def certificate_use(self, local_id: str) -> CertificateUse | None:
        """The certificate store and the identity's certificate properties, for
        ``auth-method=digital-signature`` (None: the identity uses no certificates)."""


@dataclass(frozen=True, slots=True)
class CertificateUse:
    """What a digital-signature identity needs (RouterOS property names): the daemon's certificate
    store (``/certificate``: our certificates and keys, trusted CAs, CRLs), ``certificate=`` (ours),
    ``remote-certificate=`` and ``match-by=`` (how the peer's certificate is judged, with
    ``remote-id``)."""

    store: CertificateStore = field(repr=False)
    certificate: str = ""
    remote_certificate: str = ""
    match_by: str = "remote-id"


@dataclass(frozen=True, slots=True)
class StaticCredentials:
    """A :class:`CredentialProvider` holding fixed values: the daemon's plan builds one per identity
    (its secret, key and certificates), tests and benchmarks theirs."""

    psk: bytes = field(default=b"", repr=False)
    key: object | None = field(default=None, repr=False)
    chain: tuple[bytes, ...] = ()
    anchors: tuple[bytes, ...] = ()
    eap_users: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    xauth_users: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    certs: CertificateUse | None = None

    def shared_key(self, local_id: str, remote_id: str) -> bytes | None:
        return self.psk or None

    def private_key(self, local_id: str) -> object | None:
        return self.key

    def certificates(self, local_id: str) -> Sequence[bytes]:
        return self.chain

    def trust_anchors(self) -> Sequence[bytes]:
        return self.anchors

    def eap_secret(self, user: str) -> bytes | None:
        return dict(self.eap_users).get(user)

    def xauth_secret(self, user: str) -> bytes | None:
        return dict(self.xauth_users).get(user)

    def certificate_use(self, local_id: str) -> CertificateUse | None:
        return self.certs


NO_CREDENTIALS = StaticCredentials()


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Who authenticates to whom, besides the octets: identities, the PRF, the peer's certificates
    (its CERT payload bodies as received: encoding octet, then the data, RFC 7296 §3.6; for
    signatures) and SK_p of the side concerned (EAP without an MSK and NULL, §2.16, RFC 7619).
    For signatures also: the peer's ID payload (type, data) and the configured ``remote-id`` it is
    judged by with its certificate, and the hashes of the peer's SIGNATURE_HASH_ALGORITHMS notify
    (RFC 7427 §4; None when it sent none)."""

    local_id: str
    remote_id: str
    remote: Endpoint
    prf: PrfAlgorithm
    sk_p: bytes = field(default=b"", repr=False)
    peer_certificates: tuple[bytes, ...] = ()
    peer_id: tuple[IdType, bytes] | None = None
    expected_id: str = "auto"
    peer_hashes: tuple[int, ...] | None = None


class Authenticator(Protocol):
    """One authentication method, both directions (RouterOS's ``auth-method`` applies to both)."""

    def sign(self, octets: bytes, ctx: AuthContext) -> tuple[AuthMethod, bytes]:
        """Our AUTH payload (method, data) over our signed octets; ConfigError when a credential lacks."""

    def verify(self, method: AuthMethod, data: bytes, octets: bytes, ctx: AuthContext) -> str | None:
        """Why the peer's AUTH (``method``, ``data``) over its signed octets is not acceptable, or
        None; raises ``AwaitVerdict`` for a verdict that comes later."""

    def verdict(self, result: object) -> str | None:
        """The outside verdict asked for with ``AwaitVerdict``: why it refuses, or None."""


AuthenticatorFactory = Callable[[CredentialProvider], Authenticator]
_REGISTRY: dict[str, AuthenticatorFactory] = {}


def register_authenticator(auth_method: str, factory: AuthenticatorFactory) -> None:
    """Make ``auth-method=<auth_method>`` available (the PSK, NULL and EAP modules register theirs;
    ``pubkey.py`` the signature methods)."""
    _REGISTRY[auth_method] = factory


def authenticator_for(auth_method: str, credentials: CredentialProvider) -> Authenticator:
    """The authenticator of an identity's ``auth-method``; ConfigError names the unknown one."""
    factory = _REGISTRY.get(auth_method)
    if factory is None:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"auth-method={auth_method} is not available (available: {known})")
    return factory(credentials)


def auth_methods() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))
