"""The packet loop of the TUN data plane: one process per worker, outside asyncio (DESIGN.md §5).

**Ownership** (the contract with the daemon and between workers):

- The data plane owns **UDP 4500**: workers bind it (``SO_REUSEPORT``, one socket each) and every
  datagram that starts with the non-ESP marker is an IKE message handed to the daemon — each segment
  of a GRO batch is classified on its own, so an IKE message coalesced behind ESP segments is never
  decrypted as ESP nor lost. NAT-keepalives are dropped. The daemon sends IKE on 4500 through the
  backend, which asks worker 0 to send it from the same socket. The daemon owns **UDP 500**.
- Each SA is owned by exactly one worker (:func:`~ipsecd.dataplane.processor.owner_of`, by SPI):
  only that worker's :class:`~ipsecd.dataplane.processor.Processor` holds the SA's transform, so only
  it draws the SA's sequence numbers and counter-based IVs and holds its replay window. A packet read
  by another worker (the multi-queue TUN and ``SO_REUSEPORT`` spread flows, not SAs) is handed to the
  owner over a Unix datagram socket — traffic is steered by SA.
- Raw ESP/AH sockets see every packet of their protocol, so only worker 0 opens them (and hands off).

The daemon feeds SAs and policies over the worker's :mod:`.channel` (requests with ids, matched
replies); events (acquires, expiries) and IKE datagrams go up the same channel as they happen. The
worker never blocks on it: what the daemon does not read in time waits in bounded queues, then is
dropped and counted (issue 17, finding 3).

Hostile input (issue 17, finding 1): every UDP/4500 datagram is classified before anything indexes
it — empty, 1–7 bytes that are neither a keepalive nor an ESP header, a marker with less than an IKE
header or whose IKE length field disagrees with the datagram: dropped, counted as
``in-header-errors`` (the manual's "header error"), logged rate-limited (:mod:`.droplog`); a
keepalive is dropped silently; ESP goes to the processor, which counts unknown SPIs as
``in-no-states`` and short or forged packets in their own counters — none of it reaches the daemon.
A well-formed IKE message goes up only if :mod:`.ikegate` lets it (SPIs of ours, new exchanges and
a trickle of unknown ones, each source rate-limited): a flood of IKE for SPIs nobody knows is
dropped here at the cost of a header look-up (issue 17, "fairness under a flood").

Supervision (issue 17, findings 2 and 5): the worker ignores SIGTERM and SIGINT — a signal to the
whole process group (systemd's ``KillMode=control-group``) must leave it running until the daemon has
sent its DELETEs and stops it. Sequence numbers of outbound SAs are reserved in blocks in a page
shared with the daemon before use (:mod:`.seqmap`), and inbound replay edges are copied there once
a second, so a replacement worker never repeats a nonce.

Batching: the TUN queue is drained in a loop of non-blocking reads and ESP-in-UDP payloads leave in
GSO runs (:class:`~ipsecd.dataplane.userspace.udp.GsoSender`) flushed when the queue is empty;
received GRO batches are split and each segment opened on its own.
"""

from __future__ import annotations

import heapq
import logging
import os
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ipsecd.dataplane.ah import AhSa
from ipsecd.dataplane.errors import ConfigError
from ipsecd.dataplane.esp import EspSa
from ipsecd.dataplane.processor import HANDOFF, PASS, PROTECT, Engine, Processor, owner_of
from ipsecd.dataplane.userspace import offload, tun, udp
from ipsecd.dataplane.userspace.channel import POSTED, WorkerEnd
from ipsecd.dataplane.userspace.droplog import DropLog
from ipsecd.dataplane.userspace.ikegate import (
    NEW_PER_SECOND,
    PER_SA,
    PER_SOURCE,
    UNKNOWN_PER_SECOND,
    IkeGate,
    Verdict,
)
from ipsecd.dataplane.userspace.seqmap import BLOCK, SeqMap
from ipsecd.policy.errors import SadError, SpdError
from ipsecd.policy.events import Acquire, SadEvent
from ipsecd.policy.sad import SaLife
from ipsecd.policy.types import Direction, SaSpec
from ipsecd.wire import natt

