"""The Security Association Database: SA records, their life cycle and lifetimes (RFC 4301 §4.4.2).

- **Lookup.** Inbound SAs by ``(SPI, protocol)`` with an optional destination check (RFC 4301
  §4.1: unicast SAs are identified by the SPI alone; ipsecd hands out inbound SPIs unique per
  protocol, so the SPI decides); outbound SAs by ``(SPI, protocol, destination)`` and by the policy
  they serve. During a rekey a policy has several SAs; the newest mature one carries new traffic, a
  soft-expired (dying) one only while no mature one exists (RFC 7296 §2.8).
- **States.** ``larval`` (an SPI reserved by :meth:`Sad.get_spi`, no keys yet) → ``mature``
  (installed) → ``dying`` (soft lifetime reached: the daemon rekeys) → ``dead`` (hard lifetime
  reached: packets on it are counted ``in-state-expired``/``out-state-expired`` until the daemon
  deletes it). Linux's xfrm uses the same states and RouterOS shows them in ``installed-sa``.
- **Lifetimes** (RFC 4301 §4.4.2.1): soft and hard, by seconds since installation and by bytes.
  Time always comes in as ``now`` (the caller's injected clock); :meth:`Sad.expire` returns the
  :class:`~ipsecd.policy.events.SoftExpire`/:class:`~ipsecd.policy.events.HardExpire` events once
  each. Byte limits are checked where bytes are counted: the packet processor compares the SA's
  byte count with :attr:`SaRecord.byte_limit` (one comparison per packet) and calls
  :meth:`Sad.check` when it is reached.
- **Counters** live in the object that processes the SA's packets (``EspSa``/``AhSa`` keep
  ``bytes``, ``packets``, ``invalid_packets``, ``last_used``): attach it as :attr:`SaRecord.counters`
  so the SAD reads the real numbers instead of keeping a second copy.
- **Memory** (issue 5: ≤ 8 KB per tunnel at 10,000 tunnels): a record is its spec (shared with the
  IKE layer and the packet processor, keys included, never copied), its state and install time; every
  ``installed-sa`` property is computed from those when printed (:meth:`SaRecord.view`). The indexes
  are keyed by the spec's own SPI integer (no key tuples), an outbound SPI maps to its record
  directly (a list only when two peers chose the same SPI), unlimited byte limits share one
  ``inf`` and the wall-clock install time is the monotonic one plus an offset shared by every SA
  installed while the clocks kept their relation.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable, Iterator
from typing import Protocol

from ipsecd.crypto import registry
from ipsecd.crypto.errors import UnknownAlgorithmError
from ipsecd.policy.errors import SadError
from ipsecd.policy.events import HardExpire, SadEvent, SoftExpire
from ipsecd.policy.types import Direction, IpsecProto, SaSpec, SaState

#: SPIs 1–255 are reserved by IANA and 0 means "no SA" (RFC 4303 §2.1).
MIN_SPI = 256
MAX_SPI = 0xFFFFFFFF
#: Seconds a reserved (larval) SPI stays reserved without being installed (Linux's acquire timeout).
LARVAL_TIMEOUT = 30.0
#: ``byte_limit`` of an SA without one (a shared object: most SAs have no byte lifetime).
_NO_LIMIT = float("inf")
#: Wall-clock offsets closer than this are the same (``addtime`` is printed to the second).
_WALL_SLACK = 0.001


class SaLife(enum.Enum):
    LARVAL = "larval"
    MATURE = "mature"
    DYING = "dying"
    DEAD = "dead"


class SaCounters(Protocol):
    """What the SAD reads from whatever counts an SA's packets (``EspSa``/``AhSa`` fit)."""

    bytes: int
    packets: int
    invalid_packets: int
    last_used: float | None


class Counters:
    """Counters of an SA that no packet processor has claimed yet."""

    __slots__ = ("bytes", "invalid_packets", "last_used", "packets")

    def __init__(self) -> None:
        self.bytes = 0
        self.packets = 0
        self.invalid_packets = 0
        self.last_used: float | None = None


