"""Authenticators and the credential provider (see :mod:`.base`); importing the package registers
the built-in methods: pre-shared-key, eap (AUTH keyed by the MSK) and null (RFC 7619)."""

from . import null, psk
from .base import (
    NO_CREDENTIALS,
    AuthContext,
    Authenticator,
    CredentialProvider,
    StaticCredentials,
    auth_methods,
    authenticator_for,
    register_authenticator,
)

__all__ = ["NO_CREDENTIALS", "AuthContext", "Authenticator", "CredentialProvider", "StaticCredentials",
           "auth_methods", "authenticator_for", "null", "psk", "register_authenticator"]
