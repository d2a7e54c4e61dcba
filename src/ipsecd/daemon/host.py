"""What the glue needs of the daemon that hosts it, injected (the glue never imports :mod:`.app`).

:class:`ipsecd.daemon.app.Daemon` provides these; tests may provide their own.
"""

from __future__ import annotations

from typing import Any, Protocol

from .timers import Timers
from .transport import Transport


class Host(Protocol):
    """The daemon's clock, sockets, timers and IKE driver."""

    transport: Transport
    timers: Timers
    engine: Any  # the IKE driver (:mod:`.engine`, owned by the IKE core's re-foundation)

    def now(self) -> float: ...

    def fail(self, reason: str) -> None:
        """Stop and exit non-zero with ``reason`` (something the daemon needs is gone for good)."""
