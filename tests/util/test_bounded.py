"""BoundedCache against a naive model: same answers, never more than maxsize entries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.util.bounded import BoundedCache


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Model:
    """Linear-time reference: a list of (key, stamp, value), least recently used first."""

    def __init__(self, maxsize: int, ttl: float | None, clock: Clock) -> None:
        self.maxsize, self.ttl, self.clock = maxsize, ttl, clock
        self.rows: list[tuple[int, float, int]] = []

    def _live(self) -> None:
        if self.ttl is not None:
            self.rows = [r for r in self.rows if self.clock() - r[1] < self.ttl]

    def find(self, key: int) -> int | None:
        self._live()
        return next((i for i, r in enumerate(self.rows) if r[0] == key), None)

    def set(self, key: int, value: int) -> None:
        i = self.find(key)
        if i is not None:
            del self.rows[i]
        self.rows.append((key, self.clock(), value))
        del self.rows[: max(0, len(self.rows) - self.maxsize)]

    def get(self, key: int) -> int | None:
        i = self.find(key)
        if i is None:
            return None
        _k, _s, v = self.rows.pop(i)
        self.rows.append((key, self.clock(), v))
        return v

    def peek(self, key: int) -> int | None:
        i = self.find(key)
        return None if i is None else self.rows[i][2]


ops = st.lists(st.tuples(st.sampled_from(["set", "get", "peek", "in", "add", "pop", "tick", "len"]),
                         st.integers(0, 12), st.integers(0, 100)), max_size=200)


@settings(max_examples=150, deadline=None)
@given(maxsize=st.integers(1, 8), ttl=st.one_of(st.none(), st.sampled_from([0.5, 1.0, 3.0])), ops=ops)
def test_behaves_like_the_model(maxsize: int, ttl: float | None, ops: list[tuple[str, int, int]]) -> None:
    clock = Clock()
    cache: BoundedCache[int, int] = BoundedCache(maxsize, ttl, clock=clock)
    model = Model(maxsize, ttl, clock)
    for op, key, value in ops:
        if op == "set":
            cache[key] = value
            model.set(key, value)
        elif op == "get":
            assert cache.get(key) == model.get(key)
        elif op == "peek":
            assert cache.peek(key) == model.peek(key)
        elif op == "in":
            assert (key in cache) == (model.find(key) is not None)
        elif op == "add":
            fresh = model.find(key) is None
            assert cache.add(key, value) is fresh
            if fresh:
                model.set(key, value)
        elif op == "pop":
            i = model.find(key)
            assert cache.pop(key) == (None if i is None else model.rows.pop(i)[2])
        elif op == "tick":
            clock.t += value / 100
        else:
            model._live()
            assert len(cache) == len(model.rows)
        assert len(cache._data) <= maxsize
    model._live()
    assert cache.items() == [(k, v) for k, _s, v in model.rows]


def test_a_flood_of_keys_keeps_the_ceiling_and_counts_evictions() -> None:
    cache: BoundedCache[str, bool] = BoundedCache(1000)
    for i in range(100_000):
        cache.add(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", True)
    assert len(cache) == 1000
    assert cache.evicted == 99_000
    assert "10.1.134.159" in cache  # the most recent survive
    assert "10.0.0.0" not in cache


def test_expired_entries_leave_without_being_asked_for() -> None:
    clock = Clock()
    cache: BoundedCache[int, int] = BoundedCache(100, ttl=10, clock=clock)
    for i in range(50):
        cache[i] = i
    clock.t = 11
    cache[99] = 99  # a write sweeps the expired front
    assert len(cache._data) == 1
    assert cache.evicted == 0


def test_a_check_does_not_extend_a_note() -> None:
    clock = Clock()
    cache: BoundedCache[str, bool] = BoundedCache(10, ttl=10, clock=clock)
    assert cache.add("nopeer:192.0.2.1", True)
    for t in range(1, 10):
        clock.t = t
        assert not cache.add("nopeer:192.0.2.1", True)
    clock.t = 10
    assert cache.add("nopeer:192.0.2.1", True)  # noted again after ttl


def test_getitem_and_refusals() -> None:
    cache: BoundedCache[int, int | None] = BoundedCache(2)
    cache[1] = None
    assert cache[1] is None
    with pytest.raises(KeyError):
        cache[2]
    with pytest.raises(ValueError):
        BoundedCache(0)
    with pytest.raises(ValueError):
        BoundedCache(1, ttl=0)
