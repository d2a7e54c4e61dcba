"""Carrying the memory data plane's packets over the daemon's real NAT-T socket (demo and tests).

The memory data plane works on whole packets: :meth:`send` of an inner packet puts the protected
outer packet (IP ‖ UDP ‖ ESP, RFC 3948) on its ``wire`` list; :meth:`receive` takes such a packet.
:class:`MemoryWire` moves them through the daemon's NAT-T socket instead of a list: the UDP payload
(ESP) leaves from the daemon's 4500-equivalent port, and ESP arriving there is wrapped back into the
outer IP/UDP packet it came as before :meth:`receive` sees it. :func:`echo` builds the ICMP echo
requests/replies the demo sends between the gateways' LANs (RFC 792).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from ipsecd.wire import ip as wip

from .transport import Addr, Transport

ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0
NATT_PORT = 4500
_ICMP = struct.Struct("!BBHHH")


def echo(
    src: str, dst: str, ident: int, seq: int, *, reply: bool = False, payload: bytes = b"ipsecd-demo"
) -> bytes:
    """An IPv4 ICMP echo request (or reply) packet from ``src`` to ``dst``."""
    body = _ICMP.pack(ICMP_ECHO_REPLY if reply else ICMP_ECHO_REQUEST, 0, 0, ident, seq) + payload
    csum = wip.checksum(body)
    body = body[:2] + struct.pack("!H", csum) + body[4:]
    return (
        wip.ipv4_header(
            ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed, wip.PROTO_ICMP, len(body)
        )
        + body
    )


def parse_echo(packet: bytes) -> tuple[str, str, int, int, int] | None:
    """(src, dst, type, ident, seq) of an IPv4 ICMP echo packet, None for anything else."""
    try:
        p = wip.parse(packet)
    except wip.IpHeaderError:
        return None
    if p.version != 4 or p.proto != wip.PROTO_ICMP or len(packet) < p.l4_off + _ICMP.size:
        return None
    kind, _code, _csum, ident, seq = _ICMP.unpack_from(packet, p.l4_off)
    return (
        ipaddress.IPv4Address(p.src).compressed,
        ipaddress.IPv4Address(p.dst).compressed,
        kind,
        ident,
        seq,
    )


class MemoryWire:
    """Connects a memory data plane's packets to the daemon's NAT-T socket."""

    def __init__(self, dataplane: Any, transport: Transport) -> None:
        self.dataplane = dataplane
        self.transport = transport
        self.dropped = 0

    def flush(self) -> int:
        """Send every protected packet the data plane produced; returns how many left."""
        sent = 0
        for outer in self.dataplane.take_wire():
            try:
                p = wip.parse(outer)
            except wip.IpHeaderError:
                self.dropped += 1
                continue
            if p.proto != wip.PROTO_UDP or len(outer) < p.l4_off + wip.UDP_HEADER_LEN:
                self.dropped += 1  # raw ESP cannot leave through a UDP socket
                continue
            sport, dport = struct.unpack_from("!HH", outer, p.l4_off)
            src = ipaddress.ip_address(p.src).compressed
            dst = ipaddress.ip_address(p.dst).compressed
            self.transport.send_esp(
                bytes(outer[p.l4_off + wip.UDP_HEADER_LEN : p.length]), (src, sport), (dst, dport)
            )
            sent += 1
        return sent

    def esp_in(self, data: bytes, local: Addr, remote: Addr) -> None:
        """ESP-in-UDP from the socket: rebuilt as the outer packet and handed to the data plane.

        The data plane recognises ESP-in-UDP by RFC 3948's port; the socket has already told ESP
        from IKE (non-ESP marker), so the packet is presented as arriving on 4500 whatever
        unprivileged port the demo listens on."""
        src, dst = ipaddress.ip_address(remote[0]).packed, ipaddress.ip_address(local[0]).packed
        udp = wip.udp_datagram(remote[1], NATT_PORT, data, src, dst)
        self.dataplane.receive(wip.ip_header(src, dst, wip.PROTO_UDP, len(udp)) + udp)
