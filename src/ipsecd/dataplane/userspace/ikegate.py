"""Which IKE messages from UDP/4500 a worker hands to the daemon (issue 17: a flood of marker-tagged
IKE stalled the established tunnels — 57 % ping loss — because every message cost a pickle, a trip
over the channel and the daemon's router look-up before it was dropped as an unknown SPI).

The worker now decides, per message, from its IKE header alone (RFC 7296 §3.1; ISAKMP's cookies sit
at the same offsets, RFC 2408 §3.1):

- **Known**: one of the two SPIs is one of ours. The daemon pushes its IKE SPIs to every worker as
  they come and go (:meth:`~.backend.TunDataPlane.ike_spi`), so an established or half-open SA's
  messages always go up — within the per-SA limit, :data:`PER_SA` a second.
- **New**: the responder SPI is zero (an IKE_SA_INIT request, IKEv1's first message): up to
  :data:`NEW_PER_SECOND` a second over all sources (the daemon's half-open limits and cookies take it
  from there, as on UDP/500), and the per-source limit.
- **Unknown**: anything else — it can only be dropped by the daemon's router. Up to
  :data:`UNKNOWN_PER_SECOND` a second still go up (the daemon pushes a new SA's SPI before its
  first answer leaves, but a message could in principle overtake that push; the router counts and
  logs them as ``unknown-spi``), the rest is dropped here and counted.

New and unknown messages also count against their source: at most :data:`PER_SOURCE` a second from
one address, so one flooder cannot spend the budgets all sources share. Known messages count against
their SA instead, not their source: many peers behind one NAT (or a load generator on one host) each
have an SA of their own and would otherwise share one address's budget — a first version counted
them per source and held a single-address IKE_SA load test at 100 SAs a second. One address flooding
with a valid SPI still gets only that SA's :data:`PER_SA`. The per-source table holds at most
:data:`MAX_SOURCES` addresses and the per-SA table only SPIs of ours; both are emptied every second,
and sources beyond the limit share one entry, so spoofing costs memory that is bounded and
short-lived.
"""

from __future__ import annotations

from enum import IntEnum

#: New-exchange and unknown-SPI messages a second one source address may send up to the daemon.
PER_SOURCE = 200
#: Messages a second for one IKE SA of ours (either SPI) that go up to the daemon.
PER_SA = 200
#: New-exchange requests (responder SPI zero) a second, over all sources.
NEW_PER_SECOND = 1000
#: Messages with SPIs that are not ours a second, over all sources, still handed to the daemon.
UNKNOWN_PER_SECOND = 20
#: Source addresses counted one by one within a second (the rest share one count).
MAX_SOURCES = 16384
_ZERO = bytes(8)
_OVERFLOW = "*"


class Verdict(IntEnum):
    PASS = 0
    UNKNOWN = 1  # dropped: SPIs not ours, beyond the unknown budget
    RATE = 2  # dropped: the source's (or the new-exchange) budget for this second is spent


class IkeGate:
    """The worker's per-message decision (see the module docstring). Sans-I/O: :meth:`tick` once a
    second starts a new window."""

    __slots__ = (
        "_new",
        "_sas",
        "_sources",
        "_unknown",
        "max_sources",
        "new_per_second",
        "per_sa",
        "per_source",
        "rate_drops",
        "spis",
        "unknown_drops",
        "unknown_per_second",
    )

    def __init__(
        self,
        per_source: int = PER_SOURCE,
        new_per_second: int = NEW_PER_SECOND,
        unknown_per_second: int = UNKNOWN_PER_SECOND,
        max_sources: int = MAX_SOURCES,
        per_sa: int = PER_SA,
    ) -> None:
        self.spis: set[bytes] = set()  # the daemon's IKE SPIs (ours), 8 bytes each
        self.per_source = per_source
        self.new_per_second = new_per_second
        self.unknown_per_second = unknown_per_second
        self.max_sources = max_sources
        self.per_sa = per_sa
        self._sources: dict[str, int] = {}
        self._sas: dict[bytes, int] = {}  # SPI of ours -> messages this second
        self._new = 0
        self._unknown = 0
        self.unknown_drops = 0
        self.rate_drops = 0

    def tick(self) -> None:
        """A new one-second window: every count starts again."""
        self._sources.clear()
        self._sas.clear()
        self._new = self._unknown = 0

    def verdict(self, msg: bytes, source: str) -> Verdict:
        """``msg`` is an IKE message (marker removed) of at least a header's 28 bytes. A known SA's
        message is held to that SA's budget; any other to its source's budget first (so one flooding
        source cannot spend the budgets of the others), then to the one all sources share."""
        spis = self.spis
        spi = msg[8:16]
        if spi in spis or (spi := msg[:8]) in spis:
            sas = self._sas
            count = sas.get(spi, 0)
            if count >= self.per_sa:
                self.rate_drops += 1
                return Verdict.RATE
            sas[spi] = count + 1
            return Verdict.PASS
        sources = self._sources
        n = sources.get(source)
        if n is None:
            if len(sources) >= self.max_sources:
                source = _OVERFLOW
                n = sources.get(source, 0)
            else:
                n = 0
        if n >= self.per_source:
            self.rate_drops += 1
            return Verdict.RATE
        if msg[8:16] == _ZERO:
            if self._new >= self.new_per_second:
                self.rate_drops += 1
                return Verdict.RATE
            self._new += 1
        elif self._unknown >= self.unknown_per_second:
            self.unknown_drops += 1
            return Verdict.UNKNOWN
        else:
            self._unknown += 1
        sources[source] = n + 1
        return Verdict.PASS

    def update(self, spi: bytes, present: bool) -> None:
        if present:
            self.spis.add(spi)
        else:
            self.spis.discard(spi)
