"""What every IKEv1 exchange offers its ISAKMP SA, so XAuth and mode-config plug in as exchanges too.

An exchange is one Message ID's conversation (phase 1 is Message ID 0; each quick mode, each
informational, later each transaction exchange of XAuth/mode-config has its own, RFC 2408 §3.1).
The SA owns the datagrams: it checks cookies, decrypts and encrypts with the right IV, detects
retransmitted messages by their digest and answers them from its cache, retransmits what awaits an
answer, and turns :class:`V1ProtocolError` into a notification. An exchange only builds and checks
payloads: ``start`` gives the initiator's first message, ``process`` takes a message and returns
the reply (or None), and ``done``/``awaits_reply`` tell the SA what to keep doing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipsecd.wire.ikev1.enums import ExchangeType
from ipsecd.wire.ikev1.header import Header
from ipsecd.wire.ikev1.payloads import Payload


@dataclass(slots=True)
class Outgoing:
    payloads: list[Payload]
    encrypted: bool
    awaits_reply: bool  # retransmit until the peer's next message of this exchange arrives
    flags: int = 0


class Exchange:
    """Base of main, aggressive, quick mode (and later transaction) exchanges."""

    exchange_type: ExchangeType
    message_id: int = 0
    done: bool = False
    failed: bool = False

    def start(self) -> Outgoing:
        raise NotImplementedError

    def process(self, header: Header, payloads: list[Payload]) -> Outgoing | None:
        raise NotImplementedError
