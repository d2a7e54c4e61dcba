"""XAuth and mode-config between two IKEv1 cores (issue 11): the gateway asks, checks and SETs, the
client answers, pulls (or is pushed) its address, and only then are quick modes negotiated — for the
leased address only."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, ip_network

import pytest

from ipsecd.ike.eap.server import ACCEPT, REJECT, UNAVAILABLE, RelayAnswer
from ipsecd.ike.events import (
    AddressLeased,
    AuthenticationFailed,
    ChildSaInstalled,
    IkeSaDeleted,
    IkeSaEstablished,
    NegotiationFailed,
    VerdictRequested,
    VirtualIpAssigned,
)
from ipsecd.ike.v1 import roadwarrior
from ipsecd.ike.v1.config import ExchangeMode, Ikev1Options, Xauth, XauthUser
from ipsecd.ike.v1.xauth import XauthQuestion
from ipsecd.ike.v2.config import ModeConfigLease
from ipsecd.wire.ikev1.enums import CfgType, ExchangeType
from ipsecd.wire.ikev1.header import Header
from ipsecd.wire.ikev1.modecfg import CfgAttr, netmask, prefix_of, read_split_include, split_include
from ipsecd.wire.ikev1.payloads import AttributePayload

from .conftest import V1Pair, child, configs

USERS = (XauthUser("alice", b"wonderland"), XauthUser("bob", b"builder"))
LEASE = ModeConfigLease(IPv4Address("10.243.0.10"), 32, (IPv4Address("10.243.0.53"),), ("10.2.0.0/16",))


def _pair(
    password: bytes = b"wonderland", *, request: bool = True, lease: bool = True
) -> tuple[V1Pair, list[str]]:
    asked: list[str] = []

    def give(key: str) -> ModeConfigLease:
        asked.append(key)
        return LEASE

    i, r = configs(
        i={
            "mode_config_request": request,
            "children": (child(local="0.0.0.0/0", remote="10.2.0.0/16"),),
            "send_initial_contact": False,
        },
        r={
            "lease": give if lease else None,
            "children": (child(local="10.2.0.0/16", remote="10.243.0.0/24"),),
        },
    )
    iopt = Ikev1Options(xauth=Xauth(False, username="alice", password=password))
    ropt = Ikev1Options(xauth=Xauth(True, USERS))
    return V1Pair(i, r, iopt, ropt), asked


def test_xauth_then_mode_config_pull_then_quick_mode() -> None:
    pair, asked = _pair()
    pair.pump()
    kinds = [Header.decode(d).exchange for _, d, _ in pair.wire]
    # main mode, XAuth REQUEST/REPLY + SET/ACK, mode-config REQUEST/REPLY, quick mode
    assert kinds == [ExchangeType.MAIN] * 6 + [ExchangeType.TRANSACTION] * 6 + [ExchangeType.QUICK] * 3
    assert asked == ["alice"]  # the lease is the XAuth user's
    (leased,) = pair.of("r", AddressLeased)
    assert leased.address == LEASE.address and leased.remote_id == "alice"
    (vip,) = pair.of("i", VirtualIpAssigned)
    assert vip.addresses == (LEASE.address,) and vip.dns == LEASE.dns and vip.subnets == ("10.2.0.0/16",)
    assert pair.i.virtual_ips == (LEASE.address,)
    ic, rc = pair.of("i", ChildSaInstalled)[0], pair.of("r", ChildSaInstalled)[0]
    assert ic.outbound.selector is not None and ic.outbound.selector.src == ip_network("10.243.0.10/32")
    assert rc.outbound.selector is not None and rc.outbound.selector.dst == ip_network("10.243.0.10/32")
    assert len(pair.of("i", IkeSaEstablished)) == len(pair.of("r", IkeSaEstablished)) == 1
    assert pair.of("r", IkeSaEstablished)[0].xauth_user == "alice"
    # the phase-1 transforms say XAUTHInitPreShared
    assert pair.i.phase1.algs is not None and pair.r is not None and pair.r.rw is not None
    assert pair.r.rw.user == "alice"


def test_wrong_password_is_refused_and_the_isakmp_sa_deleted() -> None:
    pair, asked = _pair(b"not-the-password")
    pair.pump()
    assert pair.r is not None
    (fail,) = pair.of("r", AuthenticationFailed)
    assert "'alice'" in fail.detail and "not-the-password" not in fail.detail
    assert pair.of("r", IkeSaEstablished) == [] and pair.of("r", IkeSaDeleted)  # never reported up
    assert pair.of("i", AuthenticationFailed) and pair.of("i", IkeSaDeleted)
    assert asked == [] and not pair.of("r", ChildSaInstalled) and not pair.of("i", ChildSaInstalled)


def test_push_when_the_client_does_not_ask() -> None:
    """A client that waits to be pushed (strongSwan's ``pull = no``): the gateway SETs after
    ``PUSH_WAIT`` and the client ACKs; then the quick mode runs."""
    pair, _ = _pair(request=False)
    pair.pump()
    assert not pair.of("r", AddressLeased) and not pair.of("i", ChildSaInstalled)
    # the client still wants its configuration: it accepts a SET even though it did not ask
    assert pair.i.rw is not None
    pair.i.rw.want_config = True
    pair.i.rw.configured = False
    pair.advance(roadwarrior.PUSH_WAIT + 0.1)
    assert pair.of("r", AddressLeased) and pair.of("i", VirtualIpAssigned)
    sets = [d for _, d, _ in pair.wire if Header.decode(d).exchange == ExchangeType.TRANSACTION]
    assert len(sets) == 6  # XAuth 4, SET + ACK


def test_quick_mode_for_another_address_is_refused() -> None:
    """A client with a lease may not claim another inner address than the one it was given."""
    pair, _ = _pair()
    assert pair.i.rw is not None
    pair.pump()
    assert pair.r is not None
    before = len(pair.of("r", ChildSaInstalled))
    pair.i.virtual_ips = (IPv4Address("10.243.0.99"),)
    pair.i.start_child(child(local="0.0.0.0/0", remote="10.2.0.0/16"))
    pair.pump()
    assert len(pair.of("r", ChildSaInstalled)) == before
    assert any("was given 10.243.0.10" in e.detail for e in pair.of("r", NegotiationFailed))


def test_no_answer_within_the_deadline_deletes_the_sa() -> None:
    pair, _ = _pair()
    pair.drop = lambda d, b: d == "i>r" and Header.decode(b).exchange == ExchangeType.TRANSACTION
    pair.pump()
    assert pair.r is not None and not pair.r.closed
    pair.advance(roadwarrior.CONFIG_TIMEOUT + 1)
    assert pair.r.closed and "XAuth not completed" in pair.of("r", NegotiationFailed)[-1].detail


@pytest.mark.parametrize("prefix", [32, 24, 0])
def test_codec_netmask_and_split_include(prefix: int) -> None:
    mask = netmask(prefix)
    assert isinstance(mask.value, bytes) and prefix_of(IPv4Address(mask.value)) == prefix
    nets = [ip_network("10.2.0.0/16"), ip_network("192.168.7.0/24")]
    attr = split_include(nets)  # type: ignore[arg-type]
    assert isinstance(attr.value, bytes) and len(attr.value) == 28
    assert read_split_include(attr) == nets
    payload = AttributePayload(CfgType.REPLY, 7, [attr, mask])
    back = AttributePayload.decode_body(payload.encode_body())
    assert back.identifier == 7 and back.attributes[0].type == CfgAttr.UNITY_SPLIT_INCLUDE


def test_aggressive_mode_with_the_group_name_as_key_id() -> None:
    """Apple's and Cisco's clients with a group name: aggressive mode, ID_KEY_ID, then XAuth."""
    base, _ = _pair()
    opts = {"exchange_mode": ExchangeMode.AGGRESSIVE}
    pair = V1Pair(
        replace(base.icfg, my_id="key-id:vpngroup", remote_id="auto"),
        replace(base.rcfg, remote_id="key-id:vpngroup"),
        replace(base.iopt, **opts),
        replace(base.ropt, **opts),
    )
    pair.pump()
    kinds = [Header.decode(d).exchange for _, d, _ in pair.wire]
    assert kinds == [ExchangeType.AGGRESSIVE] * 3 + [ExchangeType.TRANSACTION] * 6 + [ExchangeType.QUICK] * 3
    (est,) = pair.of("r", IkeSaEstablished)
    assert est.remote_id == "key-id:vpngroup" and est.xauth_user == "alice"
    assert pair.of("i", VirtualIpAssigned) and pair.of("r", ChildSaInstalled)


@pytest.mark.parametrize("kind", [ACCEPT, REJECT, UNAVAILABLE])
def test_xauth_users_from_radius(kind: str) -> None:
    """``xauth-use-radius=yes``: the gateway asks the daemon (VerdictRequested with the user's name
    and password for an Access-Request) and goes on with the answer."""
    base, _ = _pair()
    pair = V1Pair(base.icfg, base.rcfg, base.iopt, replace(base.ropt, xauth=Xauth(True, radius=True)))
    pair.pump()
    assert pair.r is not None and not pair.of("r", IkeSaEstablished)
    (asked,) = pair.of("r", VerdictRequested)
    assert isinstance(asked.question, XauthQuestion)
    assert (asked.question.user, asked.question.password) == (b"alice", b"wonderland")
    assert "wonderland" not in repr(asked.question)
    pair.r.provide_verdict(object(), RelayAnswer(ACCEPT))  # not our question: ignored
    pair.r.provide_verdict(asked.token, RelayAnswer(kind, reason="no such user"))
    pair.pump()
    if kind == ACCEPT:
        assert pair.of("r", IkeSaEstablished)[0].xauth_user == "alice" and pair.of("r", ChildSaInstalled)
    else:
        (fail,) = pair.of("r", AuthenticationFailed)
        assert f"XAuth user 'alice': RADIUS {kind}: no such user" in fail.detail
        assert pair.r.closed and not pair.of("r", IkeSaEstablished)


def test_mode_config_without_xauth() -> None:
    """A PSK peer with a responder mode-config and a request-only client: mode-config right after
    phase 1, no XAuth exchanged; the lease is keyed by the client's ID."""
    base, asked = _pair()
    pair = V1Pair(base.icfg, base.rcfg, Ikev1Options(), Ikev1Options())
    pair.pump()
    kinds = [Header.decode(d).exchange for _, d, _ in pair.wire]
    assert kinds == [ExchangeType.MAIN] * 6 + [ExchangeType.TRANSACTION] * 2 + [ExchangeType.QUICK] * 3
    assert asked == ["address:192.0.2.1"] and pair.of("i", VirtualIpAssigned)
    assert pair.of("r", IkeSaEstablished)[0].xauth_user == ""
