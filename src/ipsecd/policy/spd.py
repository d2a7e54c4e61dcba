"""The Security Policy Database: RouterOS's ordered ``/ip ipsec policy`` list as a packet classifier.

Semantics (the manual's ``/ip ipsec policy``; RFC 4301 §4.4.1 for the SPD model):

- policies are tried top to bottom (``order``, lowest first; ties keep insertion order) and the first
  whose selector matches decides: ``encrypt``, ``discard`` or ``none``; templates and disabled
  policies never match packets;
- a selector is src/dst prefix (IPv4 or IPv6), IP protocol (0 = all) and src/dst port (0 = any); a
  packet without ports (ICMP, fragments) has ports 0 and matches only "any port";
- one policy protects both directions: outbound packets match ``src → dst``; inbound (decrypted or
  plain) packets match the reversed selector, so :meth:`Spd.lookup_in` works on the packet as received;
- locally originated UDP from port 500/4500 and locally delivered UDP to port 500/4500 bypass the SPD
  (the manual, for IKE; RFC 3948 NAT-T on 4500): :func:`bypass_out` / :func:`bypass_in` are the
  cheap predicates the packet processor calls first.

**Classifier.** Lookup cost must not grow with the number of policies: each IP version and direction
has a :class:`~ipsecd.policy.classifier.Classifier` (a cutting tree over both addresses whose
leaves test each rule with one masked compare of the packed packet; see that module), rebuilt at the
first lookup after a change and proved equal to a linear first-match scan by the hypothesis tests. A
:class:`FlowCache` may sit in front of it; it never replaces it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ipsecd.policy.classifier import Classifier
from ipsecd.policy.errors import SelectorError, SpdError
from ipsecd.policy.selectors import BITS, reverse, selector_version
from ipsecd.policy.types import Action, IPAddress, Level, PolicySpec, Selector

if TYPE_CHECKING:
    from ipsecd.policy.sad import Sad

UDP = 17
IKE_PORT = 500
NATT_PORT = 4500

_SEQ_BITS = 32


def bypass_out(proto: int, sport: int) -> bool:
    """A *locally originated* packet that skips the SPD: UDP from the IKE or NAT-T port."""
    return proto == UDP and (sport == IKE_PORT or sport == NATT_PORT)


def bypass_in(proto: int, dport: int) -> bool:
    """A packet *delivered locally* that skips the inbound policy check: UDP to the IKE or NAT-T port."""
    return proto == UDP and (dport == IKE_PORT or dport == NATT_PORT)


def flow_key(proto: int, sport: int, dport: int) -> int:
    """Protocol and ports packed into one int (what the buckets index on)."""
    return (proto << 32) | (sport << 16) | dport


def _mask(sel: Selector) -> int:
    return (
        ((0xFF << 32) if sel.protocol else 0)
        | ((0xFFFF << 16) if sel.src_port else 0)
        | (0xFFFF if sel.dst_port else 0)
    )


def _add(c: Classifier[PolicySpec], sel: Selector, pri: int, policy: PolicySpec) -> None:
    c.add(policy.policy_id, pri, (int(sel.src.network_address), sel.src.prefixlen),
          (int(sel.dst.network_address), sel.dst.prefixlen), _mask(sel),
          flow_key(sel.protocol, sel.src_port, sel.dst_port), policy)


class InboundVerdict(enum.Enum):
    """Outcome of the inbound policy check; the value is the statistics slot to count (none for ACCEPT)."""

    ACCEPT = ""
    NO_POLICY = "in_no_policies"
    TEMPLATE_MISMATCH = "in_template_mismatches"
    BLOCKED = "in_policy_blocked"


@dataclass(frozen=True, slots=True)
class PolicyState:
    """Read-only runtime properties of one policy (the manual's ``/ip ipsec policy`` read-only list)."""

    active: bool
    invalid: bool
    ph2_state: str  # no-phase2 | established | expired
    ph2_count: int

    def row(self) -> dict[str, object]:
        return {
            "active": self.active,
            "invalid": self.invalid,
            "ph2-state": self.ph2_state,
            "ph2-count": self.ph2_count,
        }


class Spd:
    """The ordered policy list and its two classifiers (outbound and inbound) per IP version."""

    __slots__ = ("_in", "_out", "_pri", "_seq", "generation", "policies")

    def __init__(self) -> None:
        self.policies: dict[str, PolicySpec] = {}
        self._pri: dict[str, int] = {}
        self._seq = 0
        # by IP version; inbound classifiers hold the reversed selectors
        self._out: dict[int, Classifier[PolicySpec]] = {v: Classifier(bits) for v, bits in BITS.items()}
        self._in: dict[int, Classifier[PolicySpec]] = {v: Classifier(bits) for v, bits in BITS.items()}
        self.generation = 0  # bumped on every change; flow caches compare it

    # --- changes ----------------------------------------------------------------------------------

    def add(self, policy: PolicySpec) -> None:
        """Install a policy at its ``order`` (after policies of equal order); an id already present is
        refused."""
        self._insert(policy, None)

    def _insert(self, policy: PolicySpec, pri: int | None) -> None:
        if policy.policy_id in self.policies:
            raise SpdError(f"policy {policy.policy_id!r} already in the SPD")
        try:
            version = selector_version(policy.selector)
        except SelectorError as e:
            raise SpdError(f"policy {policy.policy_id!r}: {e}") from None
        if (
            policy.sa_src is not None
            and policy.sa_dst is not None
            and policy.sa_src.version != policy.sa_dst.version
        ):
            raise SpdError(
                f"policy {policy.policy_id!r}: sa-src-address and sa-dst-address mix IPv4 and IPv6"
            )
        if pri is None:
            self._seq += 1
            pri = policy.order * (1 << _SEQ_BITS) + self._seq
        self.policies[policy.policy_id] = policy
        self._pri[policy.policy_id] = pri
        if self.matchable(policy):
            sel = policy.selector
            _add(self._out[version], sel, pri, policy)
            _add(self._in[version], reverse(sel), pri, policy)
        self.generation += 1

    def remove(self, policy_id: str) -> PolicySpec:
        policy = self.policies.pop(policy_id, None)
        if policy is None:
            raise SpdError(f"no policy {policy_id!r} in the SPD")
        del self._pri[policy_id]
        if self.matchable(policy):
            version = policy.selector.src.version
            self._out[version].remove(policy_id)
            self._in[version].remove(policy_id)
        self.generation += 1
        return policy

    def replace(self, policy: PolicySpec) -> None:
        """Swap in a changed policy under the same id (``set``): it keeps its place unless ``order``
        changed (then it goes after the policies of its new order)."""
        old_pri = self._pri.get(policy.policy_id)
        old = self.remove(policy.policy_id)
        try:
            self._insert(policy, old_pri if policy.order == old.order else None)
        except SpdError:
            self._insert(old, old_pri)
            raise

    def move(self, policy_id: str, before: str | None = None) -> None:
        """``move``: put a policy just before another (or last), renumbering ``order`` 0, 1, 2 …"""
        if policy_id not in self.policies or (before is not None and before not in self.policies):
            raise SpdError(f"no policy {before if policy_id in self.policies else policy_id!r} in the SPD")
        if before == policy_id:
            return
        ids = [p.policy_id for p in self.ordered() if p.policy_id != policy_id]
        ids.insert(ids.index(before) if before is not None else len(ids), policy_id)
        self.reorder(ids)

    def reorder(self, ids: list[str]) -> None:
        """Give the listed policies orders 0, 1, 2 … (all ids of the SPD, each once)."""
        if sorted(ids) != sorted(self.policies):
            raise SpdError("reorder must list every policy of the SPD exactly once")
        changed = [replace(self.policies[pid], order=n) for n, pid in enumerate(ids)]
        for p in changed:
            self.remove(p.policy_id)
        for p in changed:
            self.add(p)

    def rebuild(self) -> None:
        """Rebuild every classifier now (they rebuild themselves when stale; this only moves the
        cost out of the next lookup, e.g. after loading a configuration)."""
        for c in (*self._out.values(), *self._in.values()):
            c.build()

    # --- queries -------------------------------------------------------------------------------------

    @staticmethod
    def matchable(policy: PolicySpec) -> bool:
        """Templates and disabled policies never match packets."""
        return not policy.template and not policy.disabled

    def __len__(self) -> int:
        return len(self.policies)

    def __contains__(self, policy_id: object) -> bool:
        return policy_id in self.policies

    def get(self, policy_id: str) -> PolicySpec | None:
        return self.policies.get(policy_id)

    def ordered(self) -> list[PolicySpec]:
        """Every policy, first match first."""
        return sorted(self.policies.values(), key=lambda p: self._pri[p.policy_id])

    def lookup_raw(
        self, version: int, src: int, dst: int, proto: int, sport: int, dport: int
    ) -> PolicySpec | None:
        """Outbound first match for a parsed packet (integer addresses); ``None`` = no policy."""
        return self._out[version].lookup(src, dst, (proto << 32) | (sport << 16) | dport)

    def lookup_in_raw(
        self, version: int, src: int, dst: int, proto: int, sport: int, dport: int
    ) -> PolicySpec | None:
        """Inbound first match: the packet as received, against each policy's reversed selector."""
        return self._in[version].lookup(src, dst, (proto << 32) | (sport << 16) | dport)

    def lookup(
        self, src: IPAddress, dst: IPAddress, proto: int = 0, sport: int = 0, dport: int = 0
    ) -> PolicySpec | None:
        if src.version != dst.version:
            return None
        return self.lookup_raw(src.version, int(src), int(dst), proto, sport, dport)

    def lookup_in(
        self, src: IPAddress, dst: IPAddress, proto: int = 0, sport: int = 0, dport: int = 0
    ) -> PolicySpec | None:
        if src.version != dst.version:
            return None
        return self.lookup_in_raw(src.version, int(src), int(dst), proto, sport, dport)

    def check_inbound(self, sa_policy_id: str | None, version: int, src: int, dst: int,
                      proto: int, sport: int, dport: int) -> InboundVerdict:
        """Policy check of a packet decrypted by an SA negotiated for ``sa_policy_id``.

        Like Linux's inbound check: no policy matches → ``in-no-policies``; the first match discards →
        ``in-policy-blocked``; it is not the policy the SA serves (or it wants no IPsec, or the SA
        serves no policy) → ``in-template-mismatches``.
        """
        policy = self.lookup_in_raw(version, src, dst, proto, sport, dport)
        if policy is None:
            return InboundVerdict.NO_POLICY
        if policy.action is Action.DISCARD:
            return InboundVerdict.BLOCKED
        if policy.action is Action.ENCRYPT and policy.policy_id == sa_policy_id:
            return InboundVerdict.ACCEPT
        return InboundVerdict.TEMPLATE_MISMATCH

    def check_plain_inbound(
        self, version: int, src: int, dst: int, proto: int, sport: int, dport: int
    ) -> InboundVerdict:
        """Policy check of a packet that arrived without IPsec: it passes unless a policy discards it
        (``in-policy-blocked``) or requires IPsec (level require/unique → ``in-template-mismatches``;
        level use makes IPsec optional)."""
        policy = self.lookup_in_raw(version, src, dst, proto, sport, dport)
        if policy is None or policy.action is Action.NONE:
            return InboundVerdict.ACCEPT
        if policy.action is Action.DISCARD:
            return InboundVerdict.BLOCKED
        return InboundVerdict.ACCEPT if policy.level is Level.USE else InboundVerdict.TEMPLATE_MISMATCH

    # --- read-only policy state ----------------------------------------------------------------------

    def invalid_ids(self) -> set[str]:
        """Policies that duplicate the selector of an earlier matchable one (RouterOS's ``invalid``)."""
        seen: set[Selector] = set()
        out: set[str] = set()
        for p in self.ordered():
            if not self.matchable(p):
                continue
            if p.selector in seen:
                out.add(p.policy_id)
            seen.add(p.selector)
        return out

    def states(self, sad: Sad) -> dict[str, PolicyState]:
        """``active``, ``invalid``, ``ph2-state`` and ``ph2-count`` of every policy, from the SAD.

        ``ph2-count`` counts the policy's usable outbound SAs (mature or dying: one per CHILD_SA);
        ``ph2-state`` is ``established`` with a mature SA, ``expired`` with only soft-expired ones
        (rekey pending) or dead ones, ``no-phase2`` otherwise.
        """
        invalid = self.invalid_ids()
        out: dict[str, PolicyState] = {}
        for pid, p in self.policies.items():
            mature, dying, dead = sad.policy_counts(pid)
            state = "established" if mature else ("expired" if dying or dead else "no-phase2")
            out[pid] = PolicyState(active=self.matchable(p) and pid not in invalid, invalid=pid in invalid,
                                   ph2_state=state, ph2_count=mature + dying)
        return out


class FlowCache:
    """Per-flow memo in front of an :class:`Spd` (outbound); emptied whenever the SPD changes and
    when it reaches ``size`` flows. It never decides anything the SPD would not."""

    __slots__ = ("_flows", "_generation", "_size", "_spd")

    def __init__(self, spd: Spd, size: int = 65536) -> None:
        self._spd = spd
        self._size = size
        self._flows: dict[tuple[int, int, int, int, int, int], PolicySpec | None] = {}
        self._generation = spd.generation

    def lookup_raw(
        self, version: int, src: int, dst: int, proto: int, sport: int, dport: int
    ) -> PolicySpec | None:
        spd = self._spd
        if spd.generation != self._generation or len(self._flows) >= self._size:
            self._flows.clear()
            self._generation = spd.generation
        key = (version, src, dst, proto, sport, dport)
        try:
            return self._flows[key]
        except KeyError:
            policy = self._flows[key] = spd.lookup_raw(version, src, dst, proto, sport, dport)
            return policy
