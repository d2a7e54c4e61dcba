"""The worker's IKE gate (issue 17): IKE on UDP/4500 for SPIs that are not ours is dropped in the
worker beyond a trickle, new exchanges are rate-limited per source and over all sources, ours pass
within a budget per SA."""

from __future__ import annotations

import struct

from ipsecd.dataplane.userspace.ikegate import IkeGate, Verdict


def ike(spi_i: bytes, spi_r: bytes, exchange: int = 35) -> bytes:
    return spi_i + spi_r + struct.pack("!BBBBII", 46, 0x20, exchange, 0x08, 1, 28)


OURS = b"\x11" * 8


def test_unknown_spis_pass_only_as_a_trickle_and_are_counted() -> None:
    gate = IkeGate(per_source=10_000, unknown_per_second=5)
    verdicts = [gate.verdict(ike(b"%08d" % k, b"r" * 8), f"198.18.0.{k % 250}") for k in range(1000)]
    assert verdicts.count(Verdict.PASS) == 5
    assert gate.unknown_drops == 995 and gate.rate_drops == 0
    gate.tick()  # a new second: the trickle again
    assert gate.verdict(ike(b"x" * 8, b"r" * 8), "198.18.0.1") is Verdict.PASS


def test_our_spis_pass_under_an_unknown_flood_either_side() -> None:
    gate = IkeGate(unknown_per_second=0)
    gate.update(OURS, True)
    for _ in range(1000):
        assert gate.verdict(ike(b"u" * 8, b"v" * 8), "198.18.0.9") is Verdict.UNKNOWN
    assert gate.verdict(ike(b"peer-spi", OURS), "192.0.2.1") is Verdict.PASS  # we responded
    assert gate.verdict(ike(OURS, b"peer-spi"), "192.0.2.1") is Verdict.PASS  # we initiated
    gate.update(OURS, False)
    assert gate.verdict(ike(OURS, b"peer-spi"), "192.0.2.1") is Verdict.UNKNOWN


def test_one_source_is_bounded_and_cannot_spend_the_others_budget() -> None:
    gate = IkeGate(per_source=50, new_per_second=100)
    gate.update(OURS, True)
    flood = [gate.verdict(ike(b"i" * 8, bytes(8), 34), "203.0.113.7") for _ in range(10_000)]
    assert flood.count(Verdict.PASS) == 50 and gate.rate_drops == 9950
    # another source's new exchange still gets in: the flooder spent only its own 50
    assert gate.verdict(ike(b"j" * 8, bytes(8), 34), "192.0.2.2") is Verdict.PASS
    # and the flooder's own established SA is held to that SA's budget, not the spent source's
    assert gate.verdict(ike(OURS, b"peer-spi"), "203.0.113.7") is Verdict.PASS


def test_our_sas_are_bounded_each_not_by_the_address_they_share() -> None:
    """Many SAs behind one address (a NAT, a load generator) each get their own budget: counted per
    source, 500 peers behind one NAT shared 200 messages a second and a one-host IKE load test ran
    at 100 SAs a second. A flood with one valid SPI still gets that SA's budget and no more."""
    gate = IkeGate(per_source=200, per_sa=20)
    ours = [b"%08d" % k for k in range(500)]
    for spi in ours:
        gate.update(spi, True)
    got = [gate.verdict(ike(b"peer-spi", spi), "198.51.100.1") for spi in ours for _ in range(3)]
    assert got.count(Verdict.PASS) == 1500
    flood = [gate.verdict(ike(ours[0], b"peer-spi"), f"198.18.{k >> 8}.{k & 255}") for k in range(1000)]
    assert flood.count(Verdict.PASS) == 17 and gate.rate_drops == 983  # 20 less the 3 above
    gate.tick()
    assert gate.verdict(ike(ours[0], b"peer-spi"), "198.51.100.1") is Verdict.PASS


def test_new_exchanges_share_one_budget_and_the_source_table_is_bounded() -> None:
    gate = IkeGate(per_source=5, new_per_second=300, max_sources=100)
    got = [gate.verdict(ike(b"i" * 8, bytes(8), 34), f"10.0.{k >> 8}.{k & 255}") for k in range(2000)]
    # 100 sources counted one by one (5 each at most, here 1 each), the others share one entry of 5
    assert got.count(Verdict.PASS) == 105
    assert len(gate._sources) == 101
    gate.tick()
    assert not gate._sources
    spread = [gate.verdict(ike(b"i" * 8, bytes(8), 34), f"10.1.0.{k % 100}") for k in range(1000)]
    assert spread.count(Verdict.PASS) == 300  # the new-exchange budget over all sources
