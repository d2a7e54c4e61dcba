"""SAD: SPI allocation, lookups, rekey preference, lifetimes and installed-sa properties."""

from __future__ import annotations

import random
from ipaddress import ip_address

import pytest

from ipsecd.policy.errors import SadError
from ipsecd.policy.events import HardExpire, SoftExpire
from ipsecd.policy.sad import MIN_SPI, Sad, SaLife, enc_algorithm_family
from ipsecd.policy.types import Direction, IpsecProto, Lifetime, Mode, SaSpec

A = ip_address


def spec(spi: int, direction: Direction = Direction.OUT, policy: str | None = "p", **kw: object) -> SaSpec:
    base: dict[str, object] = dict(
        proto=IpsecProto.ESP,
        mode=Mode.TUNNEL,
        src=A("192.0.2.1"),
        dst=A("192.0.2.2"),
        encr="aes-256-cbc",
        encr_key=bytes(range(32)),
        integ="sha256",
        integ_key=bytes(32),
        policy_id=policy,
    )
    base.update(kw)
    return SaSpec(spi, direction, **base)  # type: ignore[arg-type]


def test_get_spi_never_reserved_range_and_unique() -> None:
    # a generator that first yields forbidden and repeated values
    values = iter([0, 1, 255, 0x1234, 0x1234, 0x1234, 0x5678])
    sad = Sad(randbits=lambda bits: next(values))
    assert sad.get_spi(IpsecProto.ESP, now=0.0) == 0x1234
    assert sad.is_larval(0x1234, IpsecProto.ESP)
    assert sad.get_spi(IpsecProto.ESP, now=0.0) == 0x5678  # 0x1234 is reserved


def test_get_spi_random_many() -> None:
    sad = Sad(randbits=random.Random(7).getrandbits)
    spis = {sad.get_spi(IpsecProto.AH, now=0.0) for _ in range(2000)}
    assert len(spis) == 2000 and min(spis) >= MIN_SPI


def test_larval_reservation_lapses_and_is_consumed() -> None:
    sad = Sad(larval_timeout=30.0)
    spi = sad.get_spi(IpsecProto.ESP, now=0.0)
    sad.expire(now=29.0)
    assert sad.is_larval(spi, IpsecProto.ESP)
    assert sad.next_timer() == 30.0
    sad.expire(now=30.0)
    assert not sad.is_larval(spi, IpsecProto.ESP)
    spi = sad.get_spi(IpsecProto.ESP, now=40.0)
    sad.add(spec(spi, Direction.IN), now=41.0)
    assert not sad.is_larval(spi, IpsecProto.ESP)
    sad.release_spi(spi, IpsecProto.ESP)  # harmless after install
    assert sad.inbound(spi, 50) is not None


def test_inbound_lookup_by_spi_protocol_and_destination() -> None:
    sad = Sad()
    rec = sad.add(spec(0x1000, Direction.IN), now=0.0)
    assert sad.inbound(0x1000, 50) is rec
    assert sad.inbound(0x1000, 51) is None
    assert sad.inbound(0x1000, 50, dst=int(A("192.0.2.2"))) is rec
    assert sad.inbound(0x1000, 50, dst=int(A("192.0.2.9"))) is None
    assert sad.find(0x1000, Direction.IN) is rec
    with pytest.raises(SadError, match="already installed"):
        sad.add(spec(0x1000, Direction.IN), now=0.0)
    with pytest.raises(SadError, match="reserved"):
        sad.add(spec(255, Direction.IN), now=0.0)
    # outbound SPIs are the peers' choice: the same SPI towards two peers is two SAs
    a = sad.add(spec(0x2000), now=0.0)
    b = sad.add(spec(0x2000, dst=A("192.0.2.3")), now=0.0)
    assert sad.find(0x2000, Direction.OUT, IpsecProto.ESP, int(A("192.0.2.3"))) is b
    assert sad.find(0x2000, Direction.OUT, dst=int(A("192.0.2.2"))) is a
    assert len(sad) == 3
    sad.remove(a)
    assert sad.find(0x2000, Direction.OUT, dst=int(A("192.0.2.2"))) is None
    assert sad.flush() == 2 and len(sad) == 0


