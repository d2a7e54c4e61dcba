"""Rate-limited log lines for datagrams a worker drops (issue 17, findings 1 and 8).

Keyed by *reason*, never by source address (spoofing makes sources unlimited): the first drop of a
reason is logged with its sender, then at most one summary line per reason and :data:`INTERVAL`
("… 51,234 more from 48,102 sources in the last 10 s"). The set of distinct sources counted for a
summary is capped at :data:`MAX_SOURCES` (the line then says "at least"). Senders are printed
escaped: a peer controls nothing in the line but the address text the kernel gave.
"""

from __future__ import annotations

import logging

INTERVAL = 10.0
MAX_SOURCES = 1024

log = logging.getLogger("ipsecd.dataplane")


class DropLog:
    """Per-reason counters and the summary clock (see the module docstring)."""

    __slots__ = ("_count", "_due", "_sources", "seen")

    def __init__(self) -> None:
        self._count: dict[str, int] = {}
        self._sources: dict[str, set[str]] = {}
        self._due: dict[str, float] = {}
        self.seen: set[str] = set()  # reasons logged at least once

    def drop(self, reason: str, source: str, now: float) -> None:
        if reason not in self.seen:
            self.seen.add(reason)
            log.warning("dropped %s from %s (further ones are summarised every %g s)", reason,
                        source.encode("unicode_escape").decode("ascii"), INTERVAL)
            self._due[reason] = now + INTERVAL
            return
        self._count[reason] = self._count.get(reason, 0) + 1
        sources = self._sources.setdefault(reason, set())
        if len(sources) < MAX_SOURCES:
            sources.add(source)

    def tick(self, now: float) -> None:
        """Log the summaries that are due (the worker calls it about once a second)."""
        for reason, n in list(self._count.items()):
            if now < self._due.get(reason, 0.0):
                continue
            sources = len(self._sources.pop(reason, ()))
            log.warning("dropped %d more %s from %s%d sources in the last %g s", n, reason,
                        "at least " if sources >= MAX_SOURCES else "", sources, INTERVAL)
            del self._count[reason]
            self._due[reason] = now + INTERVAL
