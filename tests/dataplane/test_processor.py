"""Processor: outbound/inbound through SPD + SAD + ESP/AH, the SPD-side statistics counters (each
provoked by its cause), acquires, lifetimes, IKE/NAT-T bypass, and SA ownership by workers."""

from __future__ import annotations

import random
import struct
from ipaddress import ip_address, ip_network

import pytest

from ipsecd.dataplane.memory import MemoryDataPlane, connect
from ipsecd.dataplane.processor import DROP, IKE, PASS, PROTECT, Processor, flow, owner_of
from ipsecd.policy.events import Acquire, HardExpire, SoftExpire
from ipsecd.policy.types import (
    Action,
    Direction,
    IpsecProto,
    Level,
    Lifetime,
    Mode,
    PolicySpec,
    SaSpec,
    Selector,
    UdpEncap,
)
from ipsecd.wire import ip as wip
from ipsecd.wire import natt

GW_A, GW_B = "192.0.2.1", "192.0.2.2"
NET_A, NET_B = "10.1.0.0/24", "10.2.0.0/24"
H_A, H_B = "10.1.0.5", "10.2.0.7"
KEY_AB, KEY_BA = bytes(range(20)), bytes(range(20, 40))


def packet(src: str, dst: str, proto: int = wip.PROTO_UDP, sport: int = 1234, dport: int = 5678,
           payload: bytes = b"hello ipsec") -> bytes:
    s, d = ip_address(src).packed, ip_address(dst).packed
    if proto in (wip.PROTO_UDP, wip.PROTO_TCP):
        body = wip.udp_datagram(sport, dport, payload, s, d) if proto == wip.PROTO_UDP else \
            struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x10, 1000, 0, 0) + payload
    else:
        body = bytes([8, 0, 0, 0]) + payload
    return wip.ip_header(s, d, proto, len(body)) + body


def policy(
    pid: str,
    src: str,
    dst: str,
    *,
    action: Action = Action.ENCRYPT,
    level: Level = Level.REQUIRE,
    order: int = 0,
    tunnel: bool = True,
    proto: int = 0,
    dport: int = 0,
    ipsec: IpsecProto = IpsecProto.ESP,
) -> PolicySpec:
    return PolicySpec(
        pid, order, Selector(ip_network(src), ip_network(dst), proto, 0, dport), action, level, ipsec, tunnel
    )


def sa(spi: int, direction: Direction, src: str, dst: str, key: bytes, pid: str | None, *,
       mode: Mode = Mode.TUNNEL, encap: bool = False, proto: IpsecProto = IpsecProto.ESP,
       lifetime: Lifetime | None = None) -> SaSpec:
    if proto is IpsecProto.AH:
        return SaSpec(
            spi,
            direction,
            proto,
            mode,
            ip_address(src),
            ip_address(dst),
            "null",
            b"",
            "sha256",
            key[:16] * 2,
            policy_id=pid,
            lifetime=lifetime or Lifetime(),
        )
    return SaSpec(
        spi,
        direction,
        proto,
        mode,
        ip_address(src),
        ip_address(dst),
        "aes-128-gcm",
        key,
        "null",
        b"",
        policy_id=pid,
        encap=UdpEncap() if encap else None,
        lifetime=lifetime or Lifetime(),
    )


def gateways(*, encap: bool = False, proto: IpsecProto = IpsecProto.ESP, workers: int = 1,
             lifetime: Lifetime | None = None) -> tuple[MemoryDataPlane, MemoryDataPlane]:
    """Two tunnel-mode gateways A (NET_A) and B (NET_B) with one SA pair."""
    clock = [100.0]
    a = MemoryDataPlane(lambda: clock[0], workers=workers)
    b = MemoryDataPlane(lambda: clock[0], workers=workers)
    a.add_policy(policy("p", NET_A, NET_B, ipsec=proto))
    b.add_policy(policy("p", NET_B, NET_A, ipsec=proto))
    a.add_sa(sa(0x1001, Direction.OUT, GW_A, GW_B, KEY_AB, "p", encap=encap, proto=proto, lifetime=lifetime))
    b.add_sa(sa(0x1001, Direction.IN, GW_A, GW_B, KEY_AB, "p", encap=encap, proto=proto))
    b.add_sa(sa(0x2002, Direction.OUT, GW_B, GW_A, KEY_BA, "p", encap=encap, proto=proto))
    a.add_sa(sa(0x2002, Direction.IN, GW_B, GW_A, KEY_BA, "p", encap=encap, proto=proto))
    return a, b


