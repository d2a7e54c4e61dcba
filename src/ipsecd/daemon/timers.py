"""Timers for sans-I/O objects: one deadline per key, all on one heap and one loop timer.

DESIGN.md §3: an IKE SA tells the daemon when it next needs attention (``get_timer() -> float | None``,
an absolute value of the same clock passed in as ``now``) and expects ``handle_timer(now)`` then. The
clock is the event loop's monotonic ``loop.time()``. Re-arming replaces the key's previous deadline,
so an object never has two pending wake-ups and a removed object has none.

Why not ``loop.call_at`` per key: with ten thousand IKE SAs that is ten thousand ``TimerHandle``
objects (plus an argument tuple and a closure each) in asyncio's heap, and every exchange re-arms.
Here a key costs one small entry and one heap item; the loop holds a single timer for the earliest
deadline. A deadline that moves later (the usual case: every exchange pushes the SA's next check
out) is only recorded: the queued heap item re-queues itself at the new time when it comes up, so
there is no heap push per message. The callback gets the key, so callers need no closure per key.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger("ipsecd.timers")

Callback = Callable[[Any], None]  # called with the key


class _Entry:
    """One key's wake-up: the deadline wanted (``when``) and the one its heap item has (``at``)."""

    __slots__ = ("at", "callback", "key", "when")

    def __init__(self, key: Hashable, when: float, callback: Callback) -> None:
        self.key = key
        self.when = self.at = when
        self.callback: Callback | None = callback  # None: cancelled or fired, heap items are stale

    def __lt__(self, other: _Entry) -> bool:  # heap items tie on equal deadlines only
        return id(self) < id(other)


class Timers:
    """Keyed one-shot timers on an event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._entries: dict[Hashable, _Entry] = {}
        self._heap: list[tuple[float, _Entry]] = []
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = float("inf")

    def now(self) -> float:
        return self._loop.time()

    def arm(self, key: Hashable, when: float | None, callback: Callback) -> None:
        """Call ``callback(key)`` at ``when`` (loop clock); ``None`` cancels."""
        entry = self._entries.get(key)
        if entry is not None:
            if when is not None and entry.at <= when:
                entry.when, entry.callback = when, callback  # its heap item re-queues when it comes up
                return
            if when is None:
                entry.callback = None
                del self._entries[key]
                return
            entry.when = entry.at = when  # earlier: a new heap item, the old one goes stale
            entry.callback = callback
        elif when is None:
            return
        else:
            entry = self._entries[key] = _Entry(key, when, callback)
        heap = self._heap
        if len(heap) > 2 * len(self._entries) + 64:  # mostly stale items of removed keys: rebuild
            heap[:] = [(e.at, e) for e in self._entries.values()]
            heapq.heapify(heap)
        else:
            heapq.heappush(heap, (when, entry))
        if when < self._handle_at:
            self._schedule(when)

    def _schedule(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle_at = when
        self._handle = self._loop.call_at(when, self._run)

    def _run(self) -> None:
        self._handle = None
        self._handle_at = float("-inf")  # while running, arm() leaves scheduling to the end of the run
        heap = self._heap
        now = self._loop.time()
        budget = len(heap)  # what a callback re-arms for "now" waits for the next loop turn
        while heap and heap[0][0] <= now and budget:
            budget -= 1
            at, entry = heapq.heappop(heap)
            callback = entry.callback
            if callback is None or entry.at != at:
                continue  # cancelled, fired, or moved earlier (a newer item exists)
            if entry.when > at:
                entry.at = entry.when
                heapq.heappush(heap, (entry.when, entry))
                continue
            entry.callback = None
            del self._entries[entry.key]
            try:
                callback(entry.key)
            except Exception:  # one object's failure must not stop everybody's timers
                log.exception("timer of %r failed", entry.key)
        self._handle_at = float("inf")
        if heap:
            self._schedule(heap[0][0])

    def cancel(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.callback = None

    def cancel_all(self) -> None:
        for entry in self._entries.values():
            entry.callback = None
        self._entries.clear()
        self._heap.clear()
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._handle_at = None, float("inf")

    def pending(self, key: Hashable) -> float | None:
        entry = self._entries.get(key)
        return entry.when if entry else None

    def __len__(self) -> int:
        return len(self._entries)
