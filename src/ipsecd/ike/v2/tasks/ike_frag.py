"""IKE fragmentation negotiated in IKE_SA_INIT (RFC 7383 §2.3).

Each side that supports it sends an empty IKEV2_FRAGMENTATION_SUPPORTED notify; the responder
answers with its own only when the request carried one. When both did, any encrypted message of
this IKE SA (and of its rekeyed generations, which inherit it) larger than the path allows goes out
as SKF fragments, and SKF fragments from the peer are accepted (``task_manager``). RouterOS has no
setting for it; like strongSwan's default (``fragmentation=yes``) it is on, so that IKE_AUTH with a
certificate chain crosses paths that drop IP fragments.
"""

from __future__ import annotations

from ipsecd.wire.enums import NotifyType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload

from .base import Status, Task


class IkeFrag(Task):
    __slots__ = ()

    def build_i(self, out: list[Payload]) -> None:
        if self.sa.config.fragmentation:
            out.append(NotifyPayload(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))

    def process_i(self, msg: Message) -> None:
        self._negotiate(msg)

    def process_r(self, msg: Message) -> None:
        self._negotiate(msg)

    def build_r(self, out: list[Payload]) -> Status:
        if self.sa.fragmentation:
            out.append(NotifyPayload(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))
        return None

    def _negotiate(self, msg: Message) -> None:
        self.sa.fragmentation = (
            self.sa.config.fragmentation and msg.notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) is not None
        )
