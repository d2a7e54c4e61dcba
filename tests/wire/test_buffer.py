"""Reader/Writer: bounded reads, back-filled lengths, overruns raise BufferReadError."""

from __future__ import annotations

import pytest

from ipsecd.wire.buffer import Reader, Writer
from ipsecd.wire.errors import BufferReadError, BufferWriteError


def test_round_trip_and_block_lengths() -> None:
    w = Writer()
    w.push_uint8(1)
    at = w.open_length(2)
    w.push_uint32(0xDEADBEEF)
    w.push_uint64(7)
    w.push_bytes(b"xy")
    w.close_length(at, 2, extra=4)
    data = w.data()
    assert data[1:3] == (4 + 8 + 2 + 4).to_bytes(2, "big")
    r = Reader(data)
    assert r.pull_uint8() == 1
    n = r.pull_uint16()
    saved = r.enter_block(n - 4)
    assert r.pull_uint32() == 0xDEADBEEF
    assert r.pull_uint64() == 7
    assert r.pull_rest() == b"xy"
    r.leave_block(saved)
    assert r.eof()


def test_restrict_confines_and_skips_unread() -> None:
    r = Reader(b"\x01\x02\x03\x04\x05")
    saved = r.enter_block(2)
    assert r.pull_uint8() == 1
    with pytest.raises(BufferReadError):
        r.pull_uint16()  # would read into the neighbour
    r.leave_block(saved)
    assert r.pull_uint8() == 3  # the unread byte of the block was skipped
    with pytest.raises(BufferReadError):
        r.enter_block(3)


def test_overruns_and_overflows() -> None:
    with pytest.raises(BufferReadError):
        Reader(b"\x00").pull_uint32()
    with pytest.raises(BufferReadError):
        Reader(b"").pull_bytes(-1)
    w = Writer()
    with pytest.raises(BufferWriteError):
        w.push_uint8(256)
    at = w.open_length(1)
    w.push_bytes(bytes(300))
    with pytest.raises(BufferWriteError):
        w.close_length(at, 1)
