"""The authentication seam (ipsecd.ike.auth): the identity's auth-method picks the Authenticator,
secrets come from the injected CredentialProvider, every secret comparison is constant time, and a
slow outside verdict is an input the SA waits for while it keeps answering."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

import pytest

from ipsecd.crypto import auth as crypto_auth
from ipsecd.ike.auth import AuthContext, StaticCredentials, authenticator_for, register_authenticator
from ipsecd.ike.auth.psk import PskAuthenticator
from ipsecd.ike.errors import ConfigError
from ipsecd.ike.events import AuthenticationFailed, ChildSaInstalled, IkeSaEstablished, NegotiationFailed
from ipsecd.ike.v2.config import validate
from ipsecd.ike.v2.tasks.base import AwaitVerdict
from ipsecd.wire.enums import AuthMethod, ExchangeType, IdType, PayloadType
from ipsecd.wire.errors import MalformedMessageError
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import RawPayload
from ipsecd.wire.ikev2.payloads.simple import AuthPayload, IdPayload
from ipsecd.wire.ikev2.rules import check_payloads

from .conftest import Pair


def test_psk_auth_is_compared_in_constant_time(peer_pair: Callable[..., Pair], monkeypatch: Any) -> None:
    """Fails on the old code, which compared the AUTH value with ``!=`` and never called the
    constant-time ``ikev2_psk_verify``."""
    calls: list[tuple[int, int]] = []
    real_verify, real_compare = crypto_auth.ikev2_psk_verify, hmac.compare_digest

    def compare(a: Any, b: Any) -> bool:
        calls.append((len(a), len(b)))
        return real_compare(a, b)

    def verify(*args: Any) -> bool:
        monkeypatch.setattr(crypto_auth.hmac, "compare_digest", compare)
        try:
            return real_verify(*args)
        finally:
            monkeypatch.setattr(crypto_auth.hmac, "compare_digest", real_compare)

    monkeypatch.setattr(crypto_auth, "ikev2_psk_verify", verify)
    p = peer_pair()
    p.pump()
    assert p.events("i", IkeSaEstablished) and p.events("r", IkeSaEstablished)
    assert calls == [(32, 32), (32, 32)]  # the responder checked IDi's AUTH, the initiator IDr's (sha256)


def test_the_psk_comes_from_the_injected_provider(peer_pair: Callable[..., Pair]) -> None:
    asked: list[tuple[str, str]] = []

    class Provider(StaticCredentials):
        def shared_key(self, local_id: str, remote_id: str) -> bytes | None:
            asked.append((local_id, remote_id))
            return super().shared_key(local_id, remote_id)

    p = peer_pair()
    p.rcfg = replace(p.rcfg, credentials=Provider(b"correct horse battery staple"), my_id="fqdn:r.example")
    p.__post_init__()
    p.pump()
    assert p.events("r", IkeSaEstablished)
    assert ("fqdn:r.example", "address:192.0.2.1") in asked


def test_null_authentication_rfc7619(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    p.icfg = replace(p.icfg, auth_method="null", credentials=StaticCredentials())
    p.rcfg = replace(p.rcfg, auth_method="null", credentials=StaticCredentials())
    p.__post_init__()
    p.pump()
    assert p.events("i", IkeSaEstablished) and p.events("r", IkeSaEstablished)
    auths = [Message.decode(d) for _, d in p.wire]
    assert len(auths) == 4
    # a NULL peer against a PSK responder is refused
    q = peer_pair()
    q.icfg = replace(q.icfg, auth_method="null", credentials=StaticCredentials())
    q.__post_init__()
    q.pump()
    assert (
        q.events("r", AuthenticationFailed) and "NULL_AUTH" in q.events("r", AuthenticationFailed)[0].detail
    )


def test_auth_method_picks_the_authenticator_and_unknown_is_a_config_error(
    peer_pair: Callable[..., Pair],
) -> None:
    assert isinstance(authenticator_for("pre-shared-key", StaticCredentials(b"x")), PskAuthenticator)
    with pytest.raises(ConfigError, match="auth-method=rsa-key-bogus"):
        authenticator_for("rsa-key-bogus", StaticCredentials())
    i, _ = peer_pair().icfg, None
    with pytest.raises(ConfigError, match="no secret"):
        validate(replace(i, credentials=StaticCredentials()))


def test_ike_auth_request_without_auth_is_allowed_for_eap() -> None:
    """RFC 7296 §2.16: EAP's first IKE_AUTH request has IDi and no AUTH (the old rules refused it);
    later rounds carry EAP alone, the last AUTH alone. Nothing of these is still refused."""
    idi = IdPayload(IdType.ID_FQDN, b"client.example")
    eap = RawPayload(int(PayloadType.EAP), b"\x02\x01\x00\x05\x01", False)
    check_payloads(ExchangeType.IKE_AUTH, False, [idi])
    check_payloads(ExchangeType.IKE_AUTH, False, [eap])
    check_payloads(ExchangeType.IKE_AUTH, False, [AuthPayload(AuthMethod.SHARED_KEY_MIC, b"x" * 32)])
    check_payloads(ExchangeType.IKE_AUTH, True, [eap])
    with pytest.raises(MalformedMessageError):
        check_payloads(ExchangeType.IKE_AUTH, False, [])
    with pytest.raises(MalformedMessageError):
        check_payloads(ExchangeType.IKE_AUTH, True, [IdPayload(IdType.ID_FQDN, b"gw", initiator=False)])


class SlowVerifier(PskAuthenticator):
    """A verifier that answers later (a RADIUS server): the PSK check is done, the verdict waits."""

    tokens: ClassVar[list[object]] = []

    def verify(self, method: AuthMethod, data: bytes, octets: bytes, ctx: AuthContext) -> str | None:
        reason = super().verify(method, data, octets, ctx)
        token = object()
        SlowVerifier.tokens.append(token)
        SlowVerifier.pending = reason
        raise AwaitVerdict(token)

    def verdict(self, result: object) -> str | None:
        return None if result is True else f"refused by the verifier: {result}"

    pending: ClassVar[str | None] = None


register_authenticator("test-slow-verifier", SlowVerifier)


def test_outside_verdict_while_the_sa_keeps_answering(peer_pair: Callable[..., Pair]) -> None:
    SlowVerifier.tokens.clear()
    p = peer_pair()
    p.rcfg = replace(p.rcfg, auth_method="test-slow-verifier")
    p.__post_init__()
    p.pump()
    assert len(SlowVerifier.tokens) == 1 and SlowVerifier.pending is None  # the PSK was right
    assert not p.events("r", IkeSaEstablished) and not p.events("i", IkeSaEstablished)
    sent = len(p.wire)
    p.advance(5.0)  # the initiator retransmits IKE_AUTH: not processed twice, no answer yet
    assert [d for d, _ in p.wire[sent:]] == ["i>r"] and p.rsa.n_retransmits == 1
    assert len(SlowVerifier.tokens) == 1
    init_request = p.wire[0][1]  # a retransmitted IKE_SA_INIT is still answered from the cache
    p.r.receive_datagram(init_request, (p.rcfg.local, p.icfg.local), p.now)
    ((again, _),) = p.r.datagrams_to_send(p.now)
    assert again == p.wire[1][1]
    p.rsa.provide_verdict(object(), True)  # an unknown token changes nothing
    assert not p.r.datagrams_to_send(p.now)
    p.rsa.provide_verdict(SlowVerifier.tokens[0], True)
    p.pump()
    assert p.events("r", IkeSaEstablished) and p.events("i", IkeSaEstablished)


def test_outside_verdict_refusal_fails_the_ike_auth(peer_pair: Callable[..., Pair]) -> None:
    SlowVerifier.tokens.clear()
    p = peer_pair()
    p.rcfg = replace(p.rcfg, auth_method="test-slow-verifier")
    p.__post_init__()
    p.pump()
    p.rsa.provide_verdict(SlowVerifier.tokens[0], "account locked")
    p.pump()
    assert "account locked" in p.events("r", AuthenticationFailed)[0].detail
    assert p.events("i", AuthenticationFailed) and p.i.state == "closed"


def _slow_initiator(peer_pair: Callable[..., Pair]) -> Pair:
    """A pair whose initiator checks the responder's AUTH with the verifier that answers later."""
    SlowVerifier.tokens.clear()
    p = peer_pair()
    p.icfg = replace(p.icfg, auth_method="test-slow-verifier")
    p.__post_init__()
    p.pump()
    return p


