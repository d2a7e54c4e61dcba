"""Processor and NAT traversal: transport-mode ESP-in-UDP behind a NAT gets its inner TCP/UDP checksum
fixed for the addresses the receiver sees (RFC 3948 §3.1.2), on both inbound paths (whole packets
and socket payloads); NAT rebinding moves an SA pair's endpoint only on an authenticated, newest
packet and reports it."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from ipsecd.dataplane.memory import MemoryDataPlane
from ipsecd.dataplane.processor import DROP, PROTECT, Processor
from ipsecd.policy.events import EndpointChanged
from ipsecd.policy.types import Direction, Mode
from ipsecd.wire import ip as wip
from tests.dataplane.test_processor import H_A, H_B, KEY_AB, KEY_BA, NET_A, NET_B, packet, policy, sa

PRIVATE, PUBLIC, SERVER = "192.168.1.5", "198.51.100.7", "203.0.113.1"  # client, its NAT, the server


def valid_l4(pkt: bytes) -> bool:
    p = wip.parse(pkt)
    if p.proto == wip.PROTO_UDP and pkt[p.l4_off + 6 : p.l4_off + 8] == b"\0\0":
        return True  # UDP over IPv4 without a checksum
    return (
        wip.checksum(pkt[p.l4_off : p.length], wip.pseudo_sum(p.src, p.dst, p.proto, p.length - p.l4_off))
        == 0
    )


def nat(outer: bytes, public: str = PUBLIC) -> bytes:
    """What the NAT does to the client's ESP-in-UDP packet: source address (and port) rewritten."""
    hdr = bytearray(outer[:20])
    hdr[12:16] = ip_address(public).packed
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
    client.add_sa(
        sa(0x5005, Direction.OUT, PRIVATE, SERVER, KEY_AB, "t", mode=Mode.TRANSPORT, encap=True), 0.0
    )
    # the server knows the client by the NAT's address (what IKE saw)
    server.add_policy(policy("t", f"{SERVER}/32", f"{PUBLIC}/32", tunnel=False))
    server.add_sa(sa(0x5005, Direction.IN, PUBLIC, SERVER, KEY_AB, "t", mode=Mode.TRANSPORT, encap=True), 0.0)
    orig = bytearray(packet(PRIVATE, SERVER, proto, 40001, 80, b"GET / HTTP/1.1\r\n\r\n"))
    pos = 26 if proto == wip.PROTO_UDP else 36  # the checksum the sender computed over its private address
    orig[pos : pos + 2] = b"\0\0"
    orig[pos : pos + 2] = wip.checksum(
        orig[20:], wip.pseudo_sum(orig[12:16], orig[16:20], proto, len(orig) - 20)
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


# --- NAT rebinding (RFC 3948 §3.3; RFC 7296 §2.23 for IKE's side) --------------------------------------

NEW_PUBLIC = "198.51.100.99"  # the NAT's address after its mapping changed


def natt_pair(server_whole: bool) -> tuple[Processor, Processor]:
    """Client (behind the NAT) and server, tunnel mode ESP-in-UDP, one SA each way."""
    client, server = Processor(), Processor(full_packets=server_whole)
    client.add_policy(policy("p", NET_A, NET_B))
    client.add_sa(sa(0x1001, Direction.OUT, PRIVATE, SERVER, KEY_AB, "p", encap=True), 0.0)
    client.add_sa(sa(0x2002, Direction.IN, SERVER, PRIVATE, KEY_BA, "p", encap=True), 0.0)
    server.add_policy(policy("p", NET_B, NET_A))
    server.add_sa(sa(0x1001, Direction.IN, PUBLIC, SERVER, KEY_AB, "p", encap=True), 0.0)
    server.add_sa(sa(0x2002, Direction.OUT, SERVER, PUBLIC, KEY_BA, "p", encap=True), 0.0)
    return client, server


def test_authenticated_packet_from_a_new_endpoint_moves_the_pair() -> None:
    client, server = natt_pair(server_whole=False)
    out_spec = server.sad.outbound("p")
    assert out_spec is not None and server.destination(out_spec.spec) == (PUBLIC, 4500)
    esps = [client.outbound(packet(H_A, H_B, payload=bytes([i])), 1.0)[2][28:] for i in range(6)]

    assert server.inbound_esp(esps[0], True, 1.0, (PUBLIC, 4500, 0, 0))[0] == PROTECT  # from where expected
    assert server.poll_endpoint_changes() == [] and server.endpoint_gen == 0

    forged = esps[2][:-1] + bytes([esps[2][-1] ^ 1])  # bad ICV: an attacker cannot move the tunnel
    assert server.inbound_esp(forged, True, 2.0, (NEW_PUBLIC, 40000))[0] == DROP
    assert server.inbound_esp(esps[0], True, 2.0, (NEW_PUBLIC, 40000))[0] == DROP  # nor by a replay
    assert server.poll_endpoint_changes() == [] and server.destination(out_spec.spec) == (PUBLIC, 4500)
    assert server.stats.in_state_protocol_errors == 1 and server.stats.in_state_sequence_errors == 1

    assert server.inbound_esp(esps[2], True, 3.0, (NEW_PUBLIC, 40000))[0] == PROTECT  # the NAT moved
    assert server.poll_endpoint_changes() == [
        EndpointChanged(0x1001, 0x2002, (PUBLIC, 4500), (NEW_PUBLIC, 40000))
    ]
    assert server.destination(out_spec.spec) == (NEW_PUBLIC, 40000) and server.endpoint_gen == 1

    # a delayed older packet still on its way from the old mapping is accepted but moves nothing back
    assert server.inbound_esp(esps[1], True, 3.5, (PUBLIC, 4500))[0] == PROTECT
    assert server.poll_endpoint_changes() == [] and server.destination(out_spec.spec) == (NEW_PUBLIC, 40000)
    assert server.inbound_esp(esps[3], True, 4.0, (NEW_PUBLIC, 40000))[0] == PROTECT
    assert server.poll_endpoint_changes() == []


def test_whole_packets_take_the_new_endpoint_and_the_client_still_opens_them() -> None:
    client, server = natt_pair(server_whole=True)
    sealed = client.outbound(packet(H_A, H_B), 1.0)[2]
    assert server.inbound(nat(sealed, NEW_PUBLIC), 1.0)[0] == PROTECT
    assert server.poll_endpoint_changes() == [
        EndpointChanged(0x1001, 0x2002, (PUBLIC, 4500), (NEW_PUBLIC, 40000))
    ]
    reply = packet(H_B, H_A, payload=b"reply")
    verdict, _, outer = server.outbound(reply, 2.0)
    assert verdict == PROTECT
    p = wip.parse(outer)
    assert p.dst == ip_address(NEW_PUBLIC).packed and outer[22:24] == (40000).to_bytes(2, "big")
    assert wip.checksum(outer[:20]) == 0 and p.length == len(outer)
    # the NAT maps it back to the client's private address and port: the ESP inside is untouched
    back = bytearray(outer)
    back[16:20] = ip_address(PRIVATE).packed
    back[22:24] = (4500).to_bytes(2, "big")
    back[10:12] = b"\0\0"
    back[10:12] = wip.checksum(back[:20]).to_bytes(2, "big")
    assert client.inbound(bytes(back), 2.0) == (PROTECT, 0, reply)


def test_del_and_flush_forget_the_moved_endpoint() -> None:
    client, server = natt_pair(server_whole=False)
    esp = client.outbound(packet(H_A, H_B), 1.0)[2][28:]
    server.inbound_esp(esp, True, 1.0, (NEW_PUBLIC, 40000))
    assert [m.new for m in server.poll_endpoint_changes()] == [(NEW_PUBLIC, 40000)]
    assert server.del_sa(0x2002, Direction.OUT) and server.redirect == {}
    server.set_endpoint(0x2002, (NEW_PUBLIC, 1))
    server.flush()
    assert server.redirect == {}


def test_memory_backend_reports_the_move_and_every_worker_follows_it() -> None:
    """Two workers: the inbound SA's owner sees the move, the outbound SA's owner must send there too,
    and the move comes out of ``poll_events`` as the contract's EndpointChanged."""
    client = natt_pair(server_whole=True)[0]
    server = MemoryDataPlane(workers=2, steer=lambda pkt: 1)  # 0x1001 is worker 1's, 0x2002 worker 0's
    server.add_policy(policy("p", NET_B, NET_A))
    server.add_sa(sa(0x1001, Direction.IN, PUBLIC, SERVER, KEY_AB, "p", encap=True))
    server.add_sa(sa(0x2002, Direction.OUT, SERVER, PUBLIC, KEY_BA, "p", encap=True))
    server.receive(nat(client.outbound(packet(H_A, H_B), 1.0)[2], NEW_PUBLIC))
    assert len(server.take_delivered()) == 1
    assert server.poll_events() == [EndpointChanged(0x1001, 0x2002, (PUBLIC, 4500), (NEW_PUBLIC, 40000))]
    assert server.poll_events() == []
    server.send(packet(H_B, H_A, payload=b"reply"))
    (outer,) = server.take_wire()
    assert wip.parse(outer).dst == ip_address(NEW_PUBLIC).packed and outer[22:24] == (40000).to_bytes(
        2, "big"
    )