def test_outbound_newest_mature_wins_during_rekey() -> None:
    sad = Sad()
    old = sad.add(spec(0x100, lifetime=Lifetime(soft_seconds=10, hard_seconds=20)), now=0.0)
    sad.add(spec(0x101, Direction.IN), now=0.0)
    assert sad.outbound("p") is old
    assert sad.expire(now=10.0) == [SoftExpire(0x100, Direction.OUT, by_bytes=False)]
    assert old.state is SaLife.DYING
    assert sad.outbound("p") is old  # dying is still used until a new one exists
    new = sad.add(spec(0x200), now=10.5)
    assert sad.outbound("p") is new
    newer = sad.add(spec(0x300), now=10.5)
    assert sad.outbound("p") is newer
    sad.remove(newer)
    assert sad.outbound("p") is new
    assert sad.policy_counts("p") == (1, 1, 0)
    events = sad.expire(now=20.0)
    assert HardExpire(0x100, Direction.OUT, by_bytes=False) in events
    assert old.state.value == "dead" and sad.policy_counts("p") == (1, 0, 1)
    assert sad.outbound("p") is new
    assert sad.expire(now=30.0) == []  # each event once


def test_byte_lifetimes_through_attached_counters() -> None:
    class Xform:  # what EspSa/AhSa provide
        def __init__(self) -> None:
            self.bytes = 0
            self.packets = 0
            self.invalid_packets = 0
            self.last_used: float | None = None

    sad = Sad()
    rec = sad.add(spec(0x100, lifetime=Lifetime(soft_bytes=1000, hard_bytes=2000)), now=0.0)
    xf = Xform()
    rec.counters = xf
    assert rec.byte_limit == 1000
    xf.bytes = 999
    assert sad.check(rec, now=1.0) == []
    xf.bytes = 1000
    assert sad.check(rec, now=1.0) == [SoftExpire(0x100, Direction.OUT, by_bytes=True)]
    assert rec.byte_limit == 2000
    xf.bytes = 2500
    assert sad.check(rec, now=2.0) == [HardExpire(0x100, Direction.OUT, by_bytes=True)]
    assert rec.byte_limit == float("inf") and rec.state is SaLife.DEAD and not rec.usable
    assert sad.check(rec, now=3.0) == []


def test_hard_reached_with_soft_reports_hard_only() -> None:
    sad = Sad()
    sad.add(spec(0x100, Direction.IN, lifetime=Lifetime(soft_seconds=5, hard_seconds=8)), now=0.0)
    assert sad.expire(now=100.0) == [HardExpire(0x100, Direction.IN, by_bytes=False)]


def test_next_timer_follows_states() -> None:
    sad = Sad()
    assert sad.next_timer() is None
    rec = sad.add(spec(0x100, lifetime=Lifetime(soft_seconds=5, hard_seconds=8)), now=100.0)
    assert sad.next_timer() == 105.0
    assert rec.expires_in(101.0) == 4.0
    sad.expire(now=105.0)
    assert sad.next_timer() == 108.0 and rec.expires_in(106.0) == 2.0
    sad.expire(now=108.0)
    assert sad.next_timer() is None and rec.expires_in(109.0) is None


def test_update_keeps_counters_and_relinks_policy() -> None:
    sad = Sad()
    rec = sad.add(spec(0x100), now=0.0)
    rec.counters.bytes = 77
    again = sad.update(spec(0x100, policy="q", lifetime=Lifetime(hard_bytes=50)))
    assert again is rec and rec.counters.bytes == 77 and rec.byte_limit == 50
    assert sad.outbound("p") is None and sad.outbound("q") is rec
    with pytest.raises(SadError, match="no outbound ESP SA 0x999"):
        sad.update(spec(0x999))


def test_installed_sa_view_has_every_manual_property() -> None:
    sad = Sad()
    rec = sad.add(
        spec(0xABC, lifetime=Lifetime(soft_seconds=1500, hard_seconds=1800)), now=10.0, wall_time=1.7e9
    )
    rec.counters.bytes, rec.counters.packets = 1400, 1
    view = sad.view(now=20.0)[0]
    manual = {
        "AH",
        "ESP",
        "add-lifetime",
        "addtime",
        "auth-algorithm",
        "auth-key",
        "current-bytes",
        "dst-address",
        "enc-algorithm",
        "enc-key",
        "enc-key-size",
        "expires-in",
        "hw-aead",
        "replay",
        "spi",
        "src-address",
        "state",
    }
    tree = {"current-packets", "invalid-packets", "seen-traffic"}  # RouterOS 7 command tree additions
    assert manual | tree == set(view)
    assert (
        view["spi"] == "0xABC" and view["state"] == "mature" and view["ESP"] is True and view["AH"] is False
    )
    assert (
        view["enc-algorithm"] == "aes-cbc"
        and view["enc-key-size"] == 256
        and view["auth-algorithm"] == "sha256"
    )
    assert view["add-lifetime"] == (1500, 1800) and view["expires-in"] == 1490.0 and view["addtime"] == 1.7e9
    assert view["current-bytes"] == 1400 and view["seen-traffic"] is False and view["hw-aead"] is False
    assert view["enc-key"] == bytes(range(32)).hex()
    q = rec.query()
    assert (q.spi, q.current_bytes, q.current_packets, q.state, q.add_time) == (
        0xABC,
        1400,
        1,
        "mature",
        10.0,
    )


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("aes-128-gcm", "aes-gcm"),
        ("aes-256-ctr", "aes-ctr"),
        ("3des", "3des"),
        ("chacha20poly1305", "chacha20poly1305"),
        ("null", "null"),
        ("camellia-256", "camellia"),
        ("no-such", "no-such"),
    ],
)
def test_enc_algorithm_family(name: str, family: str) -> None:
    assert enc_algorithm_family(name) == family