def test_initiator_waits_for_an_outside_verdict_on_the_responders_auth(
    peer_pair: Callable[..., Pair],
) -> None:
    p = _slow_initiator(peer_pair)
    assert len(SlowVerifier.tokens) == 1 and SlowVerifier.pending is None  # the PSK was right
    assert p.events("r", IkeSaEstablished) and not p.events("i", IkeSaEstablished)
    response = p.wire[-1]
    assert response[0] == "r>i" and Message.decode(response[1]).header.exchange == ExchangeType.IKE_AUTH
    sent = len(p.wire)
    p.advance(10.0)  # the response is in: IKE_AUTH is not retransmitted while the verdict is out
    assert p.wire[sent:] == [] and p.i.n_retransmits == 0
    dropped = p.i.n_dropped
    p.i.receive_datagram(response[1], (p.icfg.local, p.rcfg.local), p.now)  # a copy: not processed twice
    assert p.i.n_dropped == dropped + 1 and len(SlowVerifier.tokens) == 1
    p.i.provide_verdict(object(), True)  # an unknown token changes nothing
    assert not p.events("i", IkeSaEstablished)
    p.i.provide_verdict(SlowVerifier.tokens[0], True)
    p.pump()
    (established,) = p.events("i", IkeSaEstablished)
    assert established.remote_id == p.rsa.local_id and p.i.state == "established"
    assert p.events("i", ChildSaInstalled)  # the tasks after IkeAuth ran: the first CHILD_SA is up
    p.i.provide_verdict(SlowVerifier.tokens[0], True)  # once only
    assert len(p.events("i", IkeSaEstablished)) == 1


