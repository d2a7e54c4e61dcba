"""Outbound sequence numbers drawn in blocks that were made durable first (issue 17, finding 2).

AES-GCM, AES-CTR and ChaCha20-Poly1305 ESP use the 64-bit sequence number as the IV (RFC 4106 §3.1,
RFC 3686 §3, RFC 7634 §2): a (key, sequence number) pair used twice repeats a nonce and breaks the
cipher. An SA's counter lives in one worker process; if that process dies, the counter dies with it.
The TUN backend therefore lets a sending SA use sequence numbers only up to a *limit* that a
``reserve`` callback has first written somewhere that survives the worker (a memory page shared with
the daemon, :mod:`ipsecd.dataplane.userspace.seqmap`). A replacement worker starts the SA above the
last limit: it may skip numbers, never repeat one. Peers accept gaps (RFC 4303 §3.3.3 only asks
senders to increment; receivers' windows move forward).

Without a ``reserve`` callback the limit is the sequence space's end (2^32 − 1, or 2^64 − 1 with ESN),
so the memory and static backends behave as before. The per-packet cost is one comparison, the same
as the exhaustion check it replaces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ipsecd.dataplane.errors import SequenceOverflowError

M32 = 0xFFFFFFFF
M64 = (1 << 64) - 1

#: ``reserve(spi, seq)``: make sequence numbers from ``seq`` on durable; returns the new last usable one.
Reserve = Callable[[int, int], int]


class Sequenced(Protocol):
    """What :func:`extend` needs of an outbound SA (ESP or AH)."""

    spi: int
    esn: bool
    seq_limit: int
    reserve: Reserve | None


def space_end(esn: bool) -> int:
    """The last sequence number an SA may send (RFC 4303 §3.3.3: no cycling; RFC 4302 §2.5)."""
    return M64 if esn else M32


def extend(sa: Sequenced, seq: int) -> None:
    """``seq`` is beyond ``sa.seq_limit``: reserve the next block, or raise when the space is spent."""
    end = space_end(sa.esn)
    if seq > end:
        raise SequenceOverflowError(f"SA {sa.spi:#x}: sequence number space exhausted, rekey")
    reserve = sa.reserve
    sa.seq_limit = end if reserve is None else min(end, reserve(sa.spi, seq))
