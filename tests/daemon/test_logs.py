"""Log lines: limited by reason (not by source), summarised; one line per message whatever it carries."""

from __future__ import annotations

import logging

import pytest

from ipsecd.daemon.logs import Formatter, Notes, ReasonLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_spoofed_flood_gives_a_burst_and_one_summary(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limiter = ReasonLimiter(logging.getLogger("ipsecd.test"), burst=5, window=10, clock=clock)
    with caplog.at_level(logging.WARNING, logger="ipsecd.test"):
        for i in range(51_239):
            clock.t = i / 10_000
            limiter.log("no peer", f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", logging.WARNING, "from %d", i)
        clock.t = 10.5
        limiter.flush()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[:5] == [f"from {i}" for i in range(5)]
    assert lines[5:] == ["no peer: … 51,234 more from 51,234 sources in the last 10 s"]


def test_one_source_is_said_once_and_the_window_reopens(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limiter = ReasonLimiter(logging.getLogger("ipsecd.test"), burst=1, window=10, clock=clock)
    with caplog.at_level(logging.WARNING, logger="ipsecd.test"):
        assert limiter.log("r", "192.0.2.1", logging.WARNING, "a")
        assert not limiter.log("r", "192.0.2.1", logging.WARNING, "a again")  # same source: said
        assert not limiter.log("r", "192.0.2.2", logging.WARNING, "b")  # burst used up
        clock.t = 11
        assert limiter.log("r", "192.0.2.3", logging.WARNING, "c")  # a new window: summary first
        assert not limiter.log("r", "192.0.2.4", logging.WARNING, "d")
        limiter.flush(everything=True)  # shutdown: the open window is summarised too
    assert [r.getMessage() for r in caplog.records] == [
        "a", "r: … 1 more from 1 source in the last 10 s", "c", "r: … 1 more from 1 source in the last 10 s"]


def test_notes_are_bounded() -> None:
    notes = Notes()
    for i in range(10_000):
        notes.once(f"k{i}", "x", level=logging.DEBUG)
    assert len(notes) <= 4096


def test_the_formatter_keeps_each_message_on_one_line() -> None:
    record = logging.LogRecord(
        "ipsecd", logging.INFO, __file__, 1, "peer %s: hi", ("x\n12:00:00 INFO fake\x1b[2J",), None
    )
    out = Formatter().format(record)
    assert "\n" not in out and "\x1b" not in out and "x\\n12:00:00 INFO fake\\x1b[2J" in out
