"""The EAP peer (RFC 3748 §4–§5) for ``auth-method=eap``: ipsecd as the client of a gateway.

It answers Identity with the configured user name, Notification with an empty Response (§5.2), a
request for a method it does not run with a legacy Nak listing the methods it does (§5.3.1, in the
configured order), and hands the requests of the chosen method to that method object. EAP-Success
counts only after the method has finished and proven the server (§4.2: a Success that arrives
early is ignored as a spoof, not believed); EAP-Failure ends it. Sans-I/O: EAP packets in and out.
"""

from __future__ import annotations

import os

from ...wire.eap import EapCode, EapError, EapPacket, EapType, parse
from .mschapv2 import MsChapV2Peer, Random

SUPPORTED = (EapType.MSCHAPV2,)


class EapPeer:
    """``receive(eap) -> reply or None``; then ``succeeded``/``failed``/``msk``/``reason``."""

    def __init__(self, username: str, password: str, methods: tuple[int, ...] = SUPPORTED,
                 random: Random = os.urandom) -> None:
        self._username = username
        self._methods = tuple(m for m in methods if m in SUPPORTED)
        self._method = MsChapV2Peer(username, password, random)
        self.succeeded = False
        self.failed = False
        self.reason: str | None = None

    @property
    def msk(self) -> bytes | None:
        return self._method.msk if self.succeeded else None

    def receive(self, data: bytes) -> bytes | None:
        """The EAP-Response to send for ``data``, or None (Success/Failure, or nothing to say).
        A request the method cannot accept raises :class:`EapError` (the EAP exchange fails)."""
        packet = parse(data)
        if packet.code == EapCode.SUCCESS:
            if self._method.msk is None:
                self.reason = "EAP-Success before the method finished"
                self.failed = True
            else:
                self.succeeded = True
            return None
        if packet.code == EapCode.FAILURE:
            self.failed = True
            self.reason = self._method.failure or "EAP-Failure"
            return None
        if packet.code != EapCode.REQUEST or packet.type is None:
            raise EapError(f"EAP code {packet.code} is not for a peer")
        return self._answer(packet).encode()

    def _answer(self, request: EapPacket) -> EapPacket:
        if request.type == EapType.IDENTITY:
            return EapPacket(EapCode.RESPONSE, request.identifier, EapType.IDENTITY, self._username.encode())
        if request.type == EapType.NOTIFICATION:
            return EapPacket(EapCode.RESPONSE, request.identifier, EapType.NOTIFICATION)
        if request.type in self._methods:
            return self._method.process(request)
        return EapPacket(EapCode.RESPONSE, request.identifier, EapType.NAK, bytes(self._methods) or b"\0")
