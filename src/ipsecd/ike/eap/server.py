"""The gateway's side of EAP in IKE_AUTH (RFC 7296 §2.16, RFC 3748, RFC 3579): who judges the client.

Two authenticators behind one interface, both sans-I/O (EAP packets in and out):

* :class:`RadiusRelay` (``auth-method=eap-radius``, RouterOS's only gateway mode): the gateway asks
  the client for its EAP identity itself, then passes every EAP response to a RADIUS server and
  every EAP request, Success or Failure back (RFC 3579 pass-through). ``receive`` returns a
  :class:`RelayQuestion` instead of a packet; the IKE task hands it out (the daemon's RADIUS client
  asks the server while every other SA is served) and the :class:`RelayAnswer` comes back through
  ``answer``. The MSK is the Access-Accept's MS-MPPE-Recv-Key ‖ MS-MPPE-Send-Key.
* :class:`LocalEapServer` (beyond RouterOS, off by default): EAP-MSCHAPv2 verified by ipsecd
  itself against the EAP users' secrets of the credential provider, so one machine serves native
  clients without any RADIUS server.

Either ends ``done`` with ``msk`` (success) or ``reason`` (failure, for the operator's log: the
EAP identity in it is the client's, to be escaped by whoever logs it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Protocol

from ...wire.eap import EapCode, EapError, EapPacket, EapType, parse
from .mschapv2 import MsChapV2Server, Random


@dataclass(frozen=True, slots=True)
class RelayQuestion:
    """One Access-Request to make (RFC 3579 §3.1): the EAP identity as User-Name, the client's EAP
    response, the State of the last Access-Challenge (None in the first round) and the client's
    address for Calling-Station-Id."""

    user: bytes
    eap: bytes
    state: bytes | None
    calling_station_id: str


CHALLENGE, ACCEPT, REJECT, UNAVAILABLE = "challenge", "accept", "reject", "unavailable"


@dataclass(frozen=True, slots=True)
class RelayAnswer:
    """The RADIUS server's verdict on a :class:`RelayQuestion`: ``kind`` is CHALLENGE (``eap`` is the
    next request, ``state`` to echo), ACCEPT (``eap`` the EAP-Success, ``msk`` from MS-MPPE keys, and
    what the gateway applies: Framed-IP-Address, Session-Timeout, Class), REJECT (``reason`` from
    Reply-Message) or UNAVAILABLE (no server gave a verified answer; ``reason`` says what each did)."""

    kind: str
    eap: bytes | None = None
    state: bytes | None = None
    msk: bytes = field(default=b"", repr=False)
    reason: str = ""
    framed_ip: IPv4Address | None = None
    session_timeout: int | None = None
    classes: tuple[bytes, ...] = ()


class EapServer(Protocol):
    """What the IKE_AUTH task drives (see the module docstring)."""

    done: bool
    msk: bytes
    reason: str
    user: str  # the client's EAP identity once known (unescaped)

    def start(self) -> bytes:
        """The first EAP request (Identity)."""

    def receive(self, eap: bytes) -> bytes | RelayQuestion:
        """The next EAP packet to send for the client's ``eap``, or a question for the outside."""

    def answer(self, result: object) -> bytes:
        """The EAP packet to send once the outside answered (RadiusRelay only)."""


class _Base:
    __slots__ = ("_id", "_random", "done", "msk", "reason", "user")

    def __init__(self, random: Random) -> None:
        self._random = random
        self._id = random(1)[0]
        self.done = False
        self.msk = b""
        self.reason = ""
        self.user = ""

    def start(self) -> bytes:
        return EapPacket(EapCode.REQUEST, self._id, EapType.IDENTITY).encode()

    def _identity(self, packet: EapPacket) -> None:
        if (
            packet.code != EapCode.RESPONSE
            or packet.type != EapType.IDENTITY
            or packet.identifier != self._id
        ):
            raise EapError("the client did not answer the EAP-Identity request")
        self.user = packet.data.decode("utf-8", "replace")

    def _fail(self, reason: str) -> bytes:
        self.done = True
        self.reason = reason
        self.msk = b""
        return EapPacket(EapCode.FAILURE, (self._id + 1) & 0xFF).encode()


