"""The channel between the daemon and one packet worker (issue 17, finding 3).

One ``SOCK_SEQPACKET`` socket pair per worker carries everything, one pickled tuple per message
(message boundaries are kept, nothing is ever half-written):

- daemon → worker: ``(id, op, args)`` requests; id :data:`POSTED` for one that wants no reply;
- worker → daemon: ``("reply", id, status, value)``, ``("event", SadEvent)``,
  ``("ike", message, remote, local)`` — IKE that arrived on UDP/4500, with the address it arrived on —
  and ``("failed", op, error)``: a posted request that failed.

**Posted requests** (issue 16): installing and removing SAs and policies and sending IKE need no
answer, so the daemon does not wait for one — a blocking round trip per SA (two context switches and
a worker wake-up each) was most of an SA's data-plane cost. The worker takes the requests in order,
so a later query sees their effect; one that fails is reported as ``failed`` and logged by the
daemon. A worker woken once reads every request waiting: installs arriving together are one batch.

Two rules keep a flood from stalling anything:

- **The worker never blocks on it.** Its end is non-blocking; what the socket does not take waits in
  bounded queues (replies and events first, IKE after) and leaves when the socket is writable again.
  When a queue is full the message is dropped and counted (IKE first: the peer retransmits, RFC 7296
  §2.1). Before, the worker blocked writing IKE to a full pipe while the daemon waited up to 20 s
  for its reply — the data plane stalled.
- **Replies are matched by id, never by order.** A reply whose request timed out carries an old id:
  the daemon discards it (counted) instead of taking it as the answer to a later request — before,
  requests and replies stayed shifted by one after one timeout.

The daemon's end keeps what it reads while waiting for a reply (events, IKE) for the next poll; the
IKE backlog is bounded too.
"""

from __future__ import annotations

import copyreg
import io
import ipaddress
import itertools
import pickle
import select
import socket
import sys
import time
from collections import deque
from typing import Any

from ipsecd.dataplane.errors import ConfigError
from ipsecd.policy import types
from ipsecd.policy.events import SadEvent
from ipsecd.util.bounded import BoundedCache

#: Largest message: an IKE message (≤ 65,535 bytes) with its addresses, pickled.
MAX_MESSAGE = 70_000
#: Socket buffers of each end: a few hundred IKE messages in flight.
BUFFER = 4 << 20
#: Worker side: replies and events waiting for the socket; IKE messages waiting (dropped beyond).
URGENT_QUEUE = 4096
IKE_QUEUE = 512
#: Daemon side: IKE messages read while waiting for a reply, kept for the next poll.
IKE_BACKLOG = 4096

#: The id of a posted request: no reply is sent unless it fails.
POSTED = -1

Addr = tuple[str, int]
Request = tuple[int, str, tuple[Any, ...]]


class WorkerGone(ConfigError):
    """The worker's end of the channel closed: the process died or stopped."""


class WorkerRefused(ConfigError):
    """The worker answered, with an error: it is alive, the operation failed (a send the host's
    firewall refused, a bad SA)."""


def pair() -> tuple[socket.socket, socket.socket]:
    """(daemon end, worker end)."""
    here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for s in (here, there):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
    return here, there


#: Value objects the specs share (issue 16, memory per tunnel): every worker unpickles its own copy of
#: each SA, and without this each copy brought its own addresses, prefixes, lifetimes, encapsulations
#: and algorithm-name strings — ~1 KiB per tunnel per worker, though a tunnel's two SAs and its policy
#: carry the same selector prefixes and thousands of SAs the same outer addresses and lifetimes. The
#: cache hands back the object already built for an equal value; bounded, it costs the same at any
#: number of SAs (a value it has forgotten is built again, merely not shared).
_SHARED: BoundedCache[tuple[Any, ...], Any] = BoundedCache(4096)
_VALUE_TYPES = (types.Selector, types.Lifetime, types.UdpEncap)


def _shared(key: tuple[Any, ...], build: Any, *args: Any) -> Any:
    obj = _SHARED.get(key)
    if obj is None:
        obj = _SHARED[key] = build(*args)
    return obj


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    """A frozen slotted dataclass from its field values, in slot order (see :data:`_REDUCE`); a value
    type (selector, lifetime, encapsulation) equal to one built before is that one (:data:`_SHARED`),
    and strings (algorithm names, policy ids) are interned."""
    if cls in _VALUE_TYPES:
        return _shared((cls, values), _build, cls, values)
    return _build(cls, tuple([sys.intern(v) if type(v) is str else v for v in values]))


