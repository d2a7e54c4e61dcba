"""Failure paths between two peers: INVALID_KE, COOKIE, NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE,
AUTHENTICATION_FAILED, retransmission and giving up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from ipsecd.ike.auth import StaticCredentials
from ipsecd.ike.events import (
    AuthenticationFailed,
    ChildSaDeleted,
    ChildSaInstalled,
    IkeSaDeleted,
    IkeSaEstablished,
    NegotiationFailed,
)
from ipsecd.ike.v2.config import ChildProposal, IkeProposal, Retransmit
from ipsecd.ike.v2.sa import ikev2_router
from ipsecd.wire.enums import ExchangeType, NotifyType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.ts import TrafficSelector, TsPayload

from .conftest import Pair, child, configs, det_rng, spi_allocator


def _exchanges(p: Pair) -> list[tuple[str, str, int]]:
    out = []
    for d, b in p.wire:
        m = Message.decode(b)
        out.append((d, m.header.exchange.name, m.header.message_id))
    return out


def test_invalid_ke_retries_with_the_responders_group(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    i = replace(i, proposals=(IkeProposal(("aes-128",), ("sha256",), ("sha256",), ("x25519", "ecp256")),))
    p = peer_pair(i, r)
    p.pump()
    first_reply = Message.decode(p.wire[1][1])
    n = first_reply.notify(NotifyType.INVALID_KE_PAYLOAD)
    assert n is not None and n.data == (19).to_bytes(2, "big")
    assert [e for _, e, _ in _exchanges(p)] == ["IKE_SA_INIT"] * 4 + ["IKE_AUTH"] * 2
    assert p.events("i", IkeSaEstablished)[0].dh == "ecp256"
    assert len(p.events("r", IkeSaEstablished)) == 1


def test_cookie_round_trip_above_the_half_open_threshold(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    p.r = ikev2_router(lambda addr: p.rcfg, rng=det_rng(b"r"), spi_alloc=spi_allocator(0x2000), now=0.0,
                     cookie_threshold=0)
    p.pump()
    first_reply = Message.decode(p.wire[1][1])
    assert first_reply.notify(NotifyType.COOKIE) is not None and first_reply.header.spi_r == bytes(8)
    second = Message.decode(p.wire[2][1])
    assert second.payloads[0].ptype() == 41  # the COOKIE notify goes first
    assert p.r.counters["cookies-sent"] == 1
    assert len(p.events("i", IkeSaEstablished)) == 1 and len(p.events("r", IkeSaEstablished)) == 1


def test_forged_cookie_is_not_accepted() -> None:
    jar_mgr = ikev2_router(lambda addr: None, rng=det_rng(b"x"), spi_alloc=spi_allocator(1), now=0.0)
    i, _ = configs()
    from ipsecd.ike.v2.sa import IkeSa

    sa = IkeSa.initiator(i, rng=det_rng(b"i"), spi_alloc=spi_allocator(1), now=0.0)
    data = sa.datagrams_to_send(0.0)[0][0]
    msg = Message.decode(data)
    reply = jar_mgr.cookies.check(data, "192.0.2.1", 0.0)
    assert reply is not None
    cookie = Message.decode(reply).notify(NotifyType.COOKIE)
    assert cookie is not None
    # the same cookie from another address is refused, from the right one accepted
    from ipsecd.wire.ikev2.payloads.notify import NotifyPayload

    msg.payloads.insert(0, NotifyPayload(NotifyType.COOKIE, cookie.data))
    again = msg.encode()
    assert jar_mgr.cookies.check(again, "192.0.2.1", 1.0) is None
    assert jar_mgr.cookies.check(again, "192.0.2.99", 1.0) is not None


def test_no_proposal_chosen_explains_transform_by_transform(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    r = replace(r, proposals=(IkeProposal(("aes-256",), ("sha256",), ("sha256",), ("ecp256",)),))
    p = peer_pair(i, r)
    p.pump()
    rf = p.events("r", NegotiationFailed)
    assert len(rf) == 1 and rf[0].notify == "NO_PROPOSAL_CHOSEN" and rf[0].fatal
    assert "ENCR offered [aes-128-cbc] accepted [aes-256-cbc]" in rf[0].detail
    assert "change profile enc-algorithm to match" in rf[0].detail
    assf = p.events("i", NegotiationFailed)
    assert assf and assf[0].notify == "NO_PROPOSAL_CHOSEN" and "aes-128-cbc" in assf[0].detail
    assert p.events("i", IkeSaDeleted) and p.i.state == "closed" and not p.r.by_spi


def test_child_no_proposal_keeps_the_ike_sa(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    r = replace(r, children=(child(local="10.2.0.0/16", remote="10.1.0.0/16",
                                   proposals=(ChildProposal(("aes-256-cbc",), ("sha512",), "none"),)),))
    p = peer_pair(i, r)
    p.pump()
    assert p.events("i", IkeSaEstablished) and p.events("r", IkeSaEstablished)
    assert not p.events("i", ChildSaInstalled) and not p.events("r", ChildSaInstalled)
    rf = p.events("r", NegotiationFailed)
    assert rf[0].notify == "NO_PROPOSAL_CHOSEN" and not rf[0].fatal
    assert "proposal enc-algorithms and proposal auth-algorithms" in rf[0].detail
    assert p.events("i", NegotiationFailed)[0].notify == "NO_PROPOSAL_CHOSEN"
    assert p.i.state == "established"


def test_ts_unacceptable(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    r = replace(r, children=(child(local="10.9.0.0/16", remote="10.1.0.0/16"),))
    p = peer_pair(i, r)
    p.pump()
    assert p.events("i", IkeSaEstablished)
    fi = p.events("i", NegotiationFailed)
    assert fi[0].notify == "TS_UNACCEPTABLE" and "src-address/dst-address" in fi[0].detail
    assert p.events("r", NegotiationFailed)[0].notify == "TS_UNACCEPTABLE"


def test_ts_narrowed_to_the_responders_policy(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    i = replace(i, children=(child(local="10.0.0.0/8", remote="0.0.0.0/0"),))
    p = peer_pair(i, r)
    p.pump()
    out = p.events("i", ChildSaInstalled)[0].outbound.selector
    assert (str(out.src), str(out.dst)) == ("10.1.0.0/16", "10.2.0.0/16")


def test_packet_selector_first_does_not_shrink_the_sa(peer_pair: Callable[..., Pair],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An initiator started by traffic proposes that packet's selector first (RFC 7296 §2.9, what
    strongSwan's trap policies send): both ends still install the SA for the whole policy."""
    real = TsPayload.encode_body

    def with_packet_first(self: TsPayload) -> bytes:
        sel = self.selectors
        if len(sel) == 1 and sel[0].end != sel[0].start:  # the initiator's request
            host = sel[0].start + 5
            return replace(
                self, selectors=[TrafficSelector(sel[0].ts_type, 6, 40000, 40000, host, host), *sel]
            ).encode_body()
        return real(self)

    monkeypatch.setattr(TsPayload, "encode_body", with_packet_first)
    p = peer_pair()
    p.pump()
    for side in ("i", "r"):
        (installed,) = p.events(side, ChildSaInstalled)
        assert {str(installed.outbound.selector.src), str(installed.outbound.selector.dst)} == {
            "10.1.0.0/16",
            "10.2.0.0/16",
        }, side
        assert installed.outbound.selector.protocol == 0


