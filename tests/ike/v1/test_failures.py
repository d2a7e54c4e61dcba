"""IKEv1 failure paths, lost and duplicated messages, informational exchanges, DPD, lifetimes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.ike.auth import StaticCredentials
from ipsecd.ike.events import (
    AuthenticationFailed,
    ChildSaDeleted,
    ChildSaInstalled,
    IkeSaDeleted,
    IkeSaEstablished,
    NegotiationFailed,
    PeerDead,
)
from ipsecd.ike.v1 import quick
from ipsecd.ike.v1.config import Ikev1Options, ProposalCheck
from ipsecd.ike.v2.config import ChildProposal, IkeProposal
from ipsecd.policy.events import SoftExpire
from ipsecd.policy.sad import Sad
from ipsecd.policy.types import Direction
from ipsecd.wire.ikev1.attributes import Attribute, encode_attributes
from ipsecd.wire.ikev1.enums import ExchangeType, IpsecAttr, LifeType, NotifyType, ProtocolId
from ipsecd.wire.ikev1.header import FLAG_COMMIT, Header
from ipsecd.wire.ikev1.sa import SaPayload

from .conftest import V1Pair, child, configs


def _kind(data: bytes) -> tuple[ExchangeType, int]:
    h = Header.decode(data)
    return h.exchange, h.message_id


def test_wrong_psk() -> None:
    icfg, rcfg = configs(r={"credentials": StaticCredentials(b"another secret")})
    pair = V1Pair(icfg, rcfg)
    pair.pump()
    auth, = pair.of("r", AuthenticationFailed)
    assert "pre-shared keys" in auth.detail
    assert pair.r is not None and pair.r.closed and not pair.of("r", IkeSaEstablished)
    pair.advance(200)
    assert pair.of("i", PeerDead) and pair.i.closed


def test_phase1_no_proposal_chosen_names_the_attribute() -> None:
    icfg, rcfg = configs(i={"proposals": (IkeProposal(("aes-256",), ("sha256",), ("sha256",), ("ecp256",)),)})
    pair = V1Pair(icfg, rcfg)
    pair.pump()
    fail, = pair.of("r", NegotiationFailed)
    assert fail.notify == "NO_PROPOSAL_CHOSEN" and "enc-algorithm aes-256 not in the profile" in fail.detail
    mine, = pair.of("i", NegotiationFailed)
    assert mine.fatal and mine.notify == "NO_PROPOSAL_CHOSEN" and pair.i.closed


def test_quick_mode_no_proposal_chosen_keeps_phase1() -> None:
    icfg, rcfg = configs(
        r={
            "children": (
                child(
                    local="10.2.0.0/16",
                    remote="10.1.0.0/16",
                    proposals=(ChildProposal(("aes-128-cbc",), ("sha256",), "modp2048"),),
                ),
            )
        }
    )
    pair = V1Pair(icfg, rcfg)
    pair.pump()
    fail, = pair.of("r", NegotiationFailed)
    assert "pfs-group ecp256 differs" in fail.detail and not fail.fatal
    mine, = pair.of("i", NegotiationFailed)
    assert mine.notify == "NO_PROPOSAL_CHOSEN" and not mine.fatal
    assert not pair.of("i", ChildSaInstalled) and pair.i.state == "established"


def test_proxy_ids_without_policy() -> None:
    icfg, rcfg = configs(i={"children": (child(remote="10.9.0.0/16"),)})
    pair = V1Pair(icfg, rcfg)
    pair.pump()
    fail, = pair.of("r", NegotiationFailed)
    assert fail.notify == "INVALID_ID_INFORMATION" and "10.9.0.0/16" in fail.detail


def test_lost_phase1_messages_are_retransmitted() -> None:
    """(3) is lost on its first try; (6) is lost, so (5) is sent again and answered from the cache."""
    seen: dict[str, list[bytes]] = {"i>r": [], "r>i": []}

    def drop(direction: str, data: bytes) -> bool:
        sent = seen[direction]
        if data in sent:
            return False
        sent.append(data)
        return (direction, len(sent)) in (("i>r", 2), ("r>i", 3))

    pair = V1Pair(*configs())
    pair.drop = drop
    pair.pump()
    assert not pair.of("i", IkeSaEstablished)
    pair.advance(30)
    assert len(pair.of("i", IkeSaEstablished)) == 1 and len(pair.of("r", IkeSaEstablished)) == 1
    assert len(pair.of("i", ChildSaInstalled)) == 1 and len(pair.of("r", ChildSaInstalled)) == 1
    from_r = [d for direction, d, _ in pair.wire if direction == "r>i"]
    assert from_r.count(seen["r>i"][2]) == 2  # the responder's (6) went out twice, byte for byte
    from_i = [d for direction, d, _ in pair.wire if direction == "i>r"]
    assert from_i.count(seen["i>r"][1]) == 2 and from_i.count(seen["i>r"][2]) == 2


def test_lost_quick_mode_3_is_answered_from_cache() -> None:
    def drop(direction: str, data: bytes) -> bool:
        quick = [d for _, d, _ in pair.wire if _kind(d)[0] == ExchangeType.QUICK]
        return len(quick) == 3 and data == quick[2] and quick.count(data) == 1

    pair = V1Pair(*configs())
    pair.drop = drop
    pair.pump()
    assert len(pair.of("i", ChildSaInstalled)) == 1 and not pair.of("r", ChildSaInstalled)
    pair.advance(10)
    assert len(pair.of("i", ChildSaInstalled)) == 1 and len(pair.of("r", ChildSaInstalled)) == 1


def test_duplicates_are_answered_not_processed_twice() -> None:
    pair = V1Pair(*configs())
    pair.pump()
    assert pair.r is not None
    before = len(pair.wire)
    for direction, data, (local, remote) in list(pair.wire):
        if direction == "i>r":
            pair.r.receive_datagram(data, (remote, local), pair.now)
    replies = pair.r.datagrams_to_send(pair.now)
    assert len(replies) == 4  # (2), (4), (6), quick (2): each exactly as sent before
    assert all(any(r == d for _, d, _ in pair.wire[:before]) for r, _ in replies)
    pair._events()
    assert len(pair.of("r", IkeSaEstablished)) == 1 and len(pair.of("r", ChildSaInstalled)) == 1


def test_half_open_responder_is_forgotten() -> None:
    pair = V1Pair(*configs())
    pair.drop = lambda direction, data: direction == "i>r" and len(pair.wire) > 1
    pair.pump()
    pair.advance(31)
    assert pair.r is not None and pair.r.closed
    assert pair.of("r", IkeSaDeleted)[0].reason == "phase 1 not completed in time"


def test_delete_removes_ipsec_and_isakmp_sa() -> None:
    pair = V1Pair(*configs())
    pair.pump()
    pair.i.delete()
    pair.pump()
    (gone,) = pair.of("r", ChildSaDeleted)
    assert (
        gone.reason == "deleted by the peer" and pair.of("r", IkeSaDeleted)[0].reason == "deleted by the peer"
    )
    assert pair.of("i", ChildSaDeleted) and pair.i.closed
    infos = [d for _, d, _ in pair.wire if _kind(d)[0] == ExchangeType.INFORMATIONAL]
    assert len(infos) == 2 and all(Header.decode(d).encrypted for d in infos)


def test_dpd_keeps_a_live_peer_and_declares_a_silent_one_dead() -> None:
    pair = V1Pair(*configs(i={"dpd_interval": 10.0}, r={"dpd_interval": 10.0}))
    pair.pump()
    pair.advance(60)
    assert not pair.of("i", PeerDead) and pair.i.state == "established"
    infos = [d for _, d, _ in pair.wire if _kind(d)[0] == ExchangeType.INFORMATIONAL]
    assert infos  # R-U-THERE and ACKs went both ways
    pair.drop = lambda direction, data: True
    pair.advance(80)
    assert pair.of("i", PeerDead) or pair.of("r", PeerDead)


def test_claim_sends_responder_lifetime() -> None:
    icfg, rcfg = configs(r={"children": (child(local="10.2.0.0/16", remote="10.1.0.0/16", lifetime=600.0),)})
    pair = V1Pair(icfg, rcfg, ropt=Ikev1Options(proposal_check=ProposalCheck.CLAIM))
    pair.pump()
    ic, = pair.of("i", ChildSaInstalled)
    rc, = pair.of("r", ChildSaInstalled)
    assert ic.outbound.lifetime.hard_seconds == 600 == rc.inbound.lifetime.hard_seconds


def test_strict_refuses_a_longer_lifetime_obey_takes_it() -> None:
    icfg, rcfg = configs(r={"children": (child(local="10.2.0.0/16", remote="10.1.0.0/16", lifetime=600.0),)})
    pair = V1Pair(icfg, rcfg, ropt=Ikev1Options(proposal_check=ProposalCheck.STRICT))
    pair.pump()
    assert "proposal-check=strict" in pair.of("r", NegotiationFailed)[0].detail
    pair = V1Pair(icfg, rcfg)
    pair.pump()
    assert pair.of("r", ChildSaInstalled)[0].inbound.lifetime.hard_seconds == 1800


def test_commit_bit_is_honoured() -> None:
    """A responder's commit bit: install only on CONNECTED; an initiator's: we send CONNECTED."""
    def set_commit(direction: str, data: bytes) -> bytes:
        h = Header.decode(data)
        if h.exchange == ExchangeType.QUICK:
            return data[:19] + bytes([data[19] | FLAG_COMMIT]) + data[20:]
        return data

    pair = V1Pair(*configs(), mangle=set_commit)
    pair.pump()
    assert len(pair.of("i", ChildSaInstalled)) == 1 and len(pair.of("r", ChildSaInstalled)) == 1
    infos = [
        d for direction, d, _ in pair.wire if direction == "r>i" and _kind(d)[0] == ExchangeType.INFORMATIONAL
    ]
    assert len(infos) == 1  # CONNECTED, which released the initiator's install


def test_commit_without_connected_installs_nothing() -> None:
    def set_commit(direction: str, data: bytes) -> bytes:
        if direction == "r>i" and Header.decode(data).exchange == ExchangeType.QUICK:
            return data[:19] + bytes([data[19] | FLAG_COMMIT]) + data[20:]
        return data

    pair = V1Pair(*configs(), mangle=set_commit)
    pair.pump()
    assert not pair.of("i", ChildSaInstalled) and pair.of("r", ChildSaInstalled)
    assert pair.r is not None
    rc = pair.of("r", ChildSaInstalled)[0]
    pair.r.send_notify(NotifyType.CONNECTED, ProtocolId.ESP, rc.inbound.spi.to_bytes(4, "big"))
    pair.pump()
    assert len(pair.of("i", ChildSaInstalled)) == 1


def test_phase1_lifetime_deletes_isakmp_sa_only() -> None:
    """At its lifetime the ISAKMP SA DELETEs itself alone; the IPsec SAs outlive it at both ends (the
    peer's close on our DELETE keeps them too), for a later ISAKMP SA to adopt."""
    pair = V1Pair(*configs(i={"lifetime": 100.0}, r={"lifetime": 100.0}))
    pair.pump()
    assert pair.r is not None
    spis = {side: {e.inbound.spi for e in pair.of(side, ChildSaInstalled)} for side in "ir"}
    pair.advance(101)
    assert pair.i.closed and pair.r.closed
    assert [e.reason for e in pair.of("i", IkeSaDeleted)] == ["phase 1 lifetime expired"]
    assert len(pair.of("r", IkeSaDeleted)) == 1  # at its own lifetime (the same), or by our DELETE
    assert not pair.of("i", ChildSaDeleted) and not pair.of("r", ChildSaDeleted)
    assert set(pair.i.children) == spis["i"] and set(pair.r.children) == spis["r"]
    isakmp = [d for d, data, _ in pair.wire if _kind(data)[0] == ExchangeType.INFORMATIONAL]
    assert sorted(isakmp) in (["i>r"], ["i>r", "r>i"])  # the ISAKMP SA's DELETE, none for IPsec SAs

    # a new phase 1 adopts them: the peer's DELETE for an adopted SA arrives over the new one
    old_i, old_r = pair.i, pair.r
    again = V1Pair(*configs(i={"children": ()}))  # no quick mode of its own
    again.pump()
    assert again.r is not None and again.i.state == again.r.state == "established"
    for old, new in ((old_i, again.i), (old_r, again.r)):
        for spi, (name, proto, out) in old.children.items():
            new.adopt(spi, name, proto, out)
    (spi,) = spis["i"]
    again.i.delete_child(spi, "re-keyed")
    again.pump()
    (gone,) = again.of("r", ChildSaDeleted)
    assert gone.outbound_spi == spi and gone.reason == "deleted by the peer" and not again.r.children


def test_a_dead_peer_takes_the_ipsec_sas_along() -> None:
    pair = V1Pair(*configs(i={"dpd_interval": 10.0}, r={"dpd_interval": 10.0}))
    pair.pump()
    pair.drop = lambda d, b: True
    pair.advance(400)
    assert pair.of("i", PeerDead) and pair.i.closed and not pair.i.children


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 8), st.binary(min_size=1, max_size=40))
def test_mangled_messages_never_raise(which: int, noise: bytes) -> None:
    pair = V1Pair(*configs())
    pair.pump()
    data = bytearray(pair.wire[which][1])
    for k, b in enumerate(noise):
        data[(k * 41 + b) % len(data)] ^= b or 1
    for sa in (pair.i, pair.r):
        assert sa is not None
        sa.receive_datagram(bytes(data), (("198.51.100.2", 500), ("192.0.2.1", 500)), pair.now)
        sa.handle_timer(pair.now + 1)