def moved(stats: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in stats.items() if v}


@pytest.mark.parametrize(("encap", "proto"), [(False, IpsecProto.ESP), (True, IpsecProto.ESP),
                                              (False, IpsecProto.AH)])
def test_tunnel_round_trip_both_directions(encap: bool, proto: IpsecProto) -> None:
    a, b = gateways(encap=encap, proto=proto)
    p1, p2 = packet(H_A, H_B), packet(H_B, H_A, payload=b"reply")
    a.send(p1)
    wire = list(a.wire)
    assert len(wire) == 1 and wip.parse(wire[0]).proto == (wip.PROTO_UDP if encap else proto.value)
    assert p1[20:] not in wire[0] or proto is IpsecProto.AH  # ESP hides the payload
    b.send(p2)
    connect(a, b)
    assert b.take_delivered() == [p1]
    assert a.take_delivered() == [p2]
    st = a.query_sa(0x1001, Direction.OUT)
    assert st is not None and st.current_packets == 1 and st.last_used == 100.0
    assert moved(a.statistics()) == {} and moved(b.statistics()) == {}


def test_transport_mode_between_the_hosts() -> None:
    a, b = MemoryDataPlane(), MemoryDataPlane()
    a.add_policy(policy("t", f"{GW_A}/32", f"{GW_B}/32", tunnel=False))
    b.add_policy(policy("t", f"{GW_B}/32", f"{GW_A}/32", tunnel=False))
    a.add_sa(sa(0x3003, Direction.OUT, GW_A, GW_B, KEY_AB, "t", mode=Mode.TRANSPORT))
    b.add_sa(sa(0x3003, Direction.IN, GW_A, GW_B, KEY_AB, "t", mode=Mode.TRANSPORT))
    p = packet(GW_A, GW_B, wip.PROTO_TCP, 40000, 80, b"GET /")
    a.send(p)
    out = a.wire[0]
    parsed = wip.parse(out)
    assert parsed.proto == wip.PROTO_ESP and parsed.src == ip_address(GW_A).packed
    connect(a, b)
    assert b.take_delivered() == [p]


def test_ike_ports_bypass_the_spd_both_ways() -> None:
    a, _ = gateways()
    # a require policy covering everything between the gateways would otherwise drop IKE
    a.add_policy(policy("all", f"{GW_A}/32", f"{GW_B}/32", order=-1, tunnel=False))
    for port in (500, 4500):
        ike = packet(GW_A, GW_B, sport=port, dport=port)
        a.send(ike)
        assert a.take_wire() == [ike]
        a.receive(packet(GW_B, GW_A, sport=port, dport=500))
    assert len(a.take_delivered()) == 2
    assert moved(a.statistics()) == {}


def test_ike_on_4500_goes_to_the_daemon_and_keepalives_vanish() -> None:
    a, _ = gateways(encap=True)
    msg = b"\x11" * 28
    a.receive(packet(GW_B, GW_A, sport=4500, dport=4500, payload=natt.add_marker(msg)))
    a.receive(packet(GW_B, GW_A, sport=4500, dport=4500, payload=natt.KEEPALIVE))
    assert a.ike == [msg] and a.delivered == []
    assert moved(a.statistics()) == {}


