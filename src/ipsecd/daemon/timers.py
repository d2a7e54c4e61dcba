"""Timers for sans-I/O objects: one asyncio timer per object, re-armed from ``get_timer()``.

DESIGN.md §3: an IKE SA tells the daemon when it next needs attention (``get_timer() -> float | None``,
an absolute value of the same clock passed in as ``now``) and expects ``handle_timer(now)`` then. The
clock is the event loop's monotonic ``loop.time()``. Re-arming replaces the previous timer of the same
key, so an object never has two pending wake-ups and a removed object has none. A deadline that moves
later (the usual case: every exchange pushes the SA's next check out) keeps the pending loop timer,
which re-schedules itself when it fires early: no cancel and heap push per message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable


class _Entry:
    """One key's wake-up: the deadline wanted (``when``) and the one the loop timer is set for (``at``)."""

    __slots__ = ("at", "callback", "handle", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = self.at = when
        self.callback = callback
        self.handle: asyncio.TimerHandle


class Timers:
    """Keyed one-shot timers on an event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handles: dict[Hashable, _Entry] = {}

    def now(self) -> float:
        return self._loop.time()

    def arm(self, key: Hashable, when: float | None, callback: Callable[[], None]) -> None:
        """Fire ``callback`` at ``when`` (loop clock); ``None`` cancels. Same deadline: left alone."""
        current = self._handles.get(key)
        if current is not None:
            if when is not None and current.at <= when:
                current.when, current.callback = when, callback  # fires early, then re-schedules
                return
            current.handle.cancel()
            del self._handles[key]
        if when is None:
            return
        entry = _Entry(when, callback)
        entry.handle = self._loop.call_at(when, self._fire, key, entry)
        self._handles[key] = entry

    def _fire(self, key: Hashable, entry: _Entry) -> None:
        if self._handles.get(key) is not entry:
            return
        if entry.when > entry.at:
            entry.at = entry.when
            entry.handle = self._loop.call_at(entry.when, self._fire, key, entry)
            return
        del self._handles[key]
        entry.callback()

    def cancel(self, key: Hashable) -> None:
        self.arm(key, None, lambda: None)

    def cancel_all(self) -> None:
        for entry in self._handles.values():
            entry.handle.cancel()
        self._handles.clear()

    def pending(self, key: Hashable) -> float | None:
        entry = self._handles.get(key)
        return entry.when if entry else None

    def __len__(self) -> int:
        return len(self._handles)