def _build(cls: type, values: tuple[Any, ...]) -> Any:
    obj: Any = object.__new__(cls)
    setattr_ = object.__setattr__
    names: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]
    for name, value in zip(names, values, strict=True):
        setattr_(obj, name, value)
    return obj


def _fields_of(cls: type) -> Any:
    names: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]
    return lambda obj: (_rebuild, (cls, tuple([getattr(obj, n) for n in names])))


def _address(a: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[Any, tuple[Any, ...]]:
    return _shared_ip, (type(a), int(a))


def _network(n: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[Any, tuple[Any, ...]]:
    return _shared_ip, (type(n), (int(n.network_address), n.prefixlen))


def _shared_ip(cls: type, value: Any) -> Any:
    """An address or prefix, the one already built for the same value if the cache holds it."""
    return _shared((cls, value), cls, value)


#: How the SA and policy specs cross the channel (issue 16): pickle's default for a frozen slotted
#: dataclass calls ``dataclasses.fields`` and one ``__setattr__`` per field through ``__setstate__``,
#: and rebuilds each address by parsing its text — ~40 % of an install's cost on either side. Here a
#: spec is its field values in slot order, an address its integer.
_REDUCE: dict[type, Any] = dict(copyreg.dispatch_table)
_REDUCE.update({cls: _fields_of(cls) for cls in (types.SaSpec, types.PolicySpec, types.Selector,
                                                    types.Lifetime, types.UdpEncap, types.SaState)})
_REDUCE.update({ipaddress.IPv4Address: _address, ipaddress.IPv6Address: _address,
                ipaddress.IPv4Network: _network, ipaddress.IPv6Network: _network})


def _dumps(msg: tuple[Any, ...]) -> bytes:
    out = io.BytesIO()
    pickler = pickle.Pickler(out, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _REDUCE
    pickler.dump(msg)
    return out.getvalue()


class WorkerEnd:
    """The worker's side: never blocks (see the module docstring)."""

    __slots__ = ("_ike", "_urgent", "dropped_events", "dropped_ike", "sock")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._urgent: deque[bytes] = deque()
        self._ike: deque[bytes] = deque()
        self.dropped_ike = 0
        self.dropped_events = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def pending(self) -> bool:
        """Messages wait for the socket to become writable."""
        return bool(self._urgent or self._ike)

    def requests(self) -> list[Request] | None:
        """The requests waiting; None when the daemon's end closed (stop the worker)."""
        out: list[Request] = []
        while True:
            try:
                data = self.sock.recv(MAX_MESSAGE)
            except BlockingIOError:
                return out
            except OSError:
                return None
            if not data:
                return None
            out.append(pickle.loads(data))

    def reply(self, rid: int, status: str, value: object) -> None:
        self._put(self._urgent, _dumps(("reply", rid, status, value)), URGENT_QUEUE)

    def failed(self, op: str, error: str) -> None:
        """A posted request failed: the daemon logs it (there is no caller waiting)."""
        if not self._put(self._urgent, _dumps(("failed", op, error)), URGENT_QUEUE):
            self.dropped_events += 1

    def event(self, ev: SadEvent) -> None:
        if not self._put(self._urgent, _dumps(("event", ev)), URGENT_QUEUE):
            self.dropped_events += 1

    def ike(self, message: bytes, remote: Addr, local: str) -> None:
        if not self._put(self._ike, _dumps(("ike", message, remote, local)), IKE_QUEUE):
            self.dropped_ike += 1

    def _put(self, queue: deque[bytes], msg: bytes, limit: int) -> bool:
        """Send now if nothing waits, else queue; False when the queue is full (dropped)."""
        if not self.pending:
            try:
                self.sock.send(msg)
                return True
            except BlockingIOError:
                pass
            except OSError:
                return True  # the daemon is gone: the loop sees the closed end and stops
        if len(queue) >= limit:
            return False
        queue.append(msg)
        return True

    def flush(self) -> None:
        """Send what waits, replies and events before IKE, until the socket is full again."""
        for queue in (self._urgent, self._ike):
            while queue:
                try:
                    self.sock.send(queue[0])
                except BlockingIOError:
                    return
                except OSError:
                    queue.clear()
                    break
                queue.popleft()


class DaemonEnd:
    """The daemon's side: requests with ids, replies matched by id (see the module docstring)."""

    __slots__ = ("_ids", "closed", "events", "failures", "ike", "ike_dropped", "sock", "stale", "started")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)  # waits are select()s with their own timeouts
        self.sock = sock
        self._ids = itertools.count(1)
        self.events: list[SadEvent] = []
        self.failures: list[tuple[str, str]] = []  # posted requests that failed: (op, error)
        self.ike: deque[tuple[bytes, Addr, str]] = deque()
        self.ike_dropped = 0
        self.stale = 0  # replies to requests that had timed out, discarded
        # the readiness report (reply 0) when :meth:`drain` read it: (status, pid or error)
        self.started: tuple[str, object] | None = None
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def call(self, timeout: float, op: str, *args: object) -> Any:
        """One request and its reply (see :meth:`request`, :meth:`reply`)."""
        return self.reply(self.request(timeout, op, *args), timeout, op)

    def request(self, timeout: float, op: str, *args: object) -> int:
        """Send one request; its id. :class:`WorkerGone` when the worker's end is closed."""
        rid = next(self._ids)
        self._send(timeout, rid, op, args)
        return rid

    def post(self, timeout: float, op: str, *args: object) -> None:
        """Send one request that wants no reply (see the module docstring); errors as :meth:`request`."""
        self._send(timeout, POSTED, op, args)

    def _send(self, timeout: float, rid: int, op: str, args: tuple[object, ...]) -> None:
        if self.closed:
            raise WorkerGone("data-plane worker is gone")
        msg = _dumps((rid, op, args))
        try:
            try:
                self.sock.send(msg)  # the socket has room nearly always: no select() first
            except BlockingIOError:
                if not select.select([], [self.sock], [], timeout)[1]:
                    raise
                self.sock.send(msg)
        except BlockingIOError:
            raise ConfigError(f"data-plane worker did not take request {op!r}") from None
        except OSError as e:
            self.closed = True
            raise WorkerGone(f"data-plane worker is gone ({e.strerror})") from None

    def reply(self, rid: int, timeout: float, op: str) -> Any:
        """The reply to request ``rid`` (0: the worker's readiness report); ConfigError on an error
        reply or timeout, :class:`WorkerGone` when the worker's end closes first. Replies with other
        ids (their requests timed out) are discarded; events and IKE read meanwhile are kept."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise ConfigError(f"data-plane worker did not answer {op!r} within {timeout:g} s")
            msg = self._recv()
            if msg is None:
                if self.closed:
                    raise WorkerGone("data-plane worker is gone")
                continue
            if msg[0] == "reply":
                if msg[1] == rid:
                    if msg[2] != "ok":
                        raise WorkerRefused(str(msg[3]))
                    return msg[3]
                self.stale += 1
            else:
                self._keep(msg)

    def drain(self) -> None:
        """Read everything waiting (events, IKE; stale replies are discarded)."""
        while not self.closed:
            msg = self._recv()
            if msg is None:
                return
            if msg[0] == "reply":
                if msg[1] == 0:
                    self.started = (msg[2], msg[3])
                else:
                    self.stale += 1
            else:
                self._keep(msg)

    def _keep(self, msg: tuple[Any, ...]) -> None:
        if msg[0] == "event":
            self.events.append(msg[1])
        elif msg[0] == "failed":
            self.failures.append((msg[1], msg[2]))
        elif len(self.ike) < IKE_BACKLOG:
            self.ike.append((msg[1], msg[2], msg[3]))
        else:
            self.ike_dropped += 1

    def _recv(self) -> tuple[Any, ...] | None:
        """One message, or None: nothing waiting, or the worker's end closed (``closed`` says which)."""
        try:
            data = self.sock.recv(MAX_MESSAGE)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return None
        msg: tuple[Any, ...] = pickle.loads(data)
        return msg

    def close(self) -> None:
        self.closed = True
        self.sock.close()