def enc_algorithm_family(name: str) -> str:
    """installed-sa ``enc-algorithm``: the cipher and mode without key size (``aes-cbc``, ``aes-gcm``,
    ``3des``, ``chacha20poly1305`` …), as RouterOS prints it next to ``enc-key-size``."""
    try:
        alg = registry.encr(name)
    except UnknownAlgorithmError:
        return name
    if alg.cipher == "aes":
        return f"aes-{alg.mode}"
    if alg.mode == "chacha20poly1305":
        return "chacha20poly1305"
    return alg.cipher


class SaRecord:
    """One installed SA: its spec, state, install time and counters.

    ``wall_offset`` is wall clock minus the caller's clock at installation (None: not given), an
    object shared with the SAs installed before and after it (see :meth:`Sad.add`)."""

    __slots__ = ("add_time", "byte_limit", "counters", "spec", "state", "wall_offset")

    def __init__(self, spec: SaSpec, now: float, wall_offset: float | None) -> None:
        self.spec = spec
        self.state = SaLife.MATURE
        self.add_time = now
        self.wall_offset = wall_offset
        self.counters: SaCounters = Counters()
        self.byte_limit: float = 0.0
        self.reset_byte_limit()

    def reset_byte_limit(self) -> None:
        """The byte count at which :meth:`Sad.check` has something to do (``inf`` = never)."""
        life = self.spec.lifetime
        if self.state is SaLife.MATURE and life.soft_bytes:
            self.byte_limit = (
                life.soft_bytes if not life.hard_bytes else min(life.soft_bytes, life.hard_bytes)
            )
        elif self.state in (SaLife.MATURE, SaLife.DYING) and life.hard_bytes:
            self.byte_limit = life.hard_bytes
        else:
            self.byte_limit = _NO_LIMIT

    @property
    def wall_time(self) -> float | None:
        """Wall-clock install time (``addtime``), within a millisecond."""
        off = self.wall_offset
        return None if off is None else self.add_time + off

    @property
    def spi(self) -> int:
        return self.spec.spi

    @property
    def direction(self) -> Direction:
        return self.spec.direction

    @property
    def usable(self) -> bool:
        return self.state is SaLife.MATURE or self.state is SaLife.DYING

    def expires_in(self, now: float) -> float | None:
        """Seconds until the next time-based expiry: soft while mature, hard after; None = never."""
        life = self.spec.lifetime
        if self.state is SaLife.MATURE and life.soft_seconds:
            return max(0.0, self.add_time + life.soft_seconds - now)
        if self.state is not SaLife.DEAD and life.hard_seconds:
            return max(0.0, self.add_time + life.hard_seconds - now)
        return None

    def view(self, now: float) -> dict[str, object]:
        """Every ``/ip ipsec installed-sa`` property, typed: times in seconds (``add-lifetime`` as
        ``(soft, hard)``, 0 = unlimited; ``addtime`` the wall-clock install time or None), flags as
        bool, keys as hex strings (secrets: the management layer hides them unless
        ``show-sensitive``). ``replay`` is the window in packets, as RouterOS prints it."""
        spec, c = self.spec, self.counters
        return {
            "spi": f"0x{spec.spi:X}",
            "src-address": spec.src.compressed,
            "dst-address": spec.dst.compressed,
            "state": self.state.value,
            "AH": spec.proto is IpsecProto.AH,
            "ESP": spec.proto is IpsecProto.ESP,
            "auth-algorithm": spec.integ,
            "auth-key": spec.integ_key.hex(),
            "enc-algorithm": enc_algorithm_family(spec.encr),
            "enc-key": spec.encr_key.hex(),
            "enc-key-size": len(spec.encr_key) * 8,
            "add-lifetime": (spec.lifetime.soft_seconds, spec.lifetime.hard_seconds),
            "addtime": self.wall_time,
            "expires-in": self.expires_in(now),
            "current-bytes": c.bytes,
            "current-packets": c.packets,
            "invalid-packets": c.invalid_packets,
            "replay": spec.replay_window,
            "seen-traffic": c.last_used is not None,
            "hw-aead": False,
        }

    def query(self) -> SaState:
        """The data-plane contract's ``query_sa`` answer."""
        c = self.counters
        return SaState(self.spec.spi, self.spec.direction, c.bytes, c.packets, c.invalid_packets,
                       self.add_time, c.last_used, self.state.value, self.spec.replay_window)


