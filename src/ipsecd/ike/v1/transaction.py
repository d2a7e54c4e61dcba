"""The transaction exchange (draft-dukes-ike-mode-cfg-02 §3.2): one attribute payload and its answer.

        Initiator                          Responder
       -----------                        -----------
        HDR*, HASH, ATTR(REQUEST|SET)  -->
                                       <--  HDR*, HASH, ATTR(REPLY|ACK)

    HASH = prf(SKEYID_a, M-ID | ATTR), the informational exchange's HASH(1) (RFC 2409 §5.7)

Each message pair has a Message ID (and so an IV) of its own. XAuth (its REQUEST/REPLY for the user
name and password, then SET/ACK of the status) and mode-config (REQUEST/REPLY pull, or SET/ACK push)
are all transactions; what they carry is decided by the SA's :class:`~.roadwarrior.RoadWarrior`,
which this exchange hands every received attribute payload. The exchange only frames it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ipsecd.wire.ikev1.enums import ExchangeType, NotifyType
from ipsecd.wire.ikev1.header import Header
from ipsecd.wire.ikev1.payloads import AttributePayload, Payload

from . import info
from .config import V1ProtocolError
from .exchange import Exchange, Outgoing
from .phase1 import first

if TYPE_CHECKING:
    from .sa import Ikev1Sa

#: what the SA's road-warrior logic does with a received attribute payload: the answer, if any
Handler = Callable[["Transaction", AttributePayload], AttributePayload | None]


class Transaction(Exchange):
    exchange_type = ExchangeType.TRANSACTION
    label = "transaction exchange"

    def __init__(
        self, sa: Ikev1Sa, message_id: int, handler: Handler, request: AttributePayload | None = None
    ) -> None:
        self.sa = sa
        self.message_id = message_id
        self.handler = handler
        self.request = request  # ours (we started it), or None when the peer starts it

    def start(self) -> Outgoing:
        assert self.request is not None
        return Outgoing(info.protect(self.sa, self.message_id, [self.request]), True, True)

    def process(self, header: Header, payloads: list[Payload]) -> Outgoing | None:
        if not header.encrypted:
            raise V1ProtocolError(NotifyType.PAYLOAD_MALFORMED, "transaction exchange in clear", fatal=False)
        attr = first(info.verify(self.sa, self.message_id, payloads), AttributePayload, "ATTR")
        self.done = True
        answer = self.handler(self, attr)
        if answer is None or self.request is not None:
            return None
        return Outgoing(info.protect(self.sa, self.message_id, [answer]), True, False)
