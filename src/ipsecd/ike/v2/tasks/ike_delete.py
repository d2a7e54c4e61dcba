"""Deleting the IKE SA (RFC 7296 §1.4.1): a DELETE for protocol IKE takes every CHILD_SA with it.

The responder answers with an empty INFORMATIONAL and closes; the initiator closes on the answer or
when retransmissions give up (the SA is going anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipsecd.wire.enums import ProtocolId
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.notify import DeletePayload

from ..state import Trigger
from .base import Task

if TYPE_CHECKING:
    from ..sa import IkeSa


class IkeDelete(Task):
    __slots__ = ("expired", "rekeyed", "requested")

    def __init__(self, sa: IkeSa, rekeyed: bool = False, expired: bool = False) -> None:
        super().__init__(sa)
        self.rekeyed = rekeyed
        self.expired = expired  # the SA generation's lifetime ran out: dropped if a rekey replaced it first
        self.requested = False

    def build_i(self, out: list[Payload]) -> None:
        if not self.rekeyed:
            self.sa.advance(Trigger.DELETE_SENT)
        out.append(DeletePayload(ProtocolId.IKE))

    def process_i(self, msg: Message) -> None:
        if self.rekeyed:
            self.sa.switch_pending = True
        else:
            self.sa.close("deleted")

    def failed(self, reason: str) -> None:
        self.sa.close("deleted (no answer)")

    def process_r(self, msg: Message) -> None:
        self.requested = any(d.protocol == ProtocolId.IKE for d in msg.all(DeletePayload))

    def build_r(self, out: list[Payload]) -> None:
        if not self.requested:
            return
        pending = self.sa.pending
        if pending is not None and not pending.initiator:
            self.sa.switch_pending = True  # the old SA of the peer's rekey: the new one continues (§2.18)
        else:  # a real close; a rekey of our own in progress is forgotten (§2.25.2)
            self.sa.close("deleted by the peer")
