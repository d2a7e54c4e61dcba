"""The I/O driver of the IKE router: datagrams in, datagrams/events/timer out (DESIGN.md §3).

Everything protocol — SPI demultiplexing, version dispatch, cookies, half-open limits, the leftover SA
of a rekey collision — is :class:`ipsecd.ike.router.Router`, the one object the tests drive too. This
module only feeds it: each datagram from the transport goes to ``router.receive_datagram``; after each
input the driver drains ``next_event()`` into the glue (events first: a CHILD_SA is in the data plane
before the response that completes it leaves, so the peer's first ESP packet never finds it missing),
sends ``datagrams_to_send(now)`` and re-arms the keyed timer of each SA in ``router.timer_updates()``
(one entry per SA on the daemon's timer heap; a deadline that moves later costs no heap push).

The router's own reports (:class:`~ipsecd.ike.events.MessageDropped`: unknown SPIs, IKEv1 before it
is enabled, cookies sent, half-open limits) go through the daemon's per-reason limiter
(:class:`~ipsecd.daemon.logs.ReasonLimiter`): a few lines per reason, then one summary with the count of
messages and sources, since a flood from spoofed sources defeats any per-source memory.

Addresses handed to the SAs are ``(local, remote)`` pairs of ``(host, port)``: with NAT-T (RFC 7296
§2.23) the SA decides when to move to the NAT-T port and the driver sends from whatever local endpoint
it names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from ipsecd.ike.events import MessageDropped
from ipsecd.ike.router import Router
from ipsecd.ike.sa import IkeSaProtocol, ResponderFactory

from .logs import ReasonLimiter
from .timers import Timers
from .transport import Addr, Datagram, Transport

log = logging.getLogger("ipsecd.engine")

EventSink = Callable[[IkeSaProtocol, object], None]
AddrOf = Callable[[Any], tuple[Addr, Addr]]


class Engine:
    """Drives one :class:`Router` on the daemon's sockets and timers."""

    def __init__(self, transport: Transport, timers: Timers, on_event: EventSink, ikev2: ResponderFactory,
                 addr_of: AddrOf | None = None, *, rng: Callable[[int], bytes] = os.urandom,
                 limiter: ReasonLimiter | None = None, **limits: int) -> None:
        self.transport = transport
        self.timers = timers
        self.on_event = on_event
        # the SA's address value -> (local, remote) socket endpoints; None: it already is that pair
        self.addr_of = addr_of
        self.router = Router(rng=rng, now=timers.now(), keyed_timers=True, **limits)
        self.router.register(2, ikev2)
        # dropped messages are logged per reason, not per source: spoofed sources defeat any per-source
        # memory (issue 17 finding 8); the daemon shares its glue's limiter so one summary covers both
        self.limiter = limiter or ReasonLimiter(log, clock=timers.now)
        # the one bound method every SA's timer entry holds: ``self._timer`` read anew per arm would
        # be a new 64-byte object kept per SA
        self._timer_hook = self._timer

    # -- SAs the daemon made or drove itself ---------------------------------------------------------

    def add(self, sa: IkeSaProtocol) -> None:
        self.router.add(sa)
        self.pump()

    def remove(self, sa: IkeSaProtocol) -> None:
        self.router.remove(sa)
        self.timers.cancel(sa)

    def sas(self) -> list[IkeSaProtocol]:
        return self.router.sas()

    # -- input ---------------------------------------------------------------------------------------

    def datagram(self, dgram: Datagram) -> None:
        self.router.receive_datagram(dgram.data, (dgram.local, dgram.remote), self.timers.now())
        self.pump()

    def _timer(self, sa: IkeSaProtocol) -> None:
        self.router.handle_timer(self.timers.now(), sa)
        self.pump()

    # -- output --------------------------------------------------------------------------------------

    def pump(self, sa: IkeSaProtocol | None = None) -> None:
        """Flush what the SAs produced after an input (``sa``: one the glue operated on directly)."""
        router = self.router
        if sa is not None:
            router.touch(sa)
        on_event = self.on_event
        while (item := router.next_event()) is not None:
            owner, event = item
            if owner is None:
                self._report(event)
            else:
                on_event(owner, event)
        out = router.datagrams_to_send(self.timers.now())
        if out:
            send, addr_of = self.transport.send, self.addr_of
            for data, addr in out:
                local, remote = addr if addr_of is None else addr_of(addr)
                send(data, local, remote)
        arm, timer = self.timers.arm, self._timer_hook
        for owner, when in router.timer_updates():
            arm(owner, when, timer)

    def _report(self, event: object) -> None:
        if not isinstance(event, MessageDropped):
            return
        self.limiter.log(
            f"IKE message {event.reason}",
            event.remote[0],
            logging.WARNING,
            "IKE message from %s:%d %s: %s",
            *event.remote,
            "answered with a COOKIE" if event.reason == "cookies-sent" else f"dropped ({event.reason})",
            event.detail,
        )
