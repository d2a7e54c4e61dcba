"""Errors of the stateless codecs: every malformed input raises one of these, nothing else.

Callers (the IKE SA, the data plane) map them to RFC 7296 §2.21 behaviour: most are dropped and
counted; :class:`UnsupportedCriticalPayloadError` is answered with UNSUPPORTED_CRITICAL_PAYLOAD.
"""

from __future__ import annotations


class WireError(Exception):
    """Base of every codec error: the bytes do not form a valid message."""


class BufferReadError(WireError):
    """A read ran past the end of the data (truncated input or a length field that lies)."""


class BufferWriteError(WireError):
    """A value does not fit its field when encoding."""


class MalformedMessageError(WireError):
    """Structurally invalid: bad lengths, bad version, bad field values."""


class UnsupportedCriticalPayloadError(MalformedMessageError):
    """An unknown payload with the critical bit set (RFC 7296 §2.5): the peer must be told."""

    def __init__(self, payload_type: int) -> None:
        super().__init__(f"unsupported critical payload type {payload_type}")
        self.payload_type = payload_type
