"""``TunDataPlane``: the ``tun`` backend the daemon instantiates (Linux, root).

It creates the TUN device and the policy routing (:mod:`.tun`), starts the packet workers
(:mod:`.worker`, one process each, outside asyncio) and relays the
:class:`~ipsecd.dataplane.base.DataPlane` operations to them over their channels (:mod:`.channel`:
ids, never order, match replies): SAs and policies go to every worker (each keeps the whole SPD/SAD;
only an SA's owner builds its transform), queries go to the SA's owner, statistics are the sum over
workers. SPIs are reserved here, the one authority.

Installs, removals and IKE sends are *posted* (issue 16): the daemon does not wait for the worker to
answer — a blocking round trip per SA and per IKE message cost two context switches and a worker
wake-up each, most of an SA's data-plane cost. The channel keeps them in order, so the IKE message
that follows an install leaves after it (worker 0), and a query after an install sees it. A posted
request that fails is logged here when the worker reports it.

NAT rebinding: :meth:`TunDataPlane.poll_events` reports the SA pairs whose peer moved (``EndpointChanged``).

IKE on UDP/4500 (the workers own that socket, see :mod:`.worker`; this is the backend's
:class:`~ipsecd.dataplane.base.NattSocket` capability): :meth:`TunDataPlane.recv_ike` returns the IKE
messages that arrived there (marker stripped) with their sender and the local address they were sent
to, :meth:`TunDataPlane.send_ike` sends one (marker added) from that address of the same socket, and
:meth:`TunDataPlane.send_keepalive` a NAT-keepalive. :meth:`ike_fds` is one descriptor (an epoll set
over the channels, stable across worker restarts) to watch for both events and IKE messages.

**Supervision** (issue 17, finding 2): a worker whose channel closes (it died, ``kill -9`` included)
is noticed at the next poll (the closed channel makes :meth:`ike_fds` readable at once), logged and
replaced — without waiting: the replacement is spawned and the daemon goes on (starting an
interpreter takes 0.2–0.8 s, during which the daemon used to answer nothing); its readiness report
wakes the daemon, which then gives it every policy, SA and IKE SPI as they are at that moment
(posted, no round trip each). Meanwhile requests skip it, queries of its SAs answer from the
shared page, and IKE to send leaves from the backend's own socket. Counters survive too: each worker
keeps its statistics row and its SAs' counters on the shared page (:mod:`.seqmap`); a dead worker's
row is added to the totals kept for dead workers, and the replacement's SAs start from their slots,
so ``/ip ipsec statistics`` and the installed SAs' counters never go backwards. Outbound SAs
continue above the sequence-number mark the dead worker left on the page: no nonce repeats under a
key. This was chosen over re-keying each SA because it needs no IKE (static SAs have none), keeps
traffic flowing without a round trip, and is exact: a number is on the page before it is used.
Inbound SAs
start their replay window at the dead worker's edge (see :mod:`.seqmap` for the one-second gap).
When the replacement fails, or workers die more than :data:`RESTART_BURST` times within
:data:`RESTART_WINDOW` seconds, :class:`~ipsecd.dataplane.errors.BackendFailed` is raised: the daemon
exits non-zero with that one line so its supervisor restarts it.

**Shutdown** (issue 17, finding 5): workers ignore SIGTERM/SIGINT, so a signal to the process group
leaves them to the daemon, which stops them after its DELETEs; an IKE message the workers cannot send
(one was killed anyway) leaves from a NAT-T socket of the backend's own.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import select
import socket
import time
from ipaddress import ip_address
from typing import Any

from ipsecd.dataplane.base import IkeMessage
from ipsecd.dataplane.errors import BackendFailed, ConfigError
from ipsecd.dataplane.processor import owner_of
from ipsecd.dataplane.stats import COUNTER_NAMES, Statistics
from ipsecd.dataplane.userspace import channel, tun, udp
from ipsecd.dataplane.userspace.channel import DaemonEnd, WorkerGone
from ipsecd.dataplane.userspace.ikegate import PER_SA, PER_SOURCE
from ipsecd.dataplane.userspace.seqmap import SeqMap
from ipsecd.dataplane.userspace.worker import HAS_IPV6, WorkerConfig, worker_main
from ipsecd.policy.events import SadEvent
from ipsecd.policy.sad import Sad
from ipsecd.policy.types import Action, Direction, IpsecProto, PolicySpec, SaSpec, SaState

#: Seconds a worker gets to start (spawned interpreter, imports, sockets) or answer a request.
START_TIMEOUT = 20.0
#: Seconds a running worker gets to answer a request (it never blocks: only a hung one misses this).
CALL_TIMEOUT = 5.0
#: More than this many worker deaths within RESTART_WINDOW seconds: give up (BackendFailed).
RESTART_BURST = 5
RESTART_WINDOW = 60.0
#: IKE SPIs per message when a worker is given the whole set (a channel message is at most 70 kB).
SPI_CHUNK = 8000

log = logging.getLogger("ipsecd.dataplane")


class TunDataPlane:
    """The ``tun`` DataPlane (see the module docstring). Use as a context manager or call :meth:`close`."""

    def __init__(self, tun_name: str = "ipsecd0", *, mtu: int = 1400, addresses: list[str] | None = None,
                 workers: int = 1, natt_port: int = 4500, ike_port: int = 500, mark: int = tun.DEFAULT_MARK,
                 table: int = tun.DEFAULT_TABLE, raw: bool = True, routing: bool = True,
                 ike_per_source: int = PER_SOURCE, ike_per_sa: int = PER_SA) -> None:
        self.name = tun_name
        self.nworkers = max(1, workers)
        self._natt_port, self._mark = natt_port, mark
        self._sad = Sad()
        self._seqmap = SeqMap()
        self._events: list[SadEvent] = []
        self._procs: list[Any] = []
        self._chans: list[DaemonEnd] = []
        self._poll = select.epoll()  # over the channels: the one descriptor the daemon watches
        # what every worker must hold, to give it to a replacement: policies in order, SAs with slots
        self._policies: dict[str, PolicySpec] = {}
        self._sas: dict[tuple[int, Direction], tuple[SaSpec, int]] = {}
        self._added: dict[tuple[int, Direction], float] = {}  # when each was installed (monotonic)
        self._deaths: list[float] = []
        self._ike_spis: set[bytes] = set()  # the daemon's IKE SPIs, as every worker's gate must hold them
        self._resync: set[int] = set()  # workers that missed an SPI notice: they get the whole set again
        self._starting: dict[int, float] = {}  # replacements not ready yet -> when they were spawned
        self._dead = Statistics()  # the counters of workers that died (each one's last row on the page)
        self._closing = False
        self.restarts = 0
        self._routing = tun.Routing(tun_name, table, mark, ike_port) if routing else None
        self._fd = tun.open_queue(tun_name, multi_queue=True)
        try:
            tun.detach_queue(self._fd)
            tun.configure(tun_name, mtu, addresses or [])
            if self._routing is not None:
                self._routing.setup()
            self._ctx = multiprocessing.get_context("spawn")
            tag = f"{tun_name}-{os.getpid()}-{id(self):x}"
            self._cfgs = [WorkerConfig(tun_name, i, self.nworkers, natt_port, mark, tag, mtu=mtu, raw=raw,
                                       ike_per_source=ike_per_source, ike_per_sa=ike_per_sa)
                           for i in range(self.nworkers)]
            started = [self._spawn(i) for i in range(self.nworkers)]
            for i, (proc, chan) in enumerate(started):
                self._procs.append(proc)
                self._chans.append(chan)
                self._poll.register(chan.fileno(), select.EPOLLIN)
                chan.reply(0, START_TIMEOUT, f"start of worker {i}")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> TunDataPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    # --- workers -------------------------------------------------------------------------------------

    def _spawn(self, i: int) -> tuple[Any, DaemonEnd]:
        here, there = channel.pair()
        try:
            p = self._ctx.Process(target=worker_main, args=(self._cfgs[i], there), daemon=True,
                                  name=f"ipsecd-dp-{i}")
            p.start()
        finally:
            there.close()
        socket.send_fds(here, [b"seqmap"], [self._seqmap.fd])
        return p, DaemonEnd(here)

    def _call(self, idx: int, op: str, *args: object) -> Any:
        """One request to worker ``idx``; :class:`WorkerGone` when it is dead (its replacement is
        started) or still starting."""
        if idx in self._starting:
            raise WorkerGone(f"data-plane worker {idx} is being replaced")
        try:
            return self._chans[idx].call(CALL_TIMEOUT, op, *args)
        except WorkerGone:
            self._begin_replace(idx)
            raise

    def _post_all(self, op: str, *args: object) -> None:
        """One posted request to every worker (no reply). The state kept here already includes its
        effect: a worker found dead is replaced with that state, so it is not asked again."""
        for i in range(len(self._chans)):
            if i in self._starting:  # it gets the state as it is when it is ready
                continue
            try:
                self._chans[i].post(CALL_TIMEOUT, op, *args)
            except WorkerGone:
                self._begin_replace(i)

    def _all(self, op: str, *args: object) -> list[Any]:
        """One request to every running worker, answered in parallel. A dead one is skipped and its
        replacement started; a starting one is skipped: it is given the backend's state (policies,
        SAs, IKE SPIs) as it stands when it is ready."""
        sent: list[tuple[int, int]] = []
        for i, chan in enumerate(self._chans):
            if i in self._starting:
                continue
            try:
                sent.append((i, chan.request(CALL_TIMEOUT, op, *args)))
            except WorkerGone:
                self._begin_replace(i)
        out = []
        for i, rid in sent:
            try:
                out.append(self._chans[i].reply(rid, CALL_TIMEOUT, op))
            except WorkerGone:
                self._begin_replace(i)
        return out

    def check_workers(self) -> None:
        """Start a replacement for every worker that died, finish those whose replacement is ready
        (see the module docstring); BackendFailed when that fails. Never waits for a worker."""
        for i, chan in enumerate(self._chans):
            if i in self._starting:
                self._progress(i)
            elif chan.closed or not self._procs[i].is_alive():
                self._begin_replace(i)

    def _begin_replace(self, i: int) -> None:
        """Worker ``i`` died: log it, keep its counters, spawn its replacement — and return. The
        replacement reports readiness on its channel, which wakes the daemon (:meth:`ike_fds`);
        :meth:`check_workers` then gives it the state (:meth:`_finish_replace`). Spawning a Python
        interpreter takes 0.2–0.8 s, during which the daemon answered nothing when this waited."""
        if self._closing:
            raise WorkerGone(f"data-plane worker {i} is gone (shutting down)")
        if i in self._starting:
            return
        old, chan = self._procs[i], self._chans[i]
        old.join(0.1)  # its channel closed: it is gone or going, reaped at once
        code = old.exitcode
        why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        log.error("data-plane worker %d (pid %s) died (%s); starting a replacement", i, old.pid, why)
        chan.drain()
        self._events.extend(chan.events)
        self._poll.unregister(chan.fileno())
        chan.close()
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW] + [now]
        if len(self._deaths) > RESTART_BURST:
            raise BackendFailed(f"data-plane workers died {len(self._deaths)} times in {RESTART_WINDOW:g} s; "
                                "giving up")
        for name, value in zip(self._dead.__slots__, self._seqmap.stats(i), strict=True):
            setattr(self._dead, name, getattr(self._dead, name) + value)
        self._seqmap.set_stats(i, [0] * len(self._dead.__slots__))
        try:
            proc, new = self._spawn(i)
        except OSError as e:
            raise BackendFailed(f"data-plane worker {i} died and could not be replaced: {e}") from None
        self._procs[i], self._chans[i] = proc, new
        self._poll.register(new.fileno(), select.EPOLLIN)
        self._starting[i] = now

    def _progress(self, i: int) -> None:
        """A starting worker: ready (give it the state), dead again, failed or late (BackendFailed)."""
        chan = self._chans[i]
        chan.drain()
        self._events.extend(chan.events)
        chan.events.clear()
        if chan.started is not None:
            status, value = chan.started
            if status != "ok":
                raise BackendFailed(f"data-plane worker {i} died and could not be replaced: {value}")
            self._finish_replace(i)
        elif chan.closed:
            del self._starting[i]
            self._begin_replace(i)
        elif time.monotonic() - self._starting[i] > START_TIMEOUT:
            raise BackendFailed(f"data-plane worker {i} died and its replacement did not start within "
                                f"{START_TIMEOUT:g} s")

    def _finish_replace(self, i: int) -> None:
        """The replacement is up: every policy, SA (sequence numbers above the dead worker's, counters
        from where it left them) and IKE SPI, as they are now."""
        new, seqmap = self._chans[i], self._seqmap
        try:  # posted: the channel keeps the order, a later request sees all of it
            for policy in self._policies.values():
                new.post(CALL_TIMEOUT, "add_policy", policy)
            for spec, slot in self._sas.values():
                new.post(CALL_TIMEOUT, "add_sa", spec, slot, seqmap.get(slot), True)
            for blob, first in self._spi_chunks():
                new.post(CALL_TIMEOUT, "ike_spis", blob, first)
        except WorkerGone:
            del self._starting[i]
            self._begin_replace(i)
            return
        except ConfigError as e:
            raise BackendFailed(f"data-plane worker {i} died and could not be replaced: {e}") from None
        self._resync.discard(i)
        started = self._starting.pop(i)
        self.restarts += 1
        log.warning("data-plane worker %d replaced in %.2f s (pid %s): %d policies and %d SAs installed "
                    "again, sequence numbers continue above the dead worker's", i, time.monotonic() - started,
                    self._procs[i].pid, len(self._policies), len(self._sas))

    # --- DataPlane -----------------------------------------------------------------------------------

    def get_spi(self, proto: IpsecProto) -> int:
        return self._sad.get_spi(proto, time.monotonic())

    def add_sa(self, sa: SaSpec) -> None:
        key = (sa.spi, sa.direction)
        old = self._sas.get(key)
        slot = old[1] if old is not None else self._seqmap.allocate()
        self._sas[key] = (sa, slot)
        self._added.setdefault(key, time.monotonic())
        if sa.direction is Direction.IN:
            self._sad.release_spi(sa.spi, sa.proto)
        self._post_all("add_sa", sa, slot, 0)

    def update_sa(self, sa: SaSpec) -> None:
        key = (sa.spi, sa.direction)
        if key in self._sas:
            self._sas[key] = (sa, self._sas[key][1])
        self._post_all("update_sa", sa)

    def query_sa(self, spi: int, direction: Direction) -> SaState | None:
        """The owner's answer; while the owner is being replaced, the SA's counters as the dead
        worker last wrote them (what any earlier answer reported, at least)."""
        try:
            state: SaState | None = self._call(owner_of(spi, self.nworkers), "query_sa", spi, direction)
        except WorkerGone:
            kept = self._sas.get((spi, direction))
            if kept is None:
                return None
            spec, slot = kept
            nbytes, packets, invalid = self._seqmap.counters(slot)
            return SaState(spi, direction, nbytes, packets, invalid, self._added.get((spi, direction), 0.0),
                           None, "mature", spec.replay_window)
        return state

    def del_sa(self, spi: int, direction: Direction) -> None:
        gone = self._sas.pop((spi, direction), None)
        self._added.pop((spi, direction), None)
        self._post_all("del_sa", spi, direction)
        if gone is not None:  # the slot is free once every worker has the removal (channel order)
            self._seqmap.release(gone[1])

    def add_policy(self, policy: PolicySpec) -> None:
        self._policies[policy.policy_id] = policy
        self._post_all("add_policy", policy)
        if self._routing is not None and policy.action is Action.ENCRYPT and not policy.template \
                and not policy.disabled:
            sel = policy.selector
            src = tun.local_address_in(sel.src, policy.sa_src)
            self._routing.add_route(policy.policy_id, str(sel.dst), src)

    def del_policy(self, policy_id: str) -> None:
        self._policies.pop(policy_id, None)
        self._post_all("del_policy", policy_id)
        if self._routing is not None:
            self._routing.del_route(policy_id)

    def flush(self) -> None:
        self._all("flush")
        for _spec, slot in self._sas.values():
            self._seqmap.release(slot)
        self._sas.clear()
        self._added.clear()

    # --- addresses (mode-config: the virtual IP the IKE responder gave us, RFC 7296 §2.19) ------------

    @property
    def virtual_addresses(self) -> TunDataPlane:
        """The :class:`~ipsecd.dataplane.base.VirtualAddresses` capability: this backend itself."""
        return self

    def add_address(self, address: str) -> None:
        """Put ``address`` (one host) on the TUN device: traffic to the tunnel is sourced from it."""
        if ":" in address:
            tun.enable_ipv6(self.name)
        tun.ip("addr", "replace", tun.host_prefix(address), "dev", self.name)

    def del_address(self, address: str) -> None:
        tun.ip("addr", "del", tun.host_prefix(address), "dev", self.name, check=False)

    def prepare_ike_socket(self, sock: socket.socket, natt: bool) -> None:
        """Nothing to do: the daemon's UDP/500 socket is kept off the TUN by the routing's fwmark
        rule for the IKE port (:class:`~.tun.Routing`), UDP/4500 is the workers'."""

    def poll_events(self) -> list[SadEvent]:
        self._drain()
        if not self._closing:
            self.check_workers()
            if self._resync:
                self._sync_spis()
        out, self._events = self._events, []
        return out

    def statistics(self) -> dict[str, int]:
        """The sum over the running workers, plus what dead workers had counted; a worker being
        replaced counts with its last row (issue 17: the statistics never go backwards)."""
        total = Statistics()
        rows = [self._dead.as_dict(), *self._all("stats")]
        rows += [dict(zip(COUNTER_NAMES, self._seqmap.stats(i), strict=True)) for i in self._starting]
        for counters in rows:
            for name, v in counters.items():
                slot = name.replace("-", "_")
                setattr(total, slot, getattr(total, slot) + v)
        return total.as_dict()

    def counters(self) -> dict[str, int]:
        """The workers' own counters (keepalives, messages dropped on a full channel) and the
        daemon side's (stale replies discarded, IKE dropped from a full backlog), summed."""
        out: dict[str, int] = {"restarts": self.restarts,
                               "stale-replies": sum(c.stale for c in self._chans),
                               "ike-backlog-drops": sum(c.ike_dropped for c in self._chans)}
        for counters in self._all("counters"):
            for name, v in counters.items():
                out[name] = out.get(name, 0) + v
        return out

    # --- IKE over UDP/4500 ---------------------------------------------------------------------------

    @property
    def natt_socket(self) -> TunDataPlane:
        """The :class:`~ipsecd.dataplane.base.NattSocket` capability: this backend itself."""
        return self

    def ike_fds(self) -> list[int]:
        return [self._poll.fileno()]

    def recv_ike(self) -> list[IkeMessage]:
        """IKE messages (non-ESP marker removed) that arrived on UDP/4500: (message, sender, our
        address it was sent to)."""
        self._drain()
        out: list[IkeMessage] = []
        for c in self._chans:
            out.extend(c.ike)
            c.ike.clear()
        return out

    def send_ike(self, message: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        """Send an IKE message to ``remote`` from ``local`` (our address the peer talks to) on the
        data plane's UDP/4500 socket (marker added)."""
        self._natt_send("send_ike", message, local[0], remote)

    def send_keepalive(self, local: tuple[str, int], remote: tuple[str, int]) -> None:
        """Send a NAT-keepalive (RFC 3948 §2.3) to ``remote`` from the same socket."""
        self._natt_send("keepalive", local[0], remote)

    def _natt_send(self, op: str, *args: Any) -> None:
        """Through worker 0; if it cannot (gone: killed, maybe at shutdown, or not answering),
        through a socket of our own — a DELETE must leave even then (issue 17, finding 5). The next
        poll replaces the worker. The send is posted (no round trip per IKE message): a worker that
        could not send (the host refused it) reports it and is alive — the message is lost like any
        datagram, and IKE retransmits; the failure is logged when the report arrives."""
        local, remote = args[-2], args[-1]
        try:
            if 0 in self._starting:  # the next poll finishes it; this message leaves from here
                raise WorkerGone("data-plane worker 0 is being replaced")
            self._chans[0].post(CALL_TIMEOUT, op, *args)
            return
        except ConfigError as e:
            log.warning("data-plane worker 0 could not send on UDP/%d (%s): sending from the daemon",
                        self._natt_port, e)
        data = args[0] if op == "send_ike" else b""
        payload = b"\0\0\0\0" + data if op == "send_ike" else b"\xff"
        v6 = ":" in remote[0]
        if v6 and not HAS_IPV6:
            return
        # bound to the NAT-T port with SO_REUSEPORT, so it is one of the port's receivers: kept open,
        # it would take its hash share of the peers' datagrams and never read them. Open only to send.
        sock = udp.natt_socket(self._natt_port, self._mark, v6=v6)
        try:
            udp.send_from(sock, payload, local if local and not ip_address(local).is_unspecified else None,
                          remote)
        except OSError as e:
            log.warning("IKE to %s:%d not sent: %s", remote[0], remote[1], e.strerror)
        finally:
            sock.close()

    def ike_spi(self, spi: bytes, present: bool) -> None:
        """Tell every worker's :mod:`.ikegate` that one of our IKE SPIs came or went: a notice, never
        waited for; a worker whose channel did not take it gets the whole set at the next poll."""
        if present:
            self._ike_spis.add(spi)
        else:
            self._ike_spis.discard(spi)
        for i, chan in enumerate(self._chans):
            if i in self._starting:
                continue
            try:
                chan.post(0.0, "ike_spi", spi, present)
            except ConfigError:  # its channel is full (or it died: the next poll replaces it)
                self._resync.add(i)

    def _spi_chunks(self) -> list[tuple[bytes, bool]]:
        """The whole SPI set as channel-sized pieces (8 bytes each, concatenated); the first says
        the set starts anew."""
        spis = b"".join(self._ike_spis)
        step = 8 * SPI_CHUNK
        return [(spis[k : k + step], k == 0) for k in range(0, max(len(spis), 1), step)]

    def _sync_spis(self) -> None:
        for i in list(self._resync):
            if i in self._starting:
                continue
            try:
                for blob, first in self._spi_chunks():
                    self._chans[i].post(0.0, "ike_spis", blob, first)
            except ConfigError:
                continue
            self._resync.discard(i)

    def _drain(self) -> None:
        for i, c in enumerate(self._chans):
            c.drain()
            if c.events:
                self._events.extend(c.events)
                c.events.clear()
            for op, error in c.failures:
                if op in ("send_ike", "keepalive"):
                    log.warning("data-plane worker %d: %s", i, error)
                else:
                    log.error("data-plane worker %d could not %s: %s", i, op.replace("_", " "), error)
            c.failures.clear()

    # --- shutdown ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the workers (killing those that do not stop), remove routes and the device."""
        self._closing = True
        for c in self._chans:
            try:
                c.request(1.0, "stop")
            except ConfigError:
                pass
        for p in self._procs:
            p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join(2.0)
        for c in self._chans:
            c.close()
        self._procs, self._chans = [], []
        self._poll.close()
        if self._routing is not None:
            self._routing.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._seqmap.close()
