"""Traffic selectors: address ranges, protocol and port ranges, and their narrowing.

Two shapes of the same idea meet here:

- the policy's :class:`~ipsecd.policy.types.Selector` (RouterOS ``/ip ipsec policy``): src/dst
  *prefixes*, one IP protocol (0 = all) and one port each (0 = any);
- IKEv2's traffic selector (RFC 7296 §3.13.1): an *address range*, a protocol (0 = any) and a port
  *range* (0–65535 = any; 65535–0 is OPAQUE, RFC 4301 §4.4.1.1), modelled by :class:`TrafficSelector`.

The IKEv2 core narrows what a peer proposes against what a policy allows (RFC 7296 §2.9: the
responder may answer with a subset; the result of narrowing is the intersection, and an empty result
means TS_UNACCEPTABLE) with :func:`narrow`, and turns the agreed ranges back into SPD selectors with
:func:`selectors_from_ts` (a range that is not a prefix becomes the minimal set of covering prefixes;
a port range other than "any" or one port has no policy form and is refused).

Addresses are handled as plain integers with their IP version; that is also what the SPD's fast path
takes, so nothing here allocates ``ipaddress`` objects per packet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from ipsecd.policy.errors import SelectorError
from ipsecd.policy.types import IPAddress, IPNetwork, Selector

MAX_PORT = 65535
#: Address width by IP version.
BITS = {4: 32, 6: 128}


def network_range(net: IPNetwork) -> tuple[int, int]:
    """First and last address of a prefix as integers."""
    start = int(net.network_address)
    return start, start | ((1 << (net.max_prefixlen - net.prefixlen)) - 1)


@lru_cache(maxsize=4096)
def make_network(version: int, value: int, length: int) -> IPNetwork:
    """The prefix ``value/length`` of the given IP version (host bits must be zero).

    Cached: every CHILD_SA turns its selectors into prefixes, and the same few networks recur;
    building an ``IPv4Network`` costs about thirty times the cache lookup (networks are immutable).
    """
    if version == 4:
        return IPv4Network((value, length))
    return IPv6Network((value, length))


@lru_cache(maxsize=4096)
def parse_address(text: str) -> IPAddress:
    """``ip_address(text)``, cached: the IKE core parses the same peer and local address strings
    for every NAT-D hash and SA spec, and the addresses are immutable."""
    return ip_address(text)


def make_address(version: int, value: int) -> IPAddress:
    return IPv4Address(value) if version == 4 else IPv6Address(value)


def range_to_prefixes(start: int, end: int, bits: int) -> list[tuple[int, int]]:
    """Minimal list of ``(network, length)`` prefixes whose union is exactly ``[start, end]``.

    Greedy from the low end: take the largest aligned block starting at ``start`` that does not pass
    ``end`` (at most ``2 * bits`` blocks).
    """
    if not 0 <= start <= end < (1 << bits):
        raise SelectorError(f"bad address range {start:#x}-{end:#x} for {bits}-bit addresses")
    out: list[tuple[int, int]] = []
    while start <= end:
        size = (start & -start) if start else 1 << bits  # largest alignment of start
        while size > end - start + 1:
            size >>= 1
        out.append((start, bits - size.bit_length() + 1))
        start += size
    return out


def _port_bounds(port: int) -> tuple[int, int]:
    return (0, MAX_PORT) if port == 0 else (port, port)


@dataclass(frozen=True, slots=True)
class TrafficSelector:
    """One IKEv2 traffic selector (RFC 7296 §3.13.1) with integer addresses.

    ``start_port > end_port`` is only allowed as OPAQUE (65535–0): the ports are unknown (e.g. a
    fragment), which matches only an "any port" selector (RFC 4301 §4.4.1.1).
    """

    version: int
    start: int
    end: int
    protocol: int = 0
    start_port: int = 0
    end_port: int = MAX_PORT

    def __post_init__(self) -> None:
        bits = BITS.get(self.version)
        if bits is None:
            raise SelectorError(f"IP version {self.version} is neither 4 nor 6")
        if not 0 <= self.start <= self.end < (1 << bits):
            raise SelectorError(f"bad IPv{self.version} range {self.start:#x}-{self.end:#x}")
        if not 0 <= self.protocol <= 255:
            raise SelectorError(f"IP protocol {self.protocol} is not 0..255")
        if not (0 <= self.start_port <= MAX_PORT and 0 <= self.end_port <= MAX_PORT):
            raise SelectorError(f"port range {self.start_port}-{self.end_port} outside 0..65535")
        if self.start_port > self.end_port and not self.opaque:
            raise SelectorError(f"port range {self.start_port}-{self.end_port} is empty")

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def from_network(cls, net: IPNetwork, protocol: int = 0, port: int = 0) -> TrafficSelector:
        """A prefix with the policy's protocol and port (0 = any)."""
        start, end = network_range(net)
        lo, hi = _port_bounds(port)
        return cls(net.version, start, end, protocol, lo, hi)

    @classmethod
    def from_addresses(cls, first: str | IPAddress, last: str | IPAddress, protocol: int = 0,
                       start_port: int = 0, end_port: int = MAX_PORT) -> TrafficSelector:
        try:
            a, b = ip_address(first), ip_address(last)
        except ValueError as e:
            raise SelectorError(str(e)) from None
        if a.version != b.version:
            raise SelectorError(f"range {a}-{b} mixes IPv4 and IPv6")
        return cls(a.version, int(a), int(b), protocol, start_port, end_port)

    # --- predicates -----------------------------------------------------------------------------

    @property
    def opaque(self) -> bool:
        return self.start_port == MAX_PORT and self.end_port == 0

    @property
    def any_port(self) -> bool:
        return self.start_port == 0 and self.end_port == MAX_PORT

    @property
    def first_address(self) -> IPAddress:
        return make_address(self.version, self.start)

    @property
    def last_address(self) -> IPAddress:
        return make_address(self.version, self.end)

    def contains(self, other: TrafficSelector) -> bool:
        """Whether every packet ``other`` describes is also described by ``self`` (what
        ``self.intersect(other) == other`` says, without building the intersection: IKE asks this
        several times per CHILD_SA)."""
        if self.version != other.version or self.start > other.start or other.end > self.end:
            return False
        if self.protocol and self.protocol != other.protocol:
            return False
        if other.opaque:  # OPAQUE is inside OPAQUE and "any" only (RFC 4301 §4.4.1.1)
            return self.opaque or self.any_port
        return not self.opaque and self.start_port <= other.start_port and other.end_port <= self.end_port

    def intersect(self, other: TrafficSelector) -> TrafficSelector | None:
        """The selector both allow, or ``None`` when they share nothing (RFC 7296 §2.9)."""
        if self.version != other.version:
            return None
        start, end = max(self.start, other.start), min(self.end, other.end)
        if start > end:
            return None
        if self.protocol and other.protocol and self.protocol != other.protocol:
            return None
        protocol = self.protocol or other.protocol
        ports = _port_intersection(self, other)
        if ports is None:
            return None
        return TrafficSelector(self.version, start, end, protocol, ports[0], ports[1])

    def prefixes(self) -> list[IPNetwork]:
        """The minimal prefixes covering exactly this address range."""
        return [make_network(self.version, n, length)
                for n, length in range_to_prefixes(self.start, self.end, BITS[self.version])]

    def policy_port(self) -> int:
        """The port as a policy has it (0 = any); refused when a policy cannot express the range."""
        if self.any_port:
            return 0
        if self.start_port == self.end_port and self.start_port != 0:
            return self.start_port
        raise SelectorError(
            f"port range {self.start_port}-{self.end_port} has no policy form (any or one port)"
        )

    def __str__(self) -> str:
        proto = self.protocol or "any"
        ports = (
            "opaque" if self.opaque else ("any" if self.any_port else f"{self.start_port}-{self.end_port}")
        )
        return f"{self.first_address}-{self.last_address} proto {proto} ports {ports}"


