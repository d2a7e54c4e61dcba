from __future__ import annotations

import ipaddress

from ipsecd.daemon.peersel import PeerEndpoint, candidates, select_peer


def _p(name: str, addr: str | None, **kw: object) -> PeerEndpoint:
    return PeerEndpoint(name, ipaddress.ip_network(addr) if addr else None, **kw)  # type: ignore[arg-type]


def test_most_specific_prefix_wins_regardless_of_order() -> None:
    peers = [_p("any", None), _p("wide", "10.0.0.0/8"), _p("host", "10.1.2.3/32"), _p("net", "10.1.0.0/16")]
    assert select_peer(peers, "10.1.2.3").name == "host"  # type: ignore[union-attr]
    assert select_peer(peers, "10.1.9.9").name == "net"  # type: ignore[union-attr]
    assert select_peer(peers, "10.200.0.1").name == "wide"  # type: ignore[union-attr]
    assert select_peer(peers, "192.0.2.1").name == "any"  # type: ignore[union-attr]
    assert select_peer(peers[1:], "192.0.2.1") is None


def test_tie_keeps_configuration_order_and_filters() -> None:
    peers = [
        _p("off", "10.1.2.3/32", disabled=True),
        _p("v1", "10.1.2.3/32", exchange_mode="main"),
        _p("bound", "10.1.2.3/32", local_address=ipaddress.ip_address("192.0.2.1")),
        _p("first", "10.1.0.0/16"),
        _p("second", "10.1.0.0/16"),
    ]
    assert select_peer(peers, "10.1.2.3", "192.0.2.1").name == "bound"  # type: ignore[union-attr]
    assert select_peer(peers, "10.1.2.3", "192.0.2.2").name == "first"  # type: ignore[union-attr]
    assert select_peer(peers, "2001:db8::1") is None
    assert select_peer(peers, "not-an-address") is None


def test_host_only_for_single_address() -> None:
    assert _p("h", "10.0.0.1/32").host == ipaddress.ip_address("10.0.0.1")
    assert _p("n", "10.0.0.0/24").host is None
    assert _p("a", None).host is None


def test_an_unresolved_dns_name_peer_matches_nobody() -> None:
    named = PeerEndpoint("dyn", None, hostname="branch1.sn.mynetname.net")
    assert select_peer([named], "192.0.2.7") is None
    resolved = PeerEndpoint("dyn", ipaddress.ip_network("192.0.2.7/32"), hostname="branch1.sn.mynetname.net")
    assert select_peer([resolved], "192.0.2.7") is resolved


def test_ikev1_messages_go_to_a_peer_of_their_exchange_mode() -> None:
    peers = [
        _p("v2", "10.1.2.3/32"),
        _p("main", "10.1.0.0/16", exchange_mode="main"),
        _p("aggr", "10.1.2.0/24", exchange_mode="aggressive"),
    ]
    assert select_peer(peers, "10.1.2.3").name == "v2"  # type: ignore[union-attr]
    assert select_peer(peers, "10.1.2.3", mode="main").name == "main"  # type: ignore[union-attr]
    assert select_peer(peers, "10.1.2.3", mode="aggressive").name == "aggr"  # type: ignore[union-attr]
    assert select_peer(peers, "10.1.2.3", mode="base") is None


def test_candidates_are_every_match_most_specific_first() -> None:
    peers = [
        _p("rw", None, exchange_mode="aggressive"),
        _p("a", "10.1.2.3/32", exchange_mode="aggressive"),
        _p("b", "10.1.2.3/32", exchange_mode="aggressive"),
        _p("main", "10.1.2.3/32", exchange_mode="main"),
    ]
    assert [p.name for p in candidates(peers, "10.1.2.3", mode="aggressive")] == ["a", "b", "rw"]
    assert [p.name for p in candidates(peers, "192.0.2.9", mode="aggressive")] == ["rw"]
