"""Traffic selectors: ranges ↔ prefixes, intersection and RFC 7296 §2.9 narrowing."""

from __future__ import annotations

from ipaddress import IPv4Network, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.policy.errors import SelectorError
from ipsecd.policy.selectors import (
    MAX_PORT,
    TrafficSelector,
    narrow,
    range_to_prefixes,
    reverse,
    selector_matches,
    selectors_from_ts,
    ts_from_selector,
)
from ipsecd.policy.types import Selector

TS = TrafficSelector


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_range_to_prefixes_is_exact_and_minimal_form(a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    prefixes = range_to_prefixes(lo, hi, 32)
    assert len(prefixes) <= 62
    pos = lo
    for net, length in prefixes:  # contiguous, aligned, covering exactly [lo, hi]
        size = 1 << (32 - length)
        assert net == pos and net % size == 0
        # maximal: doubling the block would misalign or overshoot
        assert length == 0 or net % (size * 2) != 0 or net + 2 * size - 1 > hi
        pos += size
    assert pos == hi + 1


def test_range_examples() -> None:
    ts = TS.from_addresses("10.0.0.2", "10.0.0.254")
    assert [str(n) for n in ts.prefixes()][:3] == ["10.0.0.2/31", "10.0.0.4/30", "10.0.0.8/29"]
    assert TS.from_addresses("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").prefixes() == [
        ip_network("::/0")
    ]
    with pytest.raises(SelectorError, match="mixes"):
        TS.from_addresses("10.0.0.1", "::1")
    with pytest.raises(SelectorError):
        TS(4, 5, 4)
    with pytest.raises(SelectorError, match="empty"):
        TS(4, 0, 5, 6, 80, 79)
    with pytest.raises(SelectorError):
        TS(5, 0, 1)


def test_intersection_protocol_ports_and_opaque() -> None:
    a = TS.from_addresses("10.0.0.0", "10.0.0.255", 6, 1000, 2000)
    b = TS.from_addresses("10.0.0.128", "10.0.1.255", 0, 1500, 65535)
    assert a.intersect(b) == TS.from_addresses("10.0.0.128", "10.0.0.255", 6, 1500, 2000)
    assert a.intersect(TS.from_addresses("10.0.0.0", "10.0.0.255", 17)) is None
    assert a.intersect(TS.from_addresses("10.0.1.0", "10.0.1.255")) is None
    assert a.intersect(TS.from_addresses("::", "::1")) is None
    opaque = TS.from_addresses("10.0.0.0", "10.0.0.255", 6, MAX_PORT, 0)
    assert opaque.opaque and opaque.intersect(TS(4, 0, 2**32 - 1)) == opaque
    assert opaque.intersect(a) is None
    assert a.contains(TS.from_addresses("10.0.0.5", "10.0.0.5", 6, 1200, 1200))
    assert not a.contains(TS.from_addresses("10.0.0.5", "10.0.0.5", 0, 1200, 1200))  # any protocol is wider


def _selectors() -> st.SearchStrategy[TrafficSelector]:
    """Small v4/v6 ranges, any or one protocol, port ranges including "any" and OPAQUE: overlaps,
    nesting and every kind of mismatch are all likely."""
    def build(version: int, a: int, b: int, proto: int, p: int, q: int, kind: int) -> TrafficSelector:
        lo, hi = ((0, MAX_PORT), (MAX_PORT, 0), (min(p, q), max(p, q)))[kind]
        return TS(version, min(a, b), max(a, b), proto, lo, hi)
    return st.builds(build, st.sampled_from([4, 6]), st.integers(0, 40), st.integers(0, 40),
                     st.sampled_from([0, 6, 17]), st.integers(0, 70), st.integers(0, 70), st.integers(0, 2))


@settings(max_examples=2000, deadline=None)
@given(_selectors(), _selectors())
def test_contains_is_intersection_equal_to_the_other(a: TrafficSelector, b: TrafficSelector) -> None:
    """``contains`` compares bounds directly; its definition is ``intersect(other) == other``."""
    assert a.contains(b) == (a.intersect(b) == b)


def test_narrowing_rfc7296_2_9() -> None:
    # initiator proposes everything; responder allows two subnets → two narrowed selectors
    proposed = [TS.from_addresses("0.0.0.0", "255.255.255.255")]
    allowed = [TS.from_network(IPv4Network("10.1.0.0/16")), TS.from_network(IPv4Network("10.2.0.0/16"))]
    assert narrow(proposed, allowed) == allowed
    # the triggering packet's selector first (§2.9): the result covers it; contained duplicates go
    pkt = TS.from_addresses("10.1.2.3", "10.1.2.3", 6, 443, 443)
    assert narrow([pkt, *proposed], allowed) == allowed
    assert narrow([pkt], allowed) == [pkt]
    half = TS.from_addresses("10.1.255.0", "10.2.0.255")
    assert narrow([half], allowed) == [TS.from_addresses("10.1.255.0", "10.1.255.255"),
                                       TS.from_addresses("10.2.0.0", "10.2.0.255")]
    # nothing in common: TS_UNACCEPTABLE
    assert narrow([TS.from_network(IPv4Network("192.168.0.0/24"))], allowed) == []


def test_policy_selector_round_trip() -> None:
    sel = Selector(ip_network("10.0.0.0/24"), ip_network("10.9.0.0/16"), 6, 0, 443)
    src, dst = ts_from_selector(sel)
    assert src.any_port and (dst.start_port, dst.end_port) == (443, 443)
    assert selectors_from_ts(src, dst) == [sel]
    odd = TS.from_addresses("10.0.0.1", "10.0.0.2")
    assert len(selectors_from_ts(odd, dst)) == 2  # 10.0.0.1/32 and 10.0.0.2/32
    with pytest.raises(SelectorError, match="no policy form"):
        selectors_from_ts(TS.from_addresses("10.0.0.1", "10.0.0.1", 6, 1024, 65535), dst)
    with pytest.raises(SelectorError, match="different protocols"):
        selectors_from_ts(TS.from_addresses("10.0.0.1", "10.0.0.1", 17), dst)
    rev = reverse(sel)
    assert selector_matches(sel, 4, 0x0A000001, 0x0A090001, 6, 5555, 443)
    assert selector_matches(rev, 4, 0x0A090001, 0x0A000001, 6, 443, 5555)
    assert not selector_matches(sel, 6, 0x0A000001, 0x0A090001, 6, 5555, 443)
