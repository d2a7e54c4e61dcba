"""Processor and NAT traversal: transport-mode ESP-in-UDP behind a NAT gets its inner TCP/UDP checksum
fixed for the addresses the receiver sees (RFC 3948 §3.1.2), on both inbound paths (whole packets
and socket payloads)."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from ipsecd.dataplane.base import Direction, Mode
from ipsecd.dataplane.processor import PROTECT, Processor
from ipsecd.wire import ip as wip
from tests.dataplane.test_processor import KEY_AB, packet, policy, sa

PRIVATE, PUBLIC, SERVER = "192.168.1.5", "198.51.100.7", "203.0.113.1"  # client, its NAT, the server


def valid_l4(pkt: bytes) -> bool:
    p = wip.parse(pkt)
    if p.proto == wip.PROTO_UDP and pkt[p.l4_off + 6 : p.l4_off + 8] == b"\0\0":
        return True  # UDP over IPv4 without a checksum
    return wip.checksum(pkt[p.l4_off : p.length], wip.pseudo_sum(p.src, p.dst, p.proto, p.length - p.l4_off)) == 0


def nat(outer: bytes) -> bytes:
    """What the NAT does to the client's ESP-in-UDP packet: source address (and port) rewritten."""
    hdr = bytearray(outer[:20])
    hdr[12:16] = ip_address(PUBLIC).packed
    hdr[10:12] = b"\0\0"
    hdr[10:12] = wip.checksum(hdr).to_bytes(2, "big")
    udp = bytearray(outer[20:28])
    udp[0:2] = (40000).to_bytes(2, "big")  # checksum is zero over IPv4 (RFC 3948 §2.1): nothing to fix
    return bytes(hdr + udp) + outer[28:]


@pytest.mark.parametrize("proto", [wip.PROTO_TCP, wip.PROTO_UDP])
@pytest.mark.parametrize("whole", [True, False], ids=["packet", "payload"])
def test_transport_natt_inner_checksum_is_fixed_for_the_addresses_seen(proto: int, whole: bool) -> None:
    client, server = Processor(), Processor(full_packets=whole)
    client.add_policy(policy("t", f"{PRIVATE}/32", f"{SERVER}/32", tunnel=False))
    client.add_sa(sa(0x5005, Direction.OUT, PRIVATE, SERVER, KEY_AB, "t", mode=Mode.TRANSPORT, encap=True), 0.0)
    # the server knows the client by the NAT's address (what IKE saw)
    server.add_policy(policy("t", f"{SERVER}/32", f"{PUBLIC}/32", tunnel=False))
    server.add_sa(sa(0x5005, Direction.IN, PUBLIC, SERVER, KEY_AB, "t", mode=Mode.TRANSPORT, encap=True), 0.0)
    orig = bytearray(packet(PRIVATE, SERVER, proto, 40001, 80, b"GET / HTTP/1.1\r\n\r\n"))
    pos = 26 if proto == wip.PROTO_UDP else 36  # the checksum the sender computed over its private address
    orig[pos : pos + 2] = b"\0\0"
    orig[pos : pos + 2] = wip.checksum(orig[20:], wip.pseudo_sum(orig[12:16], orig[16:20], proto, len(orig) - 20)
                                       ).to_bytes(2, "big")
    assert valid_l4(bytes(orig)) and orig[pos : pos + 2] != b"\0\0"
    verdict, _, outer = client.outbound(bytes(orig), 1.0)
    assert verdict == PROTECT
    natted = nat(outer)
    verdict, _, inner = server.inbound(natted, 1.0) if whole else server.inbound_esp(natted[28:], True, 1.0)
    assert verdict == PROTECT
    assert inner[12:16] == ip_address(PUBLIC).packed and inner[20:] != orig[20:]
    assert valid_l4(inner)  # without the fix-up the stack would drop it as corrupt
    assert inner[28 if proto == wip.PROTO_UDP else 40 :] == orig[28 if proto == wip.PROTO_UDP else 40 :]


def test_transport_without_natt_is_left_as_it_came() -> None:
    """Raw ESP (no NAT possible in between) keeps the sender's checksum untouched."""
    client, server = Processor(), Processor()
    client.add_policy(policy("t", f"{PRIVATE}/32", f"{SERVER}/32", tunnel=False))
    client.add_sa(sa(0x5005, Direction.OUT, PRIVATE, SERVER, KEY_AB, "t", mode=Mode.TRANSPORT), 0.0)
    server.add_policy(policy("t", f"{SERVER}/32", f"{PRIVATE}/32", tunnel=False))
    server.add_sa(sa(0x5005, Direction.IN, PRIVATE, SERVER, KEY_AB, "t", mode=Mode.TRANSPORT), 0.0)
    orig = packet(PRIVATE, SERVER, wip.PROTO_TCP, 1, 2, b"x")
    inner = server.inbound(client.outbound(orig, 0.0)[2], 0.0)[2]
    assert inner == orig