class LocalEapServer(_Base):
    """EAP-MSCHAPv2 judged by ipsecd (``lookup(user)`` is the user's password, None for no such user)."""

    __slots__ = ("_lookup", "_method")

    def __init__(self, lookup: Callable[[str], str | None], random: Random = os.urandom) -> None:
        super().__init__(random)
        self._lookup = lookup
        self._method: MsChapV2Server | None = None

    def receive(self, eap: bytes) -> bytes:
        packet = parse(eap)
        if self.done:
            raise EapError("EAP is over")
        if self._method is None:
            self._identity(packet)
            self._method = MsChapV2Server(self._lookup, random=self._random)
            self._id = (self._id + 1) & 0xFF
            return self._method.start(self._id).encode()
        if packet.code != EapCode.RESPONSE or packet.identifier != self._id:
            raise EapError(f"EAP response with identifier {packet.identifier}, expected {self._id}")
        if packet.type == EapType.NAK:
            offered = ", ".join(_method_name(t) for t in packet.data)
            return self._fail(f"EAP user {self.user}: the client refuses EAP-MSCHAPv2 (it offers {offered})")
        reply = self._method.process(packet)
        self._id = reply.identifier
        if reply.code == EapCode.SUCCESS:
            assert self._method.msk is not None
            self.done, self.msk = True, self._method.msk
        elif reply.code == EapCode.FAILURE:
            self.done = True
            self.reason = f"EAP user {self.user}: EAP-MSCHAPv2 refused (unknown user or wrong password)"
        return reply.encode()

    def answer(self, result: object) -> bytes:
        raise EapError("the local EAP server asks nobody")


class RadiusRelay(_Base):
    """RFC 3579 pass-through: every client response becomes a :class:`RelayQuestion`."""

    __slots__ = ("_calling", "_state", "_waiting", "answered")

    def __init__(self, calling_station_id: str, random: Random = os.urandom) -> None:
        super().__init__(random)
        self._calling = calling_station_id
        self._state: bytes | None = None
        self._waiting = False
        self.answered: RelayAnswer | None = None  # the last verdict (the accept's attributes)

    def receive(self, eap: bytes) -> RelayQuestion:
        packet = parse(eap)
        if self.done or self._waiting:
            raise EapError("EAP response out of turn")
        if packet.code != EapCode.RESPONSE:
            raise EapError(f"EAP code {packet.code} from the client")
        if not self.user:
            self._identity(packet)
        self._waiting = True
        return RelayQuestion(self.user.encode(), eap, self._state, self._calling)

    def answer(self, result: object) -> bytes:
        if not isinstance(result, RelayAnswer) or not self._waiting:
            raise EapError("RADIUS answer out of turn")
        self._waiting = False
        self.answered = result
        who = f"EAP user {self.user}"
        if result.kind == CHALLENGE:
            try:
                packet = parse(result.eap or b"")
            except EapError as exc:
                return self._fail(f"{who}: the RADIUS server's Access-Challenge holds no EAP request ({exc})")
            if packet.code != EapCode.REQUEST:
                return self._fail(f"{who}: the RADIUS server's Access-Challenge holds EAP code {packet.code}")
            self._state = result.state
            self._id = packet.identifier
            return result.eap or b""
        if result.kind == ACCEPT:
            if not result.msk:
                return self._fail(f"{who}: Access-Accept without MS-MPPE keys (the EAP method made no MSK)")
            self.done, self.msk = True, result.msk
            success = result.eap
            if success is None or parse(success).code != EapCode.SUCCESS:
                success = EapPacket(EapCode.SUCCESS, self._id).encode()
            return success
        if result.kind == REJECT:
            because = f": {result.reason}" if result.reason else ""
            return self._fail(f"{who}: the RADIUS server rejected the client (Access-Reject{because})")
        return self._fail(f"{who}: {result.reason or 'no RADIUS server answered'}")


def _method_name(value: int) -> str:
    try:
        return EapType(value).name
    except ValueError:
        return str(value)
