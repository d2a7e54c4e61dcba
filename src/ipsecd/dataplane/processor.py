"""The sans-I/O packet engine: SPD + SAD + ESP/AH per packet, counters and events (RFC 4301 §5).

:class:`Processor` is what every userspace backend runs in its packet loop; it does no I/O and reads
no clock (``now`` comes in with each call).

- **Outbound** (RFC 4301 §5.1): an inner IP packet (from the TUN device or a test) → its 5-tuple →
  locally originated UDP from port 500/4500 bypasses the SPD (the manual; RFC 3948) → SPD first match
  (a :class:`~ipsecd.policy.spd.FlowCache` in front of the classifier) → ``none``/no policy passes in
  clear, ``discard`` drops (``out-policy-blocked``), ``encrypt`` takes the policy's outbound SA from
  the SAD and seals. No SA: ``out-no-states`` and, for level require/unique, an
  :class:`~ipsecd.policy.events.Acquire` — at most one per policy every :data:`ACQUIRE_RETRY`
  seconds until an SA for it is installed, as Linux keeps one larval acquire state per policy and
  acquires again once it expires (``net.core.xfrm_acq_expires``, 30 s): a lost Acquire or a failed
  negotiation is retried while traffic keeps hitting the policy, never flooded per packet; level
  use passes the packet in clear.
- **Inbound** (RFC 4301 §5.2): ESP/AH (raw, or ESP in UDP/4500 with RFC 3948's marker rules) → SA by
  SPI and protocol → ``open`` (replay check, ICV, window commit happen in the SA object) → the
  decapsulated packet must match, on the reversed selector, the very policy the SA was negotiated
  for (``in-no-policies``, ``in-template-mismatches``, ``in-policy-blocked``). Transport mode in UDP
  (NAT-T) gets its TCP/UDP checksum fixed for the addresses the receiver sees (RFC 3948 §3.1.2,
  :func:`~ipsecd.wire.ip.fix_transport_checksum`). A plain packet that reaches the processor passes
  unless a policy discards it or requires IPsec; UDP to 500/4500 bypasses.
- **Counters**: every :class:`~ipsecd.dataplane.errors.DataplaneError` an SA raises is counted by its
  own class; the causes found here before any SA is involved (header errors, no state, wrong
  encapsulation) and the SPD-side ones (policy blocked, no policy, template mismatch) are counted
  here by a plain increment of their slot — one path per cause for both inbound entry points, no
  exception object built for a packet that is simply dropped (an unknown-SPI flood stays cheap).
  **Lifetimes**: the SA's byte count is compared with :attr:`SaRecord.byte_limit` per packet and
  :meth:`Processor.expire` applies time limits; expiries become events.
- **NAT rebinding** (RFC 3948 §3.3, RFC 7296 §2.23): an ESP-in-UDP packet that *authenticated* on an
  inbound SA (ICV verified, replay window committed — never an unverified one) and is the newest the SA
  has seen, arriving from another address/port than the SA's peer endpoint, moves the endpoint: the
  outbound SA of the same policy is sent there from then on (:attr:`Processor.redirect`; whole
  packets get their outer header rebuilt, the TUN worker looks the address up), and an
  :class:`~ipsecd.policy.events.EndpointChanged` is reported (:meth:`Processor.poll_endpoint_changes`,
  which the backends merge into ``poll_events``) so the daemon knows. A delayed older packet from the old
  address never moves it back.
- **Ownership of SAs by workers** (DESIGN.md §5): with ``workers > 1`` every processor holds the whole
  SPD and SAD but builds the transform object (sequence counter, IV source, replay window) only for the
  SAs it owns (:func:`owner_of`); a packet for another worker's SA comes back as :data:`HANDOFF` with
  that worker's index, so a sequence number — hence a GCM/CTR/ChaCha nonce — is drawn by one object only.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_address

from ipsecd.dataplane.ah import AhSa
from ipsecd.dataplane.errors import DataplaneError
from ipsecd.dataplane.esp import EspSa
from ipsecd.dataplane.stats import Statistics
from ipsecd.policy.events import Acquire, EndpointChanged, SadEvent
from ipsecd.policy.sad import Counters, Sad, SaLife, SaRecord
from ipsecd.policy.spd import NATT_PORT, FlowCache, InboundVerdict, Spd, bypass_in, bypass_out
from ipsecd.policy.types import (
    Action,
    Direction,
    Endpoint,
    IpsecProto,
    Level,
    PolicySpec,
    SaSpec,
    SaState,
    Selector,
)
from ipsecd.wire import ip as wip
from ipsecd.wire import natt

Engine = EspSa | AhSa

#: Verdicts (first element of every result tuple).
DROP = 0  #: dropped and counted (or a dummy/keepalive): nothing to send
PASS = 1  #: send/deliver the packet unchanged (bypass, no policy, ``none``, level use without SA)
PROTECT = 2  #: outbound: the sealed packet; inbound: the decapsulated packet, policy-checked
HANDOFF = 3  #: the SA belongs to another worker (its index is the second element)
IKE = 4  #: inbound UDP/4500 datagram with the non-ESP marker: the IKE message for the daemon

_TCP, _UDP, _ESP, _AH = wip.PROTO_TCP, wip.PROTO_UDP, wip.PROTO_ESP, wip.PROTO_AH
_PORTED = frozenset({wip.PROTO_TCP, wip.PROTO_UDP, 132, 136})
_ICMPS = frozenset({wip.PROTO_ICMP, wip.PROTO_ICMPV6})
_ENCRYPT, _DISCARD, _USE = Action.ENCRYPT, Action.DISCARD, Level.USE
_FROM = int.from_bytes
#: Seconds before a policy that still has no SA and still drops traffic acquires again (Linux's
#: default ``xfrm_acq_expires``).
ACQUIRE_RETRY = 30.0

Result = tuple[int, int, bytes]
"""(verdict, worker index for :data:`HANDOFF` else 0, packet bytes)."""


def owner_of(spi: int, workers: int) -> int:
    """The worker that owns an SA: a pure function of the SPI, so every worker and the backend agree."""
    return spi % workers if workers > 1 else 0


def flow(pkt: bytes) -> tuple[int, int, int, int, int, int]:
    """(version, src, dst, proto, sport, dport) of an IP packet — the SPD's view (RFC 4301 §4.4.1.1).

    IPv4 without options or fragmentation is parsed inline (the hot case); anything else goes through
    :func:`ipsecd.wire.ip.flow_of`. Raises :class:`~ipsecd.wire.ip.IpHeaderError` if malformed."""
    if len(pkt) >= 20 and pkt[0] == 0x45 and not ((pkt[6] & 0x3F) | pkt[7]):
        proto = pkt[9]
        src, dst = _FROM(pkt[12:16], "big"), _FROM(pkt[16:20], "big")
        if proto in _PORTED and len(pkt) >= 24:
            return 4, src, dst, proto, (pkt[20] << 8) | pkt[21], (pkt[22] << 8) | pkt[23]
        if proto == 1 and len(pkt) >= 22:
            return 4, src, dst, proto, pkt[20], pkt[21]
        return 4, src, dst, proto, 0, 0
    f = wip.flow_of(pkt)
    return f.version, f.src, f.dst, f.proto, f.sport, f.dport


def _selector(version: int, src: int, dst: int, proto: int, sport: int, dport: int) -> Selector:
    f = wip.Flow(version, src, dst, proto, sport, dport)
    s, d = f.host_networks()
    return Selector(s, d, proto, sport, dport)


class Processor:
    """SPD, SAD, transforms and counters of one packet worker.

    ``full_packets`` chooses what outbound ESP-in-UDP yields: whole outer packets (IP ‖ UDP ‖ ESP —
    the memory backend) or ESP payloads for the TUN backend's UDP socket to send. Raw ESP and AH are
    always whole packets (sent with IP_HDRINCL; AH's ICV covers the IP header). Inbound,
    :meth:`inbound` takes whole packets and :meth:`inbound_esp` socket payloads.
    """

    __slots__ = (
        "_acquired",
        "_cache",
        "_events",
        "_fast_gen",
        "_fast_in",
        "_fast_out",
        "_moves",
        "_peer",
        "acquire_retry",
        "endpoint_gen",
        "full_packets",
        "index",
        "last",
        "redirect",
        "sad",
        "spd",
        "stats",
        "workers",
    )

    def __init__(self, *, full_packets: bool = True, index: int = 0, workers: int = 1,
                 randbits: Callable[[int], int] | None = None, acquire_retry: float = ACQUIRE_RETRY) -> None:
        self.spd = Spd()
        self.sad = Sad(randbits) if randbits is not None else Sad()
        self._cache = FlowCache(self.spd)
        self.stats = Statistics()
        self._events: list[SadEvent] = []
        self._acquired: dict[str, float] = {}  # policy -> when its outstanding Acquire was emitted
        self.acquire_retry = acquire_retry
        self.full_packets = full_packets
        self.index = index
        self.workers = workers
        self.last: Engine | None = None  # the SA of the latest PROTECT result (where to send it)
        # Per-flow memos of plain IPv4 TCP/UDP (keyed by protocol and the raw address+port bytes, no
        # parsing): outbound policy (None = pass) and inbound verdict per SA policy. Both only repeat
        # what the SPD answered for that exact flow, and are dropped whenever the SPD changes.
        self._fast_out: dict[tuple[int, bytes], PolicySpec | None] = {}
        self._fast_in: dict[tuple[str | None, int, bytes], InboundVerdict] = {}
        self._fast_gen = -1
        self._peer: dict[int, Endpoint] = {}  # inbound ESP-in-UDP SA -> where its packets come from
        #: outbound SA -> the endpoint its peer moved to (NAT rebinding); bumped ``endpoint_gen`` on change
        self.redirect: dict[int, Endpoint] = {}
        self.endpoint_gen = 0
        self._moves: list[EndpointChanged] = []

    # --- configuration (the DataPlane operations) ----------------------------------------------------

    def owns(self, spi: int) -> bool:
        return owner_of(spi, self.workers) == self.index

    def add_sa(self, spec: SaSpec, now: float, wall_time: float | None = None) -> SaRecord:
        """Install an SA; the transform object is built (keys checked) only by the owning worker."""
        engine: Engine | Counters
        if self.owns(spec.spi):
            engine = EspSa(spec) if spec.proto is IpsecProto.ESP else AhSa(spec)
        else:
            engine = Counters()
        rec = self.sad.add(spec, now, wall_time)
        rec.counters = engine
        if spec.policy_id is not None:
            self._acquired.pop(spec.policy_id, None)
        return rec

    def update_sa(self, spec: SaSpec) -> None:
        """Change an installed SA's lifetimes/policy; the transform (keys, counters, window) is kept."""
        self.sad.update(spec)

    def del_sa(self, spi: int, direction: Direction) -> bool:
        rec = self.sad.find(spi, direction)
        if rec is None:
            return False
        self.sad.remove(rec)
        if direction is Direction.IN:
            self._peer.pop(spi, None)
        elif self.redirect.pop(spi, None) is not None:
            self.endpoint_gen += 1
        return True

    def query_sa(self, spi: int, direction: Direction) -> SaState | None:
        rec = self.sad.find(spi, direction)
        return rec.query() if rec is not None else None

    def add_policy(self, policy: PolicySpec) -> None:
        self.spd.add(policy)

    def del_policy(self, policy_id: str) -> None:
        self.spd.remove(policy_id)
        self._acquired.pop(policy_id, None)

    def flush(self) -> None:
        self.sad.flush()
        self._acquired.clear()
        self._peer.clear()
        self.redirect.clear()
        self.endpoint_gen += 1

    def poll_events(self) -> list[SadEvent]:
        events, self._events = self._events, []
        return events

    @property
    def moves_pending(self) -> bool:
        """NAT rebindings wait for :meth:`poll_endpoint_changes`."""
        return bool(self._moves)

    def poll_endpoint_changes(self) -> list[EndpointChanged]:
        """NAT rebindings detected since the last call (see :class:`EndpointChanged`)."""
        moves, self._moves = self._moves, []
        return moves

    def set_endpoint(self, out_spi: int, endpoint: Endpoint) -> None:
        """Send outbound SA ``out_spi`` to ``endpoint`` (another worker saw its pair's peer move)."""
        self.redirect[out_spi] = endpoint
        self.endpoint_gen += 1

    def destination(self, spec: SaSpec) -> Endpoint:
        """Where an outbound ESP-in-UDP SA's packets go: its peer's current endpoint."""
        to = self.redirect.get(spec.spi)
        if to is not None:
            return to
        return str(spec.dst), spec.encap.dport if spec.encap is not None else 0

    def check_sa(self, spi: int, direction: Direction, now: float) -> SaRecord | None:
        """Apply one SA's lifetimes now (the TUN worker's deadline heap calls this for the SA that is
        due instead of :meth:`expire` scanning every SA); its record, None when it is gone."""
        rec = self.sad.find(spi, direction)
        if rec is not None:
            self._bytes_check(rec, now)
        return rec

    def expire(self, now: float) -> None:
        """Apply time lifetimes: soft/hard expiry events; a dead SA's transform refuses packets."""
        for ev in self.sad.expire(now):
            self._events.append(ev)
        for rec in self.sad:
            if rec.state is SaLife.DEAD:
                self._kill(rec)

    @staticmethod
    def _kill(rec: SaRecord) -> None:
        eng = rec.counters
        if isinstance(eng, EspSa | AhSa):
            eng.dead = True

    def _bytes_check(self, rec: SaRecord, now: float) -> None:
        self._events.extend(self.sad.check(rec, now))
        if rec.state is SaLife.DEAD:
            self._kill(rec)

    # --- outbound ------------------------------------------------------------------------------------

    def _fast_ok(self) -> None:
        if self.spd.generation != self._fast_gen or len(self._fast_in) > 65536 or len(self._fast_out) > 65536:
            self._fast_in.clear()
            self._fast_out.clear()
            self._fast_gen = self.spd.generation

    def outbound(self, inner: bytes, now: float) -> Result:
        """Classify and protect one locally originated or forwarded packet."""
        stats = self.stats
        fast = (len(inner) >= 24 and inner[0] == 0x45 and (inner[9] == _TCP or inner[9] == _UDP)
                and not ((inner[6] & 0x3F) | inner[7]))
        if fast:
            self._fast_ok()
            fkey = (inner[9], inner[12:24])
            try:
                policy = self._fast_out[fkey]
            except KeyError:
                policy = self._fast_out[fkey] = self._classify_out(inner)
        else:
            try:
                policy = self._classify_out(inner)
            except wip.IpHeaderError:
                stats.out_errors += 1
                return DROP, 0, b""
        if policy is None:
            return PASS, 0, inner
        action = policy.action
        if action is not _ENCRYPT:
            if action is _DISCARD:
                stats.out_policy_blocked += 1
                return DROP, 0, b""
            return PASS, 0, inner
        rec = self.sad.outbound(policy.policy_id)
        if rec is None:
            if policy.level is _USE:
                return PASS, 0, inner
            stats.out_no_states += 1
            pid = policy.policy_id
            last = self._acquired.get(pid)
            if last is None or now - last >= self.acquire_retry:
                self._acquired[pid] = now
                self._events.append(Acquire(pid, _selector(*flow(inner)), policy.level))
            return DROP, 0, b""
        engine = rec.counters
        if type(engine) is EspSa:
            try:
                if self.full_packets or engine.encap is None:
                    out = engine.seal(inner, now)
                    if self.redirect and engine.encap is not None and rec.spec.spi in self.redirect:
                        out = _readdress(out, self.redirect[rec.spec.spi])
                else:
                    out = engine.seal_payload(inner, now)
            except DataplaneError as e:
                stats.count(e)
                return DROP, 0, b""
        elif type(engine) is AhSa:
            try:
                out = engine.seal(inner, now)
            except DataplaneError as e:
                stats.count(e)
                return DROP, 0, b""
        else:
            return HANDOFF, owner_of(rec.spec.spi, self.workers), inner
        if engine.bytes >= rec.byte_limit:
            self._bytes_check(rec, now)
        self.last = engine
        return PROTECT, 0, out

    def _classify_out(self, inner: bytes) -> PolicySpec | None:
        """The SPD's outbound decision for a packet: None when it bypasses or no policy matches."""
        version, src, dst, proto, sport, dport = flow(inner)
        if proto == _UDP and bypass_out(proto, sport):
            return None
        return self._cache.lookup_raw(version, src, dst, proto, sport, dport)

    # --- inbound -------------------------------------------------------------------------------------

    def inbound(self, pkt: bytes, now: float) -> Result:
        """One received whole IP packet: ESP/AH (raw or ESP-in-UDP/4500) is opened and policy-checked,
        an IKE message on 4500 is returned as :data:`IKE`, any other packet gets the plain-packet check."""
        stats = self.stats
        try:
            p = wip.parse(pkt)
        except wip.IpHeaderError:
            stats.in_header_errors += 1
            return DROP, 0, b""
        proto, off, stop = p.proto, p.l4_off, p.length
        if (
            proto == _UDP
            and not p.fragment
            and stop - off >= 8
            and (pkt[off + 2] << 8 | pkt[off + 3]) == NATT_PORT
        ):
            kind = natt.classify(pkt[off + 8 : off + 16])
            if kind is natt.Kind.IKE:
                return IKE, 0, pkt[off + 12 : stop]
            if kind is not natt.Kind.ESP:
                if kind is natt.Kind.INVALID:
                    stats.in_header_errors += 1
                return DROP, 0, b""
            spi_off = off + 8
        elif proto == _ESP or proto == _AH:
            if p.fragment:
                stats.in_header_errors += 1
                return DROP, 0, b""
            spi_off = off + 4 if proto == _AH else off
        else:
            return self._plain_in(pkt)
        if spi_off + 4 > stop:
            stats.in_header_errors += 1
            return DROP, 0, b""
        proto_num = _AH if proto == _AH else _ESP
        spi = _FROM(pkt[spi_off : spi_off + 4], "big")
        rec = self.sad.inbound(spi, proto_num, _FROM(p.dst, "big"))
        if rec is None:
            stats.in_no_states += 1
            return DROP, 0, b""
        engine = rec.counters
        if type(engine) is not EspSa and type(engine) is not AhSa:
            return HANDOFF, owner_of(spi, self.workers), pkt
        try:
            inner = engine.open(pkt, now)
        except DataplaneError as e:
            stats.count(e)
            return DROP, 0, b""
        if spi_off != off:  # ESP in UDP
            if type(engine) is EspSa:
                src = (str(ip_address(p.src)), (pkt[off] << 8) | pkt[off + 1])
                if src != self._peer.get(spi):
                    self._moved(rec, engine, pkt[spi_off + 4 : spi_off + 8], src)
            if not engine.tunnel:  # transport mode: NAT-T fix-up (RFC 3948 §3.1.2)
                inner = wip.fix_transport_checksum(inner)
        return self._checked(rec, engine, inner, now)

    def inbound_esp(self, esp: bytes, encapsulated: bool, now: float,
                    src: tuple[str, int, *tuple[int, ...]] | None = None) -> Result:
        """One ESP packet received without its outer header (raw ESP socket payload, or a UDP/4500
        datagram already known to carry ESP, sent from ``src`` — a socket address): SA by SPI, open,
        policy check."""
        stats = self.stats
        if len(esp) < 8:
            stats.in_header_errors += 1
            return DROP, 0, b""
        spi = _FROM(esp[:4], "big")
        rec = self.sad.inbound(spi, _ESP)
        if rec is None:
            stats.in_no_states += 1
            return DROP, 0, b""
        engine = rec.counters
        if type(engine) is not EspSa:
            return HANDOFF, owner_of(spi, self.workers), esp
        if (engine.encap is not None) != encapsulated:
            engine.invalid_packets += 1
            stats.in_state_mismatches += 1
            return DROP, 0, b""
        try:
            inner = engine.open_payload(esp, now)
        except DataplaneError as e:
            stats.count(e)
            return DROP, 0, b""
        if encapsulated:
            if src is not None:
                peer = self._peer.get(spi)
                if peer is None or src[1] != peer[1] or src[0] != peer[0]:
                    self._moved(rec, engine, esp[4:8], (src[0], src[1]))
            if not engine.tunnel:  # transport mode in UDP: NAT-T fix-up (RFC 3948 §3.1.2)
                inner = wip.fix_transport_checksum(inner)
        return self._checked(rec, engine, inner, now)

    def _moved(self, rec: SaRecord, engine: EspSa, seq: bytes, src: Endpoint) -> None:
        """An authenticated packet of ``rec`` came from ``src``, not from the endpoint on record."""
        spec = rec.spec
        old = self._peer.get(spec.spi)
        if old is None:  # first packet: the endpoint on record is the SA's
            old = self._peer[spec.spi] = (str(spec.src), spec.encap.dport if spec.encap is not None else 0)
            if old == src:
                return
        replay = engine.replay
        if replay is not None and replay.size and (replay.top & 0xFFFFFFFF) != _FROM(seq, "big"):
            return  # an older packet than the newest seen: never moves the endpoint (back)
        if (":" in src[0]) != (spec.src.version == 6):
            return  # the outer family is the SA's
        self._peer[spec.spi] = src
        out = self.sad.outbound(spec.policy_id) if spec.policy_id is not None else None
        out_spi = None
        if out is not None and out.spec.encap is not None:
            out_spi = out.spec.spi
            self.set_endpoint(out_spi, src)
        self._moves.append(EndpointChanged(spec.spi, out_spi, old, src))

    def _checked(self, rec: SaRecord, engine: Engine, inner: bytes, now: float) -> Result:
        self.last = engine
        if engine.bytes >= rec.byte_limit:
            self._bytes_check(rec, now)
        if not inner:  # dummy packet (RFC 4303 §2.6): consumed
            return DROP, 0, b""
        if (len(inner) >= 24 and inner[0] == 0x45 and (inner[9] == _TCP or inner[9] == _UDP)
                and not ((inner[6] & 0x3F) | inner[7])):
            self._fast_ok()
            fkey = (rec.spec.policy_id, inner[9], inner[12:24])
            verdict = self._fast_in.get(fkey)
            if verdict is None:
                verdict = self._fast_in[fkey] = self.spd.check_inbound(rec.spec.policy_id, *flow(inner))
        else:
            try:
                verdict = self.spd.check_inbound(rec.spec.policy_id, *flow(inner))
            except wip.IpHeaderError:
                self.stats.in_state_mode_errors += 1
                return DROP, 0, b""
        if verdict is InboundVerdict.ACCEPT:
            return PROTECT, 0, inner
        slot = verdict.value
        setattr(self.stats, slot, getattr(self.stats, slot) + 1)
        return DROP, 0, b""

    def _plain_in(self, pkt: bytes) -> Result:
        """A packet that arrived without IPsec: UDP to 500/4500 bypasses, otherwise the SPD decides."""
        try:
            version, src, dst, proto, sport, dport = flow(pkt)
        except wip.IpHeaderError:
            self.stats.in_header_errors += 1
            return DROP, 0, b""
        if bypass_in(proto, dport):
            return PASS, 0, pkt
        verdict = self.spd.check_plain_inbound(version, src, dst, proto, sport, dport)
        if verdict is InboundVerdict.ACCEPT:
            return PASS, 0, pkt
        slot = verdict.value
        setattr(self.stats, slot, getattr(self.stats, slot) + 1)
        return DROP, 0, b""


def _readdress(outer: bytes, to: Endpoint) -> bytes:
    """A whole ESP-in-UDP packet sent to ``to`` instead: outer IP and UDP headers rebuilt (the ESP
    ICV covers neither)."""
    p = wip.parse(outer)
    off = p.l4_off
    dst = ip_address(to[0]).packed
    esp = outer[off + 8 : p.length]
    udp = wip.udp_datagram((outer[off] << 8) | outer[off + 1], to[1], esp, p.src, dst)
    return wip.ip_header(p.src, dst, _UDP, len(udp), tos=p.tos) + udp
