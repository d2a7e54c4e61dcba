"""The listeners of ``/ip service`` (``api``, ``api-ssl``, ``www``, ``www-ssl``) and of the metrics.

:class:`ApiServers` follows the configuration: whenever ``/ip service`` changes it opens, moves or
closes listeners so that exactly the enabled services listen on their ports. Where they listen is
not in the RouterOS menus (an export must paste into a router): it is ``ipsecd run --api-listen``,
loopback unless told. The metrics endpoint is likewise an ipsecd option (``--metrics-listen``).

Each accepted connection is checked against the service's ``address`` allow-list and its
``max-sessions`` before a byte is read; refused ones are closed and counted. ``api-ssl`` and
``www-ssl`` use TLS with the service's ``certificate=`` from the certificate store, or, with
``certificate=none``, the one ipsecd generates on first start (logged with its SHA-256 fingerprint;
kept 0600 next to the database when there is one).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ipsecd.mgmt.model import Config, Snapshot
from ipsecd.pki.store import CertificateStore, StoreError
from ipsecd.util.bounded import BoundedCache

from . import metrics
from .auth import Authenticator
from .backend import Backend
from .events import EventHub, pump
from .http import MAX_HEAD, HttpError, HttpRequest, HttpResponse, read_request
from .rest import RestHandler, error
from .ros_api import ApiConnection
from .tls import load_or_make, pem_from_store, server_context

log = logging.getLogger("ipsecd.api")

Route = Callable[[HttpRequest, str], Awaitable[HttpResponse]]
METRICS_SESSIONS = 16  # scrapers at once (Prometheus keeps one connection)


@dataclass(frozen=True, slots=True)
class ServiceConf:
    """What a listener needs of one ``/ip service`` row; a change of any field reopens it."""

    name: str
    port: int
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    max_sessions: int
    tls_version: str
    certificate: str = "none"  # a /certificate name, or none: the generated one


@dataclass(slots=True)
class ApiOptions:
    listen: tuple[str, ...] = ("127.0.0.1", "::1")
    metrics: tuple[str, int] | None = None  # (address, port)
    state_dir: str | None = None  # where the generated TLS certificate is kept


class Counters:
    """The services' own counters; malformed input is also logged, once a minute per source at most
    (the sources remembered are bounded), so a flood of garbage costs neither memory nor the log."""

    def __init__(self) -> None:
        self.accepted = 0
        self.refused = 0  # address not allowed, or max-sessions reached
        self.malformed = 0  # HTTP requests or API sentences that were not
        self._logged: BoundedCache[str, bool] = BoundedCache(1024, 60.0)

    def malformed_from(self, source: str, service: str, what: str) -> None:
        self.malformed += 1
        if self._logged.add(source, True):
            log.warning("%s: malformed request from %s: %s (further ones from it not logged for 60 s)",
                        service, source, what)


@dataclass(slots=True)
class _Listener:
    conf: ServiceConf
    servers: list[asyncio.Server]
    sessions: set[asyncio.Task[None]] = field(default_factory=set)


def services_of(snapshot: Snapshot) -> dict[str, ServiceConf]:
    """The enabled services ipsecd serves, from ``/ip service``."""
    out = {}
    for row in snapshot.rows("/ip service"):
        name = row.text("name") or ""
        if row.disabled or name not in ("api", "api-ssl", "www", "www-ssl"):
            continue
        out[name] = ServiceConf(name, int(row["port"]), tuple(row["address"] or ()), int(row["max-sessions"]),
                                row.text("tls-version") or "any", row.text("certificate") or "none")
    return out


def _sse(data: dict[str, Any] | None) -> bytes:
    """One server-sent event (``event:`` the kind, ``data:`` the JSON), or a comment as keep-alive."""
    if data is None:
        return b": keep-alive\n\n"
    return f"event: {data['event']}\ndata: {json.dumps(data)}\n\n".encode()


class ApiServers:
    def __init__(
        self,
        config: Config,
        backend: Backend,
        options: ApiOptions,
        events: EventHub | None = None,
        certificates: CertificateStore | None = None,
    ) -> None:
        """``certificates``: the daemon's ``/certificate`` store, where a service's ``certificate=`` is."""
        self.config, self.backend, self.options = config, backend, options
        self.certificates = certificates
        self.events = events if events is not None else EventHub()
        self.auth = Authenticator(config)
        self.counters = Counters()
        self._listeners: dict[str, _Listener] = {}
        self._metrics: _Listener | None = None
        self._pending: asyncio.Task[None] | None = None
        self._pem: bytes | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.config.add_listener(lambda snap: self._changed(), dispatch=loop.call_soon_threadsafe)
        await self.apply(self.config.snapshot())
        if self.options.metrics is not None:
            host, port = self.options.metrics
            metrics = _Listener(ServiceConf("metrics", port, (), METRICS_SESSIONS, "any"), [])
            metrics.servers.append(
                await asyncio.start_server(
                    lambda r, w: self._accept(metrics, r, w), host, port, limit=MAX_HEAD
                )
            )
            self._metrics = metrics
            log.info("metrics on http://%s:%d/metrics", host, port)

    def _changed(self) -> None:
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self.apply(self.config.snapshot()))

    async def apply(self, snapshot: Snapshot) -> None:
        """Open, reopen and close listeners to match the enabled services."""
        want = services_of(snapshot)
        if want:
            open_users = [
                r.text("name") for r in snapshot.rows("/user") if not r.disabled and r["password"] is None
            ]
            if open_users:
                log.warning(
                    "/user %s: no password, and /ip service %s enabled: anyone who reaches it logs in",
                    ",".join(str(u) for u in open_users),
                    ",".join(want),
                )
        for name in list(self._listeners):
            if want.get(name) != self._listeners[name].conf:
                await self._close(self._listeners.pop(name))
        for name, conf in want.items():
            if name in self._listeners:
                continue
            try:
                self._listeners[name] = await self._open(conf)
            except StoreError as exc:
                log.error("/ip service %s: certificate=%s: %s; not listening", name, conf.certificate, exc)
            except (OSError, ssl.SSLError) as exc:
                log.error("/ip service %s: cannot listen on port %d: %s", name, conf.port, exc)

    async def _open(self, conf: ServiceConf) -> _Listener:
        ctx = self._context(conf) if conf.name.endswith("-ssl") else None
        listener = _Listener(conf, [])
        for host in self.options.listen:
            server = await asyncio.start_server(lambda r, w: self._accept(listener, r, w), host, conf.port,
                                                ssl=ctx, limit=MAX_HEAD)
            listener.servers.append(server)
        log.info(
            "/ip service %s listening on port %d (%s)", conf.name, conf.port, ", ".join(self.options.listen)
        )
        return listener

    def _context(self, conf: ServiceConf) -> ssl.SSLContext:
        """The service's named certificate (StoreError when the store cannot serve it), else the
        generated one."""
        if conf.certificate != "none":
            if self.certificates is None:
                raise StoreError("ipsecd has no certificate store here")
            return self._store_context(self.certificates, conf)
        if self._pem is None:
            self._pem = load_or_make(self.options.state_dir)
        return server_context(self._pem, conf.tls_version)

    @staticmethod
    def _store_context(store: CertificateStore, conf: ServiceConf) -> ssl.SSLContext:
        """A context serving the store's ``conf.certificate``, which checks at each handshake
        whether that certificate was renewed (``/certificate import name=…`` of a new one, issue 14)
        and then serves the new one, without an ``/ip service`` change or a restart."""
        loaded = store.certificate(conf.certificate)
        ctx = server_context(pem_from_store(store, conf.certificate), conf.tls_version)
        current: list[Any] = [loaded, ctx, ""]  # the certificate served, its context, the last error

        def renewed(sock: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
            try:
                cert = store.certificate(conf.certificate)
                if cert != current[0]:
                    pem = pem_from_store(store, conf.certificate)
                    current[:] = [cert, server_context(pem, conf.tls_version), ""]
            except StoreError as exc:  # unusable: keep serving the last good one, say so once
                if str(exc) != current[2]:
                    current[2] = str(exc)
                    log.warning("/ip service %s: certificate=%s: %s", conf.name, conf.certificate, exc)
            if current[1] is not ctx:
                sock.context = current[1]

        ctx.sni_callback = renewed
        return ctx

    async def _close(self, listener: _Listener) -> None:
        for server in listener.servers:
            server.close()
        sessions = list(listener.sessions)
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)
        for server in listener.servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def close(self) -> None:
        for listener in self._listeners.values():
            await self._close(listener)
        self._listeners.clear()
        if self._metrics is not None:
            await self._close(self._metrics)
            self._metrics = None

    def ports(self) -> dict[str, int]:
        """The port each open service listens on (tests ask for port 0 and read it here)."""
        return {name: int(lst.servers[0].sockets[0].getsockname()[1]) for name, lst in self._listeners.items()
                if lst.servers and lst.servers[0].sockets}

    async def _accept(self, listener: _Listener, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if peer else ""
        conf = listener.conf
        allowed = not conf.allowed or any(
            ipaddress.ip_address(source.split("%")[0]) in net for net in conf.allowed
        )
        if not allowed or len(listener.sessions) >= conf.max_sessions:
            self.counters.refused += 1
            writer.close()
            return
        self.counters.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        listener.sessions.add(task)
        try:
            if conf.name == "metrics":
                await self._serve_http(reader, writer, source, self._metrics_route)
            elif conf.name.startswith("api"):
                await ApiConnection(self.backend, self.auth, reader, writer, source, conf.name,
                                    self.counters.malformed_from).serve()
            else:
                rest = RestHandler(self.backend, self.auth, conf.name)
                await self._serve_http(reader, writer, source, rest.handle,
                                       lambda req: self._event_stream(req, source, writer, rest))
        except asyncio.CancelledError:  # the service closed under it: the session just ends
            pass
        finally:
            listener.sessions.discard(task)
            writer.close()

    async def _serve_http(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        source: str,
        route: Route,
        events: Callable[[HttpRequest], Awaitable[None]] | None = None,
    ) -> None:
        try:
            while True:
                try:
                    req = await read_request(reader)
                except HttpError as exc:
                    self.counters.malformed_from(source, "REST", exc.detail)
                    writer.write(error(exc.status, exc.detail).encode(False))
                    return
                if req is None:
                    return
                if events is not None and req.method == "GET" and req.path == "/events":
                    await events(req)
                    return
                try:
                    resp = await route(req, source)
                except Exception:  # a bug must cost one request, not the daemon
                    log.exception("REST request %s %s failed", req.method, req.path[:100])
                    resp = error(500)
                writer.write(resp.encode(req.keep_alive))
                await writer.drain()
                if not req.keep_alive:
                    return
        except ConnectionError:
            return

    async def _event_stream(self, req: HttpRequest, source: str, writer: asyncio.StreamWriter,
                            rest: RestHandler) -> None:
        """``GET /events``: server-sent events (one ``data:`` JSON line each) until the client goes."""
        user = await rest.user(req, source)
        queue = self.events.subscribe() if user is not None and user.may("read") else None
        if queue is None:
            writer.write(error(401 if user is None else 403 if not user.may("read") else 503).encode(False))
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     b"Connection: close\r\n\r\n")
        await pump(self.events, queue, writer, _sse)

    async def _metrics_route(self, req: HttpRequest, source: str) -> HttpResponse:
        if req.method != "GET" or req.path != "/metrics":
            return error(404)
        c = self.counters
        api = {"connections": c.accepted, "refused_connections": c.refused, "malformed_requests": c.malformed,
               "failed_logins": self.auth.failed}
        return HttpResponse(200, metrics.render(self.backend.runtime, api, self.events.counts).encode(),
                            "text/plain; version=0.0.4; charset=utf-8")
