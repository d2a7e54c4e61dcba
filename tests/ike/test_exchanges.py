"""CREATE_CHILD_SA, CHILD_SA and IKE SA rekey, DELETE, DPD, NAT-T and mode-config between two peers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from ipaddress import ip_address

from ipsecd.ike.events import (
    AddressLeased,
    ChildSaDeleted,
    ChildSaInstalled,
    ChildSaRekeyed,
    IkeSaDeleted,
    IkeSaEstablished,
    IkeSaRekeyed,
    NegotiationFailed,
    PeerDead,
    VirtualIpAssigned,
)
from ipsecd.ike.v2.config import ModeConfigLease
from ipsecd.policy.types import UdpEncap
from ipsecd.wire.enums import ExchangeType
from ipsecd.wire.ikev2.message import Message

from .conftest import Pair, child, configs


def _established(p: Pair) -> None:
    p.pump()
    assert p.events("i", IkeSaEstablished) and p.events("r", IkeSaEstablished)


def test_create_child_sa_with_pfs(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    extra_r = child("second", local="10.20.0.0/16", remote="10.10.0.0/16")
    p = peer_pair(i, replace(r, children=(*r.children, extra_r)))
    _established(p)
    p.i.create_child(child("second", local="10.10.0.0/16", remote="10.20.0.0/16"))
    p.pump()
    ic = p.events("i", ChildSaInstalled)
    rc = p.events("r", ChildSaInstalled)
    assert len(ic) == 2 and len(rc) == 2 and ic[1].child == "second" and rc[1].child == "second"
    assert (
        ic[1].outbound.encr_key == rc[1].inbound.encr_key
        and ic[1].inbound.encr_key == rc[1].outbound.encr_key
    )
    assert ic[1].outbound.encr_key != ic[0].outbound.encr_key
    create = [
        Message.decode(b)
        for d, b in p.wire
        if Message.decode(b).header.exchange == ExchangeType.CREATE_CHILD_SA
    ]
    assert len(create) == 2 and create[0].header.message_id == 2


def test_child_rekey_at_soft_lifetime(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    i = replace(i, children=(child(lifetime=100.0),))
    r = replace(r, children=(child(local="10.2.0.0/16", remote="10.1.0.0/16", lifetime=100.0),))
    p = peer_pair(i, r)
    _established(p)
    old_i = p.events("i", ChildSaInstalled)[0]
    p.advance(86.0)  # initiator rekeys at 85 % of the lifetime
    new_i = p.events("i", ChildSaInstalled)
    assert len(new_i) == 2 and new_i[1].rekey_of == old_i.inbound.spi
    assert p.events("i", ChildSaRekeyed)[0].old_inbound_spi == old_i.inbound.spi
    assert [e.inbound_spi for e in p.events("i", ChildSaDeleted)] == [old_i.inbound.spi]
    assert [e.outbound_spi for e in p.events("r", ChildSaDeleted)] == [old_i.inbound.spi]
    assert set(p.i.children) == {new_i[1].inbound.spi} and len(p.rsa.children) == 1
    assert p.events("r", ChildSaInstalled)[1].rekey_of is not None


def test_ike_sa_rekey_keeps_children(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    p = peer_pair(replace(i, lifetime=1000.0), replace(r, lifetime=1000.0))
    _established(p)
    old_spi = p.i.local_spi
    p.advance(901.0)
    ri, rr = p.events("i", IkeSaRekeyed), p.events("r", IkeSaRekeyed)
    assert len(ri) == 1 and len(rr) == 1 and ri[0].old_spi == old_spi and ri[0].new_spi == p.i.local_spi
    assert p.i.local_spi != old_spi and p.i.state == "established" and len(p.i.children) == 1
    assert not p.events("i", IkeSaDeleted) and not p.events("r", IkeSaDeleted)
    assert p.rsa.local_spi == rr[0].new_spi
    # the new IKE SA works: a CHILD_SA exchange over it
    p.i.create_child(p.icfg.children[0])
    p.pump()
    assert len(p.events("r", ChildSaInstalled)) == 2


def test_delete_ike_sa_takes_children(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    _established(p)
    p.i.delete()
    p.pump()
    assert p.events("i", IkeSaDeleted) and p.events("r", IkeSaDeleted)
    assert len(p.events("i", ChildSaDeleted)) == 1 and len(p.events("r", ChildSaDeleted)) == 1
    assert p.i.state == "closed" and not p.r.by_spi


def test_dpd_probe_and_dead_peer(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    p = peer_pair(replace(i, dpd_interval=30.0), r)
    _established(p)
    p.advance(31.0)
    info = [d for d, b in p.wire if Message.decode(b).header.exchange == ExchangeType.INFORMATIONAL]
    assert info == ["i>r", "r>i"] and p.i.state == "established"
    p.drop = lambda d, b: True  # the peer vanishes
    p.advance(30.0 + 200.0)
    dead = p.events("i", PeerDead)
    assert dead and "INFORMATIONAL" in dead[0].detail and p.i.state == "closed"
    assert p.events("i", ChildSaDeleted)


def test_traffic_defers_dpd(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    p = peer_pair(replace(i, dpd_interval=30.0), r)
    _established(p)
    p.advance(20.0)
    p.i.traffic_seen(p.now)
    p.advance(20.0)
    assert not [b for _, b in p.wire if Message.decode(b).header.exchange == ExchangeType.INFORMATIONAL]


def test_nat_detected_floats_to_4500(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair(nat=True)
    _established(p)
    ie, re_ = p.events("i", IkeSaEstablished)[0], p.events("r", IkeSaEstablished)[0]
    assert ie.nat_local and not ie.nat_remote and re_.nat_remote and not re_.nat_local
    assert p.i.addr == (("192.0.2.1", 4500), ("198.51.100.2", 4500))
    assert p.rsa.addr[1] == ("203.0.113.9", 44500)
    ic, rc = p.events("i", ChildSaInstalled)[0], p.events("r", ChildSaInstalled)[0]
    assert ic.outbound.encap == UdpEncap(4500, 4500) and rc.outbound.encap == UdpEncap(4500, 44500)
    assert rc.outbound.dst == ip_address("203.0.113.9")


def test_forced_encapsulation_without_nat(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    p = peer_pair(replace(i, force_encap=True), r)
    _established(p)
    assert p.events("r", IkeSaEstablished)[0].nat_remote
    assert p.events("i", ChildSaInstalled)[0].outbound.encap == UdpEncap(4500, 4500)
    assert p.events("r", ChildSaInstalled)[0].inbound.encap == UdpEncap(4500, 4500)


def test_mode_config_lease_and_narrowing(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    lease = ModeConfigLease(ip_address("10.66.0.7"), 24, (ip_address("10.2.0.53"),), ("10.2.0.0/16",))
    i = replace(i, mode_config_request=True, children=(child(local="0.0.0.0/0", remote="10.2.0.0/16"),))
    r = replace(r, lease=lambda remote_id: lease, children=(child(local="10.2.0.0/16", remote="0.0.0.0/0"),))
    p = peer_pair(i, r)
    _established(p)
    v = p.events("i", VirtualIpAssigned)
    assert v and v[0].addresses == (ip_address("10.66.0.7"),) and v[0].dns == (ip_address("10.2.0.53"),)
    assert v[0].subnets == ("10.2.0.0/16",)
    assert p.events("r", AddressLeased)[0].address == ip_address("10.66.0.7")
    sel = p.events("i", ChildSaInstalled)[0].outbound.selector
    assert sel is not None and str(sel.src) == "10.66.0.7/32" and str(sel.dst) == "10.2.0.0/16"


def test_create_child_invalid_ke_retries_with_the_responders_pfs_group(
    peer_pair: Callable[..., Pair],
) -> None:
    from ipsecd.ike.v2.config import ChildProposal

    i, r = configs()
    two = (ChildProposal(("aes-128-gcm",), (), "x25519"), ChildProposal(("aes-128-gcm",), (), "ecp256"))
    one = (ChildProposal(("aes-128-gcm",), (), "ecp256"),)
    p = peer_pair(
        i,
        replace(
            r,
            children=(*r.children, child("pfs", local="10.20.0.0/16", remote="10.10.0.0/16", proposals=one)),
        ),
    )
    _established(p)
    p.i.create_child(child("pfs", local="10.10.0.0/16", remote="10.20.0.0/16", proposals=two))
    p.pump()
    creates = [d for d, b in p.wire if Message.decode(b).header.exchange == ExchangeType.CREATE_CHILD_SA]
    assert creates == ["i>r", "r>i", "i>r", "r>i"]  # INVALID_KE_PAYLOAD, then the retry
    installed = p.events("i", ChildSaInstalled)
    assert len(installed) == 2 and installed[1].child == "pfs"
    assert not [e for e in p.r_events if isinstance(e, NegotiationFailed)]  # a guess, not a failure
    assert p.i.children[installed[1].inbound.spi].algs.group.name == "ecp256"  # type: ignore[union-attr]


def test_create_child_no_proposal_explained_on_both_sides(peer_pair: Callable[..., Pair]) -> None:
    from ipsecd.ike.v2.config import ChildProposal

    i, r = configs()
    theirs = (ChildProposal(("aes-256-cbc",), ("sha512",), "ecp256"),)
    p = peer_pair(
        i,
        replace(
            r,
            children=(*r.children, child("x", local="10.20.0.0/16", remote="10.10.0.0/16", proposals=theirs)),
        ),
    )
    _established(p)
    p.i.create_child(child("x", local="10.10.0.0/16", remote="10.20.0.0/16"))
    p.pump()
    rf, if_ = p.events("r", NegotiationFailed), p.events("i", NegotiationFailed)
    assert rf[0].exchange == "CREATE_CHILD_SA" and rf[0].notify == "NO_PROPOSAL_CHOSEN" and not rf[0].fatal
    assert "ENCR offered [aes-128-gcm,aes-128-cbc] accepted [aes-256-cbc]" in rf[0].detail
    assert "proposal enc-algorithms" in rf[0].detail
    assert if_[0].notify == "NO_PROPOSAL_CHOSEN" and "change the policy's proposal" in if_[0].detail
    assert (
        "we offered ENCR [aes-128-gcm,aes-128-cbc]; INTEG [sha256]; DH [ecp256]; ESN [no-esn]"
        in if_[0].detail
    )
    assert p.i.state == "established" and len(p.i.children) == 1


def test_further_policies_come_by_create_child_sa_with_nonce_and_ke(peer_pair: Callable[..., Pair]) -> None:
    """Two children configured: the first rides on IKE_AUTH, the second is queued with it (before the
    IKE SA is up) yet must go out as a full CREATE_CHILD_SA — Nonce, KE for its PFS group — which
    strongSwan checks (it answered INVALID_SYNTAX when the Nonce was missing)."""
    i, r = configs()
    second_i = child("x", local="10.10.0.0/16", remote="10.20.0.0/16")
    second_r = child("x", local="10.20.0.0/16", remote="10.10.0.0/16")
    p = peer_pair(replace(i, children=(*i.children, second_i)), replace(r, children=(*r.children, second_r)))
    p.pump()
    for side in ("i", "r"):
        assert sorted(e.child for e in p.events(side, ChildSaInstalled)) == ["net", "x"], side
    requests = [Message.decode(b) for d, b in p.wire if d == "i>r"]
    (create,) = [m for m in requests if m.header.exchange == ExchangeType.CREATE_CHILD_SA]
    assert create.header.message_id == 2
    assert not p.events("i", NegotiationFailed) and not p.events("r", NegotiationFailed)


def test_ike_rekey_invalid_ke_retries_with_the_responders_group(peer_pair: Callable[..., Pair]) -> None:
    from ipsecd.ike.v2.config import IkeProposal

    i, r = configs()
    both = (IkeProposal(("aes-128",), ("sha256",), ("sha256",), ("ecp256", "x25519")),)
    p = peer_pair(replace(i, proposals=both), r)
    _established(p)
    p.rsa.config = replace(
        p.rsa.config, proposals=(IkeProposal(("aes-128",), ("sha256",), ("sha256",), ("x25519",)),)
    )
    p.i.rekey_ike()
    p.pump()
    assert p.events("i", IkeSaRekeyed) and p.events("r", IkeSaRekeyed)
    assert p.i.algs is not None and p.i.algs.group.name == "x25519"


def test_mode_config_ipv6(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    lease = ModeConfigLease(ip_address("2001:db8:66::7"), 128, (ip_address("2001:db8::53"),))
    i = replace(i, mode_config_request=True, children=(child(local="::/0", remote="2001:db8::/48"),))
    r = replace(r, lease=lambda remote_id: lease, children=(child(local="2001:db8::/48", remote="::/0"),))
    p = peer_pair(i, r)
    _established(p)
    v = p.events("i", VirtualIpAssigned)
    assert (
        v and v[0].addresses == (ip_address("2001:db8:66::7"),) and v[0].dns == (ip_address("2001:db8::53"),)
    )
    sel = p.events("i", ChildSaInstalled)[0].outbound.selector
    assert sel is not None and str(sel.src) == "2001:db8:66::7/128" and str(sel.dst) == "2001:db8::/48"


def test_ike_sa_deleted_at_its_lifetime_when_rekeys_keep_failing(peer_pair: Callable[..., Pair]) -> None:
    from ipsecd.ike.v2.config import IkeProposal

    i, r = configs()
    p = peer_pair(replace(i, lifetime=100.0), replace(r, lifetime=1000.0))
    _established(p)
    p.rsa.config = replace(
        p.rsa.config, proposals=(IkeProposal(("aes-256",), ("sha512",), ("sha512",), ("ecp384",)),)
    )
    p.advance(95.0)
    refused = p.events("i", NegotiationFailed)
    assert refused and refused[0].notify == "NO_PROPOSAL_CHOSEN" and not refused[0].fatal
    assert p.i.state == "established"
    p.advance(10.0)
    assert p.i.state == "closed" and p.events("r", IkeSaDeleted) and p.events("i", ChildSaDeleted)
