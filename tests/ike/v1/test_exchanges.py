"""Two IKEv1 peers without sockets: main and aggressive mode, quick mode, keys that agree crosswise."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_network

from ipsecd.crypto import keymat
from ipsecd.ike.auth import StaticCredentials
from ipsecd.ike.events import ChildSaInstalled, IkeSaEstablished
from ipsecd.ike.v1.aggressive import identifies, initiator_id
from ipsecd.ike.v1.config import ExchangeMode, Ikev1Options
from ipsecd.ike.v2.config import ChildProposal
from ipsecd.policy.types import IpsecProto, Mode
from ipsecd.wire.ikev1 import vendor
from ipsecd.wire.ikev1.enums import ExchangeType, PayloadType
from ipsecd.wire.ikev1.header import Header
from ipsecd.wire.ikev1.message import Message, decode_chain
from ipsecd.wire.ikev1.payloads import KePayload, Payload
from ipsecd.wire.ikev1.sa import SaPayload

from .conftest import V1Pair, child, configs


def _established(pair: V1Pair) -> tuple[ChildSaInstalled, ChildSaInstalled]:
    pair.pump()
    assert len(pair.of("i", IkeSaEstablished)) == 1, pair.i_events
    assert len(pair.of("r", IkeSaEstablished)) == 1, pair.r_events
    ic, = pair.of("i", ChildSaInstalled)
    rc, = pair.of("r", ChildSaInstalled)
    assert ic.outbound.spi == rc.inbound.spi and rc.outbound.spi == ic.inbound.spi
    assert ic.outbound.encr_key == rc.inbound.encr_key and ic.outbound.integ_key == rc.inbound.integ_key
    assert rc.outbound.encr_key == ic.inbound.encr_key and rc.outbound.integ_key == ic.inbound.integ_key
    assert ic.outbound.encr_key + ic.outbound.integ_key != ic.inbound.encr_key + ic.inbound.integ_key
    return ic, rc


def test_main_mode_and_quick_mode() -> None:
    pair = V1Pair(*configs())
    ic, rc = _established(pair)
    kinds = [Header.decode(d).exchange for _, d, _ in pair.wire]
    assert kinds == [ExchangeType.MAIN] * 6 + [ExchangeType.QUICK] * 3
    assert [Header.decode(d).encrypted for _, d, _ in pair.wire] == [False] * 4 + [True] * 5
    est = pair.of("i", IkeSaEstablished)[0]
    assert (est.encr, est.integ, est.dh, est.local_id, est.remote_id) == (
        "aes-128", "sha256", "ecp256", "address:192.0.2.1", "address:198.51.100.2")
    assert ic.child == "net" and ic.outbound.encr == "aes-128-cbc" and ic.outbound.integ == "sha256"
    assert ic.outbound.selector is not None and ic.outbound.selector.src == ip_network("10.1.0.0/16")
    assert rc.inbound.selector == ic.outbound.selector
    assert ic.outbound.mode == Mode.TUNNEL and ic.outbound.encap is None
    assert ic.outbound.lifetime.hard_seconds == 1800


def test_aggressive_mode_with_fqdn_ids() -> None:
    opts = Ikev1Options(exchange_mode=ExchangeMode.AGGRESSIVE)
    pair = V1Pair(*configs(i={"my_id": "fqdn:client.example", "remote_id": "fqdn:gw.example"},
                           r={"my_id": "fqdn:gw.example", "remote_id": "fqdn:client.example"}), opts, opts)
    _established(pair)
    kinds = [Header.decode(d).exchange for _, d, _ in pair.wire]
    assert kinds == [ExchangeType.AGGRESSIVE] * 3 + [ExchangeType.QUICK] * 3
    assert pair.of("r", IkeSaEstablished)[0].remote_id == "fqdn:client.example"
    assert pair.of("i", IkeSaEstablished)[0].remote_id == "fqdn:gw.example"


def test_aggressive_responder_picks_the_psk_by_id() -> None:
    opts = Ikev1Options(exchange_mode=ExchangeMode.AGGRESSIVE)
    icfg, rcfg = configs(i={"my_id": "key-id:bob", "credentials": StaticCredentials(b"bob's secret")})
    bob = replace(rcfg, credentials=StaticCredentials(b"bob's secret"))
    rcfg = replace(
        rcfg,
        credentials=StaticCredentials(b"someone else's"),
        identity_for=lambda text: bob if text == "key-id:bob" else None,
    )
    pair = V1Pair(icfg, rcfg, opts, opts)
    _established(pair)


def test_main_mode_accepts_a_non_ip_identity() -> None:
    pair = V1Pair(
        *configs(i={"my_id": "user-fqdn:alice@example"}, r={"remote_id": "user-fqdn:alice@example"})
    )
    _established(pair)
    assert pair.of("r", IkeSaEstablished)[0].remote_id == "user-fqdn:alice@example"


def test_nat_detected_and_float_to_4500() -> None:
    pair = V1Pair(*configs(), nat=True)
    ic, rc = _established(pair)
    est_i, est_r = pair.of("i", IkeSaEstablished)[0], pair.of("r", IkeSaEstablished)[0]
    assert est_i.nat_local and not est_i.nat_remote and est_r.nat_remote and not est_r.nat_local
    ports = [local[1] for d, _, (local, _) in pair.wire if d == "i>r"]
    assert ports[:2] == [500] * 2 and set(ports[2:]) == {4500}  # (1), (3); then (5) and quick mode
    assert ic.outbound.encap is not None and (ic.outbound.encap.sport, ic.outbound.encap.dport) == (
        4500,
        4500,
    )
    assert rc.outbound.encap is not None and rc.outbound.encap.dport == 44500


def test_draft_natt_only() -> None:
    opts = Ikev1Options(natt_vids=(vendor.NATT_DRAFT_02,))
    pair = V1Pair(*configs(), iopt=opts, nat=True)
    _established(pair)
    msg3 = Message.decode(pair.wire[2][1])
    assert [p.ptype() for p in msg3.payloads][-2:] == [PayloadType.NAT_D_DRAFT] * 2


def test_several_proposals_no_pfs_transport() -> None:
    """The responder accepts only the second proposal (no PFS): the first one's transform is skipped."""
    props = (
        ChildProposal(("aes-256-cbc",), ("sha1",), "none"),
        ChildProposal(("aes-128-cbc",), ("sha256",), "none"),
    )
    icfg, rcfg = configs(
        i={"children": (child(proposals=props, mode=Mode.TRANSPORT),)},
        r={
            "children": (
                child(local="10.2.0.0/16", remote="10.1.0.0/16", mode=Mode.TRANSPORT, proposals=props[1:]),
            )
        },
    )
    pair = V1Pair(icfg, rcfg)
    ic, _ = _established(pair)
    assert ic.outbound.encr == "aes-128-cbc" and ic.outbound.mode == Mode.TRANSPORT
    assert not any(isinstance(p, KePayload) for n in (0, 1) for p in _quick_payloads(pair, n))


