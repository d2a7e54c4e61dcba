"""Traffic selectors: configuration selectors to TS payloads and back, and narrowing (RFC 7296 §2.9).

The responder intersects what the initiator proposes with its own policy; an empty intersection is
TS_UNACCEPTABLE. Results are turned back into prefixes for the data plane's ``Selector`` (a range
that is no single prefix keeps its first, largest prefix: policies are prefixes on both ends).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network, summarize_address_range

from ipsecd.dataplane.base import IPNetwork, Selector
from ipsecd.wire.enums import TsType
from ipsecd.wire.ikev2.payloads.ts import TrafficSelector

Address = IPv4Address | IPv6Address


def _ports(port: int) -> tuple[int, int]:
    return (0, 65535) if port == 0 else (port, port)


def to_ts(net: IPNetwork, protocol: int, port: int) -> TrafficSelector:
    lo, hi = _ports(port)
    ts_type = TsType.TS_IPV4_ADDR_RANGE if net.version == 4 else TsType.TS_IPV6_ADDR_RANGE
    return TrafficSelector(ts_type, protocol, lo, hi, net.network_address, net.broadcast_address)


def local_remote(sel: Selector) -> tuple[TrafficSelector, TrafficSelector]:
    """(our side, their side) of a configuration selector (``src`` is ours)."""
    return to_ts(sel.src, sel.protocol, sel.src_port), to_ts(sel.dst, sel.protocol, sel.dst_port)


def intersect(a: TrafficSelector, b: TrafficSelector) -> TrafficSelector | None:
    if not (a.known and b.known) or a.ts_type != b.ts_type:
        return None
    if a.protocol and b.protocol and a.protocol != b.protocol:
        return None
    lo_p, hi_p = max(a.start_port, b.start_port), min(a.end_port, b.end_port)
    start = a.start if int(a.start) >= int(b.start) else b.start
    end = a.end if int(a.end) <= int(b.end) else b.end
    if lo_p > hi_p or int(start) > int(end):
        return None
    return TrafficSelector(a.ts_type, a.protocol or b.protocol, lo_p, hi_p, start, end)


def narrow(proposed: list[TrafficSelector], ours: TrafficSelector) -> list[TrafficSelector]:
    """Each proposed selector cut down to our policy; empty ones dropped."""
    return [ts for p in proposed if (ts := intersect(p, ours)) is not None]


def is_within(ts: TrafficSelector, outer: list[TrafficSelector]) -> bool:
    return any(intersect(ts, o) == ts for o in outer)


def to_network(ts: TrafficSelector) -> IPNetwork:
    nets: list[IPNetwork] = list(summarize_address_range(ts.start, ts.end))
    return max(nets, key=lambda n: n.num_addresses) if nets else ip_network(ts.start)


def _port(ts: TrafficSelector) -> int:
    return ts.start_port if ts.start_port == ts.end_port else 0


def to_selector(local: TrafficSelector, remote: TrafficSelector) -> Selector:
    """Our outbound selector (src = local) from a negotiated TS pair."""
    return Selector(to_network(local), to_network(remote), local.protocol or remote.protocol,
                    _port(local), _port(remote))


def host_ts(address: Address) -> TrafficSelector:
    """A one-address selector (mode-config: TSi narrowed to the leased address)."""
    return to_ts(ip_network(ip_address(address)), 0, 0)