def test_initiator_verdict_refusal_gives_the_sa_up(peer_pair: Callable[..., Pair]) -> None:
    p = _slow_initiator(peer_pair)
    p.i.provide_verdict(SlowVerifier.tokens[0], "certificate revoked")
    p.pump()
    assert "certificate revoked" in p.events("i", AuthenticationFailed)[0].detail
    assert p.i.state == "closed" and not p.events("i", IkeSaEstablished)


def test_initiator_without_a_verdict_fails_in_time(peer_pair: Callable[..., Pair]) -> None:
    p = _slow_initiator(peer_pair)
    assert p.i.get_timer() == pytest.approx(p.now + p.icfg.retransmit.total())
    p.advance(p.icfg.retransmit.total() + 1)
    (failed,) = p.events("i", NegotiationFailed)
    assert failed.notify == "TIMEOUT" and "no verdict on the IKE_AUTH response" in failed.detail
    assert p.i.state == "closed"


class CertRecorder(PskAuthenticator):
    """Records the peer's certificates an authenticator is given (what pubkey.py verifies)."""

    seen: ClassVar[list[tuple[bytes, ...]]] = []

    def verify(self, method: AuthMethod, data: bytes, octets: bytes, ctx: AuthContext) -> str | None:
        CertRecorder.seen.append(ctx.peer_certificates)
        return super().verify(method, data, octets, ctx)


register_authenticator("test-cert-recorder", CertRecorder)


def test_the_peers_cert_payloads_reach_the_authenticator(
    peer_pair: Callable[..., Pair], monkeypatch: Any
) -> None:
    from ipsecd.ike.v2.tasks.ike_auth import IkeAuth

    original = IkeAuth.build_i

    def with_cert(self: IkeAuth, out: list[Any]) -> None:
        original(self, out)
        out.insert(1, RawPayload(int(PayloadType.CERT), b"\x04fake-der", False))

    monkeypatch.setattr(IkeAuth, "build_i", with_cert)
    CertRecorder.seen.clear()
    p = peer_pair()
    p.rcfg = replace(p.rcfg, auth_method="test-cert-recorder")
    p.__post_init__()
    p.pump()
    assert CertRecorder.seen == [(b"\x04fake-der",)] and p.events("r", IkeSaEstablished)
