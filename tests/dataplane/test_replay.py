"""Anti-replay window (RFC 4303 §3.4.3) and ESN inference (Appendix A2.2)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.dataplane.errors import ReplayError
from ipsecd.dataplane.replay import ReplayWindow


def accept(w: ReplayWindow, seq_low: int) -> int:
    seq = w.check(seq_low)
    w.commit(seq)
    return seq


def test_basic_window() -> None:
    w = ReplayWindow(64, esn=False)
    with pytest.raises(ReplayError):
        w.check(0)
    assert accept(w, 1) == 1
    with pytest.raises(ReplayError):
        w.check(1)
    accept(w, 100)
    accept(w, 37)  # 100 - 37 = 63 < 64: inside
    with pytest.raises(ReplayError):
        w.check(36)  # left of the window
    with pytest.raises(ReplayError):
        w.check(37)
    accept(w, 50)
    assert w.top == 100


def test_check_does_not_change_state() -> None:
    w = ReplayWindow(32, esn=False)
    accept(w, 10)
    before = (w.top, w.bitmap)
    w.check(11)
    w.check(5)
    assert (w.top, w.bitmap) == before


def test_big_jump_clears_the_bitmap() -> None:
    w = ReplayWindow(32, esn=False)
    for s in range(1, 30):
        accept(w, s)
    accept(w, 1000)
    assert w.bitmap == 1
    accept(w, 999)


def test_full_window_in_order_moves_only_the_top() -> None:
    """Steady in-order traffic keeps the full window as the shared mask (no shift per packet), and
    holes, replays and the window's left edge still count exactly."""
    w = ReplayWindow(64, esn=False)
    full = ReplayWindow(64, esn=False)._mask
    for s in range(1, 200):
        accept(w, s)
    assert w.bitmap is full and w.top == 199
    for s in (199, 150, 136, 135):
        with pytest.raises(ReplayError):
            w.check(s)
    accept(w, 202)  # 200 and 201 missing
    assert w.bitmap == full ^ 0b110  # bits 1 and 2: 201 and 200
    assert (w.check(200), w.check(201)) == (200, 201)
    accept(w, 201)
    accept(w, 200)  # the last hole filled: full again
    assert w.bitmap is full
    accept(w, 203)
    assert w.bitmap is full and w.top == 203
    with pytest.raises(ReplayError):
        w.check(200)


def test_disabled_window_accepts_everything_but_tracks_top() -> None:
    w = ReplayWindow(0, esn=False)
    for s in (5, 5, 1, 0, 7):
        accept(w, s)
    assert w.top == 7


@pytest.mark.parametrize("window", [32, 128, 1024])
def test_esn_inference_across_the_32_bit_boundary(window: int) -> None:
    w = ReplayWindow(window, esn=True)
    w.top = (3 << 32) | 0xFFFFFFF0
    assert w.check(0xFFFFFFF8) == (3 << 32) | 0xFFFFFFF8  # same epoch, ahead
    assert w.check(5) == (4 << 32) | 5  # wrapped: next epoch
    assert w.check(0xFFFFFFF0 - window + 1) == (3 << 32) | (0xFFFFFFF0 - window + 1)
    accept(w, 5)
    assert w.top == (4 << 32) | 5
    # Case B (Tl < W - 1): a low number near 2^32 belongs to the previous epoch
    assert w.check(0xFFFFFFFF) == (3 << 32) | 0xFFFFFFFF
    assert w.check(6) == (4 << 32) | 6
    with pytest.raises(ReplayError):
        w.check(5)


def test_esn_before_the_start_is_refused() -> None:
    w = ReplayWindow(64, esn=True)
    accept(w, 3)
    with pytest.raises(ReplayError):
        w.check(0xFFFFFFFF)  # would be epoch -1


def test_esn_disabled_window_still_infers() -> None:
    w = ReplayWindow(0, esn=True)
    w.top = (1 << 32) + 10
    assert w.check(20) == (1 << 32) + 20
    assert w.check(0xFFFFFF00) == 0xFFFFFF00  # late packet of epoch 0
    assert w.check(0x70000000) == (1 << 32) | 0x70000000  # far ahead (< 2^31) in the same epoch
    assert w.check(0x90000000) == 0x90000000  # more than 2^31 ahead reads as behind


class _Naive:
    """Reference model: the set of accepted numbers and the highest one."""

    def __init__(self, size: int) -> None:
        self.size, self.seen, self.top = size, set[int](), 0

    def ok(self, seq: int) -> bool:
        return seq != 0 and seq not in self.seen and seq > self.top - self.size

    def add(self, seq: int) -> None:
        self.seen.add(seq)
        self.top = max(self.top, seq)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([1, 8, 32, 64, 100, 128]), st.lists(st.integers(0, 400), max_size=120))
def test_window_matches_naive_model(size: int, seqs: list[int]) -> None:
    w, ref = ReplayWindow(size, esn=False), _Naive(size)
    for s in seqs:
        want = ref.ok(s)
        try:
            got = w.check(s)
        except ReplayError:
            assert not want, s
            continue
        assert want and got == s
        w.commit(s)
        ref.add(s)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, (1 << 40)), st.lists(st.integers(-100, 100), min_size=1, max_size=50))
def test_esn_inference_recovers_nearby_numbers(start: int, deltas: list[int]) -> None:
    """Any sequence number within the window of the top is recovered from its low 32 bits."""
    w = ReplayWindow(128, esn=True)
    w.top = start
    for d in deltas:
        seq = w.top + d
        if seq <= 0 or d <= -128:
            continue
        try:
            got = w.check(seq & 0xFFFFFFFF)
        except ReplayError:
            assert seq <= w.top  # only an already-seen number in the window
            continue
        assert got == seq
        w.commit(seq)
