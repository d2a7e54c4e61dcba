"""Shared-key authentication (RFC 7296 §2.15): AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"),
<SignedOctets>), also EAP's, keyed by its MSK (§2.16). The peer's value is compared in constant time
(:func:`ipsecd.crypto.auth.ikev2_psk_verify`)."""

from __future__ import annotations

from ipsecd.crypto import auth
from ipsecd.wire.enums import AuthMethod

from ..errors import ConfigError
from .base import AuthContext, CredentialProvider, register_authenticator


class PskAuthenticator:
    """``auth-method=pre-shared-key``: the key between the two identities, from the provider."""

    __slots__ = ("credentials",)

    def __init__(self, credentials: CredentialProvider) -> None:
        self.credentials = credentials

    def key(self, ctx: AuthContext) -> bytes | None:
        return self.credentials.shared_key(ctx.local_id, ctx.remote_id)

    def sign(self, octets: bytes, ctx: AuthContext) -> tuple[AuthMethod, bytes]:
        key = self.key(ctx)
        if not key:
            raise ConfigError(f"no pre-shared key for {ctx.local_id} and {ctx.remote_id}: set secret=")
        return AuthMethod.SHARED_KEY_MIC, auth.ikev2_psk_auth(ctx.prf, key, octets)

    def verify(self, method: AuthMethod, data: bytes, octets: bytes, ctx: AuthContext) -> str | None:
        if method != AuthMethod.SHARED_KEY_MIC:
            return f"peer {ctx.remote_id} authenticates with {method.name}; only pre-shared-key is configured"
        key = self.key(ctx)
        if not key or not auth.ikev2_psk_verify(ctx.prf, key, octets, data):
            return f"peer {ctx.remote_id}: pre-shared key mismatch (check identity secret=)"
        return None

    def verdict(self, result: object) -> str | None:
        return "no outside verdict was asked for"


class EapAuthenticator(PskAuthenticator):
    """The AUTH that ends EAP (RFC 7296 §2.16): shared-key AUTH keyed by the method's MSK, or by
    SK_pi/SK_pr of the side concerned when the method makes none. The EAP task sets ``msk``."""

    __slots__ = ("msk",)

    def __init__(self, credentials: CredentialProvider) -> None:
        super().__init__(credentials)
        self.msk = b""

    def key(self, ctx: AuthContext) -> bytes | None:
        return self.msk or ctx.sk_p or None


register_authenticator("pre-shared-key", PskAuthenticator)
register_authenticator("eap", EapAuthenticator)