def test_removing_a_stale_record_leaves_its_successor() -> None:
    sad = Sad()
    old = sad.add(spec(0x100, Direction.IN), now=0.0)
    sad.remove(old)
    new = sad.add(spec(0x100, Direction.IN), now=1.0)
    sad.remove(old)  # a second delete of the old SA must not remove the new one
    assert sad.inbound(0x100, 50) is new
    out_old = sad.add(spec(0x200), now=0.0)
    sad.remove(out_old)
    out_new = sad.add(spec(0x200), now=1.0)
    sad.remove(out_old)
    assert sad.find(0x200, Direction.OUT) is out_new


def test_same_outbound_spi_to_several_peers_survives_removals_in_any_order() -> None:
    sad = Sad()
    a = sad.add(spec(0x300, dst=A("192.0.2.2")), now=0.0)
    b = sad.add(spec(0x300, dst=A("192.0.2.3"), policy="q"), now=0.0)
    c = sad.add(
        spec(0x300, proto=IpsecProto.AH, encr="null", encr_key=b"", dst=A("192.0.2.2"), policy="r"), now=0.0
    )
    with pytest.raises(SadError, match="already installed"):
        sad.add(spec(0x300, dst=A("192.0.2.3")), now=0.0)
    assert len(sad) == 3 and set(sad) == {a, b, c}
    assert sad.find(0x300, Direction.OUT, IpsecProto.AH) is c
    sad.remove(a)  # the first one goes: the others stay reachable by SPI, protocol and destination
    assert sad.find(0x300, Direction.OUT, dst=int(A("192.0.2.2"))) is c
    assert sad.find(0x300, Direction.OUT, IpsecProto.ESP) is b
    assert sad.outbound("p") is None and sad.outbound("q") is b and sad.outbound("r") is c
    sad.remove(c)
    sad.remove(c)  # twice: harmless
    assert sad.find(0x300, Direction.OUT) is b and len(sad) == 1
    sad.remove(b)
    assert sad.find(0x300, Direction.OUT) is None and len(sad) == 0


def test_policy_with_one_then_two_then_one_sa() -> None:
    sad = Sad()
    first = sad.add(spec(0x400), now=0.0)
    inbound = sad.add(spec(0x401, Direction.IN), now=0.0)  # inbound SAs never carry a policy's traffic
    assert sad.outbound("p") is first and sad.policy_counts("p") == (1, 0, 0)
    second = sad.add(spec(0x402), now=1.0)
    assert sad.outbound("p") is second and sad.policy_counts("p") == (2, 0, 0)
    sad.remove(second)
    assert sad.outbound("p") is first and sad.policy_counts("p") == (1, 0, 0)
    sad.remove(first)
    assert sad.outbound("p") is None and sad.policy_counts("p") == (0, 0, 0)
    assert sad.inbound(0x401, 50) is inbound


def test_records_share_what_is_not_their_own() -> None:
    """Memory (issue 5): no per-SA infinity and one wall-clock offset for SAs installed together,
    yet each SA's addtime is its own install time."""
    sad = Sad()
    a = sad.add(spec(0x500), now=10.0, wall_time=1.7e9 + 10.0)
    b = sad.add(spec(0x501), now=12.5, wall_time=1.7e9 + 12.5)
    assert a.byte_limit is b.byte_limit == float("inf")
    assert a.wall_offset is b.wall_offset
    assert (a.wall_time, b.wall_time) == (1.7e9 + 10.0, 1.7e9 + 12.5)
    c = sad.add(spec(0x502), now=13.0, wall_time=1.8e9)  # the wall clock was set: a new offset
    assert c.wall_time == 1.8e9 and c.wall_offset is not a.wall_offset and a.wall_time == 1.7e9 + 10.0
    assert sad.add(spec(0x503), now=14.0).wall_time is None


def test_view_lists_oldest_first_across_directions() -> None:
    sad = Sad()
    sad.add(spec(0x601, Direction.IN), now=5.0)
    sad.add(spec(0x602), now=1.0)
    sad.add(spec(0x603, Direction.IN), now=3.0)
    assert [row["spi"] for row in sad.view(now=6.0)] == ["0x602", "0x603", "0x601"]
