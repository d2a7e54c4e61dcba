"""generate-policy against policy templates (the manual's port-strict / port-override semantics)."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from ipsecd.policy.selectors import TrafficSelector
from ipsecd.policy.templates import GeneratePolicy, find_template, generate_policies
from ipsecd.policy.types import Action, IpsecProto, Level, PolicySpec, Selector

TS = TrafficSelector
STRICT, OVERRIDE = GeneratePolicy.PORT_STRICT, GeneratePolicy.PORT_OVERRIDE


def tmpl(pid: str, order: int, src: str, dst: str, ip_proto: int = 0, sport: int = 0, dport: int = 0,
         **kw: object) -> PolicySpec:
    return PolicySpec(pid, order, Selector(ip_network(src), ip_network(dst), ip_proto, sport, dport),
                      template=True, **kw)  # type: ignore[arg-type]


def host(addr: str, proto: int = 0, port: int | None = None) -> TS:
    lo, hi = (0, 65535) if port is None else (port, port)
    return TS.from_addresses(addr, addr, proto, lo, hi)


GROUP = [
    tmpl("l2tp", 0, "0.0.0.0/0", "0.0.0.0/0", ip_proto=17, sport=1701, level=Level.UNIQUE),
    tmpl("rw", 1, "10.0.0.0/24", "192.168.77.0/24", proto=IpsecProto.AH),
]


def test_subnets_must_match_in_both_directions() -> None:
    local, remote = TS.from_network(ip_network("10.0.0.0/25")), host("192.168.77.5")
    assert find_template(GROUP, local, remote, STRICT) is GROUP[1]
    assert find_template(GROUP, TS.from_network(ip_network("10.0.0.0/23")), remote, STRICT) is None  # wider
    assert find_template(GROUP, local, host("192.168.78.5"), STRICT) is None
    assert find_template(GROUP, local, remote, GeneratePolicy.NO) is None


def test_port_strict_keeps_ports_port_override_drops_them() -> None:
    local, remote = host("203.0.113.1", 17, 1701), host("198.51.100.7", 17, 1701)
    [p] = generate_policies(
        GROUP,
        local,
        remote,
        STRICT,
        policy_id="d1",
        order=100,
        peer="rw-peer",
        tunnel=False,
        sa_src=ip_address("203.0.113.1"),
        sa_dst=ip_address("198.51.100.7"),
    )
    assert p.selector == Selector(ip_network("203.0.113.1/32"), ip_network("198.51.100.7/32"), 17, 1701, 1701)
    assert p.dynamic and not p.template and p.level is Level.UNIQUE and p.peer == "rw-peer"
    # a different source port does not fit the template under port-strict …
    other = host("203.0.113.1", 17, 4000)
    assert generate_policies(GROUP, other, remote, STRICT, policy_id="d2", order=100, peer=None, tunnel=False,
                             sa_src=None, sa_dst=None) == []
    # … but port-override ignores ports and generates an any-port policy
    [q] = generate_policies(
        GROUP,
        other,
        remote,
        OVERRIDE,
        policy_id="d2",
        order=100,
        peer=None,
        tunnel=False,
        sa_src=None,
        sa_dst=None,
    )
    assert (q.selector.protocol, q.selector.src_port, q.selector.dst_port) == (17, 0, 0)


def test_protocol_all_accepts_any_and_specific_protocol_must_equal() -> None:
    local, remote = host("10.0.0.7", 6, 22), host("192.168.77.9", 6)
    [p] = generate_policies(GROUP, local, remote, STRICT, policy_id="d", order=1, peer=None, tunnel=True,
                            sa_src=None, sa_dst=None)
    assert p.selector.protocol == 6 and p.selector.src_port == 22 and p.tunnel
    assert p.proto is IpsecProto.AH and p.action is Action.ENCRYPT  # from the template
    # a UDP template does not accept an any-protocol proposal
    assert find_template(GROUP[:1], host("1.1.1.1"), host("2.2.2.2"), STRICT) is None


def test_first_template_in_order_and_ranges_become_prefixes() -> None:
    group = [tmpl("b", 5, "10.0.0.0/8", "0.0.0.0/0", action=Action.NONE),
             tmpl("a", 2, "10.0.0.0/16", "0.0.0.0/0", action=Action.DISCARD),
             tmpl("off", 0, "0.0.0.0/0", "0.0.0.0/0", disabled=True)]
    local = TS.from_addresses("10.0.0.1", "10.0.0.2")
    out = generate_policies(
        group,
        local,
        host("8.8.8.8"),
        OVERRIDE,
        policy_id="g",
        order=9,
        peer=None,
        tunnel=True,
        sa_src=None,
        sa_dst=None,
    )
    assert [p.policy_id for p in out] == ["g/1", "g/2"] and all(p.action is Action.DISCARD for p in out)
    assert [str(p.selector.src) for p in out] == ["10.0.0.1/32", "10.0.0.2/32"]
    v6 = generate_policies(
        group,
        TS.from_network(ip_network("2001:db8::/64")),
        host("2001:db8:1::1"),
        OVERRIDE,
        policy_id="x",
        order=0,
        peer=None,
        tunnel=True,
        sa_src=None,
        sa_dst=None,
    )
    assert v6 == []  # IPv4 templates never admit IPv6 selectors
