"""The IKE SAs the daemon runs, indexed by peer and CHILD_SA, and the addresses of peers named by DNS.

* :class:`Tracked` is one IKE SA with its runtime record (``active-peers``), its peer's plan and what
  to undo when it goes; :class:`PeerIndex` finds them by SA, by peer name and by a CHILD_SA's inbound
  SPI, so per-event work does not grow with the number of tunnels.
* :class:`Resolver`: a peer ``address=`` given as a DNS name (dynamic DNS site-to-site, as RouterOS 7
  allows) is resolved off the event loop (``getaddrinfo`` blocks: it runs in the loop's executor),
  again every ``RESOLVE_INTERVAL`` seconds, and at once when the peer is unreachable (DPD declared it
  dead, or an initiation timed out) — its address may have changed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ipsecd.ike.v1.sa import Ikev1Sa
from ipsecd.ike.v2.sa import IkeSa

from .host import Host
from .plan import PeerPlan
from .runtime import PeerRecord

log = logging.getLogger("ipsecd")

RESOLVE_INTERVAL = 60.0  # seconds between resolutions of a peer's DNS name
RESOLVE_RETRY = 10.0  # after a failed resolution

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Lookup = Callable[[str], list[str]]  # blocking: a host name -> its addresses


@dataclass(slots=True, kw_only=True)
class Tracked(PeerRecord):
    """What the glue keeps per IKE SA: its runtime record (one object per SA, not two) plus the SA,
    its peer's plan and what to undo (tuples: almost every SA has neither leases nor virtual IPs)."""

    sa: IkeSa | Ikev1Sa
    plan: PeerPlan
    started: float  # daemon clock when its first message went or came
    leases: tuple[tuple[str, str], ...] = ()  # (pool, lease key) to release
    virtual_ips: tuple[str, ...] = ()  # mode-config initiator: addresses we installed

    @property
    def record(self) -> PeerRecord:
        return self


class PeerIndex:
    """Every tracked IKE SA, by SA, by peer name and by its CHILD_SAs' inbound SPIs."""

    def __init__(self) -> None:
        self.tracked: dict[IkeSa | Ikev1Sa, Tracked] = {}
        self.of_peer: dict[str, dict[IkeSa | Ikev1Sa, Tracked]] = {}  # peer name -> its IKE SAs
        self.of_child: dict[int, Tracked] = {}  # a CHILD_SA's inbound SPI -> its IKE SA's record
        # our IKE SPIs -> their SAs: the router's own table (the glue hands it over when it attaches),
        # so the IKE counters cost no index of their own per tunnel
        self.sa_of_spi: Mapping[bytes, Any] = {}  # IkeSaProtocol: an IkeSa or an Ikev1Sa

    def add(self, t: Tracked) -> None:
        self.tracked[t.sa] = t
        self.of_peer.setdefault(t.peer, {})[t.sa] = t

    def count(self, data: bytes, received: bool) -> None:
        """``active-peers``' IKE counters: a message is its IKE SA's by our SPI in its header (RFC
        7296 §3.1: SPIi at 0, SPIr at 8; ours is SPIr when we respond, SPIi when we initiated)."""
        sa_of = self.sa_of_spi
        sa = sa_of.get(data[8:16]) or sa_of.get(data[0:8])
        t = self.tracked.get(sa) if sa is not None else None
        if t is None:
            return
        if received:
            t.ike_rx_bytes += len(data)
            t.ike_rx_packets += 1
        else:
            t.ike_tx_bytes += len(data)
            t.ike_tx_packets += 1

    def remove(self, t: Tracked) -> None:
        self.tracked.pop(t.sa, None)
        mine = self.of_peer.get(t.peer)
        if mine is not None:
            mine.pop(t.sa, None)
            if not mine:
                del self.of_peer[t.peer]

    def of(self, peer: str) -> list[Tracked]:
        return list(self.of_peer.get(peer, {}).values())


def route_source(remote: str) -> str:
    """The local address the kernel would use toward ``remote`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in remote else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect((remote, 9))
            return str(s.getsockname()[0])
        except OSError:
            return "0.0.0.0" if family == socket.AF_INET else "::"


def getaddrinfo_lookup(name: str) -> list[str]:
    """The addresses of ``name``, IPv4 first (a site-to-site peer usually has one of each at most)."""
    infos = socket.getaddrinfo(name, None, type=socket.SOCK_DGRAM)
    found = [str(info[4][0]) for info in infos]
    return sorted(dict.fromkeys(found), key=lambda a: ":" in a)


class Resolver:
    """Resolves the peers named by DNS, off the loop; reports each change of address."""

    def __init__(self, host: Host, on_change: Callable[[str, IPAddress | None], None],
                 lookup: Lookup = getaddrinfo_lookup) -> None:
        self._s = host
        self._on_change = on_change
        self._lookup = lookup
        self.addresses: dict[str, IPAddress] = {}  # host name -> its current address
        self._pending: dict[str, asyncio.Future[list[str]]] = {}
        self._names: set[str] = set()

    def follow(self, names: set[str]) -> None:
        """Resolve these names (now, then periodically); forget the others."""
        for gone in self._names - names:
            self._s.timers.cancel(("resolve", gone))
            self.addresses.pop(gone, None)
        new = names - self._names
        self._names = set(names)
        for name in new:
            self.resolve(name)

    def resolve(self, name: str) -> None:
        """Resolve ``name`` now (unless a resolution is under way): the peer may have moved."""
        if name not in self._names or name in self._pending:
            return
        loop = asyncio.get_running_loop()
        future = self._pending[name] = loop.run_in_executor(None, self._lookup, name)
        future.add_done_callback(lambda f: self._done(name, f))

    def _done(self, name: str, future: asyncio.Future[list[str]]) -> None:
        self._pending.pop(name, None)
        if name not in self._names:
            return
        timers = self._s.timers
        try:
            found = future.result()
        except (OSError, UnicodeError) as exc:
            log.warning("peer address %s: cannot resolve: %s", name, exc)
            timers.arm(("resolve", name), timers.now() + RESOLVE_RETRY, self._again)
            return
        timers.arm(("resolve", name), timers.now() + RESOLVE_INTERVAL, self._again)
        address = ipaddress.ip_address(found[0]) if found else None
        if address != self.addresses.get(name):
            if address is None:
                self.addresses.pop(name, None)
            else:
                self.addresses[name] = address
            log.info("peer address %s resolves to %s", name, address or "nothing")
            self._on_change(name, address)

    def _again(self, key: object) -> None:
        assert isinstance(key, tuple)
        self.resolve(key[1])

    def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
