"""``ipsecd run``: the asyncio daemon (DESIGN.md §1: the one room that knows everybody).

One event loop owns the IKE sockets (:mod:`.transport`), the timers of every IKE SA (:mod:`.timers`),
the control socket (:mod:`.control`) and the data plane's event queue. The IKE SAs are sans-I/O
objects behind one :class:`ipsecd.ike.router.Router`, driven by :class:`.engine.Engine`; :class:`Glue`
turns configuration snapshots into IKE configurations and IKE events into data-plane installs.
Shutdown (SIGINT/SIGTERM) lets the glue send DELETEs (RFC 7296 §1.4.1) and gives them a moment on
the wire before the sockets close.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, Protocol

from ipsecd.ike.sa import Addr as SaAddr
from ipsecd.ike.sa import IkeSaProtocol

from .api.events import EventHub, stream_lines
from .control import ControlError, ControlServer, Reply
from .engine import Engine
from .glue import GlueError, build
from .logs import ReasonLimiter, configure_logging
from .notify import notify
from .timers import Timers
from .transport import Addr, Datagram, SocketHook, Transport, TransportError

log = logging.getLogger("ipsecd")

# seconds between data-plane event polls (time lifetimes and acquires of the memory data plane; the
# TUN backend wakes the loop itself when its workers report). Each poll of the memory data plane
# scans its whole SAD, ~20 ms at 10,000 tunnels, so polling five times a second cost a tenth of a
# core at that size; lifetimes are whole seconds, so a second's resolution loses nothing.
DATAPLANE_POLL = 1.0
SHUTDOWN_GRACE = 0.3  # seconds for DELETEs to leave before the sockets close


class Glue(Protocol):
    """The daemon's view of the configuration/IKE/data-plane glue."""

    limiter: ReasonLimiter  # per-reason log limits, shared with the engine's reports

    def attach(self, daemon: Daemon) -> None: ...

    def new_responder(self, data: bytes, addr: SaAddr, now: float) -> IkeSaProtocol | None: ...

    def on_event(self, sa: IkeSaProtocol, event: object) -> None: ...

    def on_dataplane_events(self) -> None: ...

    def start(self) -> None: ...

    def shutdown(self) -> None: ...

    def close(self) -> None: ...


Execute = Callable[[str, bool], Reply]


class Service(Protocol):
    """Something more the daemon serves (the REST/API listeners of :mod:`.api`), started once the
    glue is attached (its runtime views exist) and closed before the glue."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def _no_engine_yet(dgram: Datagram) -> None:
    """The transport's IKE handler until :class:`Engine` exists (nothing is read before)."""