def test_no_policy_and_none_pass_in_clear() -> None:
    a, _ = gateways()
    a.add_policy(policy("none", "10.9.0.0/16", "0.0.0.0/0", action=Action.NONE))
    for p in (packet("10.5.0.1", H_B), packet("10.9.0.1", H_B)):
        a.send(p)
        assert a.take_wire() == [p]


def test_out_policy_blocked_by_discard() -> None:
    a, _ = gateways()
    a.add_policy(policy("d", NET_A, NET_B, action=Action.DISCARD, order=-1, proto=wip.PROTO_TCP))
    a.send(packet(H_A, H_B, wip.PROTO_TCP))
    a.send(packet(H_A, H_B, wip.PROTO_UDP))  # not TCP: the encrypt policy below takes it
    assert len(a.wire) == 1
    assert moved(a.statistics()) == {"out-policy-blocked": 1}


def test_out_no_states_acquires_once_per_policy_and_use_passes() -> None:
    dp = MemoryDataPlane()
    dp.add_policy(policy("req", NET_A, NET_B))
    dp.add_policy(policy("use", NET_A, "10.3.0.0/24", level=Level.USE))
    p = packet(H_A, H_B, wip.PROTO_UDP, 1111, 53)
    dp.send(p)
    dp.send(packet(H_A, "10.2.0.9"))
    used = packet(H_A, "10.3.0.1")
    dp.send(used)
    assert dp.take_wire() == [used]
    assert moved(dp.statistics()) == {"out-no-states": 2}
    evs = dp.poll_events()
    assert evs == [Acquire("req", Selector(ip_network(f"{H_A}/32"), ip_network(f"{H_B}/32"), 17, 1111, 53),
                           Level.REQUIRE)]
    dp.add_sa(sa(0x1001, Direction.OUT, GW_A, GW_B, KEY_AB, "req"))
    dp.send(p)
    assert len(dp.take_wire()) == 1


def test_in_no_states_unknown_spi() -> None:
    a, b = gateways()
    a.send(packet(H_A, H_B))
    b.del_sa(0x1001, Direction.IN)
    connect(a, b)
    assert b.delivered == [] and moved(b.statistics()) == {"in-no-states": 1}


def test_in_no_policies_after_the_policy_is_gone() -> None:
    a, b = gateways()
    a.send(packet(H_A, H_B))
    b.del_policy("p")
    connect(a, b)
    assert b.delivered == [] and moved(b.statistics()) == {"in-no-policies": 1}


def test_in_template_mismatch_when_another_policy_matches() -> None:
    a, b = gateways()
    # B's first match for the decrypted packet is a different encrypt policy than the SA's
    b.add_policy(policy("other", "10.2.0.7/32", NET_A, order=-1))
    a.send(packet(H_A, H_B))
    connect(a, b)
    assert b.delivered == [] and moved(b.statistics()) == {"in-template-mismatches": 1}


def test_in_policy_blocked_decrypted_and_plain() -> None:
    a, b = gateways()
    b.add_policy(policy("d", "10.2.0.7/32", NET_A, action=Action.DISCARD, order=-1))
    a.send(packet(H_A, H_B))
    connect(a, b)
    b.receive(packet(H_A, H_B))  # the same flow in clear
    assert b.delivered == [] and moved(b.statistics()) == {"in-policy-blocked": 2}


def test_plain_packet_for_a_require_policy_is_a_template_mismatch() -> None:
    _, b = gateways()
    b.receive(packet(H_A, H_B))
    b.receive(packet("10.7.0.1", H_B))  # no policy: passes
    assert len(b.delivered) == 1 and moved(b.statistics()) == {"in-template-mismatches": 1}