def test_an_error_notify_after_phase1_keeps_it() -> None:
    icfg, rcfg = configs()
    pair = V1Pair(replace(icfg), rcfg)
    pair.pump()
    assert pair.r is not None
    pair.r.send_notify(NotifyType.NO_PROPOSAL_CHOSEN, ProtocolId.ISAKMP, b"")
    pair.pump()
    assert pair.i.state == "established"  # an encrypted, authenticated error for phase 2 only


def test_forged_quick_mode_messages_leave_nothing_behind() -> None:
    pair = V1Pair(*configs())
    pair.pump()
    assert pair.r is not None and pair.r.keys is not None
    r = pair.r
    before = (len(r.exchanges), len(r.keys.exchange_ivs))
    for mid in range(1, 50):
        hdr = Header(r.cky_i, r.cky_r, 8, ExchangeType.QUICK, 1, mid)
        body = bytes(range(64))
        r.receive_datagram(
            hdr.encode(28 + len(body)) + body, (("198.51.100.2", 500), ("192.0.2.1", 500)), pair.now
        )
    assert (len(r.exchanges), len(r.keys.exchange_ivs)) == before


def test_only_the_quick_mode_initiator_rekeys() -> None:
    """Both ends reach the soft lifetime together; the side that answered the quick mode leaves the
    re-key to the side that started it (two re-keys would make two SA pairs for one policy)."""
    pair = V1Pair(*configs())
    pair.pump()
    assert pair.r is not None
    (rc,) = pair.of("r", ChildSaInstalled)
    (ic,) = pair.of("i", ChildSaInstalled)
    sent = len(pair.wire)
    pair.r.rekey_child(rc.inbound.spi)
    pair.pump()
    assert len(pair.wire) == sent and len(pair.of("i", ChildSaInstalled)) == 1
    pair.i.rekey_child(ic.inbound.spi)
    pair.pump()
    assert len(pair.of("i", ChildSaInstalled)) == 2 and len(pair.of("r", ChildSaInstalled)) == 2


