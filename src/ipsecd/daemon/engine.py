"""The I/O loop around sans-I/O IKE SAs: datagrams in, datagrams/events/timers out.

DESIGN.md §3: an IKE SA object is fed with ``receive_datagram(data, addr, now)`` and
``handle_timer(now)``; after each input the daemon drains ``datagrams_to_send(now)`` onto the
sockets, ``next_event()`` into the glue, and re-arms the object's timer from ``get_timer()``. This
module does exactly that and the SPI demultiplexing of RFC 7296 §3.1 (the header's I flag says
which SPI is ours), so one SA's failure never touches another.

Denial of service (RFC 7296 §2.6): once more than ``cookie_threshold`` responder SAs are half-open, an
IKE_SA_INIT without a valid COOKIE is answered statelessly with one (the core's
:class:`~ipsecd.ike.manager.CookieJar`) and creates nothing; spoofed sources never see the cookie, so
they never get past it. ``max_half_open`` is the hard bound on memory even against initiators that do
return cookies: beyond it new IKE_SA_INITs are dropped. Both are counted, and logged once per source.

Addresses handed to the SA are ``(local, remote)`` pairs of ``(host, port)``: with NAT-T (RFC 7296
§2.23) the SA decides when to move to the NAT-T port and the engine sends from whatever local
endpoint it names.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable
from typing import Any, Protocol

from ipsecd.ike.manager import CookieJar

from .timers import Timers
from .transport import Addr, Datagram, Transport

log = logging.getLogger("ipsecd.engine")

_HEADER_SIZE = 28  # RFC 7296 §3.1
_SPIS_TYPE_FLAGS = struct.Struct("!8s8s2xBB")  # SPIi, SPIr, (next payload, version), exchange, flags
FLAG_INITIATOR = 0x08
FLAG_RESPONSE = 0x20
IKE_SA_INIT = 34
COOKIE_THRESHOLD = 30  # half-open SAs before cookies are demanded (strongSwan's charon.cookie_threshold)
MAX_HALF_OPEN = 2000  # hard bound: a half-open responder holds a DH key pair and nonces


class IkeSaLike(Protocol):
    """What the engine needs of an IKE SA (DESIGN.md §3); hashed by identity (the engine's keys)."""

    def __hash__(self) -> int: ...

    def receive_datagram(self, data: bytes, addr: Any, now: float) -> None: ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Any]]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_event(self) -> object | None: ...


NewSa = Callable[[Datagram, bytes], "tuple[IkeSaLike, bytes] | None"]  # -> (SA, its SPI) or refuse
EventSink = Callable[[IkeSaLike, object], None]
AddrOf = Callable[[Any], tuple[Addr, Addr]]
_ZERO_SPI = bytes(8)


def header_spis(data: bytes) -> tuple[bytes, bytes, int, int] | None:
    """(SPIi, SPIr, exchange type, flags) of an IKE message, None when it is too short."""
    if len(data) < _HEADER_SIZE:
        return None
    spis_type_flags: tuple[bytes, bytes, int, int] = _SPIS_TYPE_FLAGS.unpack_from(data)
    return spis_type_flags


