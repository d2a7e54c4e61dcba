"""Mode-config address pools: RouterOS ``ranges`` syntax, leases by identity, next-pool."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from ipsecd.policy.errors import PoolError, PoolExhaustedError
from ipsecd.policy.pools import AddressPool, parse_ranges

A = ip_address


def test_parse_routeros_ranges() -> None:
    version, ranges = parse_ranges("10.1.0.0/24, 10.0.0.2-10.0.0.254,10.2.0.7")
    assert version == 4
    assert ranges == [(int(A("10.0.0.2")), int(A("10.0.0.254"))), (int(A("10.1.0.0")), int(A("10.1.0.255"))),
                      (int(A("10.2.0.7")), int(A("10.2.0.7")))]
    assert parse_ranges("2001:db8::10-2001:db8::1f")[0] == 6
    for bad, msg in [("10.0.0.9-10.0.0.1", "ends before"), ("10.0.0.0/24,10.0.0.5", "overlap"),
                     ("10.0.0.1,::1", "mix"), ("10.0.0.1-::1", "mixes"), ("nope", "bad pool range"),
                     ("10.0.0.1,", "empty")]:
        with pytest.raises(PoolError, match=msg):
            parse_ranges(bad)


def test_leases_by_identity_are_stable_and_unique() -> None:
    pool = AddressPool("rw", "10.0.0.2-10.0.0.4,10.0.1.0/31")
    assert pool.size == 5 and pool.free == 5
    a = pool.allocate("alice")
    assert a == A("10.0.0.2") and pool.allocate("alice") == a  # same identity, same address
    b = pool.allocate("bob")
    assert b == A("10.0.0.3") and pool.owner(b) == "bob" and pool.lease("bob") == b
    assert A("10.0.1.1") in pool and "10.0.0.9" not in pool and "junk" not in pool and A("::1") not in pool
    got = {pool.allocate(f"u{i}") for i in range(3)}
    assert got == {A("10.0.0.4"), A("10.0.1.0"), A("10.0.1.1")} and pool.free == 0
    with pytest.raises(PoolExhaustedError, match="'rw' is exhausted"):
        pool.allocate("carol")
    assert pool.release("bob") == b and pool.release("bob") is None
    assert pool.allocate("carol") == b
    assert len(pool.leases()) == 5


def test_requested_then_sticky_then_round_robin() -> None:
    pool = AddressPool("p", "10.0.0.1-10.0.0.10")
    assert pool.allocate("a", requested=A("10.0.0.7")) == A("10.0.0.7")
    assert pool.allocate("b", requested=A("10.0.0.7")) == A("10.0.0.1")  # taken: next free instead
    assert pool.allocate("c", requested=A("192.0.2.1")) == A("10.0.0.2")  # outside the pool
    pool.release("a")
    assert pool.allocate("d") == A("10.0.0.3")  # round robin: a's address is not reused at once
    assert pool.allocate("a") == A("10.0.0.7")  # a gets its old address back


def test_next_pool_takes_over_and_cycles_end() -> None:
    second = AddressPool("second", "10.9.0.1")
    first = AddressPool("first", "10.0.0.1", next_pool=second)
    second.next_pool = first  # a cycle must not loop
    assert first.allocate("a") == A("10.0.0.1")
    assert first.allocate("b") == A("10.9.0.1")
    assert first.allocate("b") == A("10.9.0.1")
    with pytest.raises(PoolExhaustedError):
        first.allocate("c")
    assert first.release("b") == A("10.9.0.1") and second.free == 1
