"""Reader/Writer: bounded reads, back-filled lengths, overruns raise BufferReadError."""

from __future__ import annotations

import pytest

from ipsecd.wire.buffer import Reader, Writer
from ipsecd.wire.errors import BufferReadError, BufferWriteError


def test_round_trip_and_block_lengths() -> None:
    w = Writer()
    w.push_uint8(1)
    with w.push_block(2, extra=4):
        w.push_uint32(0xDEADBEEF)
        w.push_uint64(7)
        w.push_bytes(b"xy")
    data = w.data()
    assert data[1:3] == (4 + 8 + 2 + 4).to_bytes(2, "big")
    r = Reader(data)
    assert r.pull_uint8() == 1
    n = r.pull_uint16()
    with r.restrict_to(n - 4) as b:
        assert b.pull_uint32() == 0xDEADBEEF
        assert b.pull_uint64() == 7
        assert b.pull_rest() == b"xy"
    assert r.eof()


def test_restrict_confines_and_skips_unread() -> None:
    r = Reader(b"\x01\x02\x03\x04\x05")
    with r.restrict_to(2) as b:
        assert b.pull_uint8() == 1
        with pytest.raises(BufferReadError):
            b.pull_uint16()  # would read into the neighbour
    assert r.pull_uint8() == 3  # the unread byte of the block was skipped
    with pytest.raises(BufferReadError):
        with r.restrict_to(3):
            pass


def test_overruns_and_overflows() -> None:
    with pytest.raises(BufferReadError):
        Reader(b"\x00").pull_uint32()
    with pytest.raises(BufferReadError):
        Reader(b"").pull_bytes(-1)
    w = Writer()
    with pytest.raises(BufferWriteError):
        w.push_uint8(256)
    with pytest.raises(BufferWriteError):
        with w.push_block(1):
            w.push_bytes(bytes(300))