#: Packets one readiness event may process before the loop looks at its other sockets again.
BURST = 256
_HANDOFF_OUT, _HANDOFF_UDP, _HANDOFF_RAW, _HANDOFF_AH, _HANDOFF_MOVE = b"O", b"U", b"R", b"A", b"E"
#: IPv6 is available (a kernel booted with ``ipv6.disable=1`` has no AF_INET6 sockets).
# a handed-off ESP-in-UDP datagram's sender: port, address length (then the address)
_SRC = struct.Struct("!HB")
_MOVE = struct.Struct("!IH")  # an endpoint move: outbound SPI, port (then the address)
HAS_IPV6 = os.path.exists("/proc/net/if_inet6")
#: The IKE header (RFC 7296 §3.1): 28 bytes, its Length field (offset 24) the whole message's.
_IKE_HEADER = 28
_U32 = struct.Struct("!I")
Dest = tuple[Callable[[bytes, tuple[str, int]], None] | None, socket.socket | None, tuple[str, int]]


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    tun: str
    index: int
    workers: int
    natt_port: int
    mark: int
    tag: str  # unique per backend instance: names the handoff sockets
    mtu: int = 1400  # TUN MTU: reads never return more (no TSO offload is enabled)
    raw: bool = True  # worker 0 opens raw ESP/AH sockets
    # what IKE from UDP/4500 goes up to the daemon, per second (see .ikegate)
    ike_per_source: int = PER_SOURCE
    ike_new: int = NEW_PER_SECOND
    ike_unknown: int = UNKNOWN_PER_SECOND
    ike_per_sa: int = PER_SA


def handoff_address(tag: str, index: int) -> str:
    return f"\0ipsecd-{tag}-{index}"


