"""Traffic selector payloads ↔ the policy layer's selectors (RFC 7296 §2.9, §3.13).

Narrowing, containment and the way back to SPD prefixes live in ``ipsecd.policy.selectors``; this
module only converts between its integer-address :class:`~ipsecd.policy.selectors.TrafficSelector`
and the wire codec's. Selectors of unknown TS types never match (they are ignored, not fatal). The
negotiated ranges become the SaSpec's one ``Selector`` (:func:`covering`, the widest range that contains
the first): the first prefix pair when a range is no single prefix, "any port" when a port range has no
policy form.
"""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from ipsecd.policy import selectors as ps
from ipsecd.policy.errors import SelectorError
from ipsecd.policy.types import IPNetwork, Selector
from ipsecd.wire.enums import TsType
from ipsecd.wire.ikev2.payloads.ts import TrafficSelector

Address = IPv4Address | IPv6Address
_TYPE = {4: TsType.TS_IPV4_ADDR_RANGE, 6: TsType.TS_IPV6_ADDR_RANGE}


# The conversions below (and narrowing) are cached: selectors are frozen values, each CHILD_SA
# negotiation converts the same few (our policy's, the peer's usual proposal) several times, and a
# conversion validates and builds ipaddress objects at about ten times the cost of the lookup.
# Small caches: that reuse is within one negotiation or across SAs of one policy; tunnels with
# selectors of their own (a virtual IP each) would otherwise fill them with entries never hit
# again, a few hundred bytes per tunnel.
_CACHE = 256


@lru_cache(maxsize=_CACHE)
def _from_wire(ts: TrafficSelector) -> ps.TrafficSelector | None:
    if not ts.known:
        return None
    try:
        return ps.TrafficSelector(ts.start.version, int(ts.start), int(ts.end), ts.protocol, ts.start_port,
                                  ts.end_port)
    except SelectorError:
        return None


def _to_wire(ts: ps.TrafficSelector) -> TrafficSelector:
    return TrafficSelector(_TYPE[ts.version], ts.protocol, ts.start_port, ts.end_port, ts.first_address,
                           ts.last_address)


def to_ts(net: IPNetwork, protocol: int, port: int) -> TrafficSelector:
    return _to_wire(ps.TrafficSelector.from_network(net, protocol, port))


@lru_cache(maxsize=_CACHE)
def local_remote(sel: Selector) -> tuple[TrafficSelector, TrafficSelector]:
    """(our side, their side) of a configuration selector (``src`` is ours)."""
    src, dst = ps.ts_from_selector(sel)
    return _to_wire(src), _to_wire(dst)


def narrow(proposed: list[TrafficSelector], ours: TrafficSelector) -> list[TrafficSelector]:
    """The proposed selectors cut down to our policy (empty: TS_UNACCEPTABLE)."""
    return list(_narrow(tuple(proposed), ours))


@lru_cache(maxsize=_CACHE)
def _narrow(proposed: tuple[TrafficSelector, ...], ours: TrafficSelector) -> tuple[TrafficSelector, ...]:
    allowed = _from_wire(ours)
    mine = [p for ts in proposed if (p := _from_wire(ts)) is not None]
    return tuple(_to_wire(t) for t in ps.narrow(mine, [allowed] if allowed else []))


def is_within(ts: TrafficSelector, outer: list[TrafficSelector]) -> bool:
    inner = _from_wire(ts)
    return inner is not None and any(o is not None and o.contains(inner) for o in map(_from_wire, outer))


@lru_cache(maxsize=_CACHE)
def to_selector(local: TrafficSelector, remote: TrafficSelector) -> Selector:
    """Our outbound selector (src = local) from a negotiated TS pair."""
    src, dst = _from_wire(local), _from_wire(remote)
    if src is None or dst is None:
        raise SelectorError(f"traffic selectors {local} / {remote} have no policy form")
    try:
        return ps.selectors_from_ts(src, dst)[0]
    except SelectorError:  # a port range a policy cannot express: keep the addresses, any port
        any_src = ps.TrafficSelector(src.version, src.start, src.end, src.protocol)
        any_dst = ps.TrafficSelector(dst.version, dst.start, dst.end, dst.protocol)
        return ps.selectors_from_ts(any_src, any_dst)[0]


@lru_cache(maxsize=_CACHE)
def sa_selectors(local: TrafficSelector, remote: TrafficSelector) -> tuple[Selector, Selector]:
    """(outbound, inbound) selectors of a CHILD_SA from its negotiated TS pair, in one look-up."""
    return to_selector(local, remote), to_selector(remote, local)


def covering(tss: list[TrafficSelector]) -> TrafficSelector:
    """The one negotiated selector a CHILD_SA is installed with: the widest that contains the first.

    An initiator started by traffic puts that packet's own selector first (RFC 7296 §2.9:
    ``10.1.0.5/32 tcp 40000`` before ``10.1.0.0/24``); taking the first would shrink the SA to one
    flow and drop the rest of the subnet as template mismatches. Ranges that do not contain the first
    (``leftsubnet=10.1.0.0/24,10.3.0.0/24``) are left out: an SA here has one selector pair, as on
    RouterOS, so the responder answers with exactly this one (see ``ChildCreate._select_config``)
    and both ends install the same pair; the other range needs a CHILD_SA of its own (an initiator
    with trap policies, strongSwan's ``auto=route``, asks for it when its traffic comes)."""
    first = best = tss[0]
    for ts in tss[1:]:  # (mostly none: one range each way)
        if is_within(best, [ts]) and is_within(first, [ts]):
            best = ts
    return best


def host_ts(address: Address) -> TrafficSelector:
    """A one-address selector (mode-config: TSi narrowed to the leased address)."""
    return to_ts(ip_network(ip_address(address)), 0, 0)
