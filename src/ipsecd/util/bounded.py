"""One bounded cache for everything kept per remote source (issue 17, finding 4).

Whatever the daemon remembers per address, SPI or message it did not choose — sources it warned
about, the local address a NAT-T sender reaches, peer selections, socket ancillary data — grows with
an attacker's spoofed sources unless it has a ceiling and forgets. :class:`BoundedCache` is both: at
most ``maxsize`` entries, the least recently used one goes first, and with a ``ttl`` an entry idle for
that long is gone. Every operation is O(1) (amortised for expiry): entries sit in an ``OrderedDict``
in the order they were last used, which is also the order of their time stamps, so the expired ones
are always at the front.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar, overload

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")


class BoundedCache(Generic[K, V]):
    """A mapping with a size limit (LRU eviction) and an optional idle expiry.

    ``get`` and assignment count as use (the entry moves to the back and its clock restarts);
    ``peek``, ``in`` and :meth:`add` of a present key do not, so a note made once stays made for
    ``ttl`` seconds however often it is checked. ``evicted`` counts entries that went for want of
    room, not for age: a caller can log that its ceiling was reached.
    """

    __slots__ = ("_clock", "_data", "evicted", "maxsize", "ttl")

    def __init__(self, maxsize: int, ttl: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive")
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        self._expire()
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        entry = self._data.get(key)  # type: ignore[arg-type]
        return entry is not None and not self._stale(key, entry[0])  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[K]:
        self._expire()
        return iter(list(self._data))

    @overload
    def get(self, key: K) -> V | None: ...

    @overload
    def get(self, key: K, default: D) -> V | D: ...

    def get(self, key: K, default: object = None) -> object:
        """The value, refreshed as most recently used; ``default`` when absent or expired."""
        data = self._data
        entry = data.get(key)
        if entry is None:
            return default
        if self.ttl is not None:
            now = self._clock()
            if now - entry[0] >= self.ttl:
                del data[key]
                return default
            data[key] = (now, entry[1])
        data.move_to_end(key)
        return entry[1]

    def peek(self, key: K, default: V | None = None) -> V | None:
        """The value without counting it as a use."""
        entry = self._data.get(key)
        if entry is None or self._stale(key, entry[0]):
            return default
        return entry[1]

    def __getitem__(self, key: K) -> V:
        if key not in self:
            raise KeyError(key)
        entry = self._data[key]
        self.get(key)
        return entry[1]

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        data[key] = (self._clock() if self.ttl is not None else 0.0, value)
        data.move_to_end(key)
        self._expire()
        while len(data) > self.maxsize:
            data.popitem(last=False)
            self.evicted += 1

    def add(self, key: K, value: V) -> bool:
        """Store ``value`` unless ``key`` is present and live; whether it was stored (a first time)."""
        if key in self:
            return False
        self[key] = value
        return True

    def pop(self, key: K, default: V | None = None) -> V | None:
        entry = self._data.pop(key, None)
        if entry is None or self._stale(key, entry[0]):
            return default
        return entry[1]

    def clear(self) -> None:
        self._data.clear()

    def items(self) -> list[tuple[K, V]]:
        self._expire()
        return [(k, e[1]) for k, e in self._data.items()]

    def _stale(self, key: K, stamp: float) -> bool:
        """Whether an entry has expired (and then it is dropped)."""
        if self.ttl is None or self._clock() - stamp < self.ttl:
            return False
        self._data.pop(key, None)
        return True

    def _expire(self) -> None:
        """Drop expired entries from the front; each entry is dropped once, so O(1) amortised."""
        if self.ttl is None:
            return
        data = self._data
        limit = self._clock() - self.ttl
        while data:
            key, (stamp, _value) = next(iter(data.items()))
            if stamp > limit:
                return
            del data[key]
