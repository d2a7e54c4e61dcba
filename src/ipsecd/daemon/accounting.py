"""RADIUS accounting of ``eap-radius`` road warriors (RFC 2866, RFC 2869 §5.1), as the manual's
``/ip ipsec settings accounting`` and ``interim-update`` say.

A session is one IKE SA the RADIUS server accepted: Accounting-Request Start when it is established
(User-Name the EAP identity, every Class of the Access-Accept echoed, Framed-IP-Address when the
client got one), Interim-Update every ``interim-update`` (0: none) and Stop when it goes, with the
session time, the terminate cause and the traffic: octets and packets of its CHILD_SAs, those
already deleted (rekeyed ones) included — input is what came from the client. Requests go out off
the event loop's critical path; a server that does not answer is logged by the RADIUS client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ipsecd.ike.eap.server import RelayAnswer
from ipsecd.wire.radius import AcctStatus, Attr

from .radius import RadiusClient, accounting_attributes
from .timers import Timers

log = logging.getLogger("ipsecd.radius")

Counters = tuple[int, int, int, int]  # input octets, output octets, input packets, output packets

# RFC 2866 §5.10 Acct-Terminate-Cause
USER_REQUEST, LOST_CARRIER, SESSION_TIMEOUT, ADMIN_RESET, NAS_REQUEST = 1, 2, 5, 6, 10


@dataclass(slots=True)
class Session:
    session_id: str
    user: str
    answer: RelayAnswer
    started: float
    done: Counters = (0, 0, 0, 0)  # of CHILD_SAs already gone
    cause: int | None = None  # why we end it ourselves (Session-Timeout, an operator's kill)


def add(a: Counters, b: Counters) -> Counters:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


class Accounting:
    """Sessions by key (the glue's IKE SA); ``counters(key)`` reads its live CHILD_SAs."""

    def __init__(self, timers: Timers, counters: Callable[[object], Counters]) -> None:
        self.timers = timers
        self.counters = counters
        self.client: RadiusClient | None = None
        self.interim = 0.0  # seconds; 0: no Interim-Update
        self.enabled = False
        self.sessions: dict[object, Session] = {}
        self._sending: set[asyncio.Task[None]] = set()

    def start(self, key: object, session_id: str, user: str, answer: RelayAnswer) -> None:
        if not self.enabled or self.client is None:
            return
        session = self.sessions[key] = Session(session_id, user, answer, self.timers.now())
        self._send(session, AcctStatus.START, None)
        self._arm(key)

    def child_gone(self, key: object, counters: Counters) -> None:
        session = self.sessions.get(key)
        if session is not None:
            session.done = add(session.done, counters)

    def ending(self, key: object, cause: int) -> None:
        """We are about to delete the session's IKE SA, for ``cause``."""
        session = self.sessions.get(key)
        if session is not None and session.cause is None:
            session.cause = cause

    def stop(self, key: object, reason: str) -> None:
        """The IKE SA is gone (``reason`` as the IKE core said it)."""
        session = self.sessions.pop(key, None)
        self.timers.cancel(("interim", key))
        if session is not None:
            self._send(session, AcctStatus.STOP, self.counters(key), session.cause or terminate_cause(reason))

    def _arm(self, key: object) -> None:
        if self.interim > 0:
            self.timers.arm(("interim", key), self.timers.now() + self.interim, self._interim)

    def _interim(self, timer_key: object) -> None:
        assert isinstance(timer_key, tuple)
        key = timer_key[1]
        session = self.sessions.get(key)
        if session is not None:
            self._send(session, AcctStatus.INTERIM_UPDATE, self.counters(key))
            self._arm(key)

    def _send(
        self, session: Session, status: AcctStatus, live: Counters | None, cause: int | None = None
    ) -> None:
        client = self.client
        if client is None:
            return
        counters = add(session.done, live) if live is not None else None
        attrs = accounting_attributes(
            status,
            session.session_id,
            session.user,
            session_time=None if status == AcctStatus.START else int(self.timers.now() - session.started),
            counters=counters,
            class_=session.answer.classes,
            terminate_cause=cause,
        )
        if session.answer.framed_ip is not None:
            attrs.append((Attr.FRAMED_IP_ADDRESS, session.answer.framed_ip.packed))

        async def send() -> None:
            try:
                await client.accounting(attrs)
            except Exception as exc:  # RadiusUnavailable is logged by the client; anything else too
                log.warning("radius: accounting %s for session %s not delivered: %s", status.name,
                            session.session_id, exc)

        task = asyncio.get_running_loop().create_task(send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def close(self) -> None:
        for task in self._sending:
            task.cancel()


def terminate_cause(reason: str) -> int:
    """The Acct-Terminate-Cause of an IKE SA that ended by itself (the IKE core's reason)."""
    if "by the peer" in reason:
        return USER_REQUEST
    if "no response" in reason:
        return LOST_CARRIER
    return NAS_REQUEST
