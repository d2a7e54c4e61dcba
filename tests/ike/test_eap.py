"""EAP in IKE_AUTH (RFC 7296 §2.16, RFC 5998) between two in-process peers: an ``auth-method=eap``
client and an ``eap-radius`` gateway that judges EAP-MSCHAPv2 itself (``eap_local``) or relays it
through the asynchronous verdict (the test plays the RADIUS server with the same MS-CHAPv2 code the
daemon's FreeRADIUS interop checks); EAP-only and certificate gateways; every refusal explained."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.crypto import auth, registry
from ipsecd.ike.auth import AuthContext, CertificateUse, StaticCredentials
from ipsecd.ike.auth.psk import EapAuthenticator
from ipsecd.ike.eap.mschapv2 import MsChapV2Server
from ipsecd.ike.eap.server import ACCEPT, CHALLENGE, REJECT, UNAVAILABLE, RelayAnswer, RelayQuestion
from ipsecd.ike.errors import IkeProtocolError
from ipsecd.ike.events import (
    AuthenticationFailed,
    ChildSaInstalled,
    IkeSaEstablished,
    NegotiationFailed,
    VerdictRequested,
)
from ipsecd.ike.v2.config import IkeConfig
from ipsecd.ike.v2.sa import IkeSa
from ipsecd.ike.v2.tasks.base import AwaitVerdict
from ipsecd.ike.v2.tasks.ike_auth import IkeAuth
from ipsecd.wire.eap import EapCode, EapType, parse
from ipsecd.wire.enums import AuthMethod, ExchangeType, NotifyType, PayloadType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import RawPayload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload
from ipsecd.wire.ikev2.payloads.simple import AuthPayload

from .conftest import PSK, Pair, configs, det_rng
from .test_pubkey import store

USERS = (("alice", b"s3cret pass"),)


def eap_configs(
    password: bytes = b"s3cret pass", *, local: bool = True, **r_kw: Any
) -> tuple[IkeConfig, IkeConfig]:
    i, r = configs()
    i = replace(
        i,
        auth_method="eap",
        eap_user="alice",
        credentials=StaticCredentials(eap_users=(("alice", password),)),
    )
    r = replace(
        r, auth_method="eap-radius", eap_local=local, credentials=StaticCredentials(eap_users=USERS), **r_kw
    )
    return i, r


def ike_auth(p: Pair, direction: str) -> list[list[Any]]:
    """Each IKE_AUTH message sent in ``direction``, decrypted."""
    return p.messages(direction, ExchangeType.IKE_AUTH)


def established(p: Pair) -> None:
    assert not p.events("i", AuthenticationFailed), p.events("i", AuthenticationFailed)
    assert not p.events("r", AuthenticationFailed), p.events("r", AuthenticationFailed)
    assert p.events("i", IkeSaEstablished) and p.events("r", IkeSaEstablished)
    assert p.events("i", ChildSaInstalled) and p.events("r", ChildSaInstalled)


def eap_packets(payloads: list[Any]) -> list[bytes]:
    return [p.encode_body() for p in payloads if p.ptype() == PayloadType.EAP]


def test_eap_only_mschapv2_against_local_users(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair(*eap_configs())
    p.pump()
    established(p)
    assert p.rsa.remote_id == "address:192.0.2.1"  # the IKE identity, not the EAP one
    requests, responses = ike_auth(p, "i>r"), ike_auth(p, "r>i")
    # IDi alone (EAP-only offered), Identity, MS-CHAPv2 Response, Success ack, AUTH
    assert len(requests) == len(responses) == 5
    first = requests[0]
    assert not any(isinstance(x, AuthPayload) for x in first)
    assert any(isinstance(x, NotifyPayload) and x.type == NotifyType.EAP_ONLY_AUTHENTICATION for x in first)
    assert not any(isinstance(x, AuthPayload) for x in responses[0])  # no certificate: EAP-only
    assert parse(eap_packets(responses[0])[0]).type == EapType.IDENTITY
    assert parse(eap_packets(requests[1])[0]).data == b"alice"
    assert parse(eap_packets(responses[3])[0]).code == EapCode.SUCCESS
    # the last round: the MSK-keyed AUTH both ways, the CHILD_SA's SA/TS in the last response only
    assert [type(x).__name__ for x in requests[4]] == ["AuthPayload"]
    assert [x.method for x in responses[4] if isinstance(x, AuthPayload)] == [AuthMethod.SHARED_KEY_MIC]
    kinds = {x.ptype() for x in responses[4]}
    assert {PayloadType.SA, PayloadType.TSI, PayloadType.TSR} <= kinds
    assert not any({PayloadType.SA} & {x.ptype() for x in r} for r in responses[:4])
    # both sides derived the same MSK-keyed AUTH: traffic keys agree
    i_child, r_child = p.events("i", ChildSaInstalled)[0], p.events("r", ChildSaInstalled)[0]
    assert i_child.outbound.encr_key == r_child.inbound.encr_key


def test_wrong_password_is_refused_and_explained(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair(*eap_configs(b"guess"))
    p.pump()
    assert not p.events("i", IkeSaEstablished) and not p.events("r", IkeSaEstablished)
    (r_fail,) = p.events("r", AuthenticationFailed)
    assert "EAP user alice" in r_fail.detail and "wrong password" in r_fail.detail
    (i_fail,) = p.events("i", AuthenticationFailed)
    assert "username= and password=" in i_fail.detail
    assert p.i.closed and not p.r.sas()


def test_gateway_without_certificate_needs_eap_only(peer_pair: Callable[..., Pair]) -> None:
    i, r = eap_configs()
    p = peer_pair(replace(i, eap_methods=(4,)), r)  # no mutual method offered: no EAP_ONLY notify
    p.pump()
    (fail,) = p.events("r", AuthenticationFailed)
    assert "set certificate= on the eap-radius identity" in fail.detail


def test_psk_client_is_refused_by_an_eap_gateway(peer_pair: Callable[..., Pair]) -> None:
    """An eap-radius identity never accepts an AUTH without EAP, not even one keyed by SK_pi (which
    the client knows: §2.16's fallback for methods without an MSK)."""
    p = peer_pair(configs()[0], eap_configs()[1])
    p.pump()
    (fail,) = p.events("r", AuthenticationFailed)
    assert "sent AUTH without EAP" in fail.detail
    assert p.i.closed and not p.r.sas()
    ctx = AuthContext("auto", "auto", ("192.0.2.1", 500), registry.prf("sha256"), sk_p=b"k" * 32)
    data = auth.ikev2_psk_auth(ctx.prf, ctx.sk_p, b"octets")
    reason = EapAuthenticator(StaticCredentials()).verify(AuthMethod.SHARED_KEY_MIC, data, b"octets", ctx)
    assert reason is not None and "without EAP" in reason


def test_eap_client_against_a_psk_gateway(peer_pair: Callable[..., Pair]) -> None:
    i, _ = eap_configs()
    p = peer_pair(i, configs()[1])
    p.pump()
    (fail,) = p.events("r", AuthenticationFailed)
    assert "asks for EAP" in fail.detail and "auth-method=eap-radius" in fail.detail
    assert p.i.closed


def test_certificate_gateway_signs_first_and_the_client_checks_it(peer_pair: Callable[..., Pair]) -> None:
    gw = CertificateUse(store("gw-rsa"), certificate="me")
    client = CertificateUse(store(), certificate="")
    i, r = eap_configs()
    i = replace(
        i,
        remote_id="fqdn:gw.example.com",
        credentials=StaticCredentials(eap_users=(("alice", b"s3cret pass"),), certs=client),
    )
    r = replace(r, credentials=StaticCredentials(eap_users=USERS, certs=gw))
    p = peer_pair(i, r)
    p.pump()
    established(p)
    assert p.i.remote_id == "fqdn:gw.example.com"
    first = ike_auth(p, "r>i")[0]
    assert [x.method for x in first if isinstance(x, AuthPayload)] == [AuthMethod.DIGITAL_SIGNATURE]
    assert any(x.ptype() == PayloadType.CERT for x in first)
    assert any(x.ptype() == PayloadType.CERTREQ for x in ike_auth(p, "i>r")[0])


def test_client_refuses_a_gateway_certificate_it_does_not_trust(peer_pair: Callable[..., Pair]) -> None:
    gw = CertificateUse(store("rogue", trust=("rogue-ca",)), certificate="me")
    i, r = eap_configs()
    i = replace(
        i,
        credentials=StaticCredentials(
            eap_users=(("alice", b"s3cret pass"),), certs=CertificateUse(store(), certificate="")
        ),
    )
    r = replace(r, credentials=StaticCredentials(eap_users=USERS, certs=gw))
    p = peer_pair(i, r)
    p.pump()
    (fail,) = p.events("i", AuthenticationFailed)
    assert "certificate refused" in fail.detail
    assert p.i.closed and not p.events("i", IkeSaEstablished)


# -- the RADIUS relay: the verdict comes later, from outside -------------------------------------------


class FakeRadius:
    """Plays the RADIUS server for the relay: EAP-MSCHAPv2 with the real server code, State echoed."""

    def __init__(self, password: str = "s3cret pass") -> None:
        self.server = MsChapV2Server(
            lambda user: password if user == "alice" else None, random=det_rng(b"rad")
        )
        self.questions: list[RelayQuestion] = []

    def answer(self, q: RelayQuestion) -> RelayAnswer:
        self.questions.append(q)
        packet = parse(q.eap)
        if packet.type == EapType.IDENTITY:
            return RelayAnswer(
                CHALLENGE, self.server.start((packet.identifier + 1) & 0xFF).encode(), state=b"st1"
            )
        assert q.state == b"st1"
        reply = self.server.process(packet)
        if reply.code == EapCode.SUCCESS:
            assert self.server.msk is not None
            return RelayAnswer(ACCEPT, reply.encode(), msk=self.server.msk, classes=(b"c",))
        if reply.code == EapCode.FAILURE:
            return RelayAnswer(REJECT, reply.encode(), reason="bad password")
        return RelayAnswer(CHALLENGE, reply.encode(), state=b"st1")


def relay(p: Pair, radius: Callable[[RelayQuestion], RelayAnswer], *, rounds: int = 20) -> int:
    """Answer every VerdictRequested the gateway emits; returns how many were answered."""
    answered = 0
    for _ in range(rounds):
        p.pump()
        pending = [e for e in p.r_events[answered:] if isinstance(e, VerdictRequested)]
        if not pending:
            return answered
        for event in pending:
            assert isinstance(event.question, RelayQuestion)
            p.rsa.provide_verdict(event.token, radius(event.question))
            answered += 1
    raise AssertionError("too many rounds")


def requested(p: Pair) -> list[VerdictRequested]:
    return p.events("r", VerdictRequested)


def test_relay_to_radius_through_outside_verdicts(peer_pair: Callable[..., Pair]) -> None:
    radius = FakeRadius()
    p = peer_pair(*eap_configs(local=False))
    asked = 0
    p.pump()
    while len(requested(p)) > asked:
        event = requested(p)[asked]
        # while the server thinks, the client's retransmission gets nothing and changes nothing
        p.advance(4.5)
        assert len(requested(p)) == asked + 1
        p.rsa.provide_verdict(object(), RelayAnswer(REJECT))  # an unknown token is ignored
        assert isinstance(event.question, RelayQuestion)
        p.rsa.provide_verdict(event.token, radius.answer(event.question))
        asked += 1
        p.pump()
    established(p)
    assert [q.user for q in radius.questions] == [b"alice"] * 3
    assert radius.questions[0].state is None and radius.questions[0].calling_station_id == "192.0.2.1"


def test_radius_reject_and_unavailable_are_refused(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair(*eap_configs(b"guess", local=False))
    relay(p, FakeRadius().answer)
    (fail,) = p.events("r", AuthenticationFailed)
    assert "rejected the client (Access-Reject: bad password)" in fail.detail
    assert p.i.closed and not p.events("r", IkeSaEstablished)

    p = peer_pair(*eap_configs(local=False))
    why = "no RADIUS server answered the Access-Request: 10.0.0.1:1812 no verified answer in 3 tries"
    relay(p, lambda q: RelayAnswer(UNAVAILABLE, reason=why))
    (fail,) = p.events("r", AuthenticationFailed)
    assert fail.detail == f"EAP user alice: {why}"
    assert p.i.closed


def test_accept_without_msk_is_refused(peer_pair: Callable[..., Pair]) -> None:
    radius = FakeRadius()

    def no_keys(q: RelayQuestion) -> RelayAnswer:
        a = radius.answer(q)
        return replace(a, msk=b"") if a.kind == ACCEPT else a

    p = peer_pair(*eap_configs(local=False))
    relay(p, no_keys)
    (fail,) = p.events("r", AuthenticationFailed)
    assert "without MS-MPPE keys" in fail.detail


def test_another_sa_is_served_while_one_waits(peer_pair: Callable[..., Pair]) -> None:
    """One gateway, two clients: the first waits for its verdict, the second (PSK) comes up."""
    i, r = eap_configs(local=False)
    p = peer_pair(i, r)
    p.pump()
    assert len(requested(p)) == 1
    other = IkeSa.initiator(
        replace(configs()[0], local=("192.0.2.7", 500)),
        rng=det_rng(b"o"),
        spi_alloc=lambda proto: 0x3000,
        now=p.now,
    )
    p.rcfg = replace(r, auth_method="pre-shared-key", credentials=StaticCredentials(PSK))
    for _ in range(4):
        for data, (local, remote) in other.datagrams_to_send(p.now):
            p.r.receive_datagram(data, (remote, local), p.now)
        for data, (local, remote) in p.r.datagrams_to_send(p.now):
            if remote == ("192.0.2.7", 500):
                other.receive_datagram(data, (remote, local), p.now)
    events = []
    while (e := other.next_event()) is not None:
        events.append(e)
    assert any(isinstance(e, IkeSaEstablished) for e in events)
    assert not any(isinstance(e, NegotiationFailed) for e in events)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=80), st.booleans())
def test_any_eap_payload_is_refused_or_relayed_never_a_crash(data: bytes, local: bool) -> None:
    """Fuzz: whatever the client puts in its EAP payload, the gateway's EAP round raises only its
    refusal (AUTHENTICATION_FAILED) or asks the RADIUS server (AwaitVerdict)."""
    i, r = eap_configs(local=local)
    p = Pair(i, r, drop=lambda d, b: d == "i>r" and len(p.wire) > 3)  # the client's second IKE_AUTH
    p.pump()
    continuing = p.rsa.tm.continuing
    assert continuing is not None
    gateway = continuing[1][0]
    assert isinstance(gateway, IkeAuth) and gateway.eap_gateway is not None
    header = Message.decode(p.wire[2][1]).header
    try:
        gateway.eap_gateway.process_r(Message(header, [RawPayload(PayloadType.EAP, data)]))
    except AwaitVerdict:
        assert not local
    except IkeProtocolError as exc:
        assert exc.notify == NotifyType.AUTHENTICATION_FAILED and exc.fatal
