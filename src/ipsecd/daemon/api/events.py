"""The event stream: what the IKE SAs report (established, rekeyed, deleted, failed), as JSON.

The daemon hands every IKE event to :meth:`EventHub.publish` next to the glue. Each becomes one
JSON object — ``{"event": "child-sa-installed", "time": "...", ...}`` with the event's own fields —
and goes to every subscriber: REST's server-sent events at ``GET /events``, and ``ipsecd events``,
which reads JSON lines from the control socket (:func:`stream_lines`). Only plain facts are
copied: names, identities, addresses, algorithm names, SPIs, reasons and details (the same text the
log gives); keys never, whatever an event carries, so a stream is safe to show a ``read`` user.

A subscriber that does not keep up loses events rather than growing the daemon: each has a bounded
queue and a count of what it dropped. The hub also counts events by kind and reason for the metrics
(negotiation failures by reason).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

QUEUE = 1024  # events a subscriber may fall behind by
KEEPALIVE = 15.0  # seconds between empty lines on a quiet stream: a client that went is noticed
MAX_SUBSCRIBERS = 64
_SECRET = re.compile(r"key|secret|sk_|nonce|password", re.IGNORECASE)


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _plain(name: str, value: object) -> Any:
    """A field's value as JSON, or None when it is not a plain fact (see the module docstring)."""
    if _SECRET.search(name):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.hex() if name.endswith("spi") else None
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[1], int)
        and isinstance(value[0], str)
    ):
        return f"{value[0]}:{value[1]}"  # an endpoint (address, port)
    if isinstance(value, tuple):
        items = [_plain(name, v) for v in value]
        return items if all(i is not None for i in items) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        spi = getattr(value, "spi", None)  # an SA spec: its SPI and nothing of its keys
        return f"0x{spi:08x}" if isinstance(spi, int) else None
    return None


_KINDS: dict[type, str] = {}  # event class -> its kebab-case name (a handful of classes)


def _kind(cls: type) -> str:
    kind = _KINDS.get(cls)
    if kind is None:
        kind = _KINDS[cls] = _kebab(cls.__name__)
    return kind


def event_json(event: object, peer: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "event": _kind(type(event)),
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
    }
    if peer:
        out["peer"] = peer
    if dataclasses.is_dataclass(event):
        for f in dataclasses.fields(event):
            value = _plain(f.name, getattr(event, f.name))
            if value is not None:
                out[f.name] = value
    return out


class EventHub:
    def __init__(self) -> None:
        self._queues: dict[asyncio.Queue[dict[str, Any]], int] = {}  # queue -> events dropped
        self.counts: Counter[tuple[str, str]] = Counter()  # (event, reason) -> count

    def publish(self, sa: object, event: object) -> None:
        """The daemon's event sink: called for every event of every IKE SA. Most of the time nobody
        listens: then only the count is kept and no JSON is made (two events per tunnel made it a
        visible share of the responder's CPU per SA under cProfile)."""
        reason = getattr(event, "notify", None) or getattr(event, "reason", None) or ""
        self.counts[(_kind(type(event)), str(reason))] += 1
        if not self._queues:
            return
        data = event_json(event, getattr(getattr(sa, "config", None), "name", None))
        for queue in self._queues:
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:
                self._queues[queue] += 1

    def subscribe(self) -> asyncio.Queue[dict[str, Any]] | None:
        """A queue of the events from now on; None when too many are listening."""
        if len(self._queues) >= MAX_SUBSCRIBERS:
            return None
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE)
        self._queues[queue] = 0
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> int:
        """Stop delivering to ``queue``; how many events it lost for being slow."""
        return self._queues.pop(queue, 0)


Frame = Callable[[dict[str, Any] | None], bytes]  # an event's octets on the wire; None: a keep-alive


async def pump(hub: EventHub, queue: asyncio.Queue[dict[str, Any]], writer: asyncio.StreamWriter,
               frame: Frame) -> None:
    """Write the events of ``queue`` (from :meth:`EventHub.subscribe`) until the client goes, a
    keep-alive every :data:`KEEPALIVE` seconds of quiet; unsubscribes at the end."""
    try:
        while True:
            try:
                data = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                writer.write(frame(None))
            else:
                writer.write(frame(data))
            await writer.drain()
    finally:
        hub.unsubscribe(queue)


def _line(data: dict[str, Any] | None) -> bytes:
    return json.dumps(data).encode() + b"\n" if data is not None else b"\n"


async def stream_lines(hub: EventHub, writer: asyncio.StreamWriter) -> None:
    """One JSON object per line to ``writer`` until it goes (the control socket's event stream)."""
    queue = hub.subscribe()
    if queue is None:
        writer.write(_line({"error": "too many event listeners"}))
        return
    await pump(hub, queue, writer, _line)
