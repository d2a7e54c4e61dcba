"""Which IKE messages from UDP/4500 a worker hands to the daemon (issue 17: a flood of marker-tagged
IKE stalled the established tunnels — 57 % ping loss — because every message cost a pickle, a trip
over the channel and the daemon's router look-up before it was dropped as an unknown SPI).

The worker now decides, per message, from its IKE header alone (RFC 7296 §3.1; ISAKMP's cookies sit
at the same offsets, RFC 2408 §3.1):

- **Known**: one of the two SPIs is one of ours. The daemon pushes its IKE SPIs to every worker as
  they come and go (:meth:`~.backend.TunDataPlane.ike_spi`), so an established or half-open SA's
  messages always go up — within the per-source limit.
- **New**: the responder SPI is zero (an IKE_SA_INIT request, IKEv1's first message): up to
  :data:`NEW_PER_SECOND` a second over all sources (the daemon's half-open limits and cookies take it
  from there, as on UDP/500), and the per-source limit.
- **Unknown**: anything else — it can only be dropped by the daemon's router. Up to
  :data:`UNKNOWN_PER_SECOND` a second still go up (the daemon pushes a new SA's SPI before its
  first answer leaves, but a message could in principle overtake that push; the router counts and
  logs them as ``unknown-spi``), the rest is dropped here and counted.

Every source gets at most :data:`PER_SOURCE` messages a second whatever their class (one address
flooding with a valid SPI, or a NAT in front of many peers, cannot take the daemon's CPU). The
per-source table holds at most :data:`MAX_SOURCES` addresses and is emptied every second; sources
beyond it share one entry, so spoofing costs memory that is bounded and short-lived.
"""

from __future__ import annotations

from enum import IntEnum

#: Messages a second one source address may send up to the daemon.
PER_SOURCE = 200
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
        "_sources",
        "_unknown",
        "max_sources",
        "new_per_second",
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
    ) -> None:
        self.spis: set[bytes] = set()  # the daemon's IKE SPIs (ours), 8 bytes each
        self.per_source = per_source
        self.new_per_second = new_per_second
        self.unknown_per_second = unknown_per_second
        self.max_sources = max_sources
        self._sources: dict[str, int] = {}
        self._new = 0
        self._unknown = 0
        self.unknown_drops = 0
        self.rate_drops = 0

    def tick(self) -> None:
        """A new one-second window: every count starts again."""
        self._sources.clear()
        self._new = self._unknown = 0

    def verdict(self, msg: bytes, source: str) -> Verdict:
        """``msg`` is an IKE message (marker removed) of at least a header's 28 bytes. The source's
        budget is looked at first, so one flooding source cannot spend the budgets of the others."""
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
        spis = self.spis
        if msg[8:16] in spis or msg[:8] in spis:
            pass
        elif msg[8:16] == _ZERO:
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