@pytest.mark.parametrize(("packet_first", "installed"), [(False, "10.1.0.0/16"), (True, "10.9.0.0/16")])
def test_disjoint_ranges_narrow_to_the_one_pair_installed(
    peer_pair: Callable[..., Pair], monkeypatch: pytest.MonkeyPatch, packet_first: bool, installed: str
) -> None:
    """TSi of two disjoint subnets (strongSwan's ``leftsubnet=10.1.0.0/16,10.9.0.0/16``), both inside
    the responder's policy: an SA has one selector pair, so the responder answers with the pair it
    installs (the range holding the packet's selector when there is one) and both ends agree on it."""
    real = TsPayload.encode_body
    sent: list[list[str]] = []

    def two_subnets(self: TsPayload) -> bytes:
        sel = self.selectors
        if self.initiator and not sent:  # the initiator's request (the first TSi encoded)
            other = TrafficSelector(
                sel[0].ts_type, 0, 0, 65535, sel[0].start + (8 << 16), sel[0].end + (8 << 16)
            )
            packet = TrafficSelector(sel[0].ts_type, 6, 40000, 40000, other.start + 5, other.start + 5)
            sel = [packet, *sel, other] if packet_first else [*sel, other]
        if self.initiator:
            sent.append([f"{t.start}-{t.end}" for t in sel])
        return real(replace(self, selectors=sel))

    monkeypatch.setattr(TsPayload, "encode_body", two_subnets)
    i, r = configs()
    p = peer_pair(i, replace(r, children=(child(local="10.2.0.0/16", remote="10.0.0.0/8"),)))
    p.pump()
    request, reply = sent
    assert len(request) == (3 if packet_first else 2)
    first, last = installed.replace(".0/16", ".0"), installed.replace(".0.0/16", ".255.255")
    assert reply == [f"{first}-{last}"]
    # (only the wire carries the extra ranges: the initiator itself asked for 10.1.0.0/16, so it takes
    # an answer of 10.9.0.0/16 as widening and gives up; the responder's side is what is tested here)
    for side in ("r",) if packet_first else ("i", "r"):
        (sa,) = p.events(side, ChildSaInstalled)
        assert {str(sa.outbound.selector.src), str(sa.outbound.selector.dst)} == {installed, "10.2.0.0/16"}, (
            side
        )
    other = "10.1.0.0-10.1.255.255" if packet_first else "10.9.0.0-10.9.255.255"
    assert p.events("r", ChildSaInstalled)[0].left_out == (other,)  # the glue warns about it