def test_ah() -> None:
    opts = Ikev1Options(ah=frozenset({"net"}))
    ic, _ = _established(V1Pair(*configs(), iopt=opts, ropt=opts))
    assert (
        ic.outbound.proto == IpsecProto.AH and ic.outbound.encr == "null" and len(ic.outbound.integ_key) == 32
    )


def _quick_payloads(pair: V1Pair, n: int) -> list[Payload]:
    """The decrypted payloads of the n-th quick-mode message (the initiator's keys)."""
    quick = [d for _, d, _ in pair.wire if Header.decode(d).exchange == ExchangeType.QUICK]
    data = quick[n]
    hdr = Header.decode(data)
    keys = pair.i.keys
    assert keys is not None
    iv = keymat.ikev1_phase2_iv(keys.algs.hash.name, keys.iv, hdr.message_id, keys.block)
    if n:  # RFC 2409 App. B: chained from the previous message of the exchange
        iv = quick[n - 1][-keys.block:]
    return decode_chain(hdr.next_payload, keys.cipher.decrypt(iv, data[28:]), padded=True)


def test_one_pfs_group_per_offer() -> None:
    """A quick mode carries one KE: proposals of another PFS group than the first are not offered."""
    props = (
        ChildProposal(("aes-256-cbc",), ("sha1",), "ecp256"),
        ChildProposal(("aes-128-cbc",), ("sha256",), "modp2048"),
        ChildProposal(("aes-128-cbc",), ("sha1",), "ecp256"),
    )
    icfg, rcfg = configs(i={"children": (child(proposals=props),)})
    pair = V1Pair(icfg, rcfg)
    pair.pump()
    sa = next(p for p in _quick_payloads(pair, 0) if isinstance(p, SaPayload))
    assert [p.number for p in sa.proposals] == [1, 3]


def test_the_aggressive_initiator_id_is_read_from_its_first_message() -> None:
    icfg, rcfg = configs(i={"my_id": "fqdn:rw1.example"})
    pair = V1Pair(icfg, rcfg, iopt=Ikev1Options(exchange_mode=ExchangeMode.AGGRESSIVE))
    first = pair.i.datagrams_to_send(0.0)[0][0]
    assert initiator_id(first) == "fqdn:rw1.example"
    assert initiator_id(first[:40]) is None and initiator_id(b"junk") is None
    main = V1Pair(*configs()).i.datagrams_to_send(0.0)[0][0]
    assert initiator_id(main) is None  # main mode hides it
    assert identifies("fqdn:rw1.example", "fqdn:rw1.example", "192.0.2.1")
    assert identifies("auto", "fqdn:rw1.example", "192.0.2.1")
    assert not identifies("fqdn:rw2.example", "fqdn:rw1.example", "192.0.2.1")
    assert not identifies("address:not-an-ip", "fqdn:rw1.example", "192.0.2.1")
