"""SPD semantics from the manual's ``/ip ipsec policy`` text."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from ipsecd.policy.errors import SpdError
from ipsecd.policy.sad import Sad
from ipsecd.policy.spd import FlowCache, InboundVerdict, Spd, bypass_in, bypass_out
from ipsecd.policy.types import (
    Action,
    Direction,
    IpsecProto,
    Level,
    Lifetime,
    Mode,
    PolicySpec,
    SaSpec,
    Selector,
)

A = ip_address


def pol(pid: str, order: int, src: str, dst: str, proto: int = 0, sport: int = 0, dport: int = 0,
        **kw: object) -> PolicySpec:
    # type: ignore[arg-type]
    return PolicySpec(pid, order, Selector(ip_network(src), ip_network(dst), proto, sport, dport), **kw)


def ids(p: PolicySpec | None) -> str | None:
    return p.policy_id if p else None


def test_first_match_top_to_bottom_not_most_specific() -> None:
    spd = Spd()
    spd.add(pol("wide", 0, "10.0.0.0/8", "0.0.0.0/0", action=Action.DISCARD))
    spd.add(pol("narrow", 1, "10.1.1.0/24", "192.168.0.0/16"))
    assert ids(spd.lookup(A("10.1.1.5"), A("192.168.3.4"))) == "wide"
    spd.move("narrow", before="wide")
    assert ids(spd.lookup(A("10.1.1.5"), A("192.168.3.4"))) == "narrow"
    assert [p.order for p in spd.ordered()] == [0, 1]
    assert ids(spd.lookup(A("10.2.0.1"), A("192.168.3.4"))) == "wide"
    assert spd.lookup(A("11.0.0.1"), A("192.168.3.4")) is None


def test_equal_order_keeps_insertion_order() -> None:
    spd = Spd()
    spd.add(pol("a", 5, "0.0.0.0/0", "0.0.0.0/0"))
    spd.add(pol("b", 5, "0.0.0.0/0", "0.0.0.0/0"))
    spd.add(pol("c", 4, "10.0.0.0/8", "0.0.0.0/0"))
    assert ids(spd.lookup(A("1.2.3.4"), A("5.6.7.8"))) == "a"
    assert ids(spd.lookup(A("10.2.3.4"), A("5.6.7.8"))) == "c"
    spd.replace(pol("a", 5, "0.0.0.0/0", "0.0.0.0/0", action=Action.NONE))  # set keeps the place
    assert ids(spd.lookup(A("1.2.3.4"), A("5.6.7.8"))) == "a"
    with pytest.raises(SpdError, match="mixes"):
        spd.replace(pol("a", 5, "0.0.0.0/0", "::/0"))
    assert ids(spd.lookup(A("1.2.3.4"), A("5.6.7.8"))) == "a"  # a refused set changes nothing
    assert [p.policy_id for p in spd.ordered()] == ["c", "a", "b"]


def test_protocol_and_ports() -> None:
    spd = Spd()
    spd.add(pol("ssh", 0, "10.0.0.0/24", "10.0.1.0/24", proto=6, dport=22))
    spd.add(pol("udp", 1, "10.0.0.0/24", "10.0.1.0/24", proto=17))
    spd.add(pol("sport", 2, "10.0.0.0/24", "10.0.1.0/24", sport=1234))
    s, d = A("10.0.0.1"), A("10.0.1.1")
    assert ids(spd.lookup(s, d, 6, 40000, 22)) == "ssh"
    assert spd.lookup(s, d, 6, 40000, 23) is None
    assert ids(spd.lookup(s, d, 17, 22, 22)) == "udp"
    assert ids(spd.lookup(s, d, 6, 1234, 80)) == "sport"
    assert spd.lookup(s, d, 1, 0, 0) is None  # ICMP has no ports: only "any port" matches it


def test_ipv6_and_families_do_not_mix() -> None:
    spd = Spd()
    spd.add(pol("v6", 0, "2001:db8::/32", "::/0"))
    spd.add(pol("v4", 1, "0.0.0.0/0", "0.0.0.0/0"))
    assert ids(spd.lookup(A("2001:db8::1"), A("2001:db9::1"))) == "v6"
    assert spd.lookup(A("2001:db9::1"), A("2001:db8::1")) is None
    assert ids(spd.lookup(A("10.0.0.1"), A("10.0.0.2"))) == "v4"
    assert spd.lookup(A("10.0.0.1"), A("2001:db8::1")) is None
    with pytest.raises(SpdError, match="mixes IPv4 and IPv6"):
        spd.add(pol("mixed", 2, "10.0.0.0/8", "::/0"))


def test_templates_and_disabled_never_match() -> None:
    spd = Spd()
    spd.add(pol("tmpl", 0, "0.0.0.0/0", "0.0.0.0/0", template=True))
    spd.add(pol("off", 1, "0.0.0.0/0", "0.0.0.0/0", disabled=True))
    spd.add(pol("on", 2, "0.0.0.0/0", "0.0.0.0/0", action=Action.NONE))
    assert ids(spd.lookup(A("1.1.1.1"), A("2.2.2.2"))) == "on"
    spd.replace(pol("off", 1, "0.0.0.0/0", "0.0.0.0/0"))  # enable it
    assert ids(spd.lookup(A("1.1.1.1"), A("2.2.2.2"))) == "off"


def test_inbound_matches_the_reversed_selector() -> None:
    spd = Spd()
    spd.add(pol("p", 0, "10.0.0.0/24", "10.9.0.0/24", proto=6, sport=80))
    # outbound: local 10.0.0.x:80 -> remote; inbound: remote -> local:80
    assert ids(spd.lookup(A("10.0.0.1"), A("10.9.0.1"), 6, 80, 5555)) == "p"
    assert ids(spd.lookup_in(A("10.9.0.1"), A("10.0.0.1"), 6, 5555, 80)) == "p"
    assert spd.lookup_in(A("10.0.0.1"), A("10.9.0.1"), 6, 80, 5555) is None


def test_changes_refused_with_one_clear_line() -> None:
    spd = Spd()
    spd.add(pol("p", 0, "10.0.0.0/8", "0.0.0.0/0"))
    with pytest.raises(SpdError, match="already"):
        spd.add(pol("p", 1, "10.0.0.0/8", "0.0.0.0/0"))
    with pytest.raises(SpdError, match="no policy 'q'"):
        spd.remove("q")
    with pytest.raises(SpdError, match="no policy 'q'"):
        spd.move("p", before="q")
    with pytest.raises(SpdError, match="every policy"):
        spd.reorder(["p", "p"])
    with pytest.raises(SpdError, match="sa-src-address"):
        spd.add(pol("t", 1, "10.0.0.0/8", "0.0.0.0/0", tunnel=True, sa_src=A("1.1.1.1"), sa_dst=A("::1")))
    assert len(spd) == 1


def test_ike_and_natt_bypass() -> None:
    assert bypass_out(17, 500) and bypass_out(17, 4500) and not bypass_out(17, 501) and not bypass_out(6, 500)
    assert bypass_in(17, 500) and bypass_in(17, 4500) and not bypass_in(17, 53) and not bypass_in(6, 4500)


def test_inbound_verdicts_for_the_statistics() -> None:
    spd = Spd()
    spd.add(pol("block", 0, "10.0.0.0/24", "10.6.0.0/24", action=Action.DISCARD))
    spd.add(pol("tun", 1, "10.0.0.0/16", "10.9.0.0/16"))
    spd.add(pol("opt", 2, "10.0.0.0/16", "10.8.0.0/16", level=Level.USE))
    spd.add(pol("pass", 3, "10.0.0.0/16", "10.7.0.0/16", action=Action.NONE))
    local = int(A("10.0.0.1"))

    def check(sa_pid: str | None, remote: str) -> InboundVerdict:
        return spd.check_inbound(sa_pid, 4, int(A(remote)), local, 6, 1000, 80)

    assert check("tun", "10.9.0.1") is InboundVerdict.ACCEPT
    assert check("opt", "10.9.0.1") is InboundVerdict.TEMPLATE_MISMATCH  # SA of another policy
    assert check(None, "10.9.0.1") is InboundVerdict.TEMPLATE_MISMATCH
    assert check("tun", "10.7.0.1") is InboundVerdict.TEMPLATE_MISMATCH  # policy wants no IPsec
    assert check("tun", "10.5.0.1") is InboundVerdict.NO_POLICY
    assert check("block", "10.6.0.1") is InboundVerdict.BLOCKED
    assert InboundVerdict.NO_POLICY.value == "in_no_policies"

    def plain(remote: str) -> InboundVerdict:
        return spd.check_plain_inbound(4, int(A(remote)), local, 6, 1000, 80)

    assert plain("10.9.0.1") is InboundVerdict.TEMPLATE_MISMATCH  # level require wants IPsec
    assert plain("10.8.0.1") is InboundVerdict.ACCEPT  # level use: optional
    assert plain("10.7.0.1") is InboundVerdict.ACCEPT
    assert plain("10.5.0.1") is InboundVerdict.ACCEPT
    assert plain("10.6.0.1") is InboundVerdict.BLOCKED


def sa(spi: int, direction: Direction, pid: str, **kw: object) -> SaSpec:
    return SaSpec(spi, direction, IpsecProto.ESP, Mode.TUNNEL, A("192.0.2.1"), A("192.0.2.2"),
                  "aes-128-gcm", bytes(20), "null", b"", policy_id=pid, **kw)  # type: ignore[arg-type]


def test_policy_state_from_the_sad() -> None:
    spd, sad = Spd(), Sad()
    spd.add(pol("p", 0, "10.0.0.0/24", "10.9.0.0/24"))
    spd.add(pol("dup", 1, "10.0.0.0/24", "10.9.0.0/24"))
    spd.add(pol("t", 2, "0.0.0.0/0", "0.0.0.0/0", template=True))
    spd.add(pol("t2", 3, "0.0.0.0/0", "0.0.0.0/0", template=True))
    st = spd.states(sad)
    assert (st["p"].active, st["p"].invalid, st["p"].ph2_state, st["p"].ph2_count) == (
        True,
        False,
        "no-phase2",
        0,
    )
    assert st["dup"].invalid and not st["dup"].active
    assert not st["t2"].invalid and not st["t"].active  # templates are never installed, never duplicates
    sad.add(sa(0x1000, Direction.IN, "p"), now=0.0)
    sad.add(sa(0x2000, Direction.OUT, "p", lifetime=Lifetime(soft_seconds=10, hard_seconds=20)), now=0.0)
    assert spd.states(sad)["p"].row() == {
        "active": True,
        "invalid": False,
        "ph2-state": "established",
        "ph2-count": 1,
    }
    sad.expire(now=11.0)
    assert (spd.states(sad)["p"].ph2_state, spd.states(sad)["p"].ph2_count) == ("expired", 1)
    sad.add(sa(0x3000, Direction.OUT, "p"), now=11.0)  # rekeyed
    assert (spd.states(sad)["p"].ph2_state, spd.states(sad)["p"].ph2_count) == ("established", 2)
    spd.remove("p")
    assert spd.states(sad)["dup"].active


def test_flow_cache_follows_changes() -> None:
    spd = Spd()
    cache = FlowCache(spd, size=2)
    src, dst = int(A("10.0.0.1")), int(A("10.9.0.1"))
    assert cache.lookup_raw(4, src, dst, 6, 1, 2) is None
    spd.add(pol("p", 0, "10.0.0.0/24", "10.9.0.0/24"))
    assert ids(cache.lookup_raw(4, src, dst, 6, 1, 2)) == "p"
    assert ids(cache.lookup_raw(4, src, dst, 6, 1, 2)) == "p"
    for port in range(3, 10):  # more flows than the cache holds
        assert ids(cache.lookup_raw(4, src, dst, 6, port, 2)) == "p"
    spd.remove("p")
    assert cache.lookup_raw(4, src, dst, 6, 1, 2) is None


def test_rebuild_now_keeps_lookups() -> None:
    """``rebuild`` only moves the classifiers' build out of the next lookup."""
    spd = Spd()
    for i in range(50):
        spd.add(pol(f"p{i}", i, f"10.{i}.0.0/16", "0.0.0.0/0", proto=6))
    spd.rebuild()
    assert ids(spd.lookup(A("10.7.1.1"), A("1.2.3.4"), 6)) == "p7"
    assert ids(spd.lookup_in(A("1.2.3.4"), A("10.7.1.1"), 6)) == "p7"
    assert spd.lookup(A("10.7.1.1"), A("1.2.3.4"), 17) is None
