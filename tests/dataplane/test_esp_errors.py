"""Every way an ESP packet can fail raises one error that moves exactly one /ip ipsec statistics
counter, and leaves the SA (and other SAs) undisturbed."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from ipsecd.dataplane import errors
from ipsecd.dataplane.errors import DataplaneError
from ipsecd.dataplane.esp import EspSa
from ipsecd.dataplane.stats import ALWAYS_ZERO, COUNTER_NAMES, Statistics
from ipsecd.policy.types import Mode, UdpEncap
from ipsecd.wire import esp as wesp
from ipsecd.wire import ip as wip
from ipsecd.wire import natt
from tests.dataplane.test_esp import ALG_IDS, ALGS, alg_pair, inner_packet, pair


def provoke(stats: Statistics, fn: Callable[[], object]) -> str:
    """Run ``fn`` the way the packet loop does; return the one counter that moved."""
    before = stats.as_dict()
    with pytest.raises(DataplaneError) as ei:
        fn()
    stats.count(ei.value)
    after = stats.as_dict()
    moved = [k for k in COUNTER_NAMES if after[k] != before[k]]
    assert len(moved) == 1 and after[moved[0]] == before[moved[0]] + 1
    return moved[0]


@pytest.fixture
def stats() -> Statistics:
    return Statistics()


def test_truncated_outer_header_is_a_header_error(stats: Statistics) -> None:
    out, inn = pair()
    wire = out.seal(inner_packet(4, Mode.TUNNEL))
    assert provoke(stats, lambda: inn.open(wire[:15])) == "in-header-errors"
    assert provoke(stats, lambda: inn.open(b"")) == "in-header-errors"
    assert provoke(stats, lambda: inn.open(b"\x75" + wire[1:])) == "in-header-errors"  # IP version 7
    short = wip.ipv4_header(inn.src, inn.dst, wip.PROTO_ESP, 5) + b"\x00\x00\x10\x00\x01"
    assert provoke(stats, lambda: inn.open(short)) == "in-header-errors"


def test_fragment_is_a_header_error(stats: Statistics) -> None:
    out, inn = pair()
    wire = bytearray(out.seal(inner_packet(4, Mode.TUNNEL)))
    wire[6] |= 0x20  # MF
    assert provoke(stats, lambda: inn.open(bytes(wire))) == "in-header-errors"


def test_unknown_spi_destination_or_protocol_is_no_state(stats: Statistics) -> None:
    out, inn = pair()
    _, other = pair(spi=0x2000)
    wire = out.seal(inner_packet(4, Mode.TUNNEL))
    assert provoke(stats, lambda: other.open(wire)) == "in-no-states"
    wrong_dst = wip.splice(wire[:16] + bytes(4), 20, 9, wip.PROTO_ESP, wire[20:])
    assert provoke(stats, lambda: inn.open(wrong_dst)) == "in-no-states"
    ah = wip.splice(wire, 20, 9, wip.PROTO_AH, wire[20:])
    assert provoke(stats, lambda: inn.open(ah)) == "in-no-states"


@pytest.mark.parametrize("alg", ALGS, ids=ALG_IDS)
def test_altered_packet_is_a_protocol_error(alg: tuple[str, int, str, int], stats: Statistics) -> None:
    out, inn = alg_pair(alg)
    pkt = inner_packet(4, Mode.TUNNEL, 64)
    wire = out.seal(pkt)
    if alg[2] == "null" and not alg[0].endswith(("gcm", "poly1305")):
        # encryption without integrity: alteration is only caught when it breaks the trailer
        tampered = bytearray(wire)
        tampered[-1] ^= 0xFF  # last ciphertext block → garbage trailer
        with pytest.raises(DataplaneError) as ei:
            inn.open(bytes(tampered))
        assert ei.value.counter in ("in_state_protocol_errors", "in_state_mode_errors")
    else:
        for pos in (len(wire) - 1, 28 + 8, 24):  # ICV, ciphertext/IV, sequence number
            tampered = bytearray(wire)
            tampered[pos] ^= 0x01
            assert provoke(stats, lambda t=bytes(tampered): inn.open(t)) == "in-state-protocol-errors"
    assert inn.replay.top == 0  # type: ignore[union-attr]  # nothing committed
    assert inn.open(wire) == pkt  # the genuine packet still opens afterwards
    assert inn.invalid_packets >= 1


def _craft(inn: EspSa, plaintext: bytes, seq: int = 1) -> bytes:
    """ESP with a valid ICV around an arbitrary plaintext (null encryption + sha256)."""
    body = wesp.HEADER.pack(inn.spi, seq) + plaintext
    integ = inn._load()[2]  # the SA's integrity object (built on first use)
    assert integ is not None
    return body + integ.compute(body)


def test_bad_padding_with_valid_icv_is_a_protocol_error(stats: Statistics) -> None:
    key = os.urandom(32)
    _, inn = pair(encr="null", ekey=b"", integ="sha256", ikey=key)
    good = b"\x45" + bytes(19) + b"\x01\x02\x02\x04"
    assert (
        provoke(stats, lambda: inn.open_esp(_craft(inn, good[:20] + b"\x01\x03\x02\x04")))
        == "in-state-protocol-errors"
    )
    # pad > data
    assert provoke(stats, lambda: inn.open_esp(_craft(inn, b"\x09\x04"))) == "in-state-protocol-errors"
    assert inn.replay.top == 0  # type: ignore[union-attr]


def test_cbc_ciphertext_not_block_aligned_is_a_protocol_error(stats: Statistics) -> None:
    _, inn = pair(encr="aes-128-cbc", ekey=os.urandom(16), integ="null")
    esp = wesp.HEADER.pack(inn.spi, 1) + os.urandom(16) + os.urandom(17)
    assert provoke(stats, lambda: inn.open_esp(esp)) == "in-state-protocol-errors"
    assert provoke(stats, lambda: inn.open_esp(esp[:20])) == "in-state-protocol-errors"  # shorter than IV


def test_replay_and_window(stats: Statistics) -> None:
    out, inn = pair(window=32)
    wires = [out.seal(inner_packet(4, Mode.TUNNEL)) for _ in range(40)]
    assert inn.open(wires[0])
    assert provoke(stats, lambda: inn.open(wires[0])) == "in-state-sequence-errors"
    assert inn.open(wires[39])  # seq 40: seq 8 and below now left of the window
    assert provoke(stats, lambda: inn.open(wires[5])) == "in-state-sequence-errors"
    assert inn.open(wires[10])  # seq 11: inside the window, out of order
    assert provoke(stats, lambda: inn.open(wires[10])) == "in-state-sequence-errors"
    assert stats.in_state_sequence_errors == 3


def test_forged_packet_does_not_advance_the_window(stats: Statistics) -> None:
    out, inn = pair()
    wires = [out.seal(inner_packet(4, Mode.TUNNEL)) for _ in range(3)]
    forged = bytearray(wires[2])
    forged[-1] ^= 1
    assert provoke(stats, lambda: inn.open(bytes(forged))) == "in-state-protocol-errors"
    assert inn.open(wires[2]) and inn.open(wires[0]) and inn.open(wires[1])


def test_expired_sa(stats: Statistics) -> None:
    out, inn = pair()
    wire = out.seal(inner_packet(4, Mode.TUNNEL))
    out.dead = inn.dead = True
    assert provoke(stats, lambda: inn.open(wire)) == "in-state-expired"
    assert provoke(stats, lambda: out.seal(inner_packet(4, Mode.TUNNEL))) == "out-state-expired"


def test_encapsulation_mismatch(stats: Statistics) -> None:
    out_raw, in_raw = pair()
    out_udp, in_udp = pair(encap=UdpEncap())
    assert (
        provoke(stats, lambda: in_raw.open(out_udp.seal(inner_packet(4, Mode.TUNNEL))))
        == "in-state-mismatches"
    )
    assert (
        provoke(stats, lambda: in_udp.open(out_raw.seal(inner_packet(4, Mode.TUNNEL))))
        == "in-state-mismatches"
    )


def test_ike_or_keepalive_on_an_esp_in_udp_sa_is_a_header_error(stats: Statistics) -> None:
    _, inn = pair(encap=UdpEncap())
    for payload in (natt.add_marker(bytes(28)), natt.KEEPALIVE):
        udp = wip.udp_datagram(4500, 4500, payload, inn.src, inn.dst)
        pkt = wip.ipv4_header(inn.src, inn.dst, wip.PROTO_UDP, len(udp)) + udp
        assert provoke(stats, lambda p=pkt: inn.open(p)) == "in-header-errors"
    bad_len = bytearray(
        wip.ipv4_header(inn.src, inn.dst, wip.PROTO_UDP, 20) + wip.UDP.pack(4500, 4500, 99, 0) + bytes(12)
    )
    assert provoke(stats, lambda: inn.open(bytes(bad_len))) == "in-header-errors"


def test_tunnel_sa_receiving_non_ip_is_a_mode_error(stats: Statistics) -> None:
    out, inn = pair()
    esp = out.seal_esp(b"not an ip packet", wip.PROTO_TCP)
    assert provoke(stats, lambda: inn.open_payload(esp)) == "in-state-mode-errors"
    esp = out.seal_esp(inner_packet(6, Mode.TUNNEL), wip.PROTO_IPIP)  # says IPv4, carries IPv6
    assert provoke(stats, lambda: inn.open_payload(esp)) == "in-state-mode-errors"
    esp = out.seal_esp(b"\x45" + bytes(10), wip.PROTO_IPIP)  # truncated inner IPv4
    assert provoke(stats, lambda: inn.open_payload(esp)) == "in-state-mode-errors"


def test_outbound_errors(stats: Statistics) -> None:
    out, _ = pair()
    assert provoke(stats, lambda: out.seal(b"\x00garbage")) == "out-state-mode-errors"
    assert provoke(stats, lambda: out.seal_payload(b"")) == "out-state-mode-errors"
    tr4, _ = pair(mode=Mode.TRANSPORT)
    assert provoke(stats, lambda: tr4.seal(inner_packet(6, Mode.TRANSPORT))) == "out-state-mode-errors"
    big = wip.ipv4_header(bytes(4), bytes(4), wip.PROTO_UDP, 65515) + bytes(65515)
    assert provoke(stats, lambda: out.seal(big)) == "out-errors"
    out.seq = 0xFFFFFFFF
    assert provoke(stats, lambda: out.seal(inner_packet(4, Mode.TUNNEL))) == "out-state-sequence-errors"


def test_errors_on_one_sa_do_not_disturb_another(stats: Statistics) -> None:
    out_a, in_a = pair(spi=0xA000)
    out_b, in_b = pair(spi=0xB000)
    good_b = [out_b.seal(inner_packet(4, Mode.TUNNEL)) for _ in range(3)]
    junk = [b"", b"\x45" * 30, out_a.seal(inner_packet(4, Mode.TUNNEL))[:-1], os.urandom(200)]
    for j in junk:
        for sa in (in_a, in_b):
            with pytest.raises(DataplaneError) as ei:
                sa.open(j)
            stats.count(ei.value)
    assert all(in_b.open(w) for w in good_b)
    assert in_b.packets == 3


def test_every_error_class_maps_to_a_counter_and_every_live_counter_has_a_cause() -> None:
    slots = set(Statistics.__slots__)
    causes = set()
    for name in dir(errors):
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, DataplaneError):
            assert cls.counter in slots, name
            causes.add(cls.counter.replace("_", "-"))
    assert ALWAYS_ZERO <= set(COUNTER_NAMES)
    assert set(COUNTER_NAMES) - ALWAYS_ZERO == causes
    assert not (ALWAYS_ZERO & causes)


def test_statistics_object() -> None:
    a, b = Statistics(), Statistics()
    a.count(errors.ReplayError("x"))
    b.count(errors.ReplayError("x"))
    b.count(errors.OutNoStateError("x"))
    a.add(b)
    d = a.as_dict()
    assert list(d) == list(COUNTER_NAMES) and len(d) == 25
    assert d["in-state-sequence-errors"] == 2 and d["out-no-states"] == 1 and sum(d.values()) == 3
    a.reset()
    assert sum(a.as_dict().values()) == 0
    with pytest.raises(AttributeError):
        a.bogus = 1  # type: ignore[attr-defined]