class Worker:
    """One packet worker: its TUN queue, sockets and :class:`Processor` (see the module docstring)."""

    def __init__(self, cfg: WorkerConfig, chan: WorkerEnd, seqmap: SeqMap) -> None:
        self.cfg = cfg
        self.chan = chan
        self.seqmap = seqmap
        self.drops = DropLog()
        self.keepalives = 0
        self.gate = IkeGate(cfg.ike_per_source, cfg.ike_new, cfg.ike_unknown, per_sa=cfg.ike_per_sa)
        self._out_slots: dict[int, int] = {}  # outbound SPI I own -> its seqmap slot
        self._in_slots: dict[int, int] = {}  # inbound SPI I own -> its seqmap slot
        self.proc = Processor(full_packets=False, index=cfg.index, workers=cfg.workers)
        self.tun = tun.open_queue(cfg.tun, multi_queue=True)
        v6 = HAS_IPV6
        self.udp = udp.natt_socket(cfg.natt_port, cfg.mark)
        self.udp6 = udp.natt_socket(cfg.natt_port, cfg.mark, v6=True) if v6 else None
        self.gso = udp.GsoSender(self.udp)
        self.gso6 = udp.GsoSender(self.udp6) if self.udp6 is not None else None
        self.esp: socket.socket | None = None
        self.ah: socket.socket | None = None
        self.esp6: socket.socket | None = None
        self.ah6: socket.socket | None = None
        if cfg.raw and cfg.index == 0:
            self.esp = udp.raw_socket(50, cfg.mark)
            self.ah = udp.raw_socket(51, cfg.mark)
            if v6:
                self.esp6 = udp.raw_socket(50, cfg.mark, v6=True)
                self.ah6 = udp.raw_socket(51, cfg.mark, v6=True)
        self.plain = udp.hdrincl_socket(cfg.mark)
        self.plain6 = udp.hdrincl_socket(cfg.mark, v6=True) if v6 else None
        self.hand = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.hand.bind(handoff_address(cfg.tag, cfg.index))
        self.hand.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.hand.setblocking(False)
        # id(engine) -> (GSO add of the UDP socket, or None for whole packets; the raw socket; address)
        self._dest: dict[int, Dest] = {}
        # (clock value, SPI, direction) of each SA's next time lifetime: the once-a-second tick
        # looks at the SAs that are due, not at every SA (issue 16: no work per second × SAs)
        self._deadlines: list[tuple[float, int, str]] = []
        self._egen = 0  # the processor's endpoint generation the _dest cache was built for
        self._rx: list[bytes] = []  # decrypted packets of the current batch, for the TUN
        self.running = True

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> None:
        ep = select.epoll()
        chan = self.chan.fileno()
        handlers: dict[int, Callable[[], None]] = {
            self.tun: self._tun_in, self.udp.fileno(): partial(self._udp_in, self.udp),
            self.hand.fileno(): self._handoff_in, chan: self._ctrl_in}
        if self.udp6 is not None:
            handlers[self.udp6.fileno()] = partial(self._udp_in, self.udp6)
        for esp, with_header in ((self.esp, True), (self.esp6, False)):
            if esp is not None:
                handlers[esp.fileno()] = partial(self._esp_in, esp, with_header)
        for sock, handler in ((self.ah, self._ah_in), (self.ah6, self._ah6_in)):
            if sock is not None:
                handlers[sock.fileno()] = handler
        for fd in handlers:
            ep.register(fd, select.EPOLLIN)
        next_expire = 0.0
        writing = False  # the channel is registered for EPOLLOUT (messages wait)
        try:
            while self.running:
                for fd, mask in ep.poll(1.0):
                    if fd == chan and mask & select.EPOLLOUT:
                        self.chan.flush()
                    if mask & ~select.EPOLLOUT:
                        handlers[fd]()
                now = time.monotonic()
                if now >= next_expire:
                    self._tick(now)
                    next_expire = now + 1.0
                self._push_events()
                if self.chan.pending != writing:
                    writing = not writing
                    ep.modify(chan, select.EPOLLIN | (select.EPOLLOUT if writing else 0))
        finally:
            ep.close()
            self.close()

    def _tick(self, now: float) -> None:
        """Once a second: lifetimes of the SAs that are due, drop summaries, inbound replay edges and
        every counter to the shared page (what survives this process, see :mod:`.seqmap`)."""
        self._expire_due(now)
        self.drops.tick(now)
        self.gate.tick()
        find, seqmap = self.proc.sad.find, self.seqmap
        for spi, slot in self._in_slots.items():
            rec = find(spi, Direction.IN)
            engine = rec.counters if rec is not None else None
            if isinstance(engine, EspSa | AhSa):
                if engine.replay is not None:
                    seqmap.set(slot, engine.replay.top)
                seqmap.set_counters(slot, engine.bytes, engine.packets, engine.invalid_packets)
        for spi in self._out_slots:
            self._save_counters(spi, Direction.OUT)
        self._save_stats()

    def _expire_due(self, now: float) -> None:
        """Lifetimes: only the SAs whose deadline has come are checked (not every SA each second)."""
        deadlines, check = self._deadlines, self.proc.check_sa
        while deadlines and deadlines[0][0] <= now:
            _due, spi, direction = heapq.heappop(deadlines)
            rec = check(spi, Direction(direction), now)
            if rec is not None and rec.state is SaLife.DYING:  # soft reached: the hard one is next
                self._deadline(rec.spec, rec.add_time, mature=False)

    def _save_counters(self, spi: int, direction: Direction) -> None:
        """The counters of an SA this worker owns, to its slot on the shared page."""
        slot = (self._in_slots if direction is Direction.IN else self._out_slots).get(spi)
        rec = self.proc.sad.find(spi, direction) if slot is not None else None
        engine = rec.counters if rec is not None else None
        if slot is not None and isinstance(engine, EspSa | AhSa):
            self.seqmap.set_counters(slot, engine.bytes, engine.packets, engine.invalid_packets)

    def _save_stats(self) -> None:
        stats = self.proc.stats
        self.seqmap.set_stats(self.cfg.index, [getattr(stats, name) for name in stats.__slots__])

    def close(self) -> None:
        for s in (self.udp, self.udp6, self.esp, self.ah, self.esp6, self.ah6, self.plain, self.plain6,
                  self.hand):
            if s is not None:
                s.close()
        os.close(self.tun)
        self.seqmap.close()

    def _push_events(self) -> None:
        evs: list[SadEvent] = self.proc.poll_events()
        for ev in evs:
            if isinstance(ev, Acquire) or owner_of(ev.spi, self.cfg.workers) == self.cfg.index:
                self.chan.event(ev)
        for move in self.proc.poll_endpoint_changes():
            self.chan.event(move)
            if move.out_spi is not None:  # every worker's processor sends the pair to the new endpoint
                host, port = move.new
                msg = _HANDOFF_MOVE + _MOVE.pack(move.out_spi, port) + host.encode()
                for i in range(self.cfg.workers):
                    if i != self.cfg.index:
                        self._handoff(i, msg)

    # --- outbound: TUN → ESP -------------------------------------------------------------------------

    def _tun_in(self) -> None:
        read, fd, outbound, size = os.read, self.tun, self.proc.outbound, self.cfg.mtu + offload.VNET_HDR_LEN
        proc, dests = self.proc, self._dest
        if proc.endpoint_gen != self._egen:
            self._moved()
        now = time.monotonic()
        for _ in range(BURST):
            try:
                pkt = read(fd, size)[offload.VNET_HDR_LEN :]  # MTU-sized: a 64 KB read buffer costs ~1 µs
            except BlockingIOError:
                break
            verdict, idx, data = outbound(pkt, now)
            if verdict == PROTECT:  # the hot case, inline
                engine = proc.last
                assert engine is not None
                dest = dests.get(id(engine)) or self._destination(engine)
                if dest[0] is not None:
                    dest[0](data, dest[2])
                else:
                    self._send(dest[1], data, dest[2])
            elif verdict:
                self._emit(verdict, idx, data, pkt)
        self._flush_tx()
        self._flush_rx()

    def _flush_tx(self) -> None:
        self.gso.flush()
        if self.gso6 is not None:
            self.gso6.flush()

    def _emit(self, verdict: int, idx: int, data: bytes, pkt: bytes) -> None:
        if verdict == PROTECT:
            engine = self.proc.last
            assert engine is not None
            dest = self._dest.get(id(engine)) or self._destination(engine)
            if dest[0] is not None:
                dest[0](data, dest[2])
            else:
                self._send(dest[1], data, dest[2])  # raw ESP and AH: whole packets (header included)
        elif verdict == PASS:
            if data[0] >> 4 == 6:
                self._send(self.plain6, data, (socket.inet_ntop(socket.AF_INET6, data[24:40]), 0))
            else:
                self._send(self.plain, data, (socket.inet_ntop(socket.AF_INET, data[16:20]), 0))
        elif verdict == HANDOFF:
            self._handoff(idx, _HANDOFF_OUT + pkt)

    def _destination(self, engine: Engine) -> Dest:
        """Where the SA's packets go: its UDP socket's GSO batcher (ESP-in-UDP, payloads) or the
        header-included raw socket (raw ESP, AH: whole packets), of the SA's address family."""
        spec = engine.spec
        v6 = spec.dst.version == 6
        if len(self._dest) > 65536:
            self._dest.clear()
        dest: Dest
        if spec.encap is not None:
            gso = self.gso6 if v6 else self.gso
            dest = (gso.add if gso is not None else None, None, self.proc.destination(spec))
        else:
            dest = (None, self.plain6 if v6 else self.plain, (str(spec.dst), 0))
        self._dest[id(engine)] = dest
        return dest

    def _moved(self) -> None:
        """A peer's endpoint moved (NAT rebinding): destinations are looked up again."""
        self._dest.clear()
        self._egen = self.proc.endpoint_gen

    @staticmethod
    def _send(sock: socket.socket | None, data: bytes, addr: tuple[str, int]) -> None:
        if sock is None:
            return
        try:
            sock.sendto(data, addr)
        except OSError:
            pass  # a full queue or unreachable peer drops the packet, as a NIC would

    def _handoff(self, idx: int, msg: bytes) -> None:
        try:
            self.hand.sendto(msg, handoff_address(self.cfg.tag, idx))
        except OSError:
            pass

    # --- inbound: sockets → TUN ----------------------------------------------------------------------

    def _deliver(self, verdict: int, idx: int, data: bytes, handoff: bytes) -> None:
        if verdict == PROTECT:
            self._rx.append(data)
        elif verdict == HANDOFF:
            self._handoff(idx, handoff + data)

    def _flush_rx(self) -> None:
        """Write the batch's decrypted packets to the TUN, consecutive TCP segments coalesced."""
        if not self._rx:
            return
        if self.proc.moves_pending:  # a NAT rebinding: the other workers learn it before the replies exist
            self._push_events()
        write, fd = os.write, self.tun
        for w in offload.coalesce(self._rx):
            try:
                write(fd, w)
            except OSError:
                pass  # TUN queue full or device going away: dropped, as a NIC would
        self._rx.clear()

    def _udp_in(self, sock: socket.socket) -> None:
        inbound, rx, piece_in = self.proc.inbound_esp, self._rx, self._udp_piece
        for _ in range(BURST):
            got = udp.recv_gro(sock)
            if got is None:
                break
            data, seg, addr, local = got
            now = time.monotonic()
            n = len(data)
            if 0 < seg < n:  # a GRO batch: every segment on its own
                for off in range(0, n, seg):
                    piece_in(data[off : off + seg], addr, local, now)
            elif n >= 8 and data[0]:  # a non-zero first byte and 8+ bytes can only be ESP (RFC 3948 §2.2)
                verdict, idx, inner = inbound(data, True, now, addr)
                if verdict == PROTECT:
                    rx.append(inner)
                elif verdict == HANDOFF:
                    self._handoff_udp(idx, addr, data)
            else:
                piece_in(data, addr, local, now)
        self._flush_tx()
        self._flush_rx()

    def _udp_piece(self, piece: bytes, addr: tuple[str, int], local: bytes, now: float) -> None:
        """One UDP/4500 datagram (or GRO segment), whatever its length and content."""
        kind = natt.Kind.ESP if len(piece) >= 8 and piece[0] else natt.classify(piece)
        if kind is natt.Kind.ESP:
            verdict, idx, inner = self.proc.inbound_esp(piece, True, now, addr)
            if verdict == PROTECT:
                self._rx.append(inner)
            elif verdict == HANDOFF:
                self._handoff_udp(idx, addr, piece)
        elif kind is natt.Kind.IKE:
            n = len(piece) - 4
            if n < _IKE_HEADER or _U32.unpack_from(piece, 4 + 24)[0] != n:
                self._malformed("IKE messages on UDP/4500 shorter than their header or length", addr, now)
            else:
                msg = piece[4:]
                verdict = self.gate.verdict(msg, addr[0])
                if verdict is Verdict.PASS:
                    host = socket.inet_ntop(socket.AF_INET6 if len(local) == 16 else socket.AF_INET, local) \
                        if local else ("::" if ":" in addr[0] else "0.0.0.0")
                    self.chan.ike(msg, (addr[0], addr[1]), host)  # IPv6 senders come as 4-tuples
                elif verdict is Verdict.UNKNOWN:
                    self.drops.drop("IKE messages on UDP/4500 for SPIs that are not ours", addr[0], now)
                else:
                    self.drops.drop("IKE messages on UDP/4500 beyond the rate limit", addr[0], now)
        elif kind is natt.Kind.KEEPALIVE:
            self.keepalives += 1  # RFC 3948 §2.3: only keeps the NAT mapping, nothing to do
        else:
            self._malformed("UDP/4500 datagrams that are neither ESP, IKE nor keepalive", addr, now)

    def _malformed(self, reason: str, addr: tuple[str, int], now: float) -> None:
        self.proc.stats.in_header_errors += 1
        self.drops.drop(reason, addr[0], now)

    def _handoff_udp(self, idx: int, addr: tuple[str, int], esp: bytes) -> None:
        """ESP of an SA another worker owns, with its sender: the owner checks for NAT rebinding."""
        host = addr[0].encode()
        self._handoff(idx, _HANDOFF_UDP + _SRC.pack(addr[1], len(host)) + host + esp)

    def _esp_in(self, sock: socket.socket, with_header: bool) -> None:
        """Raw ESP: an IPv4 raw socket hands over the whole packet (its header is skipped), an IPv6 one
        the ESP packet alone."""
        now = time.monotonic()
        for _ in range(BURST):
            try:
                pkt = sock.recv(65535)
            except BlockingIOError:
                break
            ihl = (pkt[0] & 0x0F) * 4 if with_header and pkt else 0
            self._deliver(*self.proc.inbound_esp(pkt[ihl:] if ihl else pkt, False, now), _HANDOFF_RAW)
        self._flush_rx()

    def _ah_in(self) -> None:
        assert self.ah is not None
        now = time.monotonic()
        for _ in range(BURST):
            try:
                pkt = self.ah.recv(65535)
            except BlockingIOError:
                break
            self._ah_packet(pkt, now)
        self._flush_rx()

    def _ah6_in(self) -> None:
        """AH over IPv6: the IPv6 header its ICV covers is rebuilt from the socket's addresses."""
        assert self.ah6 is not None
        now = time.monotonic()
        for _ in range(BURST):
            pkt = udp.recv_raw6(self.ah6, 51)
            if pkt is None:
                break
            self._ah_packet(pkt, now)
        self._flush_rx()

    def _ah_packet(self, pkt: bytes, now: float) -> None:
        verdict, idx, data = self.proc.inbound(pkt, now)
        if verdict == HANDOFF:
            self._handoff(idx, _HANDOFF_AH + pkt)
        else:
            self._deliver(verdict, idx, data, b"")

    def _handoff_in(self) -> None:
        now = time.monotonic()
        if self.proc.endpoint_gen != self._egen:
            self._moved()
        for _ in range(BURST):
            try:
                msg = self.hand.recv(70000)
            except BlockingIOError:
                break
            kind, body = msg[:1], msg[1:]
            if kind == _HANDOFF_OUT:
                verdict, idx, data = self.proc.outbound(body, now)
                if verdict != HANDOFF:  # never bounce: an SA has exactly one owner
                    self._emit(verdict, idx, data, body)
            elif kind == _HANDOFF_AH:
                verdict, idx, data = self.proc.inbound(body, now)
                if verdict != HANDOFF:
                    self._deliver(verdict, idx, data, b"")
            elif kind == _HANDOFF_UDP:
                port, n = _SRC.unpack_from(body)
                start = _SRC.size + n
                verdict, idx, data = self.proc.inbound_esp(body[start:], True, now,
                                                           (body[_SRC.size : start].decode(), port))
                if verdict != HANDOFF:
                    self._deliver(verdict, idx, data, b"")
            elif kind == _HANDOFF_MOVE:
                out_spi, port = _MOVE.unpack_from(body)
                self.proc.set_endpoint(out_spi, (body[_MOVE.size :].decode(), port))
                self._moved()
            else:
                verdict, idx, data = self.proc.inbound_esp(body, False, now)
                if verdict != HANDOFF:
                    self._deliver(verdict, idx, data, b"")
        self._flush_tx()
        self._flush_rx()

    # --- control -------------------------------------------------------------------------------------

    def _ctrl_in(self) -> None:
        requests = self.chan.requests()
        if requests is None:  # the daemon's end closed: it is gone
            self.running = False
            return
        for rid, op, args in requests:
            try:
                result = self._op(op, args)
            except (ConfigError, SadError, SpdError, ValueError, OSError) as e:
                if rid == POSTED:
                    self.chan.failed(op, f"{type(e).__name__}: {e}")
                else:
                    self.chan.reply(rid, "error", f"{type(e).__name__}: {e}")
            else:
                if rid != POSTED:
                    self.chan.reply(rid, "ok", result)

    def _op(self, op: str, args: tuple[Any, ...]) -> object:
        p = self.proc
        if op == "add_sa":
            self._add_sa(*args)
        elif op == "update_sa":
            p.update_sa(args[0])
            rec = p.sad.find(args[0].spi, args[0].direction)
            if rec is not None:
                self._deadline(rec.spec, rec.add_time, mature=rec.state is SaLife.MATURE)
        elif op == "del_sa":
            self._forget(*args)
            p.del_sa(*args)
            (self._in_slots if args[1] is Direction.IN else self._out_slots).pop(args[0], None)
        elif op == "query_sa":  # what the daemon reports is on the page first: it never goes back
            self._save_counters(*args)
            return p.query_sa(*args)
        elif op == "add_policy":
            p.add_policy(args[0])
        elif op == "del_policy":
            p.del_policy(args[0])
        elif op == "flush":
            p.flush()
            self._in_slots.clear()
            self._out_slots.clear()
            self._dest.clear()
            self._deadlines.clear()
        elif op == "stats":
            self._save_stats()
            return p.stats.as_dict()
        elif op == "counters":
            return {"keepalives": self.keepalives, "ike-queue-drops": self.chan.dropped_ike,
                    "event-queue-drops": self.chan.dropped_events,
                    "ike-unknown-spi-drops": self.gate.unknown_drops, "ike-rate-drops": self.gate.rate_drops}
        elif op == "ike_spi":
            self.gate.update(*args)
        elif op == "ike_spis":  # the whole set, in pieces: (8-byte SPIs concatenated, whether it starts anew)
            blob, first = args
            if first:
                self.gate.spis = set()
            self.gate.spis.update(blob[k : k + 8] for k in range(0, len(blob), 8))
        elif op == "send_ike":
            message, local, remote = args
            self._natt_send(natt.add_marker(message), local, remote)
        elif op == "keepalive":
            self._natt_send(natt.KEEPALIVE, *args)
        elif op == "stop":
            self.running = False
        else:
            raise ValueError(f"unknown worker operation {op!r}")
        return None

    def _natt_send(self, data: bytes, local: str | None, remote: tuple[str, int]) -> None:
        """Send on our UDP/4500 socket; the error names the peer (the request was posted: the
        daemon logs it when the report arrives)."""
        sock = self.udp6 if ":" in remote[0] else self.udp
        if sock is None:
            raise OSError(f"no IPv6 NAT-T socket to send to {remote[0]}")
        try:
            udp.send_from(sock, data, local, remote)
        except OSError as e:
            raise OSError(f"IKE to {remote[0]}:{remote[1]} not sent: {e.strerror or e}") from None

    def _add_sa(self, spec: Any, slot: int, start: int, restore: bool = False) -> None:
        """Install an SA; the one this worker owns continues from ``start`` (0 for a new SA, the
        shared page's mark when a dead worker's SA is re-installed, see :mod:`.seqmap`), and with
        ``restore`` from the dead worker's counters on that page."""
        self._forget(spec.spi, spec.direction)  # replaced: its engine goes
        rec = self.proc.add_sa(spec, time.monotonic(), time.time())
        self._dest.pop(id(rec.counters), None)  # a freed engine's id may be reused
        self._deadline(spec, rec.add_time, mature=True)
        engine = rec.counters
        if not isinstance(engine, EspSa | AhSa):
            return  # another worker owns it
        if restore:
            engine.bytes, engine.packets, engine.invalid_packets = self.seqmap.counters(slot)
        if spec.direction is Direction.OUT:
            self._out_slots[spec.spi] = slot
            engine.seq = engine.seq_limit = start  # the first packet reserves a block above it
            engine.reserve = self._reserve
        else:
            self._in_slots[spec.spi] = slot
            replay = engine.replay
            if replay is not None and start:
                replay.top = start  # everything at or below the dead worker's edge counts as seen
                replay.bitmap = (1 << replay.size) - 1

    def _forget(self, spi: int, direction: Direction) -> None:
        """The SA's engine is going: its cached destination goes with it (only its own entry: an
        install or removal costs the same at 10,000 SAs as at one)."""
        rec = self.proc.sad.find(spi, direction)
        if rec is not None:
            self._dest.pop(id(rec.counters), None)

    def _deadline(self, spec: SaSpec, added: float, *, mature: bool) -> None:
        """Queue the SA's next time lifetime: the soft one while it is mature, else the hard one (none
        set: nothing queued). An entry whose SA changed or went is checked when due, to no effect."""
        life = spec.lifetime
        seconds = life.soft_seconds if mature and life.soft_seconds else life.hard_seconds
        if seconds:
            heapq.heappush(self._deadlines, (added + seconds, spec.spi, spec.direction.value))

    def _reserve(self, spi: int, seq: int) -> int:
        """seqlimit's callback: sequence numbers up to the returned limit are on the shared page."""
        limit = seq + BLOCK - 1
        self.seqmap.set(self._out_slots[spi], limit)
        return limit


def worker_main(cfg: WorkerConfig, sock: socket.socket) -> None:
    """Process entry point: ignore the group's signals, receive the shared sequence page, set up,
    report readiness (or the error) on the channel, run until stopped."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the daemon stops us after its DELETEs
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s %(name)s[{cfg.index}]: %(message)s",
        datefmt="%H:%M:%S",
    )
    _msg, fds, _flags, _addr = socket.recv_fds(sock, 16, 1)  # blocking until the daemon sends it
    chan = WorkerEnd(sock)
    seqmap = SeqMap(fds[0])
    try:
        w = Worker(cfg, chan, seqmap)
    except (OSError, tun.TunError) as e:
        chan.reply(0, "error", f"worker {cfg.index}: {e}")
        return
    chan.reply(0, "ok", os.getpid())
    w.run()