def test_sa_errors_are_counted_by_their_cause() -> None:
    a, b = gateways()
    a.send(packet(H_A, H_B))
    a.send(packet(H_A, H_B))
    pkt, second = a.take_wire()
    b.receive(pkt)
    b.receive(pkt)  # replay
    bad = bytearray(second)
    bad[-1] ^= 1
    b.receive(bytes(bad))  # ICV (a fresh sequence number, so the window lets it through to the ICV)
    b.receive(pkt[:22])  # truncated IPv4 header claims more
    assert moved(b.statistics()) == {"in-state-sequence-errors": 1, "in-state-protocol-errors": 1,
                                     "in-header-errors": 1}
    assert len(b.delivered) == 1


def test_byte_lifetimes_raise_events_and_hard_expiry_stops_the_sa() -> None:
    a, _ = gateways(lifetime=Lifetime(soft_bytes=150, hard_bytes=300))
    p = packet(H_A, H_B, payload=bytes(72))  # 100-byte inner packets
    for _ in range(4):
        a.send(p)
    assert len(a.take_wire()) == 3  # the 4th finds no usable SA
    evs = a.poll_events()
    assert evs[:2] == [SoftExpire(0x1001, Direction.OUT, True), HardExpire(0x1001, Direction.OUT, True)]
    assert len(evs) == 3 and isinstance(evs[2], Acquire)  # the policy needs a new SA now
    assert moved(a.statistics()) == {"out-no-states": 1}
    state = a.query_sa(0x1001, Direction.OUT)
    assert state is not None and state.state == "dead"


def test_time_lifetime_kills_the_sa_in_both_directions() -> None:
    clock = [0.0]
    dp = MemoryDataPlane(lambda: clock[0])
    dp.add_policy(policy("p", NET_B, NET_A))
    dp.add_sa(sa(0x1001, Direction.IN, GW_A, GW_B, KEY_AB, "p", lifetime=Lifetime(hard_seconds=10)))
    a, _ = gateways()
    a.send(packet(H_A, H_B))
    pkt = a.take_wire()[0]
    clock[0] = 11.0
    assert dp.poll_events() == [HardExpire(0x1001, Direction.IN, False)]
    dp.receive(pkt)
    assert dp.delivered == [] and moved(dp.statistics()) == {"in-state-expired": 1}


def test_flow_parses_ports_and_falls_back_for_ipv6() -> None:
    assert flow(packet(H_A, H_B, wip.PROTO_TCP, 1, 2))[3:] == (6, 1, 2)
    p6 = wip.ipv6_header(ip_address("fd00::1").packed, ip_address("fd00::2").packed, 17, 8) + \
        struct.pack("!HHHH", 7, 9, 8, 0)
    assert flow(p6) == (6, int(ip_address("fd00::1")), int(ip_address("fd00::2")), 17, 7, 9)


def test_malformed_outbound_is_out_errors_not_a_crash() -> None:
    p = Processor()
    assert p.outbound(b"\x45garbage", 0.0)[0] == DROP
    assert p.inbound(b"", 0.0)[0] == DROP
    assert p.inbound_esp(b"abc", True, 0.0)[0] == DROP
    assert p.stats.out_errors == 1 and p.stats.in_header_errors == 2


def test_processor_verdicts_and_payload_mode() -> None:
    p = Processor(full_packets=False)
    p.add_policy(policy("p", NET_A, NET_B))
    p.add_sa(sa(0x1001, Direction.OUT, GW_A, GW_B, KEY_AB, "p", encap=True), 0.0)
    v, _, esp = p.outbound(packet(H_A, H_B), 0.0)
    assert v == PROTECT and esp[:4] == (0x1001).to_bytes(4, "big")  # payload only: starts at the SPI
    assert p.last is not None and p.last.spi == 0x1001
    assert p.outbound(packet(GW_A, GW_B, sport=500), 0.0)[0] == PASS
    assert (
        p.inbound(packet(GW_B, GW_A, sport=4500, dport=4500, payload=natt.add_marker(b"x" * 30)), 0.0)[0]
        == IKE
    )


# --- several workers: SAs owned by one worker each -----------------------------------------------------


