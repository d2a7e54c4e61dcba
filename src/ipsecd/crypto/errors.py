"""Exceptions of the cryptographic suite.

Callers tell an authentication failure (:class:`IntegrityError`: the data plane counts it under
``in-state-protocol-errors``) from malformed input (:class:`MalformedInputError`) and from
configuration mistakes (:class:`UnknownAlgorithmError`, :class:`KeySizeError`). Every message names
the algorithm and what was wrong.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error the crypto suite raises."""


class UnknownAlgorithmError(CryptoError):
    """An algorithm or group name/id the registry does not know."""


class KeySizeError(CryptoError):
    """A key, IV, nonce or salt of the wrong size for its algorithm."""


class InvalidPublicValueError(CryptoError):
    """A peer's key-exchange value is out of range, off the curve, or the identity."""


class IntegrityError(CryptoError):
    """Authentication failed: ICV/tag/HMAC mismatch (not malformed input)."""


class MalformedInputError(CryptoError):
    """Input of impossible shape: truncated, not a multiple of the block size, bad padding length."""


class SelfTestError(CryptoError):
    """A known-answer self-test produced the wrong output."""
