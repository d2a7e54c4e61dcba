"""The RADIUS client's I/O (RFC 2865 §2.5, RFC 5080 §2.2): asyncio UDP, servers in order, retries.

A request goes to the first configured server; without a verified answer within its ``timeout`` it
is retransmitted (same Identifier and Request Authenticator, RFC 5080 §2.2.1) up to ``tries`` times,
then the next server gets a fresh packet (its own secret, Identifier and authenticator). When none
answers, :class:`RadiusUnavailable` says what happened with each, and one log line says it too.

Every reply is checked by :func:`ipsecd.wire.radius.verify_reply` (Response Authenticator and a
required Message-Authenticator): a forged or damaged reply is dropped and counted, never believed,
and it does not cancel the wait for the real one. Replies to nothing outstanding (duplicates, late
answers after a retry moved on) are dropped. At most ``max_outstanding`` requests are in flight
(the others wait their turn), so Identifiers (256 per socket) never run out. Nothing here blocks
the event loop: the IKE SAs keep being served while a server thinks. Secrets and passwords are
never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from ipsecd.ike.eap.server import ACCEPT, CHALLENGE, REJECT, UNAVAILABLE, RelayAnswer, RelayQuestion
from ipsecd.util.text import escape
from ipsecd.wire import radius
from ipsecd.wire.radius import Attr, Code, RadiusError

log = logging.getLogger("ipsecd.radius")

AUTH_PORT = 1812
ACCT_PORT = 1813


@dataclass(frozen=True)
class RadiusServer:
    """One ``/radius`` entry (service=ipsec): where, with which secret, how long to wait."""

    address: str
    secret: bytes = field(repr=False)
    authentication_port: int = AUTH_PORT
    accounting_port: int = ACCT_PORT
    timeout: float = 0.3  # RouterOS's default, 300 ms
    src_address: str | None = None

    def label(self, port: int) -> str:
        return f"{self.address}:{port}"


class RadiusUnavailable(Exception):
    """No server gave a verified answer; the message says what each one did."""


@dataclass(frozen=True)
class Reply:
    """A verified reply, with what is needed to decrypt its MS-MPPE keys (RFC 2548 §2.4.2)."""

    packet: radius.Packet
    server: RadiusServer
    request_authenticator: bytes = field(repr=False)

    def msk(self) -> bytes:
        return radius.msk_from_accept(self.packet, self.server.secret, self.request_authenticator)


class _Endpoint(asyncio.DatagramProtocol):
    """One UDP socket to one server port: Identifier allocation and the replies awaited on it."""

    def __init__(self, server: RadiusServer, port: int) -> None:
        self.server, self.port = server, port
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[bytes, asyncio.Future[radius.Packet]]] = {}
        self._next_id = 0
        self.dropped = 0
        self.last_error: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def allocate(self) -> int:
        """The next free Identifier, rotating so a just-freed one is not reused at once."""
        for _ in range(256):
            ident, self._next_id = self._next_id, (self._next_id + 1) & 0xFF
            if ident not in self.pending:
                return ident
        raise RadiusUnavailable(f"{self.server.label(self.port)}: no free RADIUS Identifier")

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 2 or data[1] not in self.pending:
            self.dropped += 1  # a duplicate, a late reply, or noise
            return
        request, future = self.pending[data[1]]
        try:
            packet = radius.verify_reply(data, self.server.secret, request)
        except RadiusError as exc:
            self.dropped += 1
            self.last_error = str(exc)
            log.warning("radius: reply from %s dropped: %s", self.server.label(self.port), escape(str(exc)))
            return
        del self.pending[data[1]]
        if not future.done():
            future.set_result(packet)

    def error_received(self, exc: Exception) -> None:
        self.last_error = str(exc)  # ICMP unreachable: the retry or the next server follows


class RadiusClient:
    """``await access(attrs, password=…)`` / ``await accounting(attrs)`` against ``servers`` in order."""

    def __init__(
        self,
        servers: Sequence[RadiusServer],
        tries: int = 3,
        max_outstanding: int = 200,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not servers:
            raise ValueError("a RADIUS client needs at least one server")
        if not 0 < max_outstanding < 256:
            raise ValueError("max_outstanding must be 1..255 (one Identifier each)")
        self.servers = tuple(servers)
        self.tries = tries
        self._random = random
        self._slots = asyncio.Semaphore(max_outstanding)
        self._endpoints: dict[tuple[RadiusServer, int], _Endpoint] = {}
        self._opening = asyncio.Lock()  # two requests must not each open a socket to one server

    async def access(self, attributes: list[tuple[int, bytes]], password: bytes | None = None) -> Reply:
        """An Access-Request; ``password`` becomes a User-Password hidden per server (RFC 2865 §5.2)."""
        return await self._request(Code.ACCESS_REQUEST, attributes, password)

    async def accounting(self, attributes: list[tuple[int, bytes]]) -> Reply:
        return await self._request(Code.ACCOUNTING_REQUEST, attributes, None)

    async def _request(self, code: int, attributes: list[tuple[int, bytes]], password: bytes | None) -> Reply:
        what = "Access-Request" if code == Code.ACCESS_REQUEST else "Accounting-Request"
        outcomes = []
        async with self._slots:
            for server in self.servers:
                port = server.authentication_port if code == Code.ACCESS_REQUEST else server.accounting_port
                try:
                    endpoint = await self._endpoint(server, port)
                except OSError as exc:
                    outcomes.append(f"{server.label(port)} unusable ({exc.strerror or exc})")
                    continue
                reply = await self._exchange(endpoint, code, attributes, password)
                if reply is not None:
                    return reply
                because = f", last: {escape(endpoint.last_error)}" if endpoint.last_error else ""
                outcomes.append(f"{server.label(port)} no verified answer in {self.tries} tries{because}")
        message = f"no RADIUS server answered the {what}: " + "; ".join(outcomes)
        log.error("radius: %s", message)
        raise RadiusUnavailable(message)

    async def _exchange(
        self, endpoint: _Endpoint, code: int, attributes: list[tuple[int, bytes]], password: bytes | None
    ) -> Reply | None:
        server = endpoint.server
        authenticator = self._random(16)
        attrs = list(attributes)
        if password is not None:
            attrs.append((Attr.USER_PASSWORD, radius.hide_password(password, server.secret, authenticator)))
        ident = endpoint.allocate()
        data = radius.build_request(server.secret, code, ident, authenticator, attrs)
        future: asyncio.Future[radius.Packet] = asyncio.get_running_loop().create_future()
        endpoint.pending[ident] = (data, future)
        endpoint.last_error = None
        try:
            for _ in range(self.tries):
                assert endpoint.transport is not None
                endpoint.transport.sendto(data)
                try:
                    packet = await asyncio.wait_for(asyncio.shield(future), server.timeout)
                except TimeoutError:
                    continue
                return Reply(packet, server, data[4:20])
            return None
        finally:
            endpoint.pending.pop(ident, None)

    async def _endpoint(self, server: RadiusServer, port: int) -> _Endpoint:
        key = (server, port)
        async with self._opening:
            endpoint = self._endpoints.get(key)
            if endpoint is None or endpoint.transport is None or endpoint.transport.is_closing():
                loop = asyncio.get_running_loop()
                local = (server.src_address, 0) if server.src_address else None
                _, endpoint = await loop.create_datagram_endpoint(
                    lambda: _Endpoint(server, port), remote_addr=(server.address, port), local_addr=local
                )
                self._endpoints[key] = endpoint
        return endpoint

    def close(self) -> None:
        for endpoint in self._endpoints.values():
            if endpoint.transport is not None:
                endpoint.transport.close()
        self._endpoints.clear()


def user_attributes(user: bytes, calling_station_id: str, nas_ip: bytes | None) -> list[tuple[int, bytes]]:
    """Who asks for whom: User-Name, Calling-Station-Id (the client's address and port),
    NAS-Port-Type Virtual, Service-Type Framed, and NAS-IP-Address when we have an IPv4 one."""
    attrs: list[tuple[int, bytes]] = [
        (Attr.USER_NAME, user),
        (Attr.CALLING_STATION_ID, calling_station_id.encode()),
        (Attr.NAS_PORT_TYPE, radius.integer(radius.NAS_PORT_TYPE_VIRTUAL)),
        (Attr.SERVICE_TYPE, radius.integer(radius.SERVICE_TYPE_FRAMED)),
    ]
    if nas_ip is not None:
        attrs.append((Attr.NAS_IP_ADDRESS, nas_ip))
    return attrs


def eap_attributes(
    user: bytes, eap: bytes, state: bytes | None, calling_station_id: str, nas_ip: bytes | None = None
) -> list[tuple[int, bytes]]:
    """One round of RFC 3579 EAP pass-through: User-Name (the EAP identity, not the IKE one —
    Windows sends its address as IDi), the EAP message in 253-octet pieces, the State of the last
    Access-Challenge echoed (RFC 2865 §5.24), Calling-Station-Id (the client's address and port),
    NAS-IP-Address and NAS-Port-Type Virtual."""
    attrs = user_attributes(user, calling_station_id, nas_ip)
    attrs += radius.split_eap(eap)
    if state is not None:
        attrs.append((Attr.STATE, state))
    return attrs


async def relay(client: RadiusClient, question: RelayQuestion, nas_ip: bytes | None) -> RelayAnswer:
    """One EAP round of an ``eap-radius`` gateway through ``client``: the IKE SA's question as an
    Access-Request, the verified reply as the answer it waits for (an Access-Accept's MSK decrypted
    from its MS-MPPE keys, RFC 2548; a server that sent none gets an answer without MSK, refused)."""
    attrs = eap_attributes(question.user, question.eap, question.state, question.calling_station_id, nas_ip)
    try:
        reply = await client.access(attrs)
    except RadiusUnavailable as exc:
        return RelayAnswer(UNAVAILABLE, reason=str(exc))
    packet = reply.packet
    eap = packet.eap_message()
    if packet.code == Code.ACCESS_CHALLENGE:
        return RelayAnswer(CHALLENGE, eap, packet.get(Attr.STATE))
    if packet.code == Code.ACCESS_ACCEPT:
        try:
            msk = reply.msk()
            info = radius.accept_info(packet)
        except RadiusError as exc:
            log.warning("radius: Access-Accept from %s unusable: %s", reply.server.address, exc)
            return RelayAnswer(ACCEPT, eap)
        return RelayAnswer(ACCEPT, eap, msk=msk, framed_ip=info.framed_ip,
                           session_timeout=info.session_timeout, classes=info.classes)
    message = packet.get(Attr.REPLY_MESSAGE)
    return RelayAnswer(REJECT, eap, reason=message.decode("utf-8", "replace") if message else "")


async def pap(client: RadiusClient, user: bytes, password: bytes, calling_station_id: str,
              nas_ip: bytes | None) -> RelayAnswer:
    """An XAuth user checked by RADIUS (``xauth-use-radius=yes``): an Access-Request with User-Name
    and User-Password (RFC 2865 §5.2, hidden per server), Calling-Station-Id, NAS-Port-Type Virtual,
    Service-Type Framed; the answer as an ``eap-radius`` round's, without EAP (Framed-IP-Address,
    Session-Timeout and Class of an Access-Accept are applied and accounted alike)."""
    try:
        reply = await client.access(user_attributes(user, calling_station_id, nas_ip), password=password)
    except RadiusUnavailable as exc:
        return RelayAnswer(UNAVAILABLE, reason=str(exc))
    packet = reply.packet
    if packet.code == Code.ACCESS_ACCEPT:
        try:
            info = radius.accept_info(packet)
        except RadiusError as exc:
            log.warning("radius: Access-Accept from %s unusable: %s", reply.server.address, exc)
            return RelayAnswer(ACCEPT)
        return RelayAnswer(ACCEPT, framed_ip=info.framed_ip, session_timeout=info.session_timeout,
                           classes=info.classes)
    message = packet.get(Attr.REPLY_MESSAGE)
    return RelayAnswer(REJECT, reason=message.decode("utf-8", "replace") if message else "Access-Reject")


def accounting_attributes(
    status: radius.AcctStatus,
    session_id: str,
    user: str,
    *,
    session_time: int | None = None,
    counters: tuple[int, int, int, int] | None = None,
    class_: Sequence[bytes] = (),
    terminate_cause: int | None = None,
) -> list[tuple[int, bytes]]:
    """Attributes of an Accounting-Request (RFC 2866 §5): Start, Interim-Update or Stop, with
    ``counters`` = (input octets, output octets, input packets, output packets) — octets past 2³²
    go into the Gigawords attributes (RFC 2869 §5.1) — and every Class of the Access-Accept echoed
    unchanged (RFC 2865 §5.25)."""
    attrs: list[tuple[int, bytes]] = [
        (Attr.ACCT_STATUS_TYPE, radius.integer(status)),
        (Attr.ACCT_SESSION_ID, session_id.encode()),
        (Attr.USER_NAME, user.encode()),
        (Attr.NAS_PORT_TYPE, radius.integer(radius.NAS_PORT_TYPE_VIRTUAL)),
    ]
    attrs += [(Attr.CLASS, c) for c in class_]
    if session_time is not None:
        attrs.append((Attr.ACCT_SESSION_TIME, radius.integer(session_time)))
    if counters is not None:
        in_octets, out_octets, in_packets, out_packets = counters
        attrs += [
            (Attr.ACCT_INPUT_OCTETS, radius.integer(in_octets)),
            (Attr.ACCT_OUTPUT_OCTETS, radius.integer(out_octets)),
            (Attr.ACCT_INPUT_GIGAWORDS, radius.integer(in_octets >> 32)),
            (Attr.ACCT_OUTPUT_GIGAWORDS, radius.integer(out_octets >> 32)),
            (Attr.ACCT_INPUT_PACKETS, radius.integer(in_packets)),
            (Attr.ACCT_OUTPUT_PACKETS, radius.integer(out_packets)),
        ]
    if terminate_cause is not None:
        attrs.append((Attr.ACCT_TERMINATE_CAUSE, radius.integer(terminate_cause)))
    return attrs
