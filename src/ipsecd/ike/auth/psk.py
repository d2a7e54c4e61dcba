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
    """The AUTH that ends EAP (RFC 7296 §2.16): shared-key AUTH keyed by the method's MSK, which the
    EAP task sets once EAP succeeded. Without an MSK nothing is signed or accepted: §2.16's SK_p
    fallback is for methods that make no key, which ipsecd does not run, and would let a peer that
    never ran EAP authenticate with a key it derived itself."""

    __slots__ = ("msk",)

    def __init__(self, credentials: CredentialProvider) -> None:
        super().__init__(credentials)
        self.msk = b""

    def key(self, ctx: AuthContext) -> bytes | None:
        return self.msk or None

    def sign(self, octets: bytes, ctx: AuthContext) -> tuple[AuthMethod, bytes]:
        if not self.msk:
            raise ConfigError("the AUTH of an EAP identity needs EAP to have succeeded first")
        return super().sign(octets, ctx)

    def verify(self, method: AuthMethod, data: bytes, octets: bytes, ctx: AuthContext) -> str | None:
        if not self.msk:
            return f"peer {ctx.remote_id} sent AUTH without EAP; the identity's auth-method needs EAP"
        if method != AuthMethod.SHARED_KEY_MIC or not auth.ikev2_psk_verify(ctx.prf, self.msk, octets, data):
            return f"peer {ctx.remote_id}: the AUTH after EAP does not match the EAP method's key (MSK)"
        return None


register_authenticator("pre-shared-key", PskAuthenticator)
register_authenticator("eap", EapAuthenticator)
register_authenticator("eap-radius", EapAuthenticator)  # the gateway's AUTH after EAP (and before: pubkey)
