"""One ESP-in-UDP SA pair between namespace A (a TUN backend) and B (played by the test with a
:class:`Processor`), shared by the TUN backend tests that send hand-made traffic on UDP/4500."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from ipsecd.dataplane.processor import Processor
from ipsecd.dataplane.userspace.backend import TunDataPlane
from ipsecd.policy.types import Direction, IpsecProto, Mode, PolicySpec, SaSpec, Selector, UdpEncap
from ipsecd.wire import ip as wip
from tests.netns import Pair

KEY_AB, KEY_BA = bytes(range(20)), bytes(range(20, 40))
SPI_AB, SPI_BA = 0x1001, 0x2002  # owned by workers 1 and 0 of two
LAN_A, LAN_B = ip_network("10.232.1.0/24"), ip_network("10.232.2.0/24")


def gcm_sa(spi: int, direction: Direction, src: str, dst: str, key: bytes) -> SaSpec:
    """An AES-128-GCM tunnel-mode SA of policy ``p``, UDP-encapsulated on 4500."""
    return SaSpec(
        spi,
        direction,
        IpsecProto.ESP,
        Mode.TUNNEL,
        ip_address(src),
        ip_address(dst),
        "aes-128-gcm",
        key,
        "null",
        b"",
        policy_id="p",
        encap=UdpEncap(),
    )


def echo(src: str, dst: str, ident: int, payload: bytes) -> bytes:
    """An ICMP echo request from ``src`` to ``dst``."""
    icmp = bytearray(bytes([8, 0, 0, 0]) + ident.to_bytes(2, "big") + b"\0\x01" + payload)
    icmp[2:4] = wip.checksum(icmp).to_bytes(2, "big")
    return wip.ip_header(ip_address(src).packed, ip_address(dst).packed, wip.PROTO_ICMP, len(icmp)) + bytes(
        icmp
    )


def b_side(pair: Pair) -> Processor:
    """B's end of the pair: its policy and both SAs."""
    peer = Processor(full_packets=False)
    peer.add_policy(PolicySpec("p", 0, Selector(LAN_B, LAN_A), tunnel=True))
    peer.add_sa(gcm_sa(SPI_AB, Direction.OUT, pair.addr_b, pair.addr_a, KEY_AB), 0.0)
    peer.add_sa(gcm_sa(SPI_BA, Direction.IN, pair.addr_a, pair.addr_b, KEY_BA), 0.0)
    return peer


def install_a_side(dp: TunDataPlane, pair: Pair) -> None:
    """A's end in its backend (run inside A: the backend's ip commands act there)."""
    dp.add_policy(PolicySpec("p", 0, Selector(LAN_A, LAN_B), tunnel=True))
    dp.add_sa(gcm_sa(SPI_AB, Direction.IN, pair.addr_b, pair.addr_a, KEY_AB))
    dp.add_sa(gcm_sa(SPI_BA, Direction.OUT, pair.addr_a, pair.addr_b, KEY_BA))
