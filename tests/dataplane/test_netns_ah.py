"""AH (RFC 4302) end to end over the TUN backend between two namespaces with static SAs: tunnel mode
(inner IPv4 and IPv6, outer IPv4 and IPv6 — the IPv6 raw socket delivers AH without the IPv6 header
its ICV covers, so the worker rebuilds it) and transport mode between the hosts. A capture on the veth
shows only AH (protocol 51) with the payload in clear — AH authenticates, it does not encrypt — and
the SA counters of both sides move in step."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dataplane.test_netns_outer6 import (
    LAN6_A,
    LAN6_B,
    OUTER_A,
    OUTER_B,
    assert_only_ipsec,
    capture,
    carried,
    config,
    dual_stack_pair,
    frames,
)
from tests.dataplane.test_netns_tun import Gateways, tcp_transfer
from tests.netns import Pair

pytestmark = pytest.mark.root

PATTERN = "6970736563414821"  # "ipsecAH!": ping's payload pattern, visible on the wire under AH


@pytest.fixture
def pair() -> Iterator[Pair]:
    yield from dual_stack_pair("dpah")


def ping(pair: Pair, src: str, dst: str) -> None:
    fam = "-6" if ":" in dst else "-4"
    out = pair.run(pair.a, "ping", fam, "-c", "3", "-i", "0.2", "-W", "2", "-p", PATTERN, "-I", src, dst)
    assert "3 received" in out, out


def clear_payloads(packets: list[tuple[int, int, bytes]]) -> int:
    """AH packets whose (authenticated, unencrypted) content shows ping's pattern."""
    return sum(1 for _v, nh, rest in packets if nh == 51 and bytes.fromhex(PATTERN) in rest)


@pytest.mark.parametrize("outer", ["v4", "v6"])
def test_ah_tunnel_mode(pair: Pair, tmp_path: Path, outer: str) -> None:
    ends = (pair.addr_a, pair.addr_b) if outer == "v4" else (OUTER_A, OUTER_B)
    gw = Gateways(pair, tmp_path, configs=(config("a", encap=False, proto="ah", outer=ends),
                                           config("b", encap=False, proto="ah", outer=ends)))
    cap = capture(pair, tmp_path / "veth.pcap")
    ping(pair, pair.lan_a, pair.lan_b)
    ping(pair, LAN6_A, LAN6_B)
    received = tcp_transfer(pair, pair.lan_b, pair.lan_a, 2_000_000)
    packets = frames(cap, tmp_path / "veth.pcap")
    a, b = gw.stop()
    # tcpdump may miss some
    assert assert_only_ipsec(packets, version=4 if outer == "v4" else 6, proto="ah") > 100
    assert clear_payloads(packets) == 12  # 3 echo requests + 3 replies, per inner family
    carried(a["sas"]["0x1001/out"], b["sas"]["0x1001/in"], received)
    assert b["sas"]["0x2002/out"]["packets"] == a["sas"]["0x2002/in"]["packets"] > 30  # TCP's ACKs
    assert a["sas"]["0x3003/out"]["packets"] == b["sas"]["0x3003/in"]["packets"] == 3
    assert a["statistics"] == {} and b["statistics"] == {}


def test_ah_transport_mode_between_the_hosts(pair: Pair, tmp_path: Path) -> None:
    ends = (pair.addr_a, pair.addr_b)
    gw = Gateways(pair, tmp_path, configs=(
        config("a", encap=False, proto="ah", mode="transport", outer=ends, inner=("host",)),
        config("b", encap=False, proto="ah", mode="transport", outer=ends, inner=("host",))))
    cap = capture(pair, tmp_path / "veth.pcap")
    ping(pair, pair.addr_a, pair.addr_b)
    time.sleep(0.1)
    received = tcp_transfer(pair, pair.addr_b, pair.addr_a, 2_000_000)
    packets = frames(cap, tmp_path / "veth.pcap")
    a, b = gw.stop()
    assert assert_only_ipsec(packets, version=4, proto="ah") > 100
    assert clear_payloads(packets) == 6
    carried(a["sas"]["0x1001/out"], b["sas"]["0x1001/in"], received)
    assert b["sas"]["0x2002/out"]["packets"] == a["sas"]["0x2002/in"]["packets"] > 30
    assert a["statistics"] == {} and b["statistics"] == {}
