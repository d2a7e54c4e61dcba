"""NAT detection and the move to UDP 4500 (RFC 7296 §2.23, RFC 3948).

NAT_DETECTION_SOURCE_IP / _DESTINATION_IP carry SHA-1(SPIi | SPIr | IP | port) of the sender's and
the receiver's address as the sender sees them. A mismatch on the peer's source hash means the peer
is behind a NAT, on the destination hash that we are. Either way, the initiator moves to the NAT-T
port from IKE_AUTH on and ESP is UDP-encapsulated. ``force_encap`` (strongSwan ``encap=yes``) sends a
source hash that cannot match, so both sides encapsulate even without a NAT: the userspace data
plane moves ESP over UDP only.
"""

from __future__ import annotations

import hashlib
import struct
from typing import TYPE_CHECKING

from ipsecd.policy.selectors import parse_address
from ipsecd.wire.enums import NotifyType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload

from .base import Task

if TYPE_CHECKING:
    from ..sa import IkeSa


def natd_hash(spi_i: bytes, spi_r: bytes, endpoint: tuple[str, int]) -> bytes:
    host, port = endpoint
    return hashlib.sha1(spi_i + spi_r + parse_address(host).packed + struct.pack("!H", port)).digest()


class IkeNatd(Task):
    __slots__ = ("peer_sent",)

    def __init__(self, sa: IkeSa) -> None:
        super().__init__(sa)
        self.peer_sent = False

    def _payloads(self, spi_r: bytes) -> list[Payload]:
        sa = self.sa
        local, remote = sa.addr
        src = natd_hash(sa.spi_i, spi_r, local)
        if sa.config.force_encap:
            src = hashlib.sha1(sa.rng(20)).digest()  # never matches: the peer believes we are NATed
        return [NotifyPayload(NotifyType.NAT_DETECTION_SOURCE_IP, src),
                NotifyPayload(NotifyType.NAT_DETECTION_DESTINATION_IP, natd_hash(sa.spi_i, spi_r, remote))]

    def _check(self, msg: Message) -> None:
        sa = self.sa
        sources = [n.data for n in msg.payloads
                   if isinstance(n, NotifyPayload) and n.type == NotifyType.NAT_DETECTION_SOURCE_IP]
        dest = msg.notify(NotifyType.NAT_DETECTION_DESTINATION_IP)
        if not sources or dest is None:
            return
        self.peer_sent = True
        h = msg.header
        local, remote = sa.addr
        sa.nat_remote = natd_hash(h.spi_i, h.spi_r, remote) not in sources
        sa.nat_local = natd_hash(h.spi_i, h.spi_r, local) != dest.data or sa.config.force_encap

    def build_i(self, out: list[Payload]) -> None:
        if self.sa.config.nat_traversal:
            out += self._payloads(bytes(8))

    def process_i(self, msg: Message) -> None:
        sa = self.sa
        if not sa.config.nat_traversal:
            return
        self._check(msg)
        if sa.nat_local or sa.nat_remote:
            (lhost, _), (rhost, _) = sa.addr
            sa.addr = ((lhost, sa.config.natt_port), (rhost, sa.config.natt_port))

    def process_r(self, msg: Message) -> None:
        if self.sa.config.nat_traversal:
            self._check(msg)

    def build_r(self, out: list[Payload]) -> None:
        if self.peer_sent:
            out += self._payloads(self.sa.spi_r)
