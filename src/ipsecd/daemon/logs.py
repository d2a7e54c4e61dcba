"""What the daemon writes to its log: IKE events as operator lines, notes made once, and rate limits.

* Every string a peer controls (its IDs, the IKE core's failure details that quote them) goes through
  :func:`ipsecd.util.text.escape` before it is logged (issue 17, finding 6: a peer ID with a newline
  wrote fake "IKE SA established" lines); the daemon's formatter escapes each whole message once more,
  so a line the glue forgot cannot be forged either.
* Warnings about unauthenticated sources are limited by *reason*, never by source: a spoofing
  attacker has as many sources as it likes (finding 8: one line per source made 1.04 M lines in 30 s).
  :class:`ReasonLimiter` lets ``burst`` lines of a reason through per ``window`` seconds and then
  writes one summary: ``… 51,234 more from 48,102 sources in the last 10 s``.
* :class:`Notes` remembers what was said once (a peer that is not started, a CHILD_SA that left
  ranges out) in a :class:`~ipsecd.util.bounded.BoundedCache`, so it cannot grow without bound.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ipsecd.ike import events as ev
from ipsecd.util.bounded import BoundedCache
from ipsecd.util.text import escape

log = logging.getLogger("ipsecd")

NOTES = 4096  # things said once (keys are configuration names, bounded anyway; the ceiling is a backstop)
NOTE_TTL = 3600.0  # a note is repeated after an hour, so a long-running daemon still says it
SOURCES_COUNTED = 65536  # distinct sources counted per reason and window; beyond, "at least"


@dataclass(slots=True)
class _Window:
    start: float
    lines: int = 0
    suppressed: int = 0
    sources: set[str] = field(default_factory=set)
    overflow: bool = False


class ReasonLimiter:
    """At most ``burst`` log lines per reason and ``window`` seconds, then one summary line; a
    source already reported for a reason (a bounded, expiring memory) is not reported again.

    The summary is written by the first line of that reason after the window closed, or by
    :meth:`flush` (the daemon calls it every second), so a flood that stops is still summarised.
    """

    def __init__(self, logger: logging.Logger = log, *, burst: int = 5, window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.burst, self.window, self.clock = logger, burst, window, clock
        self._windows: dict[str, _Window] = {}  # one per reason: the reasons are our own words
        # a source said once is not said again for a while (a misconfigured peer retransmits); bounded
        self._said: BoundedCache[tuple[str, str], bool] = BoundedCache(NOTES, NOTE_TTL, clock=clock)

    def log(self, reason: str, source: str, level: int, msg: str, *args: object) -> bool:
        """Log ``msg`` unless this source was reported for ``reason`` recently or ``reason`` used up
        its burst; whether it was logged."""
        if not self._said.add((reason, source), True):
            return False
        now = self.clock()
        w = self._windows.get(reason)
        if w is None or now - w.start >= self.window:
            if w is not None:
                self._summary(reason, w)
            w = self._windows[reason] = _Window(now)
        if w.lines < self.burst:
            w.lines += 1
            self.logger.log(level, msg, *args)
            return True
        w.suppressed += 1
        if len(w.sources) < SOURCES_COUNTED:
            w.sources.add(source)
        elif source not in w.sources:
            w.overflow = True
        return False

    def flush(self, *, everything: bool = False) -> None:
        """Summarise the windows that closed, or all of them (at shutdown), and forget them."""
        now = self.clock()
        for reason, w in list(self._windows.items()):
            if everything or now - w.start >= self.window:
                self._summary(reason, w)
                del self._windows[reason]

    def _summary(self, reason: str, w: _Window) -> None:
        if w.suppressed:
            sources = f"{'at least ' if w.overflow else ''}{len(w.sources):,}"
            self.logger.warning("%s: … %s more from %s source%s in the last %d s", reason,
                                f"{w.suppressed:,}", sources, "" if len(w.sources) == 1 else "s",
                                round(self.window))


class Notes:
    """Say something once (per key, for ``NOTE_TTL`` seconds); bounded."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._said: BoundedCache[str, bool] = BoundedCache(NOTES, NOTE_TTL, clock=clock)

    def once(self, key: str, msg: str, *args: object, level: int = logging.WARNING) -> None:
        if self._said.add(key, True):
            log.log(level, msg, *args)

    def __len__(self) -> int:
        return len(self._said)


# -- IKE events as log lines ----------------------------------------------------------------------------


def established(name: str, side: str, natt: bool, event: ev.IkeSaEstablished) -> None:
    if log.isEnabledFor(logging.INFO):  # per SA: not even the arguments when not logged
        log.info("peer %s: IKE SA established as %s, %s:%d <-> %s:%d, local id %s, remote id %s, "
                 "%s/%s/%s/%s%s%s", name, side, *event.local, *event.remote, escape(event.local_id),
                 escape(event.remote_id), event.encr, event.integ or "-", event.prf, event.dh,
                 ", NAT-T" if natt else "",
                 f", XAuth user {escape(event.xauth_user)}" if event.xauth_user else "")


def child_installed(name: str, event: ev.ChildSaInstalled) -> None:
    if log.isEnabledFor(logging.INFO):
        out = event.outbound
        log.info("peer %s: CHILD_SA %s, SPIs in 0x%08x out 0x%08x, %s%s%s", name,
                 "rekeyed" if event.rekey_of is not None else "established", event.inbound.spi, out.spi,
                 out.encr, f"/{out.integ}" if out.integ != "null" else "",
                 ", UDP-encapsulated" if out.encap else "")


def failure(name: str, event: ev.AuthenticationFailed | ev.NegotiationFailed | ev.PeerDead) -> None:
    """Failures the IKE core describes for operators; its details quote what the peer sent."""
    if isinstance(event, ev.AuthenticationFailed):
        log.warning("peer %s: authentication failed with %s:%d: %s", name, *event.remote,
                    escape(event.detail))
    elif isinstance(event, ev.NegotiationFailed):
        log.warning(
            "peer %s: %s failed (%s): %s",
            name,
            event.exchange,
            escape(str(event.notify)),
            escape(event.detail),
        )
    else:
        log.warning("peer %s: %s:%d is dead: %s", name, *event.remote, escape(event.detail))


def virtual_ip(name: str, address: str | None, event: ev.VirtualIpAssigned) -> None:
    # ipsecd does not manage the host's resolver (RouterOS would put these in /ip dns)
    log.info(
        "peer %s: virtual IP %s assigned%s%s",
        name,
        address,
        f", DNS {', '.join(a.compressed for a in event.dns)} (not applied to the host's resolver)"
        if event.dns
        else "",
        f", subnets {escape(', '.join(event.subnets))}" if event.subnets else "",
    )


# -- the daemon's log format --------------------------------------------------------------------------


class Formatter(logging.Formatter):
    """The daemon's log line: one line per message whatever it carries (escaped), and its time
    text (whole seconds) made once per second, not per record. Tracebacks keep their lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        self._second = -1
        self._text = ""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._text = second, time.strftime(datefmt or "%H:%M:%S", self.converter(second))
        return self._text


def configure_logging(level: str) -> None:
    # What the format never shows is not collected for every record (a few records per IKE SA set
    # up): thread/process names, and the caller's file and line (the logging HOWTO's _srcfile switch).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Formatter())
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])
