"""Deleting CHILD_SAs with INFORMATIONAL DELETE (RFC 7296 §1.4.1, §3.11).

A DELETE names the SPIs the *sender* expects inbound; the receiver finds its children by their
outbound SPI, answers with DELETEs for their inbound SPIs and removes them. SPIs we do not know are
ignored (the peer may be deleting what a collision already removed, §2.25).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ipsecd.wire.enums import ProtocolId
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.notify import DeletePayload

from ...events import ChildSaDeleted
from ..state import IkeState
from .base import Task

if TYPE_CHECKING:
    from ..child import ChildSa
    from ..sa import IkeSa


class ChildDelete(Task):
    __slots__ = ("children", "reason")

    def __init__(self, sa: IkeSa, children: list[ChildSa], reason: str) -> None:
        super().__init__(sa)
        self.children = children
        self.reason = reason

    def _remove(self, child: ChildSa) -> None:
        if self.sa.children.pop(child.inbound.spi, None) is not None:
            self.sa.emit(
                ChildSaDeleted(child.config.name, child.inbound.spi, child.outbound.spi, self.reason)
            )

    def build_i(self, out: list[Payload]) -> None:
        self.children = [c for c in self.children if c.inbound.spi in self.sa.children]
        if self.children:
            out.append(
                DeletePayload(ProtocolId.ESP, [struct.pack("!I", c.inbound.spi) for c in self.children])
            )

    def process_i(self, msg: Message) -> None:
        for child in self.children:
            self._remove(child)

    def failed(self, reason: str) -> None:
        for child in self.children:
            self._remove(child)

    def process_r(self, msg: Message) -> None:
        by_out = {c.outbound.spi: c for c in self.sa.children.values()}
        for d in msg.all(DeletePayload):
            if d.protocol not in (ProtocolId.ESP, ProtocolId.AH):
                continue
            for raw in d.spis:
                child = by_out.get(struct.unpack("!I", raw)[0])
                if child is not None and child not in self.children:
                    self.children.append(child)

    def build_r(self, out: list[Payload]) -> None:
        if self.sa.state == IkeState.CLOSED or not self.children:
            return
        mine = [c for c in self.children if not c.deleting or c.inbound.spi in self.sa.children]
        out.append(DeletePayload(ProtocolId.ESP, [struct.pack("!I", c.inbound.spi) for c in mine]))
        for child in mine:
            self._remove(child)
