"""The task interface (after strongSwan's libcharon): one feature of an exchange, both roles.

The initiator's task manager calls ``build_i`` on each task of an exchange to fill the request and
``process_i`` on the response; the responder's calls ``process_r`` on the request and ``build_r``
for the response. A task that needs the exchange restarted (COOKIE, INVALID_KE_PAYLOAD) raises
:class:`Retry`; a refusal is ``IkeProtocolError`` (see ``ike/errors.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload

if TYPE_CHECKING:
    from ..sa import IkeSa


class Retry(Exception):
    """Send the exchange's request again, rebuilt (new cookie or KE group)."""


class Task:
    __slots__ = ("sa",)

    def __init__(self, sa: IkeSa) -> None:
        self.sa = sa

    def build_i(self, out: list[Payload]) -> None:
        """Add this task's payloads to the request."""

    def process_i(self, msg: Message) -> None:
        """Handle the response."""

    def process_r(self, msg: Message) -> None:
        """Handle the request (raise IkeProtocolError to refuse it)."""

    def build_r(self, out: list[Payload]) -> None:
        """Add this task's payloads to the response."""

    def failed(self, reason: str) -> None:
        """The exchange ended without a response (retransmissions exhausted, SA gone)."""
