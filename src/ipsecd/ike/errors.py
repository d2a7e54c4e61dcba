"""IKE protocol errors: each carries the NOTIFY (RFC 7296 §3.10.1) the peer must receive.

Task code raises :class:`IkeProtocolError` when a request cannot be honoured; the task manager turns
it into the error response (or, for an IKE_SA_INIT, an unencrypted one) without each task building
replies itself. ``detail`` is for the operator log, never sent.
"""

from __future__ import annotations

from ipsecd.wire.enums import NotifyType


class IkeError(Exception):
    """Base of the IKE layer's own errors."""


class ConfigError(IkeError):
    """The configuration handed to an IKE SA cannot work (one clear line)."""


class IkeProtocolError(IkeError):
    """A request is refused with ``notify`` (and ``data``); ``fatal`` ends the IKE SA."""

    def __init__(self, notify: NotifyType, detail: str, data: bytes = b"", fatal: bool = False) -> None:
        super().__init__(f"{notify.name}: {detail}")
        self.notify = notify
        self.detail = detail
        self.data = data
        self.fatal = fatal


class InvalidMessageError(IkeError):
    """A message that is dropped silently (bad integrity, wrong message ID, unexpected exchange)."""