class Sad:
    """Installed SAs and reserved SPIs; every method takes ``now`` where time matters."""

    __slots__ = ("_best", "_by_policy", "_in", "_larval", "_out", "_out_more", "_randbits", "_wall_offset",
                 "larval_timeout")

    def __init__(self, randbits: Callable[[int], int] = secrets.randbits,
                 larval_timeout: float = LARVAL_TIMEOUT) -> None:
        self._randbits = randbits
        self.larval_timeout = larval_timeout
        # inbound SAs by protocol number, then SPI (the spec's own int object is the key)
        self._in: dict[int, dict[int, SaRecord]] = {IpsecProto.ESP.value: {}, IpsecProto.AH.value: {}}
        # outbound SAs by SPI alone (the contract's key): the first one directly; more SAs with that
        # SPI (other peer or protocol) in ``_out_more``
        self._out: dict[int, SaRecord] = {}
        self._out_more: dict[int, list[SaRecord]] = {}
        self._larval: dict[tuple[int, int], float] = {}  # (spi, proto) -> reserved until
        # outbound SAs by policy (what :meth:`outbound` and :meth:`policy_counts` read): the record
        # itself while a policy has one, a list during a rekey
        self._by_policy: dict[str, SaRecord | list[SaRecord]] = {}
        self._best: dict[str, SaRecord | None] = {}  # policy -> outbound SA to use (cache)
        self._wall_offset: float | None = None

    # --- SPIs ------------------------------------------------------------------------------------

    def get_spi(self, proto: IpsecProto, now: float) -> int:
        """Reserve a random inbound SPI (256 … 2³²−1) in use by no SA or reservation of ``proto``.

        The reservation is the SA's larval state; it lapses after :attr:`larval_timeout` seconds
        unless :meth:`add` installs an inbound SA with it.
        """
        self._drop_stale_larval(now)
        for _ in range(1000):
            spi = self._randbits(32)
            key = (spi, proto.value)
            if spi >= MIN_SPI and spi not in self._in[proto.value] and key not in self._larval:
                self._larval[key] = now + self.larval_timeout
                return spi
        raise SadError(f"no free {proto.name} SPI found")

    def release_spi(self, spi: int, proto: IpsecProto) -> None:
        """Give back a reservation that will not be installed (negotiation failed)."""
        self._larval.pop((spi, proto.value), None)

    def is_larval(self, spi: int, proto: IpsecProto) -> bool:
        return (spi, proto.value) in self._larval

    def _drop_stale_larval(self, now: float) -> None:
        for key in [k for k, until in self._larval.items() if until <= now]:
            del self._larval[key]

    # --- changes ---------------------------------------------------------------------------------

    def add(self, spec: SaSpec, now: float, wall_time: float | None = None) -> SaRecord:
        """Install an SA (mature). An inbound SPI reserved by :meth:`get_spi` is consumed; an SA that
        already exists under the same key is refused."""
        if not MIN_SPI <= spec.spi <= MAX_SPI:
            raise SadError(f"SPI {spec.spi:#x} is reserved or out of range (256..0xFFFFFFFF)")
        if spec.src.version != spec.dst.version:
            raise SadError(f"SA {spec.spi:#x}: source and destination mix IPv4 and IPv6")
        proto = spec.proto.value
        if spec.direction is Direction.IN:
            if spec.spi in self._in[proto]:
                raise SadError(f"inbound {spec.proto.name} SA with SPI {spec.spi:#x} already installed")
            self._larval.pop((spec.spi, proto), None)
        elif self.find(spec.spi, Direction.OUT, spec.proto, int(spec.dst)) is not None:
            raise SadError(f"outbound {spec.proto.name} SA {spec.spi:#x} to {spec.dst} already installed")
        offset = None
        if wall_time is not None:
            offset = self._wall_offset
            if offset is None or abs(wall_time - now - offset) > _WALL_SLACK:
                offset = self._wall_offset = wall_time - now
        rec = SaRecord(spec, now, offset)
        if spec.direction is Direction.IN:
            self._in[proto][spec.spi] = rec
        else:
            if spec.spi in self._out:
                self._out_more.setdefault(spec.spi, []).append(rec)
            else:
                self._out[spec.spi] = rec
            self._link(rec)
        return rec

    def update(self, spec: SaSpec) -> SaRecord:
        """Replace the spec of an installed SA (same SPI/direction/protocol/destination), keeping its
        counters, install time and state; lifetimes are re-evaluated from the new spec."""
        rec = self.find(spec.spi, spec.direction, spec.proto, int(spec.dst))
        if rec is None:
            raise SadError(f"no {spec.direction.value}bound {spec.proto.name} SA {spec.spi:#x} to update")
        if rec.spec.policy_id != spec.policy_id:
            self._unlink(rec)
            rec.spec = spec
            self._link(rec)
        rec.spec = spec
        rec.reset_byte_limit()
        return rec

    def remove(self, rec: SaRecord) -> None:
        spec = rec.spec
        spi = spec.spi
        if spec.direction is Direction.IN:
            table = self._in[spec.proto.value]
            if table.get(spi) is rec:
                del table[spi]
            return
        more = self._out_more.get(spi)
        if self._out.get(spi) is rec:
            if more:  # another SA with this SPI takes the direct slot
                self._out[spi] = more.pop(0)
            else:
                del self._out[spi]
        elif more is not None and rec in more:
            more.remove(rec)
        else:
            return  # not installed (already removed or replaced)
        if more is not None and not more:
            del self._out_more[spi]
        self._unlink(rec)

    def _link(self, rec: SaRecord) -> None:
        """Enter an outbound SA under its policy."""
        pid = rec.spec.policy_id
        if pid is None or rec.spec.direction is Direction.IN:
            return
        have = self._by_policy.get(pid)
        if have is None:
            self._by_policy[pid] = rec
        elif isinstance(have, list):
            have.append(rec)
        else:
            self._by_policy[pid] = [have, rec]
        self._best.pop(pid, None)

    def _unlink(self, rec: SaRecord) -> None:
        pid = rec.spec.policy_id
        if pid is None or rec.spec.direction is Direction.IN:
            return
        have = self._by_policy.get(pid)
        if have is rec:
            del self._by_policy[pid]
        elif isinstance(have, list) and rec in have:
            have.remove(rec)
            if len(have) == 1:
                self._by_policy[pid] = have[0]
        self._best.pop(pid, None)

    def _policy_sas(self, policy_id: str) -> tuple[SaRecord, ...] | list[SaRecord]:
        have = self._by_policy.get(policy_id)
        if have is None:
            return ()
        return have if isinstance(have, list) else (have,)

    def flush(self) -> int:
        """Remove every installed SA (``installed-sa flush``); reservations stay. Returns how many."""
        n = len(self)
        for table in self._in.values():
            table.clear()
        self._out.clear()
        self._out_more.clear()
        self._by_policy.clear()
        self._best.clear()
        return n

    # --- lookups ---------------------------------------------------------------------------------

    def inbound(self, spi: int, proto: int, dst: int | None = None) -> SaRecord | None:
        """The inbound SA for a received packet (IANA protocol number 50/51); with ``dst`` the SA's
        destination must be that address (integer)."""
        table = self._in.get(proto)
        rec = table.get(spi) if table is not None else None
        if rec is not None and dst is not None and int(rec.spec.dst) != dst:
            return None
        return rec

    def outbound(self, policy_id: str) -> SaRecord | None:
        """The SA new outbound traffic of a policy uses: newest mature, else newest dying (newest: latest
        install time; a policy's SAs are kept in install order, so the later one wins a tie)."""
        try:
            return self._best[policy_id]
        except KeyError:
            pass
        best: SaRecord | None = None
        for rec in self._policy_sas(policy_id):
            if not rec.usable:
                continue
            if best is None or (rec.state is SaLife.MATURE, rec.add_time) >= (
                best.state is SaLife.MATURE,
                best.add_time,
            ):
                best = rec
        self._best[policy_id] = best
        return best

    def find(self, spi: int, direction: Direction, proto: IpsecProto | None = None,
             dst: int | None = None) -> SaRecord | None:
        """An SA by SPI and direction (the data-plane contract's key), narrowed by protocol and
        destination when given."""
        if direction is Direction.IN:
            for p in (proto,) if proto is not None else IpsecProto:
                rec = self.inbound(spi, p.value, dst)
                if rec is not None:
                    return rec
            return None
        first = self._out.get(spi)
        if first is None:
            return None
        candidates: list[SaRecord] = [first, *self._out_more.get(spi, ())]
        for cand in candidates:
            if (proto is None or cand.spec.proto is proto) and (dst is None or int(cand.spec.dst) == dst):
                return cand
        return None

    def policy_counts(self, policy_id: str) -> tuple[int, int, int]:
        """(mature, dying, dead) outbound SAs of a policy: one outbound SA per CHILD_SA."""
        counts = {SaLife.MATURE: 0, SaLife.DYING: 0, SaLife.DEAD: 0, SaLife.LARVAL: 0}
        for rec in self._policy_sas(policy_id):
            counts[rec.state] += 1
        return counts[SaLife.MATURE], counts[SaLife.DYING], counts[SaLife.DEAD]

    def __iter__(self) -> Iterator[SaRecord]:
        for table in self._in.values():
            yield from table.values()
        yield from self._out.values()
        for more in self._out_more.values():
            yield from more

    def __len__(self) -> int:
        return (
            sum(len(t) for t in self._in.values())
            + len(self._out)
            + sum(len(m) for m in self._out_more.values())
        )

    def view(self, now: float) -> list[dict[str, object]]:
        """installed-sa rows, oldest first."""
        return [rec.view(now) for rec in sorted(self, key=lambda r: r.add_time)]

    # --- lifetimes ---------------------------------------------------------------------------------

    def check(self, rec: SaRecord, now: float) -> list[SadEvent]:
        """Apply an SA's lifetimes at ``now``: moves it to dying/dead and returns each expiry event
        once (a hard expiry reached together with the soft one reports only the hard one)."""
        if rec.state is SaLife.DEAD or rec.state is SaLife.LARVAL:
            return []
        life, used = rec.spec.lifetime, rec.counters.bytes
        age = now - rec.add_time
        hard_t = bool(life.hard_seconds) and age >= life.hard_seconds
        hard_b = bool(life.hard_bytes) and used >= life.hard_bytes
        spec = rec.spec
        if hard_t or hard_b:
            rec.state = SaLife.DEAD
            rec.reset_byte_limit()
            self._changed(rec)
            return [HardExpire(spec.spi, spec.direction, by_bytes=hard_b and not hard_t)]
        if rec.state is SaLife.MATURE:
            soft_t = bool(life.soft_seconds) and age >= life.soft_seconds
            soft_b = bool(life.soft_bytes) and used >= life.soft_bytes
            if soft_t or soft_b:
                rec.state = SaLife.DYING
                rec.reset_byte_limit()
                self._changed(rec)
                return [SoftExpire(spec.spi, spec.direction, by_bytes=soft_b and not soft_t)]
        return []

    def _changed(self, rec: SaRecord) -> None:
        if rec.spec.policy_id is not None:
            self._best.pop(rec.spec.policy_id, None)

    def expire(self, now: float) -> list[SadEvent]:
        """Apply every SA's lifetimes (and lapse stale SPI reservations); the daemon calls this at
        :meth:`next_timer` and after traffic."""
        self._drop_stale_larval(now)
        events: list[SadEvent] = []
        for rec in list(self):
            events.extend(self.check(rec, now))
        return events

    def next_timer(self) -> float | None:
        """Clock value of the next time-based expiry or reservation lapse (None: nothing pending)."""
        times = list(self._larval.values())
        for rec in self:
            life = rec.spec.lifetime
            if rec.state is SaLife.MATURE and life.soft_seconds:
                times.append(rec.add_time + life.soft_seconds)
            elif rec.usable and life.hard_seconds:
                times.append(rec.add_time + life.hard_seconds)
        return min(times, default=None)
