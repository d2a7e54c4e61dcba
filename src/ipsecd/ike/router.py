"""The one sans-I/O router for every IKE datagram (DESIGN.md §3): the daemon drives it, and so do the
tests, the fuzzers and the benchmarks, so what is tested is what runs.

* **Version dispatch.** The ISAKMP header is the same 28 octets in both versions; its version byte
  says which protocol speaks (RFC 7296 §3.1, RFC 2408 §3.1). Major 1 and major 2 messages that would
  create an SA go to the responder factory registered for that major version
  (:meth:`Router.register`); a version without a factory is dropped, counted
  (``unsupported-version``) and reported as :class:`~.events.MessageDropped`, never parsed as another
  version.
* **SPI demux** (RFC 7296 §2.6): IKEv2's I flag says which header SPI is ours; IKEv1 has no such flag
  (RFC 2408 §3.1), so both cookies are tried. An SA tells the router each SPI it answers on as it
  comes and goes (``on_spi``): the rekeyed generation (§2.18) and the leftover SA of a simultaneous
  IKE SA rekey (§2.8.2), which must still answer the DELETE that finishes the collision. A first
  message is also recognised by (peer address, SPIi) while its SA is half-open, so a retransmitted
  IKE_SA_INIT reaches the SA that took it (which answers from its cache). Once IKE_AUTH is done the
  initiator has had our answer and retransmits no more; what still comes is a replay, which is one
  more spoofable IKE_SA_INIT (held by the half-open limits and timeout). strongSwan keeps its
  IKE_SA_INIT hash for the SA's life; here that would cost every established tunnel a table entry
  for a message only an attacker sends.
* **Stateless cookies** (§2.6): from ``cookie_threshold`` half-open SAs on, an IKEv2 IKE_SA_INIT
  without a valid COOKIE is answered with one and creates nothing. The answer is cheap: it walks the
  payload chain without decoding a body (no SA, no KE parsing), hashes once and packs the reply from
  constant parts, so a flood of spoofed requests costs little per packet and a legitimate peer that
  returns its cookie gets in.
* **Half-open bounds.** ``max_half_open`` bounds memory even against initiators that return cookies;
  ``per_address_half_open`` (strongSwan's ``block_threshold``) holds one address to a few half-open
  SAs once cookies are demanded, so an attacker answering cookies from one address cannot take every
  slot. Below the cookie threshold nobody is limited (a NAT with many road warriors, a load test).

Defaults (one set, the daemon's until now; the old test-only manager had 50 and 10000):
``cookie_threshold`` 30 (strongSwan's ``cookie_threshold``), ``max_half_open`` 2000 (a half-open
responder holds a key pair and nonces: about 2000 × 5 kB), ``per_address_half_open`` 5 (strongSwan's
``block_threshold``). ``/ip ipsec settings ddos-cookie-threshold`` overrides the first.

Outputs, as for one SA: ``datagrams_to_send(now)``, ``next_event()`` (pairs of the SA, or None for
the router's own reports, and the event). Time: ``get_timer()``/``handle_timer(now)`` over every SA
(a scan: for tests and benchmarks), and for a driver with thousands of SAs ``timer_updates()``, the
SAs whose deadline may have moved since it last asked, to keep on its own keyed timers and hand back
one at a time with ``handle_timer(now, sa)``. The router itself keeps nothing per SA for time, so an
established SA costs it one table entry (its SPI).
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
from collections.abc import Callable

from ipsecd.wire.enums import ExchangeType, NotifyType, PayloadType
from ipsecd.wire.ikev2.header import FLAG_INITIATOR, FLAG_RESPONSE, HEADER, HEADER_SIZE
from ipsecd.wire.ikev2.message import scan_chain

from .events import Event, IkeSaDeleted, IkeSaEstablished, MessageDropped
from .sa import Addr, IkeSaProtocol, ResponderFactory, Rng

COOKIE_THRESHOLD = 30
MAX_HALF_OPEN = 2000
PER_ADDRESS_HALF_OPEN = 5
COOKIE_PERIOD = 120.0  # seconds a cookie secret is current; the previous one is accepted one period more

_ZERO_SPI = bytes(8)
_IKE_SA_INIT = int(ExchangeType.IKE_SA_INIT)
_V1_FIRST = frozenset({1, 2, 4})  # IKEv1 Base, Identity Protection (main) and Aggressive exchanges open an SA
_NOTIFY, _NONCE = int(PayloadType.NOTIFY), int(PayloadType.NONCE)
_COOKIE = int(NotifyType.COOKIE)
_NOTIFY_HEAD = struct.Struct("!BBH")  # protocol, SPI size, notify type
_PAYLOAD_HEAD = struct.Struct("!BBH")  # next payload, flags, length


def _packed(host: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)


class CookieJar:
    """Stateless COOKIE issue and check (RFC 7296 §2.6): COOKIE = version | SHA-256(Ni | IPi | SPIi |
    secret)[:16], compared in constant time. The secret rotates every ``period``; the previous one
    stays valid one period more."""

    __slots__ = ("_previous", "_rng", "_rotated", "_secret", "_version", "period")

    def __init__(self, rng: Rng, now: float, period: float = COOKIE_PERIOD) -> None:
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

    @staticmethod
    def _cookie(version: int, secret: bytes, nonce: bytes, host: bytes, spi_i: bytes) -> bytes:
        return bytes((version,)) + hashlib.sha256(nonce + host + spi_i + secret).digest()[:16]

    def check(self, data: bytes, host: str, now: float) -> bytes | None:
        """None when the IKE_SA_INIT request ``data`` may create an SA (it returns a valid cookie, or
        it is malformed: the SA refuses that itself); else the COOKIE response to send."""
        chain = scan_chain(data)
        if not chain:
            return None
        nonce = next((data[a:b] for t, a, b in chain if t == _NONCE), None)
        if nonce is None:
            return None
        self._rotate(now)
        spi_i, ip = data[:8], _packed(host)
        t, a, b = chain[0]
        if t == _NOTIFY and b - a > 4:
            _, spi_size, ntype = _NOTIFY_HEAD.unpack_from(data, a)
            if ntype == _COOKIE and spi_size == 0:
                got = data[a + 4:b]
                secret = self._secret if got[0] == self._version else self._previous
                if hmac.compare_digest(got, self._cookie(got[0], secret, nonce, ip, spi_i)):
                    return None
        cookie = self._cookie(self._version, self._secret, nonce, ip, spi_i)
        length = HEADER_SIZE + 8 + len(cookie)
        return (HEADER.pack(spi_i, _ZERO_SPI, _NOTIFY, 0x20, _IKE_SA_INIT, FLAG_RESPONSE, 0, length)
                + _PAYLOAD_HEAD.pack(0, 0, 8 + len(cookie)) + _NOTIFY_HEAD.pack(0, 0, _COOKIE) + cookie)


class Router:
    """Routes datagrams to IKE SAs of either version and creates responders (module docstring)."""

    def __init__(self, *, rng: Rng, now: float, cookie_threshold: int = COOKIE_THRESHOLD,
                 max_half_open: int = MAX_HALF_OPEN,
                 per_address_half_open: int = PER_ADDRESS_HALF_OPEN, keyed_timers: bool = False) -> None:
        self.factories: dict[int, ResponderFactory] = {}
        self.cookies = CookieJar(rng, now)
        self.cookie_threshold = cookie_threshold
        self.max_half_open = max_half_open
        self.per_address_half_open = per_address_half_open
        # every SPI an SA answers on -> the SA; an SA's SPIs come and go through its on_spi
        self.by_spi: dict[bytes, IkeSaProtocol] = {}
        # told as SPIs enter and leave by_spi: a data plane that owns UDP/4500 drops IKE naming none
        # of them before it costs the daemon anything (issue 17)
        self.spi_listener: Callable[[bytes, bool], None] | None = None
        # responders before IKE_AUTH by (peer host, SPIi) of their IKE_SA_INIT, and the other way
        self.by_init: dict[tuple[str, bytes], IkeSaProtocol] = {}
        self.half_open: dict[IkeSaProtocol, tuple[str, bytes]] = {}
        self._per_host: dict[str, int] = {}  # half-open responders per peer host (none: no entry)
        self.counters = {
            "unknown-spi": 0,
            "malformed": 0,
            "cookies-sent": 0,
            "half-open-refused": 0,
            "half-open-refused-address": 0,
            "unsupported-version": 0,
            "no-peer": 0,
        }
        self._out: list[tuple[bytes, Addr]] = []
        self._notices: list[Event] = []
        self._ready: dict[IkeSaProtocol, None] = {}  # SAs with queued output, in order
        # SAs whose deadline may have moved, for a driver that keeps a timer per SA (keyed_timers);
        # without one, None: the scanning get_timer needs no bookkeeping
        self._retimed: dict[IkeSaProtocol, None] | None = {} if keyed_timers else None
        # one bound method each, shared by every SA: ``self._wake`` makes a new 64-byte object per read
        self._wake_hook, self._spi_hook = self._wake, self._on_spi

    # -- SAs -------------------------------------------------------------------------------------

    def register(self, major: int, factory: ResponderFactory) -> None:
        """Responders of ISAKMP major version ``major`` (1: IKEv1, 2: IKEv2) come from ``factory``."""
        self.factories[major] = factory

    def add(self, sa: IkeSaProtocol) -> None:
        """Take an SA the daemon created (an initiator) into the routing tables."""
        sa.on_output = self._wake_hook
        sa.on_spi = self._spi_hook
        self.by_spi[sa.local_spi] = sa
        if self.spi_listener is not None:
            self.spi_listener(sa.local_spi, True)
        self._ready[sa] = None
        self._retime(sa)

    def remove(self, sa: IkeSaProtocol) -> None:
        """Forget ``sa`` (closed, or given up by the daemon); idempotent. Its other SPIs (a
        collision's leftover) went through ``on_spi`` when they ended."""
        if self.by_spi.get(sa.local_spi) is sa:
            del self.by_spi[sa.local_spi]
            if self.spi_listener is not None:
                self.spi_listener(sa.local_spi, False)
        self._settled(sa)
        self._retime(sa)  # its timer goes (timer_updates says None)

    def sas(self) -> list[IkeSaProtocol]:
        return list(dict.fromkeys(self.by_spi.values()))

    def _live(self, sa: IkeSaProtocol) -> bool:
        return self.by_spi.get(sa.local_spi) is sa

    def touch(self, sa: IkeSaProtocol) -> None:
        """The daemon operated on ``sa`` directly (delete, rekey, create_child): its timer may move."""
        self._retime(sa)

    def _on_spi(self, sa: IkeSaProtocol, spi: bytes, present: bool) -> None:
        if present:
            self.by_spi[spi] = sa
        elif self.by_spi.get(spi) is sa:
            del self.by_spi[spi]
        else:
            return
        if self.spi_listener is not None:
            self.spi_listener(spi, present)

    def _retime(self, sa: IkeSaProtocol) -> None:
        if self._retimed is not None:
            self._retimed[sa] = None

    def _wake(self, sa: IkeSaProtocol) -> None:
        self._ready[sa] = None
        self._retime(sa)

    def _settled(self, sa: IkeSaProtocol) -> None:
        """``sa`` is no longer half-open (established, or gone)."""
        key = self.half_open.pop(sa, None)
        if key is not None:
            if self.by_init.get(key) is sa:
                del self.by_init[key]
            host = key[0]
            n = self._per_host[host] - 1
            if n:
                self._per_host[host] = n
            else:
                del self._per_host[host]

    # -- input -----------------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> IkeSaProtocol | None:
        """Deliver ``data``; returns the SA that took it (None: dropped, or answered statelessly)."""
        if len(data) < HEADER_SIZE or int.from_bytes(data[24:28], "big") != len(data):
            self._drop("malformed", addr, "truncated IKE message, or its length field is wrong")
            return None
        spi_i, spi_r, major, exchange, flags = data[:8], data[8:16], data[17] >> 4, data[18], data[19]
        if major == 2:
            sa = self.by_spi.get(spi_r if flags & FLAG_INITIATOR else spi_i)
            first = flags & (FLAG_INITIATOR | FLAG_RESPONSE) == FLAG_INITIATOR and exchange == _IKE_SA_INIT
        elif major == 1 and 1 in self.factories:
            sa = self.by_spi.get(spi_r) or self.by_spi.get(spi_i)
            first = exchange in _V1_FIRST
        else:  # IKEv1 before its factory is registered is not parsed as IKEv2 either
            self._drop("unsupported-version", addr, f"ISAKMP version {major}.{data[17] & 15} is not enabled")
            return None
        if sa is None and first:
            sa = self.by_init.get((addr[1][0], spi_i))
            if sa is None and spi_r == _ZERO_SPI:
                sa = self._new_responder(major, data, addr, now)
                if sa is None:
                    return None
        if sa is None:
            self._drop("unknown-spi", addr, f"unknown SPIs {spi_i.hex()}/{spi_r.hex()}")
            return None
        sa.receive_datagram(data, addr, now)
        self._retime(sa)
        return sa

    def _new_responder(self, major: int, data: bytes, addr: Addr, now: float) -> IkeSaProtocol | None:
        factory = self.factories.get(major)
        if factory is None:
            self._drop("unsupported-version", addr, f"IKEv{major} is not enabled")
            return None
        host = addr[1][0]
        crowded = len(self.half_open)
        if crowded >= self.max_half_open:
            self._drop("half-open-refused", addr, f"{crowded} IKE SAs are half-open (the limit)")
            return None
        if crowded >= self.cookie_threshold:
            if major == 2:
                reply = self.cookies.check(data, host, now)
                if reply is not None:
                    self.counters["cookies-sent"] += 1
                    self._out.append((reply, addr))
                    self._notice(
                        "cookies-sent", addr, f"answered with a COOKIE: {crowded} IKE SAs are half-open"
                    )
                    return None
            if self._per_host.get(host, 0) >= self.per_address_half_open:
                self._drop(
                    "half-open-refused-address",
                    addr,
                    f"{self._per_host[host]} IKE SAs from this address are half-open (the limit)",
                )
                return None
        sa = factory(data, addr, now)
        if sa is None:  # the factory's refusal (no peer): it reports that itself
            self.counters["no-peer"] += 1
            return None
        self.add(sa)
        key = (host, data[:8])
        self.by_init[key] = sa
        self.half_open[sa] = key
        self._per_host[host] = self._per_host.get(host, 0) + 1
        return sa

    def _drop(self, reason: str, addr: Addr, detail: str) -> None:
        self.counters[reason] += 1
        self._notice(reason, addr, detail)

    def _notice(self, reason: str, addr: Addr, detail: str) -> None:
        self._notices.append(MessageDropped(addr[1], reason, detail))

    # -- time ------------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The earliest deadline of any SA (a scan over them all)."""
        timers = [t for sa in self.sas() if (t := sa.get_timer()) is not None]
        return min(timers) if timers else None

    def handle_timer(self, now: float, sa: IkeSaProtocol | None = None) -> None:
        """``sa``'s deadline came (a driver's keyed timer), or, without ``sa``, every due SA's."""
        due = [sa] if sa is not None else [
            s for s in self.sas() if (t := s.get_timer()) is not None and t <= now]
        for s in due:
            if self._live(s):
                s.handle_timer(now)
                self._retime(s)

    def timer_updates(self) -> list[tuple[IkeSaProtocol, float | None]]:
        """Each SA whose deadline may have moved since the last call, with its deadline now (None:
        no timer, or the SA is gone)."""
        retimed = self._retimed
        if not retimed:
            return []
        self._retimed = {}
        return [(sa, sa.get_timer() if self._live(sa) else None) for sa in retimed]

    # -- output ----------------------------------------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, []
        for sa in self._ready:
            out += sa.datagrams_to_send(now)
        self._prune()
        return out

    def next_event(self) -> tuple[IkeSaProtocol | None, Event] | None:
        """The next event of any SA (the router's own reports come with ``None``)."""
        if self._notices:
            return None, self._notices.pop(0)
        for sa in self._ready:
            event = sa.next_event()
            if event is not None:
                self._track(sa, event)
                return sa, event
        self._prune()
        return None

    def events(self) -> list[tuple[IkeSaProtocol | None, Event]]:
        out = []
        while (item := self.next_event()) is not None:
            out.append(item)
        return out

    def _track(self, sa: IkeSaProtocol, event: Event) -> None:
        if isinstance(event, IkeSaEstablished):
            self._settled(sa)
        elif isinstance(event, IkeSaDeleted):
            self.remove(sa)

    def _prune(self) -> None:
        if self._ready:
            self._ready = {sa: None for sa in self._ready if not sa.idle()}

    @property
    def half_open_by_address(self) -> dict[str, int]:
        return dict(self._per_host)