class Engine:
    """Routes IKE messages to SAs by SPI and pumps the SAs' output."""

    def __init__(self, transport: Transport, timers: Timers, on_event: EventSink, new_sa: NewSa,
                 addr_of: AddrOf | None = None, *, cookie_threshold: int = COOKIE_THRESHOLD,
                 max_half_open: int = MAX_HALF_OPEN, rng: Callable[[int], bytes] = os.urandom) -> None:
        self.transport = transport
        self.timers = timers
        self.on_event = on_event
        self.new_sa = new_sa
        # the SA's address value -> (local, remote) socket endpoints; None: it already is that pair
        self.addr_of = addr_of
        self.by_spi: dict[bytes, IkeSaLike] = {}  # our SPI -> SA
        self.half_open: dict[tuple[str, bytes], IkeSaLike] = {}  # (peer host, SPIi) -> responder SA
        # per live SA, one entry: its SPI (a list once an IKE SA rekey added one); the half-open key
        # is kept only until IKE_AUTH completes
        self._spis: dict[IkeSaLike, bytes | list[bytes]] = {}
        self._init_key: dict[IkeSaLike, tuple[str, bytes]] = {}
        self._timer_cb = self._timer  # one bound method for every SA's timer, not one per re-arm
        self.cookie_threshold = cookie_threshold
        self.max_half_open = max_half_open
        self.cookies = CookieJar(rng, timers.now())
        self.counters = {"unknown-spi": 0, "malformed": 0, "cookies-sent": 0, "half-open-refused": 0}
        self._warned: set[tuple[str, str]] = set()

    # -- registration --------------------------------------------------------------------------

    def add(self, sa: IkeSaLike, our_spi: bytes) -> None:
        self._register(sa, our_spi, None)
        self.pump(sa)

    def _register(self, sa: IkeSaLike, our_spi: bytes, init_key: tuple[str, bytes] | None) -> None:
        self.by_spi[our_spi] = sa
        self._spis[sa] = our_spi
        if init_key is not None:
            self.half_open[init_key] = sa
            self._init_key[sa] = init_key

    def rekeyed(self, sa: IkeSaLike, our_spi: bytes) -> None:
        """An IKE SA rekey (RFC 7296 §2.18) gave the same object a new SPI as well."""
        self.by_spi[our_spi] = sa
        spis = self._spis.get(sa)
        if isinstance(spis, bytes):
            self._spis[sa] = [spis, our_spi]
        elif spis is not None:
            spis.append(our_spi)

    def established(self, sa: IkeSaLike, peer_host: str, spi_i: bytes) -> None:
        """IKE_SA_INIT retransmissions are over once IKE_AUTH completed: forget the half-open key."""
        key = self._init_key.pop(sa, None)
        if key is not None and self.half_open.get(key) is sa:
            del self.half_open[key]

    def remove(self, sa: IkeSaLike) -> None:
        spis = self._spis.pop(sa, None)
        if spis is None:
            return
        for spi in (spis,) if isinstance(spis, bytes) else spis:
            if self.by_spi.get(spi) is sa:
                del self.by_spi[spi]
        init_key = self._init_key.pop(sa, None)
        if init_key is not None and self.half_open.get(init_key) is sa:
            del self.half_open[init_key]
        self.timers.cancel(sa)

    def sas(self) -> list[IkeSaLike]:
        return list(self._spis)

    # -- input ---------------------------------------------------------------------------------

    def warn_once(self, key: tuple[str, str], msg: str, *args: object) -> None:
        """Log a per-peer problem once, not once per retransmission."""
        if key not in self._warned:
            if len(self._warned) > 10000:
                self._warned.clear()
            self._warned.add(key)
            log.warning(msg, *args)

    def datagram(self, dgram: Datagram) -> None:
        hdr = header_spis(dgram.data)
        if hdr is None:
            self.counters["malformed"] += 1
            self.warn_once((dgram.remote[0], "short"), "dropped a truncated IKE message from %s:%d",
                           *dgram.remote)
            return
        spi_i, spi_r, exchange, flags = hdr
        from_initiator = flags & FLAG_INITIATOR
        sa = self.by_spi.get(spi_r if from_initiator else spi_i)
        if sa is None and from_initiator:
            key = (dgram.remote[0], spi_i)
            sa = self.half_open.get(key)
            if sa is None and exchange == IKE_SA_INIT and spi_r == _ZERO_SPI and not flags & FLAG_RESPONSE:
                if not self._admit(dgram):
                    return
                created = self.new_sa(dgram, spi_i)
                if created is None:
                    return
                sa, spi = created
                self._register(sa, spi, key)
        if sa is None:
            self.counters["unknown-spi"] += 1
            self.warn_once((dgram.remote[0], "spi"), "dropped IKE message with unknown SPIs %s/%s from %s:%d",
                           spi_i.hex(), spi_r.hex(), *dgram.remote)
            return
        sa.receive_datagram(dgram.data, (dgram.local, dgram.remote), self.timers.now())
        self.pump(sa)

    def _admit(self, dgram: Datagram) -> bool:
        """May this IKE_SA_INIT create a responder SA? Above the threshold only with a valid cookie
        (else the cookie is sent, statelessly); never beyond the hard half-open limit."""
        host = dgram.remote[0]
        if len(self.half_open) >= self.max_half_open:
            self.counters["half-open-refused"] += 1
            self.warn_once((host, "half-open"), "dropped IKE_SA_INIT from %s:%d: %d IKE SAs are half-open "
                           "(the limit)", *dgram.remote, len(self.half_open))
            return False
        if len(self.half_open) < self.cookie_threshold:
            return True
        reply = self.cookies.challenge(dgram.data, host, self.timers.now())
        if reply is None:
            return True
        self.counters["cookies-sent"] += 1
        self.warn_once((host, "cookie"), "IKE_SA_INIT from %s:%d answered with a COOKIE: %d IKE SAs are half-open "
                       "(/ip ipsec settings ddos-cookie-threshold=%d)", *dgram.remote, len(self.half_open),
                       self.cookie_threshold)
        self.transport.send(reply, dgram.local, dgram.remote)
        return False

    # -- output --------------------------------------------------------------------------------

    def pump(self, sa: IkeSaLike) -> None:
        """Flush everything the SA produced after an input: events, datagrams, its next timer."""
        # Events first: a CHILD_SA is in the data plane before the response that completes it leaves,
        # so the peer's first ESP packet never finds the SA missing.
        next_event = sa.next_event
        while (event := next_event()) is not None:
            self.on_event(sa, event)
        out = sa.datagrams_to_send(self.timers.now())
        if out:
            send, addr_of = self.transport.send, self.addr_of
            for data, addr in out:
                local, remote = addr if addr_of is None else addr_of(addr)
                send(data, local, remote)
        if sa in self._spis:
            self.timers.arm(sa, sa.get_timer(), self._timer_cb)
        else:
            self.timers.cancel(sa)

    def _timer(self, sa: IkeSaLike) -> None:
        sa.handle_timer(self.timers.now())
        self.pump(sa)