def _port_intersection(a: TrafficSelector, b: TrafficSelector) -> tuple[int, int] | None:
    if a.opaque or b.opaque:
        # OPAQUE only meets OPAQUE or "any" (RFC 4301 §4.4.1.1)
        if (a.opaque or a.any_port) and (b.opaque or b.any_port):
            return MAX_PORT, 0
        return None
    lo, hi = max(a.start_port, b.start_port), min(a.end_port, b.end_port)
    return (lo, hi) if lo <= hi else None


def narrow(proposed: Sequence[TrafficSelector], allowed: Iterable[TrafficSelector]) -> list[TrafficSelector]:
    """Responder narrowing (RFC 7296 §2.9): every non-empty intersection of a proposed selector with
    an allowed one, in the proposer's order, without duplicates or selectors another one contains.

    An empty result means the proposal is unacceptable (TS_UNACCEPTABLE).
    """
    allowed = list(allowed)
    out: list[TrafficSelector] = []
    for p in proposed:
        for a in allowed:
            ts = p.intersect(a)
            if ts is not None and not any(o.contains(ts) for o in out):
                out = [o for o in out if not ts.contains(o)]
                out.append(ts)
    return out


def ts_from_selector(sel: Selector) -> tuple[TrafficSelector, TrafficSelector]:
    """``(source side, destination side)`` traffic selectors of a policy selector.

    For an outbound policy the source side is our TSi when we initiate (RFC 7296 §2.9).
    """
    return (TrafficSelector.from_network(sel.src, sel.protocol, sel.src_port),
            TrafficSelector.from_network(sel.dst, sel.protocol, sel.dst_port))


def selectors_from_ts(src: TrafficSelector, dst: TrafficSelector) -> list[Selector]:
    """SPD selectors for traffic from ``src`` to ``dst``: the cross product of their prefixes.

    Protocols must agree (0 takes the other's); a port range without policy form is refused.
    """
    if src.version != dst.version:
        raise SelectorError(f"selectors {src} and {dst} mix IPv4 and IPv6")
    if src.protocol and dst.protocol and src.protocol != dst.protocol:
        raise SelectorError(f"selectors {src} and {dst} name different protocols")
    protocol = src.protocol or dst.protocol
    sport, dport = src.policy_port(), dst.policy_port()
    return [Selector(s, d, protocol, sport, dport) for s in src.prefixes() for d in dst.prefixes()]


def selector_version(sel: Selector) -> int:
    """The IP version of a policy selector; mixed families are refused."""
    if sel.src.version != sel.dst.version:
        raise SelectorError(f"selector {sel.src} -> {sel.dst} mixes IPv4 and IPv6")
    return sel.src.version


def selector_matches(
    sel: Selector, version: int, src: int, dst: int, proto: int, sport: int, dport: int
) -> bool:
    """Whether one packet (integer addresses) matches one selector: the definition the SPD's
    classifier must agree with (and the naive reference the tests compare it to)."""
    if sel.src.version != version:
        return False
    s0, s1 = network_range(sel.src)
    d0, d1 = network_range(sel.dst)
    return (s0 <= src <= s1 and d0 <= dst <= d1
            and (sel.protocol == 0 or sel.protocol == proto)
            and (sel.src_port == 0 or sel.src_port == sport)
            and (sel.dst_port == 0 or sel.dst_port == dport))


def reverse(sel: Selector) -> Selector:
    """The selector of the opposite direction (a policy protects both, RFC 4301 §4.4.1)."""
    return Selector(sel.dst, sel.src, sel.protocol, sel.dst_port, sel.src_port)
