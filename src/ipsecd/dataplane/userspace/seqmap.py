"""Sequence-number marks and counters that outlive a packet worker (issue 17, finding 2, and its
lost counters).

One anonymous shared memory file (``memfd``) of 32-byte slots, mapped by the daemon and by every
worker (its descriptor goes to a worker over its channel, ``SCM_RIGHTS``). The daemon gives every SA
it installs a slot; its first 8 bytes are the SA's sequence mark:

- **outbound**: before the owning worker sends with sequence number *n*, the slot holds a number ≥ *n*
  (:func:`ipsecd.dataplane.seqlimit.extend` reserves :data:`BLOCK` numbers at a time). A store to a
  shared page is in the page, not in the process: ``kill -9`` right after it loses nothing. A
  replacement worker starts the SA at the slot's value, so no (key, sequence number) pair — for
  AES-GCM/CTR and ChaCha20-Poly1305 no (key, nonce) pair — is ever used twice (RFC 4106 §3.1:
  "MUST NOT" reuse). Numbers of a block the dead worker had not used are skipped.
- **inbound**: the owning worker writes its replay window's right edge there once a second. The
  replacement worker starts the window at that edge with every number at or below it marked seen.
  A packet accepted in the last second before the crash and replayed after it is accepted once more
  (the cost of not writing the page per packet); nothing older is.

The other 24 bytes of a slot hold the SA's counters (bytes, packets, invalid packets), and after
the slots each worker has a row of the ``/ip ipsec statistics`` counters. A worker writes both once
a second, and before it answers a query for them — so every value the daemon ever reported is on
the page. When a worker dies, the daemon adds its row to the totals it keeps for dead workers, and
the replacement starts each SA's counters from its slot: statistics and ``installed-sa`` counters
never go backwards (what the dead worker counted after its last write, never reported, is lost).

The file is sized for :data:`SLOTS` SAs; pages that are never written take no memory.
"""

from __future__ import annotations

import mmap
import os
import struct

from ipsecd.dataplane.stats import COUNTER_NAMES

SLOTS = 1 << 20
#: Workers that have a statistics row.
MAX_WORKERS = 256
#: Sequence numbers reserved per store: one store per 65,536 packets of an SA.
BLOCK = 1 << 16
_U64 = struct.Struct("=Q")
_SLOT = struct.Struct("=QQQQ")  # sequence mark, bytes, packets, invalid packets
_COUNTERS = struct.Struct("=QQQ")
_STATS = struct.Struct(f"={len(COUNTER_NAMES)}Q")
_ROWS = SLOTS * _SLOT.size  # where the workers' statistics rows start
_SIZE = _ROWS + MAX_WORKERS * _STATS.size


class SeqMap:
    """The shared slots (see the module docstring). Created by the daemon (``fd=None``) or mapped
    from a descriptor it passed."""

    __slots__ = ("_free", "_map", "_next", "fd")

    def __init__(self, fd: int | None = None) -> None:
        if fd is None:
            fd = os.memfd_create("ipsecd-seq", os.MFD_CLOEXEC)
            os.ftruncate(fd, _SIZE)
        self.fd = fd
        self._map = mmap.mmap(fd, _SIZE)
        self._free: list[int] = []
        self._next = 0

    def get(self, slot: int) -> int:
        value: int = _U64.unpack_from(self._map, slot * _SLOT.size)[0]
        return value

    def set(self, slot: int, value: int) -> None:
        _U64.pack_into(self._map, slot * _SLOT.size, value)

    def counters(self, slot: int) -> tuple[int, int, int]:
        """The SA's (bytes, packets, invalid packets) as last written."""
        got: tuple[int, int, int] = _COUNTERS.unpack_from(self._map, slot * _SLOT.size + 8)
        return got

    def set_counters(self, slot: int, nbytes: int, packets: int, invalid: int) -> None:
        _COUNTERS.pack_into(self._map, slot * _SLOT.size + 8, nbytes, packets, invalid)

    def stats(self, worker: int) -> tuple[int, ...]:
        """Worker ``worker``'s statistics row, in :data:`~ipsecd.dataplane.stats.COUNTER_NAMES` order."""
        row: tuple[int, ...] = _STATS.unpack_from(self._map, _ROWS + worker * _STATS.size)
        return row

    def set_stats(self, worker: int, values: list[int]) -> None:
        _STATS.pack_into(self._map, _ROWS + worker * _STATS.size, *values)

    def allocate(self) -> int:
        """A zeroed slot for a new SA (daemon side)."""
        if self._free:
            slot = self._free.pop()
        elif self._next < SLOTS:
            slot, self._next = self._next, self._next + 1
        else:
            raise ValueError(f"more than {SLOTS} SAs installed at once")
        _SLOT.pack_into(self._map, slot * _SLOT.size, 0, 0, 0, 0)
        return slot

    def release(self, slot: int) -> None:
        self._free.append(slot)

    def close(self) -> None:
        if self.fd >= 0:
            self._map.close()
            os.close(self.fd)
            self.fd = -1
