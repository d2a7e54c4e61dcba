"""TunDataPlane driven through the DataPlane protocol inside a namespace (root): IKE on UDP/4500 goes to
the daemon — also when it sits inside a GRO batch of ESP segments — and the daemon's IKE leaves from
4500 with the marker; SA/SPI/statistics operations reach the workers; routes and rules are undone."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from ipaddress import ip_address, ip_network

import pytest

from ipsecd.dataplane.userspace import udp
from ipsecd.dataplane.userspace.backend import TunDataPlane
from ipsecd.policy.types import Direction, IpsecProto, Mode, PolicySpec, SaSpec, Selector, UdpEncap
from tests.netns import InNetns, Pair, wait_for

pytestmark = pytest.mark.root


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair()
    try:
        yield p
    finally:
        p.close()


def test_ike_in_a_gro_batch_reaches_the_daemon_and_esp_segments_are_counted(pair: Pair) -> None:
    with InNetns(pair.a):
        dp = TunDataPlane("dpbk0", workers=2)
        try:
            spi = dp.get_spi(IpsecProto.ESP)
            assert spi >= 256
            dp.add_policy(
                PolicySpec(
                    "p", 0, Selector(ip_network("10.232.1.0/24"), ip_network("10.232.2.0/24")), tunnel=True
                )
            )
            dp.add_sa(
                SaSpec(
                    spi,
                    Direction.IN,
                    IpsecProto.ESP,
                    Mode.TUNNEL,
                    ip_address(pair.addr_b),
                    ip_address(pair.addr_a),
                    "aes-128-gcm",
                    bytes(20),
                    "null",
                    b"",
                    policy_id="p",
                    encap=UdpEncap(),
                )
            )
            state = dp.query_sa(spi, Direction.IN)
            assert state is not None and state.current_packets == 0
            routes = pair.run(pair.a, "ip", "route", "show", "table", "220")
            assert "10.232.2.0/24 dev dpbk0" in routes and "src 10.232.1.1" in routes

            # from B: one sendmsg with UDP_SEGMENT → ESP (unknown SPI), IKE, ESP (bad ICV on our SA)
            seg = 120
            ike = b"\0\0\0\0" + b"I" * 24 + struct.pack("!I", seg - 4) + b"I" * (seg - 32)  # Length: all
            batch = (
                struct.pack("!II", 0x999999, 1)
                + bytes(seg - 8)
                + ike
                + struct.pack("!II", spi, 1)
                + bytes(seg - 8)
            )
            with InNetns(pair.b):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((pair.addr_b, 4500))
            try:
                s.sendmsg(
                    [batch], [(udp.SOL_UDP, udp.UDP_SEGMENT, struct.pack("=H", seg))], 0, (pair.addr_a, 4500)
                )
                got: list[tuple[bytes, tuple[str, int], str | None]] = []
                assert wait_for(lambda: bool(got.extend(dp.recv_ike()) or got), timeout=10)
                # with the address it was sent to (IP_PKTINFO): replies leave from it (issue 9)
                assert got == [(ike[4:], (pair.addr_b, 4500), pair.addr_a)]
                stats: dict[str, int] = {}
                assert wait_for(lambda: bool(stats.update(dp.statistics()) or
                                             stats["in-no-states"] + stats["in-state-protocol-errors"] == 2))
                assert stats["in-no-states"] == 1 and stats["in-state-protocol-errors"] == 1
                state = dp.query_sa(spi, Direction.IN)
                assert state is not None and state.invalid_packets == 1

                # the daemon's IKE goes out of 4500 with the non-ESP marker
                s.settimeout(5)
                dp.send_ike(b"hello-ike", (pair.addr_a, 4500), (pair.addr_b, 4500))
                assert s.recvfrom(2000) == (b"\0\0\0\0hello-ike", (pair.addr_a, 4500))
                # RFC 3948 §2.3: one 0xFF byte, same socket
                dp.send_keepalive((pair.addr_a, 4500), (pair.addr_b, 4500))
                assert s.recvfrom(2000) == (b"\xff", (pair.addr_a, 4500))
            finally:
                s.close()
            dp.del_sa(spi, Direction.IN)
            assert dp.query_sa(spi, Direction.IN) is None
            dp.del_policy("p")
            assert "dpbk0" not in pair.run(pair.a, "ip", "route", "show", "table", "220")
        finally:
            dp.close()
        time.sleep(0.1)
        assert "fwmark" not in pair.run(pair.a, "ip", "rule")
        assert "dpbk0" not in pair.run(pair.a, "ip", "link")
