"""Timers for sans-I/O objects: one asyncio timer per object, re-armed from ``get_timer()``.

DESIGN.md §3: an IKE SA tells the daemon when it next needs attention (``get_timer() -> float | None``,
an absolute value of the same clock passed in as ``now``) and expects ``handle_timer(now)`` then. The
clock is the event loop's monotonic ``loop.time()``. Re-arming replaces the previous timer of the same
key, so an object never has two pending wake-ups and a removed object has none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable


class Timers:
    """Keyed one-shot timers on an event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handles: dict[Hashable, tuple[float, asyncio.TimerHandle]] = {}

    def now(self) -> float:
        return self._loop.time()

    def arm(self, key: Hashable, when: float | None, callback: Callable[[], None]) -> None:
        """Fire ``callback`` at ``when`` (loop clock); ``None`` cancels. Same deadline: left alone."""
        current = self._handles.get(key)
        if current is not None:
            if when is not None and current[0] == when:
                return
            current[1].cancel()
            del self._handles[key]
        if when is None:
            return

        def fire() -> None:
            self._handles.pop(key, None)
            callback()

        self._handles[key] = (when, self._loop.call_at(when, fire))

    def cancel(self, key: Hashable) -> None:
        self.arm(key, None, lambda: None)

    def cancel_all(self) -> None:
        for _, handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

    def pending(self, key: Hashable) -> float | None:
        entry = self._handles.get(key)
        return entry[0] if entry else None

    def __len__(self) -> int:
        return len(self._handles)
