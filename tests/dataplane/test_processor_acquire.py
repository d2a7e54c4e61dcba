"""Acquire re-send (like Linux's acquire expiry): a require/unique policy with no SA keeps dropping and
acquires again every ``acquire_retry`` seconds per policy (on the clock the caller passes), not once
forever and not per packet; an installed SA stops it."""

from __future__ import annotations

from ipaddress import ip_network

from ipsecd.dataplane.processor import ACQUIRE_RETRY, DROP, PROTECT, Processor
from ipsecd.policy.events import Acquire
from ipsecd.policy.types import Direction, Level, Selector
from tests.dataplane.test_processor import GW_A, GW_B, H_A, H_B, KEY_AB, NET_A, NET_B, packet, policy, sa


def acquires(p: Processor) -> list[str]:
    evs = p.poll_events()
    assert all(isinstance(e, Acquire) for e in evs)
    return [e.policy_id for e in evs if isinstance(e, Acquire)]


def test_acquire_is_sent_again_per_policy_after_the_retry_interval() -> None:
    p = Processor(acquire_retry=10.0)
    p.add_policy(policy("req", NET_A, NET_B))
    p.add_policy(policy("uniq", NET_A, "10.3.0.0/24", level=Level.UNIQUE, order=1))
    to_b, to_c = packet(H_A, H_B), packet(H_A, "10.3.0.9")
    assert p.outbound(to_b, 100.0)[0] == DROP
    assert p.outbound(to_c, 104.0)[0] == DROP
    assert acquires(p) == ["req", "uniq"]
    for t in (101.0, 105.0, 109.9):  # within the interval: still dropped and counted, no new Acquire
        assert p.outbound(to_b, t)[0] == DROP and p.outbound(to_c, t)[0] == DROP
    assert acquires(p) == []
    assert p.outbound(to_b, 110.0)[0] == DROP  # IKE did not install an SA in time: ask again
    assert p.outbound(to_c, 110.0)[0] == DROP  # "uniq" acquired at 104: not yet
    assert acquires(p) == ["req"]
    p.outbound(to_c, 114.0)
    p.outbound(to_b, 115.0)
    assert acquires(p) == ["uniq"]
    assert p.stats.out_no_states == 12


def test_an_installed_sa_stops_the_acquires_and_a_new_gap_acquires_at_once() -> None:
    p = Processor()
    p.add_policy(policy("req", NET_A, NET_B))
    pkt = packet(H_A, H_B)
    p.outbound(pkt, 0.0)
    assert acquires(p) == ["req"]
    p.add_sa(sa(0x1001, Direction.OUT, GW_A, GW_B, KEY_AB, "req"), 1.0)
    assert p.outbound(pkt, ACQUIRE_RETRY + 5)[0] == PROTECT
    assert acquires(p) == []
    p.del_sa(0x1001, Direction.OUT)  # SA gone (rekey failed): the next packet acquires immediately
    p.outbound(pkt, ACQUIRE_RETRY + 6)
    evs = p.poll_events()
    assert evs == [Acquire("req", Selector(ip_network(f"{H_A}/32"), ip_network(f"{H_B}/32"), 17, 1234, 5678),
                           Level.REQUIRE)]
