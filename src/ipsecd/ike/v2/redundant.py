"""A redundant IKE SA left by a simultaneous IKE SA rekey (RFC 7296 §2.8.2), kept only to delete it.

When both ends rekey the IKE SA at once, two new IKE SAs come out; the one created with the lowest of
the four nonces is redundant and "SHOULD be closed by the endpoint that created it". Forgetting it
silently is not enough: a peer such as strongSwan deletes or retransmits into it and would meet an
unknown SPI. So the initiator of the losing rekey sends an INFORMATIONAL DELETE for protocol IKE on
that SA (message ID 0, its own keys and SPIs), retransmitted on the usual schedule until answered; the
other end keeps the SA's keys for as long as such a DELETE may come and answers it (again for a
retransmission). The SA carries nothing else and its end never reaches the daemon as an event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ipsecd.wire.enums import ExchangeType, ProtocolId
from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev2.header import FLAG_INITIATOR, FLAG_RESPONSE, Header
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.notify import DeletePayload

from ..errors import InvalidMessageError
from .config import Retransmit
from .protect import Protection

if TYPE_CHECKING:
    from .sa import Generation


class RedundantSa:
    """The redundant SA's keys and its one DELETE exchange, as creator (initiator) or as its responder."""

    __slots__ = ("deadline", "done", "gen", "packet", "protection", "retransmit", "tries")

    def __init__(
        self, gen: Generation, rng: Callable[[int], bytes], retransmit: Retransmit, now: float
    ) -> None:
        self.gen = gen
        self.retransmit = retransmit
        self.protection = Protection.for_role(gen.algs, gen.keys, gen.initiator, rng)
        self.tries = 0
        self.done = False
        self.packet = b""  # creator: our DELETE request; responder: our cached answer
        if gen.initiator:
            header = Header(gen.spi_i, gen.spi_r, 0, ExchangeType.INFORMATIONAL, FLAG_INITIATOR, 0)
            self.packet = self.protection.seal(header, [DeletePayload(ProtocolId.IKE)])
            self.deadline = now + retransmit.timeout
        else:
            self.deadline = now + retransmit.total()  # the creator gives up by then

    @property
    def local_spi(self) -> bytes:
        return self.gen.spi_i if self.gen.initiator else self.gen.spi_r

    def receive(self, msg: Message, data: bytes) -> bytes | None:
        """A message on the redundant SA; returns the answer to send, if any."""
        h = msg.header
        if (
            (h.spi_i, h.spi_r) != (self.gen.spi_i, self.gen.spi_r)
            or h.message_id != 0
            or h.exchange != ExchangeType.INFORMATIONAL
            or h.from_initiator == self.gen.initiator
        ):
            return None
        try:
            payloads = self.protection.unseal(data, msg)
        except (InvalidMessageError, WireError):
            return None
        if self.gen.initiator:  # the answer to our DELETE
            if h.is_response:
                self.done = True
            return None
        if h.is_response or not any(
            isinstance(p, DeletePayload) and p.protocol == ProtocolId.IKE for p in payloads
        ):
            return None
        if not self.packet:
            header = Header(self.gen.spi_i, self.gen.spi_r, 0, ExchangeType.INFORMATIONAL, FLAG_RESPONSE, 0)
            self.packet = self.protection.seal(header, [])
        return self.packet

    def on_timer(self, now: float) -> bytes | None:
        """Our DELETE again (back-off as for any request), or the end of this SA; returns what to send."""
        if now < self.deadline:
            return None
        if not self.gen.initiator or self.tries >= self.retransmit.tries:
            self.done = True  # nothing came (or the creator gave up): the keys go
            return None
        self.tries += 1
        self.deadline = now + self.retransmit.timeout * self.retransmit.base**self.tries
        return self.packet
