"""NULL authentication (RFC 7619): no secret, AUTH method 13 with prf(SK_p, <SignedOctets>)'s
shared-key form keyed by SK_pi/SK_pr (§2.1: "as if the PSK were SK_p"); the peer's identity is
unauthenticated and must be ID_NULL or ignored. Compared in constant time like every AUTH."""

from __future__ import annotations

from ipsecd.crypto import auth
from ipsecd.wire.enums import AuthMethod

from .base import AuthContext, CredentialProvider, register_authenticator


class NullAuthenticator:
    """``auth-method=null``: opportunistic encryption without authentication (RFC 7619)."""

    __slots__ = ()

    def __init__(self, credentials: CredentialProvider) -> None:
        pass

    def sign(self, octets: bytes, ctx: AuthContext) -> tuple[AuthMethod, bytes]:
        return AuthMethod.NULL_AUTH, auth.ikev2_psk_auth(ctx.prf, ctx.sk_p, octets)

    def verify(self, method: AuthMethod, data: bytes, octets: bytes, ctx: AuthContext) -> str | None:
        if method != AuthMethod.NULL_AUTH:
            return f"peer {ctx.remote_id} authenticates with {method.name}; auth-method=null is configured"
        if not auth.ikev2_psk_verify(ctx.prf, ctx.sk_p, octets, data):
            return f"peer {ctx.remote_id}: NULL AUTH does not verify (RFC 7619 §2.1)"
        return None

    def verdict(self, result: object) -> str | None:
        return "no outside verdict was asked for"


register_authenticator("null", NullAuthenticator)