def test_offered_lifebytes_are_installed_for_the_data_plane(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer that offers kilobytes (strongSwan's life_bytes; RouterOS proposals have none) gets them:
    both ends install hard = KB × 1024 and soft = 90 %, which the SAD enforces on the byte counters;
    a RESPONDER-LIFETIME with fewer kilobytes lowers the initiator's."""
    real = quick.phase2_offer

    def offering(kbytes: int) -> Callable[..., SaPayload]:
        def offer(*args: Any, **kw: Any) -> SaPayload:
            sa_payload = real(*args, **kw)
            for prop in sa_payload.proposals:
                for t in prop.transforms:
                    t.attributes += [Attribute(IpsecAttr.SA_LIFE_TYPE, LifeType.KILOBYTES),
                                     Attribute(IpsecAttr.SA_LIFE_DURATION, kbytes)]
            return sa_payload
        return offer

    monkeypatch.setattr(quick, "phase2_offer", offering(1000))
    pair = V1Pair(*configs())
    pair.pump()
    for side in "ir":
        (ev,) = pair.of(side, ChildSaInstalled)
        for spec in (ev.inbound, ev.outbound):
            assert (spec.lifetime.soft_bytes, spec.lifetime.hard_bytes) == (921600, 1024000)
            assert spec.lifetime.hard_seconds == 1800
    (ev,) = pair.of("r", ChildSaInstalled)
    sad = Sad()
    rec = sad.add(ev.inbound, now=0.0)
    rec.counters.bytes = 921600  # type: ignore[misc]
    assert sad.expire(now=1.0) == [SoftExpire(ev.inbound.spi, Direction.IN, by_bytes=True)]
    assert quick._responder_lifetime(encode_attributes([
        Attribute(IpsecAttr.SA_LIFE_TYPE, LifeType.SECONDS), Attribute(IpsecAttr.SA_LIFE_DURATION, 600),
        Attribute(IpsecAttr.SA_LIFE_TYPE, LifeType.KILOBYTES), Attribute(IpsecAttr.SA_LIFE_DURATION, 500),
    ]), 1800.0, 1000) == (600.0, 500)
    assert quick._responder_lifetime(b"\xff", 1800.0, 1000) == (1800.0, 1000)
