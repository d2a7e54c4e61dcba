"""The task interface (after strongSwan's libcharon): one feature of an exchange, both roles.

The initiator's task manager calls ``build_i`` on each task of an exchange to fill the request and
``process_i`` on the response; the responder's calls ``process_r`` on the request and ``build_r``
for the response. A task that needs the exchange restarted (COOKIE, INVALID_KE_PAYLOAD) raises
:class:`Retry`; a refusal is ``IkeProtocolError`` (see ``ike/errors.py``).

Tasks that span several rounds (after libcharon's ``NEED_MORE``): ``build_r`` (responder) or
``process_i`` (initiator) returns :data:`NEED_MORE` when the task needs another exchange of the same
type (EAP runs over several IKE_AUTH round trips); the task manager keeps it for the next request, or
sends the next request with it. A ``process_r`` or ``process_i`` that needs a verdict from outside (a
RADIUS server, a certificate status check) raises :class:`AwaitVerdict`: the exchange waits — the
request unanswered (responder), or the response unprocessed and no longer retransmitted (initiator)
— while the SA answers everything else, until the daemon's ``provide_verdict(token, result)``
reaches the task's :meth:`Task.verdict`; the rest of the exchange's tasks then run. An initiator
that gets no verdict within the time a lost response would take (``Retransmit.total()``) fails the
exchange.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload

if TYPE_CHECKING:
    from ..sa import IkeSa


class Retry(Exception):
    """Send the exchange's request again, rebuilt (new cookie or KE group)."""


class AwaitVerdict(Exception):
    """``process_r`` or ``process_i`` cannot finish before an outside verdict on ``token`` arrives."""

    def __init__(self, token: object) -> None:
        super().__init__(token)
        self.token = token


class _NeedMore:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_MORE"


NEED_MORE = _NeedMore()  # returned by build_r / process_i: this task goes on in another round
Status = _NeedMore | None


class Task:
    __slots__ = ("sa",)

    def __init__(self, sa: IkeSa) -> None:
        self.sa = sa

    def build_i(self, out: list[Payload]) -> None:
        """Add this task's payloads to the request."""

    def process_i(self, msg: Message) -> Status:
        """Handle the response (NEED_MORE: send another request of this exchange with this task)."""

    def process_r(self, msg: Message) -> None:
        """Handle the request (raise IkeProtocolError to refuse it)."""

    def build_r(self, out: list[Payload]) -> Status:
        """Add this task's payloads to the response (NEED_MORE: keep this task for the next request)."""

    def verdict(self, result: object) -> None:
        """The outside verdict this task waited for with :class:`AwaitVerdict` (raise
        IkeProtocolError to refuse the request, or as initiator the response: the exchange fails)."""

    def failed(self, reason: str) -> None:
        """The exchange ended without a response (retransmissions exhausted, SA gone)."""
