"""Authenticators and the credential provider (see :mod:`.base`); importing the package registers
the built-in methods: pre-shared-key, eap (AUTH keyed by the MSK), null (RFC 7619) and
digital-signature (RFC 7296 §3.8, RFC 7427)."""

from . import null, psk, pubkey
from .base import (
    NO_CREDENTIALS,
    AuthContext,
    Authenticator,
    CertificateUse,
    CredentialProvider,
    StaticCredentials,
    auth_methods,
    authenticator_for,
    register_authenticator,
)

__all__ = ["NO_CREDENTIALS", "AuthContext", "Authenticator", "CertificateUse", "CredentialProvider",
           "StaticCredentials", "auth_methods", "authenticator_for", "null", "psk", "pubkey",
           "register_authenticator"]
