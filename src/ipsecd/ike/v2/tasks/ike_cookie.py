"""COOKIE on the initiator's side (RFC 7296 §2.6): repeat IKE_SA_INIT with the responder's cookie.

The responder side is stateless and lives in ``ike/router.py`` (it answers before any SA exists).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipsecd.wire.enums import ExchangeType, NotifyType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload

from .base import Retry, Task

if TYPE_CHECKING:
    from ..sa import IkeSa

MAX_COOKIE_ROUNDS = 3  # a responder that keeps asking is not going to accept us


class IkeCookie(Task):
    __slots__ = ("cookie", "rounds")

    def __init__(self, sa: IkeSa) -> None:
        super().__init__(sa)
        self.cookie = b""
        self.rounds = 0

    def build_i(self, out: list[Payload]) -> None:
        if self.cookie:
            out.insert(0, NotifyPayload(NotifyType.COOKIE, self.cookie))  # §2.6: the first payload

    def process_i(self, msg: Message) -> None:
        cookie = msg.notify(NotifyType.COOKIE)
        if cookie is None:
            return
        self.rounds += 1
        if self.rounds > MAX_COOKIE_ROUNDS or not 1 <= len(cookie.data) <= 64:
            self.sa.fail(ExchangeType.IKE_SA_INIT, "COOKIE", "the responder keeps asking for cookies")
            return
        self.cookie = cookie.data
        raise Retry
