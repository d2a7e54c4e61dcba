"""Many IKE SAs behind one pair of sockets: SPI demux, half-open limits and stateless cookies.

* Demux (RFC 7296 §2.6): the I flag says which header SPI is ours; an IKE_SA_INIT (SPIr zero) is
  recognised again by (peer address, SPIi) for the SA's life, so a retransmitted or replayed first
  message reaches the same SA (which answers from its cache or drops it) instead of a new one.
* Cookies (§2.6): above ``cookie_threshold`` half-open SAs, an IKE_SA_INIT without a valid COOKIE is
  answered statelessly with one — no SA, no memory: COOKIE = version | SHA-256(Ni | IPi | SPIi |
  secret)[:16]. The secret rotates; the previous one stays valid for one period.
* ``max_half_open`` bounds memory under a flood even of cookie-returning initiators.

The daemon has its own event loop glue; this class is the reference wiring for tests and benchmarks
and the cookie logic the daemon calls (:meth:`CookieJar.check`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from ipaddress import ip_address

from ipsecd.policy.types import IpsecProto
from ipsecd.wire.enums import ExchangeType, NotifyType
from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev2.header import FLAG_RESPONSE, Header
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload
from ipsecd.wire.ikev2.payloads.simple import NoncePayload

from .events import Event, IkeSaDeleted, IkeSaEstablished, IkeSaRekeyed
from .v2.config import IkeConfig
from .v2.sa import Addr, IkeSa

Rng = Callable[[int], bytes]


class CookieJar:
    """Stateless COOKIE issue/check (RFC 7296 §2.6)."""

    __slots__ = ("_previous", "_rng", "_rotated", "_secret", "_version", "period")

    def __init__(self, rng: Rng, now: float, period: float = 120.0) -> None:
        self._rng = rng
        self._secret = rng(32)
        self._previous = self._secret
        self._version = 0
        self._rotated = now
        self.period = period

    def _rotate(self, now: float) -> None:
        if now - self._rotated >= self.period:
            self._previous, self._secret = self._secret, self._rng(32)
            self._version = (self._version + 1) & 0xFF
            self._rotated = now

    def _cookie(self, version: int, secret: bytes, nonce: bytes, host: str, spi_i: bytes) -> bytes:
        return bytes([version]) + hashlib.sha256(nonce + ip_address(host).packed + spi_i + secret).digest()[:16]

    def challenge(self, data: bytes, host: str, now: float) -> bytes | None:
        """For the daemon's ``new_sa``: None when the IKE_SA_INIT ``data`` may create an SA (valid
        cookie, or undecodable: the SA refuses that itself); else the COOKIE reply to send."""
        try:
            msg = Message.decode(data)
        except WireError:
            return None
        return self.check(msg, host, now)

    def check(self, msg: Message, host: str, now: float) -> bytes | None:
        """None when ``msg`` carries a valid cookie; else the COOKIE response to send (stateless)."""
        self._rotate(now)
        nonce = msg.get(NoncePayload)
        if nonce is None:
            return None  # malformed: the SA will refuse it
        h = msg.header
        first = msg.payloads[0] if msg.payloads else None
        if isinstance(first, NotifyPayload) and first.type == NotifyType.COOKIE and first.data:
            secret = self._secret if first.data[0] == self._version else self._previous
            if first.data == self._cookie(first.data[0], secret, nonce.data, host, h.spi_i):
                return None
        cookie = self._cookie(self._version, self._secret, nonce.data, host, h.spi_i)
        reply = Header(h.spi_i, bytes(8), 0, ExchangeType.IKE_SA_INIT, FLAG_RESPONSE, 0)
        return Message(reply, [NotifyPayload(NotifyType.COOKIE, cookie)]).encode()


class IkeManager:
    """Routes datagrams to IKE SAs and creates responders; ``config_for(addr)`` picks the peer."""

    def __init__(self, config_for: Callable[[Addr], IkeConfig | None], *, rng: Rng,
                 spi_alloc: Callable[[IpsecProto], int], now: float, cookie_threshold: int = 50,
                 max_half_open: int = 10000) -> None:
        self.config_for = config_for
        self.rng = rng
        self.spi_alloc = spi_alloc
        self.cookies = CookieJar(rng, now)
        self.cookie_threshold = cookie_threshold
        self.max_half_open = max_half_open
        self.by_spi: dict[bytes, IkeSa] = {}
        self.half_open: dict[tuple[str, bytes], IkeSa] = {}
        self.by_init: dict[tuple[str, bytes], IkeSa] = {}  # (peer host, SPIi): replayed IKE_SA_INITs
        self._init_key: dict[int, tuple[str, bytes]] = {}
        self.counters = {"unknown-spi": 0, "malformed": 0, "cookies-sent": 0, "half-open-refused": 0}
        self._out: list[tuple[bytes, Addr]] = []
        self.redundant: dict[bytes, IkeSa] = {}  # SPIs of §2.8.2 redundant SAs → the IKE SA deleting them
        # SAs with queued datagrams or events (their ``on_output`` puts them here), in order: the
        # outputs visit these, not every SA; a closed SA is forgotten once drained
        self._ready: dict[IkeSa, None] = {}

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> IkeSa | None:
        """Deliver ``data``; returns the SA that took it (None when dropped or answered statelessly)."""
        try:
            h = Header.decode(data)
        except WireError:
            self.counters["malformed"] += 1
            return None
        ours = h.spi_r if h.from_initiator else h.spi_i
        sa = self.by_spi.get(ours) or self.redundant.get(ours)
        if sa is None and h.from_initiator and h.exchange == ExchangeType.IKE_SA_INIT and not h.is_response:
            sa = self.by_init.get((addr[1][0], h.spi_i))
            if sa is None and h.spi_r == bytes(8):
                sa = self._new_responder(data, addr, now, h.spi_i)
        if sa is None:
            self.counters["unknown-spi"] += 1
            return None
        sa.receive_datagram(data, addr, now)
        self._collect(sa)
        return sa

    def _new_responder(self, data: bytes, addr: Addr, now: float, spi_i: bytes) -> IkeSa | None:
        if len(self.half_open) >= self.max_half_open:
            self.counters["half-open-refused"] += 1
            return None
        config = self.config_for(addr)
        if config is None:
            return None
        if len(self.half_open) >= self.cookie_threshold:
            reply = self.cookies.challenge(data, addr[1][0], now)
            if reply is not None:
                self.counters["cookies-sent"] += 1
                self._out.append((reply, addr))
                return None
        sa = IkeSa.responder(config, rng=self.rng, spi_alloc=self.spi_alloc, now=now, addr=addr)
        sa.on_output = self._wake
        self.by_spi[sa.local_spi] = sa
        key = (addr[1][0], spi_i)
        self.half_open[key] = self.by_init[key] = sa
        self._init_key[id(sa)] = key
        return sa

    def _collect(self, sa: IkeSa) -> None:
        """Track half-open → established → gone from the SA's events (which stay queued for the caller)."""
        for spi in [s for s, owner in self.redundant.items() if owner is sa and s not in sa.redundant]:
            del self.redundant[spi]
        for spi in sa.redundant:
            self.redundant[spi] = sa
        for event in sa.pending_events():
            if isinstance(event, IkeSaEstablished | IkeSaDeleted):
                self.half_open.pop(self._init_key.get(id(sa), ("", b"")), None)
            if isinstance(event, IkeSaRekeyed):
                self.by_spi.pop(event.old_spi, None)
                self.by_spi[event.new_spi] = sa
            if isinstance(event, IkeSaDeleted) and self.by_spi.pop(sa.local_spi, None) is not None:
                self.by_init.pop(self._init_key.pop(id(sa), ("", b"")), None)

    def _wake(self, sa: IkeSa) -> None:
        self._ready[sa] = None

    def _prune(self) -> None:
        self._ready = {sa: None for sa in self._ready if not sa.idle()}

    def handle_timer(self, now: float) -> None:
        for sa in list(self.by_spi.values()):
            timer = sa.get_timer()
            if timer is not None and timer <= now:
                sa.handle_timer(now)
                self._collect(sa)

    def get_timer(self) -> float | None:
        timers = [t for sa in self.by_spi.values() if (t := sa.get_timer()) is not None]
        return min(timers) if timers else None

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, []
        for sa in self._ready:
            out += sa.datagrams_to_send(now)
        self._prune()
        return out

    def events(self) -> list[tuple[IkeSa, Event]]:
        """Every SA's pending events (datagrams stay queued for :meth:`datagrams_to_send`)."""
        out: list[tuple[IkeSa, Event]] = []
        for sa in self._ready:
            while (ev := sa.next_event()) is not None:
                out.append((sa, ev))
        self._prune()
        return out
