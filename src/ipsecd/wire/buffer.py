"""Byte buffers for the codecs: a bounded Reader and a growing Writer (after aioquic's Buffer).

``Reader.enter_block(n)`` confines reads to the next ``n`` bytes, so a payload codec can never read
into its neighbour however its inner length fields lie; ``leave_block`` skips what was unread.
``Writer.open_length(size)`` reserves a length field and ``close_length`` fills it in, which is
how every IKE payload header (RFC 7296 §3.2) gets its length.
"""

from __future__ import annotations

import struct

from .errors import BufferReadError, BufferWriteError

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")


class Reader:
    """Reads big-endian fields from ``data``; every overrun raises :class:`BufferReadError`."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._end = len(data)

    @property
    def position(self) -> int:
        return self._pos

    def remaining(self) -> int:
        return self._end - self._pos

    def eof(self) -> bool:
        return self._pos >= self._end

    # The pulls inline the bounds check rather than share a helper: they run a few hundred
    # times per IKE SA, and the extra call was a tenth of the codec's time.

    def _overrun(self, n: int) -> BufferReadError:
        return BufferReadError(f"need {n} bytes at offset {self._pos}, have {self._end - self._pos}")

    def pull_uint8(self) -> int:
        pos = self._pos
        if pos >= self._end:
            raise self._overrun(1)
        self._pos = pos + 1
        return self._data[pos]

    def pull_uint16(self) -> int:
        pos = self._pos
        if pos + 2 > self._end:
            raise self._overrun(2)
        self._pos = pos + 2
        return int(_U16.unpack_from(self._data, pos)[0])

    def pull_uint32(self) -> int:
        pos = self._pos
        if pos + 4 > self._end:
            raise self._overrun(4)
        self._pos = pos + 4
        return int(_U32.unpack_from(self._data, pos)[0])

    def pull_uint64(self) -> int:
        pos = self._pos
        if pos + 8 > self._end:
            raise self._overrun(8)
        self._pos = pos + 8
        return int(_U64.unpack_from(self._data, pos)[0])

    def pull_bytes(self, n: int) -> bytes:
        pos = self._pos
        if n < 0 or pos + n > self._end:
            raise self._overrun(n)
        self._pos = pos + n
        return bytes(self._data[pos:pos + n])

    def pull_rest(self) -> bytes:
        return self.pull_bytes(self.remaining())

    def enter_block(self, n: int) -> int:
        """Confine reads to the next ``n`` bytes; returns the bound to give :meth:`leave_block`.

        Plain offset arithmetic rather than a context manager: the codecs open about fifty
        blocks per IKE SA, and a generator-based ``with`` cost more than the reads inside it.
        """
        if n < 0 or self._pos + n > self._end:
            raise BufferReadError(f"block of {n} bytes overruns the data at offset {self._pos}")
        saved_end = self._end
        self._end = self._pos + n
        return saved_end

    def leave_block(self, saved_end: int) -> None:
        """Continue right after the block, skipping whatever of it was left unread."""
        self._pos = self._end
        self._end = saved_end


class Writer:
    """Accumulates big-endian fields; :meth:`close_length` back-fills length fields."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def data(self) -> bytes:
        return bytes(self._buf)

    def push_uint8(self, v: int) -> None:
        if not 0 <= v <= 0xFF:
            raise BufferWriteError(f"{v} does not fit 8 bits")
        self._buf.append(v)

    def push_uint16(self, v: int) -> None:
        if not 0 <= v <= 0xFFFF:
            raise BufferWriteError(f"{v} does not fit 16 bits")
        self._buf += _U16.pack(v)

    def push_uint32(self, v: int) -> None:
        if not 0 <= v <= 0xFFFFFFFF:
            raise BufferWriteError(f"{v} does not fit 32 bits")
        self._buf += _U32.pack(v)

    def push_uint64(self, v: int) -> None:
        if not 0 <= v <= 0xFFFFFFFFFFFFFFFF:
            raise BufferWriteError(f"{v} does not fit 64 bits")
        self._buf += _U64.pack(v)

    def push_bytes(self, b: bytes) -> None:
        self._buf += b

    def open_length(self, size: int) -> int:
        """Reserve a ``size``-byte length field; returns its offset for :meth:`close_length`."""
        field_at = len(self._buf)
        self._buf += bytes(size)
        return field_at

    def close_length(self, field_at: int, size: int, extra: int = 0) -> None:
        """Back-fill the length field at ``field_at`` with the bytes written after it.

        The stored length is that byte count plus ``extra`` (IKE payload lengths count their
        own 4-byte generic header, the IKE header its 28 bytes).
        """
        length = len(self._buf) - field_at - size + extra
        if length >= 1 << (8 * size):
            raise BufferWriteError(f"block of {length} bytes does not fit a {size}-byte length")
        self._buf[field_at:field_at + size] = length.to_bytes(size, "big")
