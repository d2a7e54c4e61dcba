"""The drops the processor finds before any SA is involved (unknown SPI, truncated header, wrong
encapsulation) are counted by one plain increment on both inbound entry points — no exception object
is built per dropped packet (an unknown-SPI flood must stay cheap), unlike errors raised inside an SA."""

from __future__ import annotations

import struct

import pytest

from ipsecd.dataplane.errors import DataplaneError
from ipsecd.dataplane.processor import DROP, Processor
from ipsecd.dataplane.stats import Statistics
from ipsecd.policy.types import Direction
from ipsecd.wire import ip as wip
from tests.dataplane.test_processor import GW_A, GW_B, H_A, H_B, KEY_AB, NET_A, NET_B, packet, policy, sa


def test_pre_sa_drops_count_without_building_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[type] = []
    real_init = DataplaneError.__init__

    def spy(self: DataplaneError, *args: object) -> None:
        built.append(type(self))
        real_init(self, *args)

    monkeypatch.setattr(DataplaneError, "__init__", spy)
    counted: list[str] = []
    monkeypatch.setattr(Statistics, "count", lambda self, err: counted.append(err.counter))

    sender, p = Processor(full_packets=False), Processor(full_packets=False)
    sender.add_policy(policy("p", NET_A, NET_B))
    sender.add_sa(sa(0x1001, Direction.OUT, GW_A, GW_B, KEY_AB, "p", encap=True), 0.0)
    p.add_policy(policy("p", NET_B, NET_A))
    p.add_sa(sa(0x1001, Direction.IN, GW_A, GW_B, KEY_AB, "p", encap=True), 0.0)
    esp = sender.outbound(packet(H_A, H_B), 0.0)[2]
    unknown = struct.pack("!II", 0x777, 1) + bytes(40)
    src, dst = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])
    raw_unknown = wip.ip_header(src, dst, wip.PROTO_ESP, len(unknown)) + unknown

    assert p.inbound_esp(unknown, True, 0.0)[0] == DROP  # socket payload, unknown SPI
    assert p.inbound(raw_unknown, 0.0)[0] == DROP  # whole packet, unknown SPI
    assert p.inbound_esp(b"\x01\x02\x03", True, 0.0)[0] == DROP  # too short for an ESP header
    assert p.inbound_esp(esp, False, 0.0)[0] == DROP  # UDP-encapsulated SA, arrived as raw ESP
    assert (p.stats.in_no_states, p.stats.in_header_errors, p.stats.in_state_mismatches) == (2, 1, 1)
    assert built == [] and counted == []