def test_authentication_failed_wrong_psk(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    p = peer_pair(i, replace(r, credentials=StaticCredentials(b"another secret")))
    p.pump()
    ra = p.events("r", AuthenticationFailed)
    assert ra and "pre-shared key mismatch" in ra[0].detail and ra[0].remote == ("192.0.2.1", 500)
    assert p.events("i", AuthenticationFailed)
    assert not p.events("i", IkeSaEstablished) and not p.events("r", IkeSaEstablished)
    assert p.i.state == "closed" and not p.r.by_spi


def test_authentication_failed_remote_id_mismatch(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    p = peer_pair(replace(i, my_id="fqdn:gw1.example"), replace(r, remote_id="fqdn:gw2.example"))
    p.pump()
    assert "does not match remote-id=fqdn:gw2.example" in p.events("r", AuthenticationFailed)[0].detail


def test_identities_match(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    p = peer_pair(
        replace(i, my_id="user-fqdn:u@example", remote_id="fqdn:gw.example"),
        replace(r, my_id="fqdn:gw.example", remote_id="user-fqdn:u@example"),
    )
    p.pump()
    assert p.events("i", IkeSaEstablished)[0].remote_id == "fqdn:gw.example"
    assert p.events("r", IkeSaEstablished)[0].remote_id == "user-fqdn:u@example"


@pytest.mark.parametrize("lost", [ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH], ids=lambda e: e.name)
def test_retransmission_and_cached_response(peer_pair: Callable[..., Pair], lost: ExchangeType) -> None:
    """The responder's first response is lost: the initiator retransmits its request after 4 s and
    the responder answers it again from its cache, without processing it twice — for IKE_SA_INIT too,
    whose retransmission still carries a zero SPIr although the responder's keys exist (found against
    strongSwan: such a request was dropped, and the connection never came up)."""
    dropped: list[int] = []

    def drop(direction: str, data: bytes) -> bool:
        m = Message.decode(data)
        if direction == "r>i" and m.header.exchange == lost and not dropped:
            dropped.append(1)
            return True
        return False

    p = peer_pair(drop=drop)
    p.pump()
    assert not p.events("i", IkeSaEstablished)
    assert bool(p.events("r", IkeSaEstablished)) == (lost == ExchangeType.IKE_AUTH)
    assert p.i.get_timer() == 4.0  # strongSwan's first retransmission timeout
    p.advance(4.0)
    assert len(p.events("i", IkeSaEstablished)) == 1 and len(p.events("r", IkeSaEstablished)) == 1
    assert len(p.events("r", ChildSaInstalled)) == 1  # processed once, answered twice from the cache
    assert p.rsa.counters["retransmits"] == 1
    responses = [b for d, b in p.wire if d == "r>i" and Message.decode(b).header.exchange == lost]
    assert len(responses) == 2 and responses[0] == responses[1]


def test_retransmission_backoff_then_give_up(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair(drop=lambda d, b: d == "r>i")
    p.pump()
    sent = []
    t = 0.0
    while p.i.state != "closed":
        nxt = p.i.get_timer()
        assert nxt is not None
        t = nxt
        p.advance(t - p.now)
        sent.append(round(t, 2))
    assert sent == [4.0, 11.2, 24.16, 47.49, 89.48, 165.06]  # 4 s x 1.8^n, 5 retransmissions, then give up
    fails = p.events("i", NegotiationFailed)
    assert fails[-1].notify == "TIMEOUT" and "5 retransmissions" in fails[-1].detail
    assert len([d for d, _ in p.wire if d == "i>r"]) == 6


def test_fast_retransmit_config(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    p = peer_pair(replace(i, retransmit=Retransmit(1.0, 2.0, 1)), r, drop=lambda d, b: d == "r>i")
    p.pump()
    p.advance(10)
    assert p.i.state == "closed" and len([d for d, _ in p.wire if d == "i>r"]) == 2


def test_ike_auth_child_proposal_with_dh_is_accepted(peer_pair: Callable[..., Pair]) -> None:
    """Some initiators keep their PFS group in the IKE_AUTH proposal; the responder ignores it."""
    from ipsecd.ike.v2.proposals import child_proposals

    p = peer_pair()
    orig = child_proposals

    import ipsecd.ike.v2.tasks.child_create as cc

    def with_dh(config, spi, pfs):  # type: ignore[no-untyped-def]
        return orig(config, spi, pfs=True) if spi else orig(config, spi, pfs)

    cc.child_proposals = with_dh  # type: ignore[assignment]
    try:
        p.pump()
    finally:
        cc.child_proposals = orig  # type: ignore[assignment]
    assert p.events("r", ChildSaInstalled) and p.events("i", ChildSaInstalled)


def test_mixed_family_selectors_refused_not_crashing(peer_pair: Callable[..., Pair]) -> None:
    """IPv4 on one side and IPv6 on the other has no policy form: TS_UNACCEPTABLE, nothing raised."""
    i, r = configs()
    p = peer_pair(
        replace(i, children=(child(local="10.1.0.0/16", remote="2001:db8::/32"),)),
        replace(r, children=(child(local="2001:db8::/32", remote="10.1.0.0/16"),)),
    )
    p.pump()
    assert p.events("i", IkeSaEstablished) and not p.events("i", ChildSaInstalled)
    assert p.events("r", NegotiationFailed)[0].notify == "TS_UNACCEPTABLE"


def test_responder_picks_identity_by_peer_id(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    alice = replace(r, credentials=StaticCredentials(b"alice's secret"), remote_id="user-fqdn:alice@example")
    by_id = {"user-fqdn:alice@example": alice}
    r = replace(r, credentials=StaticCredentials(b"unused"), identity_for=by_id.get)
    p = peer_pair(
        replace(i, credentials=StaticCredentials(b"alice's secret"), my_id="user-fqdn:alice@example"), r
    )
    p.pump()
    assert p.events("r", IkeSaEstablished)[0].remote_id == "user-fqdn:alice@example"
    assert p.events("i", ChildSaInstalled)
    p2 = peer_pair(
        replace(i, credentials=StaticCredentials(b"alice's secret"), my_id="user-fqdn:mallory@example"), r
    )
    p2.pump()
    assert "no identity for peer user-fqdn:mallory@example" in p2.events("r", AuthenticationFailed)[0].detail


def test_delete_one_child(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    p.pump()
    spi = next(iter(p.i.children))
    p.i.delete_child(spi, "policy removed")
    p.pump()
    assert not p.i.children and not p.rsa.children and p.i.state == "established"
    assert p.events("i", ChildSaDeleted)[0].reason == "policy removed"
