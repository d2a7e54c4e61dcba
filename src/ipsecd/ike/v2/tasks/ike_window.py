"""SET_WINDOW_SIZE (RFC 7296 §2.3, §3.10.1): each side says, in IKE_AUTH, how many requests of the
other it processes at once; the other may then keep that many of its own outstanding. Sent only when
our window is above the default 1, so the wire stays as before for everybody else. The value is a
4-octet count; a malformed or zero one is ignored (the window stays 1)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ipsecd.wire.enums import NotifyType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload

from .base import Task

if TYPE_CHECKING:
    from ..sa import IkeSa

_SIZE = struct.Struct("!I")


class IkeWindow(Task):
    __slots__ = ()

    def __init__(self, sa: IkeSa) -> None:
        super().__init__(sa)

    def _announce(self, out: list[Payload]) -> None:
        if self.sa.window > 1:
            out.append(NotifyPayload(NotifyType.SET_WINDOW_SIZE, _SIZE.pack(self.sa.window)))

    def _learn(self, msg: Message) -> None:
        n = msg.notify(NotifyType.SET_WINDOW_SIZE)
        if n is not None and len(n.data) == _SIZE.size:
            (size,) = _SIZE.unpack(n.data)
            if size >= 1:
                self.sa.peer_window = size

    def build_i(self, out: list[Payload]) -> None:
        self._announce(out)

    def process_i(self, msg: Message) -> None:
        self._learn(msg)

    def process_r(self, msg: Message) -> None:
        self._learn(msg)

    def build_r(self, out: list[Payload]) -> None:
        self._announce(out)