def test_no_sequence_number_is_ever_emitted_twice_with_several_workers() -> None:
    """Packets land on random workers (as multi-queue TUN spreads flows); each SA's sequence numbers
    come out exactly once each, 1..n, because only its owner seals."""
    rng = random.Random(7)
    workers = 4
    dp = MemoryDataPlane(workers=workers, steer=lambda _pkt: rng.randrange(workers))
    nsa = 8
    for i in range(nsa):
        dp.add_policy(policy(f"p{i}", NET_A, f"10.2.{i}.0/24"))
        dp.add_sa(sa(0x5000 + i, Direction.OUT, GW_A, GW_B, KEY_AB, f"p{i}"))
    assert {owner_of(0x5000 + i, workers) for i in range(nsa)} == set(range(workers))
    sent = 2000
    for _ in range(sent):
        dp.send(
            packet(H_A, f"10.2.{rng.randrange(nsa)}.{rng.randrange(1, 250)}", sport=rng.randrange(1, 65535))
        )
    seen: dict[int, list[int]] = {}
    for pkt in dp.take_wire():
        spi, seq = struct.unpack_from("!II", pkt, 20)
        seen.setdefault(spi, []).append(seq)
    assert sum(len(v) for v in seen.values()) == sent
    for seqs in seen.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))
    # each SA's transform exists only in its owner
    for i, proc in enumerate(dp.workers):
        owned = {rec.spi for rec in proc.sad if hasattr(rec.counters, "seal")}
        assert owned == {0x5000 + j for j in range(nsa) if owner_of(0x5000 + j, workers) == i}


def test_several_workers_open_inbound_on_the_owner() -> None:
    rng = random.Random(3)
    a, b = gateways(workers=3)
    b._steer = lambda _pkt: rng.randrange(3)
    for n in range(50):
        a.send(packet(H_A, H_B, sport=1000 + n))
    connect(a, b)
    assert len(b.take_delivered()) == 50 and moved(b.statistics()) == {}
    st = b.query_sa(0x1001, Direction.IN)
    assert st is not None and st.current_packets == 50


def test_flow_memos_follow_spd_changes() -> None:
    """The per-flow memos (outbound policy, inbound verdict) never outlive an SPD change."""
    a, b = gateways()
    p = packet(H_A, H_B, wip.PROTO_TCP, 999, 80)
    a.send(p)
    connect(a, b)
    assert len(b.take_delivered()) == 1
    a.add_policy(policy("d", NET_A, NET_B, action=Action.DISCARD, order=-1))
    b.add_policy(policy("d", NET_B, NET_A, action=Action.DISCARD, order=-1))
    a.send(p)
    assert a.take_wire() == [] and moved(a.statistics()) == {"out-policy-blocked": 1}
    a.del_policy("d")
    a.send(p)
    connect(a, b)
    assert b.take_delivered() == [] and moved(b.statistics()) == {"in-policy-blocked": 1}


def test_socket_payloads_with_the_wrong_encapsulation_are_state_mismatches() -> None:
    out, inn = Processor(full_packets=False), Processor(full_packets=False)
    out.add_policy(policy("p", NET_A, NET_B))
    inn.add_policy(policy("p", NET_B, NET_A))
    out.add_sa(sa(0x1001, Direction.OUT, GW_A, GW_B, KEY_AB, "p", encap=True), 0.0)
    inn.add_sa(sa(0x1001, Direction.IN, GW_A, GW_B, KEY_AB, "p", encap=True), 0.0)
    esp = out.outbound(packet(H_A, H_B), 0.0)[2]
    assert inn.inbound_esp(esp, False, 0.0)[0] == DROP  # arrived as raw ESP on a UDP-encapsulated SA
    assert inn.stats.in_state_mismatches == 1
    assert inn.inbound_esp(esp, True, 0.0)[0] == PROTECT
    st = inn.query_sa(0x1001, Direction.IN)
    assert st is not None and st.invalid_packets == 1 and st.current_packets == 1