class Daemon:
    def __init__(self, glue: Glue, *, execute: Execute, control_path: str | None, ike_port: int = 500,
                 natt_port: int = 4500, local_addresses: tuple[str, ...] = (), own_natt: bool = True,
                 services: Callable[[Daemon], Service] | None = None) -> None:
        self.glue = glue
        self.services_factory = services
        self.services: Service | None = None
        #: every IKE event as JSON for whoever listens (REST's /events, ``ipsecd events``)
        self.events = EventHub()
        #: more sinks for every IKE event, after the glue
        self.event_listeners: list[Callable[[IkeSaProtocol, object], None]] = [self.events.publish]
        self.execute = execute
        self.control_path = control_path
        self.ike_port = ike_port
        self.natt_port = natt_port
        self.local_addresses = local_addresses
        self.own_natt = own_natt
        self.on_esp: Callable[[bytes, Addr, Addr], None] | None = None
        self.transport: Transport
        self.timers: Timers
        self.engine: Engine
        self.control: ControlServer | None = None
        self._stop: asyncio.Event | None = None
        self.ready = asyncio.Event()
        self.exit_code = 0

    def now(self) -> float:
        return self.timers.now()

    def _socket_hook(self) -> SocketHook | None:
        """The data plane's hook for our IKE sockets, if it has one (the kernel backend's bypass)."""
        return getattr(getattr(self.glue, "dataplane", None), "prepare_ike_socket", None)

    async def start(self) -> None:
        """Open sockets and the control socket and bring up the configuration; raise on failure."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.timers = Timers(loop)
        self.transport = Transport(
            _no_engine_yet,
            self._esp,
            ike_port=self.ike_port,
            natt_port=self.natt_port,
            local_addresses=self.local_addresses,
            own_natt=self.own_natt,
            prepare=self._socket_hook(),
        )
        self.engine = Engine(
            self.transport, self.timers, self._on_event, self.glue.new_responder, limiter=self.glue.limiter
        )
        self.transport.on_ike = self.engine.datagram  # straight to the engine: one call less per datagram
        self.glue.attach(self)
        self.transport.open(loop)
        if self.control_path:
            self.control = ControlServer(self.control_path, self._control,
                                         lambda writer: stream_lines(self.events, writer))
            try:
                await self.control.start()
            except ControlError:
                self.transport.close()
                raise
        self.glue.start()
        if self.services_factory is not None:
            self.services = self.services_factory(self)
            await self.services.start()
        self.ready.set()

    def _on_event(self, sa: IkeSaProtocol, event: object) -> None:
        self.glue.on_event(sa, event)
        for listener in self.event_listeners:
            listener(sa, event)

    def _esp(self, data: bytes, local: Addr, remote: Addr) -> None:
        if self.on_esp is not None:
            self.on_esp(data, local, remote)

    async def _control(self, command: str, as_json: bool) -> Reply:
        return self.execute(command, as_json)

    def fail(self, reason: str) -> None:
        """Something the daemon cannot run without is gone for good (the data plane could not
        replace a dead worker): one clear line, then stop and exit non-zero so that a supervisor
        (systemd ``Restart=on-failure``) starts ipsecd again (issue 17, finding 2)."""
        log.critical("%s; stopping (exit status 1) so that the service manager restarts ipsecd", reason)
        self.exit_code = 1
        self.request_stop()

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def serve_until_stopped(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            self.glue.on_dataplane_events()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), DATAPLANE_POLL)

    async def stop(self) -> None:
        """Send DELETEs for everything, give them a moment, close sockets and timers."""
        try:
            self.glue.shutdown()
        except Exception:
            log.exception("error while deleting SAs at shutdown")
        await asyncio.sleep(SHUTDOWN_GRACE)
        if self.services is not None:
            await self.services.close()
        self.glue.close()
        if self.control is not None:
            await self.control.close()
        self.timers.cancel_all()
        self.transport.close()

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        try:
            await self.start()
        except (TransportError, ControlError) as exc:
            print(f"ipsecd: {exc}", file=sys.stderr)
            return 1
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        log.info(
            "ipsecd running: IKE on UDP %d, NAT-T on UDP %d%s",
            self.transport.ike_port,
            self.transport.natt_port,
            "" if self.own_natt else " (owned by the data plane)",
        )
        notify(
            f"READY=1\nSTATUS=IKE on UDP {self.transport.ike_port}, NAT-T on UDP {self.transport.natt_port}"
        )
        try:
            await self.serve_until_stopped()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            notify("STOPPING=1\nSTATUS=deleting SAs")
            await self.stop()
        log.info("ipsecd stopped")
        return self.exit_code


def _api_servers(daemon: Daemon, glue: Any, args: argparse.Namespace) -> Service:
    """The ``/ip service`` listeners over the glue's configuration and runtime views (issue 14)."""
    from .api.backend import Backend
    from .api.server import ApiOptions, ApiServers

    options = ApiOptions(metrics=getattr(args, "metrics_listen", None),
                         state_dir=None if args.config else os.path.dirname(os.path.abspath(args.db)))
    if getattr(args, "api_listen", None):
        options.listen = tuple(args.api_listen)
    backend = Backend(glue.config, glue.runtime)
    return ApiServers(glue.config, backend, options, daemon.events, certificates=glue.certificates)


def run_daemon(args: argparse.Namespace) -> int:
    """Entry of ``ipsecd run``: build configuration, data plane and glue, serve until signalled."""
    configure_logging(args.log_level)
    try:
        glue, execute, own_natt, locals_ = build(args)
    except GlueError as exc:
        print(f"ipsecd: {exc}", file=sys.stderr)
        return 1
    daemon = Daemon(glue, execute=execute, control_path=args.control, ike_port=args.ike_port,
                    natt_port=args.natt_port, local_addresses=locals_, own_natt=own_natt,
                    services=lambda d: _api_servers(d, glue, args))
    # Modules, configuration and plan live as long as the process: out of the cyclic collector's
    # sight (gc.freeze), its full collections walk only what the IKE SAs allocate (about half the GC
    # time per SA set up, measured).
    gc.collect()
    gc.freeze()
    return asyncio.run(daemon.main())
