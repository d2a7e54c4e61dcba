"""auth-method=digital-signature between two in-process peers (ipsecd.ike.auth.pubkey, the ike_cert
task): strongSwan ``pki`` certificates (tests/vectors/strongswan-pki) in each side's certificate
store, RFC 7427 and the classic methods, CERT/CERTREQ/SIGNATURE_HASH_ALGORITHMS on the wire, a chain
with an intermediate, and every refusal explained in one line."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from ipsecd.ike.auth import AuthContext, CertificateUse, StaticCredentials, pubkey
from ipsecd.ike.errors import ConfigError
from ipsecd.ike.events import AuthenticationFailed, IkeSaEstablished
from ipsecd.ike.v2.config import IkeConfig, validate
from ipsecd.pki.store import CertificateStore
from ipsecd.wire.enums import AuthMethod, ExchangeType, NotifyType, PayloadType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.cert import CertPayload, CertReqPayload
from ipsecd.wire.ikev2.payloads.simple import AuthPayload

from ..pki.conftest import NOW, VECTORS
from .conftest import R_ADDR, Pair, configs

DS = "digital-signature"


def store(
    mine: str = "", *, trust: tuple[str, ...] = ("ca",), extra: tuple[str, ...] = ()
) -> CertificateStore:
    """A store at the vectors' test time holding ``mine`` (with its key) as "me", the CAs in
    ``trust`` as trusted, ``extra`` as untrusted certificates, and the root's CRL."""
    s = CertificateStore(clock=lambda: NOW)
    for ca in trust:
        s.import_file(VECTORS / f"{ca}.crt", name=ca, trusted=True)
    for other in extra:
        s.import_file(VECTORS / f"{other}.crt", name=other, trusted=False)
    if mine:
        s.import_file(VECTORS / f"{mine}.crt", name="me")
        s.import_file(VECTORS / f"{mine}.key")
    s.import_file(VECTORS / "ca.crl")
    return s


def signing(cfg: IkeConfig, s: CertificateStore, *, remote_id: str = "auto", **use: Any) -> IkeConfig:
    certs = CertificateUse(s, certificate="me" if "me" in s.names() else "", **use)
    return replace(cfg, auth_method=DS, credentials=StaticCredentials(certs=certs), remote_id=remote_id)


def pair(
    peer_pair: Callable[..., Pair],
    i_store: CertificateStore,
    r_store: CertificateStore,
    i_kw: dict[str, Any] | None = None,
    r_kw: dict[str, Any] | None = None,
) -> Pair:
    i, r = configs()
    p = peer_pair(signing(i, i_store, **(i_kw or {})), signing(r, r_store, **(r_kw or {})))
    p.pump()
    return p


def ike_auth_payloads(p: Pair, direction: str) -> list[Any]:
    """The decrypted payloads of the IKE_AUTH message sent in ``direction`` ("i>r" or "r>i")."""
    return p.decrypted(direction, ExchangeType.IKE_AUTH)


def init_message(p: Pair, direction: str) -> Message:
    return next(
        Message.decode(b)
        for d, b in p.wire
        if d == direction and Message.decode(b).header.exchange == ExchangeType.IKE_SA_INIT
    )


def established(p: Pair) -> None:
    assert not p.events("i", AuthenticationFailed), p.events("i", AuthenticationFailed)
    assert not p.events("r", AuthenticationFailed), p.events("r", AuthenticationFailed)
    assert p.events("i", IkeSaEstablished) and p.events("r", IkeSaEstablished)


def test_rsa_gateway_and_ecdsa_client_with_rfc7427(peer_pair: Callable[..., Pair]) -> None:
    p = pair(peer_pair, store("client"), store("gw-rsa"), {"remote_id": "fqdn:gw.example.com"})
    established(p)
    assert p.i.remote_id == "fqdn:gw.example.com"  # my-id=auto: the certificate's first SAN
    assert p.rsa.remote_id == "user-fqdn:alice@example.com"
    for direction in ("i>r", "r>i"):
        hashes = init_message(p, direction).notify(NotifyType.SIGNATURE_HASH_ALGORITHMS)
        assert hashes is not None and hashes.data == bytes.fromhex("0002000300040005")
    assert init_message(p, "r>i").get(CertReqPayload) is not None  # the responder asks first
    i_auth, r_auth = ike_auth_payloads(p, "i>r"), ike_auth_payloads(p, "r>i")
    assert [a.method for a in (*i_auth, *r_auth) if isinstance(a, AuthPayload)] == [
        AuthMethod.DIGITAL_SIGNATURE,
        AuthMethod.DIGITAL_SIGNATURE,
    ]
    assert [type(x) for x in i_auth if isinstance(x, CertPayload | CertReqPayload)] == [
        CertPayload,
        CertReqPayload,
    ]
    ours = [x for x in r_auth if isinstance(x, CertPayload)]
    assert len(ours) == 1 and ours[0].data == (VECTORS / "gw-rsa.der").read_bytes()


def test_classic_methods_when_no_hashes_are_announced(
    peer_pair: Callable[..., Pair], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A peer without SIGNATURE_HASH_ALGORITHMS gets RSA (1) and ECDSA P-256 (9) AUTH (RFC 7296 §3.8)."""
    monkeypatch.setattr(pubkey, "peer_hashes", lambda notify: None)
    p = pair(peer_pair, store("client"), store("gw-rsa"))
    established(p)
    methods = [
        a.method for d in ("i>r", "r>i") for a in ike_auth_payloads(p, d) if isinstance(a, AuthPayload)
    ]
    assert methods == [AuthMethod.ECDSA_256, AuthMethod.RSA_SIG]


def test_chain_with_an_intermediate_and_rsa_pss(peer_pair: Callable[..., Pair]) -> None:
    """gw-ecdsa is issued by the intermediate: the responder sends both, the initiator trusts only
    the root. The RSA-PSS-signed client certificate authenticates the initiator."""
    p = pair(peer_pair, store("client-pss"), store("gw-ecdsa", extra=("intermediate",)))
    established(p)
    assert p.i.remote_id == "fqdn:gw2.example.com"
    certs = [x for x in ike_auth_payloads(p, "r>i") if isinstance(x, CertPayload)]
    assert len(certs) == 2


def test_ed25519_with_rfc8420(peer_pair: Callable[..., Pair]) -> None:
    p = pair(peer_pair, store("ed-client", trust=("ca", "ed-ca")), store("gw-rsa", trust=("ca", "ed-ca")))
    established(p)
    assert p.rsa.remote_id == "fqdn:carol.example.com"


def test_match_by_certificate(peer_pair: Callable[..., Pair]) -> None:
    r_store = store("gw-rsa", extra=("client",))
    p = pair(
        peer_pair, store("client"), r_store, r_kw={"match_by": "certificate", "remote_certificate": "client"}
    )
    established(p)
    p = pair(
        peer_pair,
        store("client-pss"),
        r_store,
        r_kw={"match_by": "certificate", "remote_certificate": "client"},
    )
    assert "is not remote-certificate" in refusal(p) or "certificate refused (id-mismatch)" in refusal(p)


def test_remote_id_as_a_dn(peer_pair: Callable[..., Pair]) -> None:
    p = pair(peer_pair, store("client"), store("gw-rsa"), r_kw={"remote_id": "user-fqdn:alice@example.com"})
    established(p)
    p = pair(
        peer_pair,
        store("client-nosan"),
        store("gw-rsa"),
        r_kw={"remote_id": "dn:C=CH, O=ipsecd test, CN=nosan.example.com"},
    )
    established(p)  # without a SAN my-id=auto is the DN


def refusal(p: Pair) -> str:
    failed = p.events("r", AuthenticationFailed) or p.events("i", AuthenticationFailed)
    assert failed and not p.events("i", IkeSaEstablished)
    line: str = failed[0].detail
    assert "\n" not in line
    return line


@pytest.mark.parametrize(
    ("client", "r_kw", "why"),
    [
        (
            "expired",
            {},
            "certificate refused (expired): certificate CN=expired.example.com,O=ipsecd test,C=CH "
            "expired on 2021-01-01 20:16:31 UTC; the peer needs a renewed certificate",
        ),
        ("revoked", {}, "certificate refused (revoked)"),
        ("wrong-eku", {}, "certificate refused (key-usage)"),
        ("client", {"remote_id": "fqdn:bob.example.com"},
         "certificate refused (id-mismatch): peer's ID is user-fqdn:alice@example.com, remote-id expects "
         "fqdn:bob.example.com; change the identity's remote-id="),
    ],
)
def test_refusals_are_explained(
    peer_pair: Callable[..., Pair], client: str, r_kw: dict[str, Any], why: str
) -> None:
    p = pair(peer_pair, store(client), store("gw-rsa"), r_kw=r_kw)
    assert why in refusal(p)


def test_the_cn_never_stands_in_for_the_san(peer_pair: Callable[..., Pair]) -> None:
    """``mismatch`` has CN gw.example.com but SAN other.example.com: an initiator claiming the CN is
    refused even with remote-id=auto."""
    i, r = configs()
    icfg = replace(signing(i, store("mismatch")), my_id="fqdn:gw.example.com")
    p = peer_pair(icfg, signing(r, store("gw-rsa")))
    p.pump()
    assert (
        "certificate refused (id-mismatch): peer's ID fqdn:gw.example.com is not in its certificate "
        "(subjectAltName" in refusal(p)
    )


def test_unknown_ca_names_the_issuer_and_the_fix(peer_pair: Callable[..., Pair]) -> None:
    p = pair(peer_pair, store("ed-client", trust=("ed-ca",)), store("gw-rsa"))
    line = refusal(p)
    assert "certificate refused (unknown-ca)" in line and "CN=ipsecd test Ed25519 CA" in line
    assert line.endswith("import the peer's CA with /certificate import and set trusted=yes")


def test_the_initiator_refuses_a_gateway_it_does_not_trust(peer_pair: Callable[..., Pair]) -> None:
    p = pair(peer_pair, store("client"), store("rogue", trust=("ca", "rogue-ca")))
    failed = p.events("i", AuthenticationFailed)
    assert failed and "certificate refused" in failed[0].detail
    assert not p.events("i", IkeSaEstablished)


def test_a_psk_peer_is_refused_by_a_signature_identity(peer_pair: Callable[..., Pair]) -> None:
    i, r = configs()
    p = peer_pair(i, signing(r, store("gw-rsa")))
    p.pump()
    assert "authenticates with SHARED_KEY_MIC; the identity has auth-method=digital-signature" in refusal(p)


def test_no_private_key_for_certificate(peer_pair: Callable[..., Pair]) -> None:
    s = store()
    s.import_file(VECTORS / "gw-rsa.crt", name="me")
    ctx = AuthContext("auto", "auto", R_ADDR, "sha256")
    authenticator = pubkey.PubkeyAuthenticator(StaticCredentials(certs=CertificateUse(s, "me")))
    with pytest.raises(ConfigError, match=r"certificate=me: .*has no private key"):
        authenticator.sign(b"x", ctx)


def test_psk_ike_sa_init_is_unchanged(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    p.pump()
    init = init_message(p, "i>r")
    assert init.notify(NotifyType.SIGNATURE_HASH_ALGORITHMS) is None
    assert all(x.ptype() != PayloadType.CERTREQ for x in init_message(p, "r>i").payloads)


@pytest.mark.parametrize(
    ("use", "why"),
    [
        (
            {"certificate": "nope"},
            "identity certificate=nope: no certificate named 'nope': import or add it first",
        ),
        ({"certificate": "ca"}, "identity certificate=ca: certificate 'ca' has no private key"),
        (
            {"certificate": "me", "remote_certificate": "gone"},
            "remote-certificate=gone: no certificate named",
        ),
        ({"certificate": "me", "match_by": "certificate"}, "match-by=certificate needs remote-certificate="),
        ({}, "set certificate= on the identity"),
    ],
)
def test_configuration_is_checked_before_any_exchange(use: dict[str, Any], why: str) -> None:
    i, _ = configs()
    cfg = replace(
        i, auth_method=DS, credentials=StaticCredentials(certs=CertificateUse(store("client"), **use))
    )
    with pytest.raises(ConfigError, match=re.escape(why)):
        validate(cfg)


def test_a_responder_picking_its_identity_later_announces_its_hashes(peer_pair: Callable[..., Pair]) -> None:
    """The configuration chosen by address uses a pre-shared key; the one the peer's ID picks uses
    certificates. The responder still answers SIGNATURE_HASH_ALGORITHMS in IKE_SA_INIT, so an
    Ed25519 client, which can only sign with RFC 7427/8420, authenticates."""
    i, r = configs()
    trust = ("ca", "ed-ca")
    cert_r = signing(r, store("gw-rsa", trust=trust))
    r = replace(r, identity_for={"fqdn:carol.example.com": cert_r}.get)  # a pre-shared key until then
    p = peer_pair(signing(i, store("ed-client", trust=trust)), r)
    p.pump()
    established(p)
    assert init_message(p, "r>i").notify(NotifyType.SIGNATURE_HASH_ALGORITHMS) is not None
    assert p.rsa.remote_id == "fqdn:carol.example.com"
    # a responder with one pre-shared-key configuration still sends nothing of the kind
    psk_only = peer_pair(signing(i, store("client")), configs()[1])
    psk_only.pump()
    assert init_message(psk_only, "r>i").notify(NotifyType.SIGNATURE_HASH_ALGORITHMS) is None


def test_a_key_that_cannot_sign_for_the_peer_ends_the_exchange_cleanly(
    peer_pair: Callable[..., Pair], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An Ed25519 key signs only with RFC 7427/8420: against a peer that announced no hashes the
    initiator closes with that reason, the responder answers AUTHENTICATION_FAILED; no exception
    leaves the SA."""
    monkeypatch.setattr(pubkey, "peer_hashes", lambda notify: None)
    trust = ("ca", "ed-ca")
    p = pair(peer_pair, store("ed-client", trust=trust), store("gw-rsa", trust=trust))
    assert "no signature method both sides support for a ed25519 key" in refusal(p)
    assert p.i.closed and not any(d == "i>r" and Message.decode(b).header.exchange == 35 for d, b in p.wire)
    p = pair(peer_pair, store("client-pss", trust=trust), store("ed-client", trust=trust))
    assert "no signature method both sides support for a ed25519 key" in refusal(p)
    r_auth = ike_auth_payloads(p, "r>i")
    assert [n.type for n in r_auth if hasattr(n, "type")] == [NotifyType.AUTHENTICATION_FAILED]


def test_a_responder_picks_its_identity_by_the_peers_certificate(peer_pair: Callable[..., Pair]) -> None:
    """Three digital-signature identities of one peer: bob's by remote-id, alice's by
    match-by=certificate, a catch-all for the intermediate's clients. Each client gets its own,
    and one no identity takes is refused with the first identity's reason."""
    r_store = store("gw-rsa", extra=("client",))
    i, r = configs()
    bob = signing(r, r_store, remote_id="fqdn:bob.example.com")
    alice = signing(r, r_store, match_by="certificate", remote_certificate="client")
    r = replace(bob, identities=(alice,))
    for client, expected in (("client-pss", bob), ("client", alice)):
        p = peer_pair(signing(i, store(client)), r)
        p.pump()
        established(p)
        assert p.rsa.config.credentials is expected.credentials
    p = peer_pair(signing(i, store("client-nosan")), r)
    p.pump()
    assert "remote-id expects fqdn:bob.example.com" in refusal(p)


def test_a_pre_shared_key_first_identity_still_asks_for_certificates(peer_pair: Callable[..., Pair]) -> None:
    """The peer's first identity uses a pre-shared key, a further one certificates: the responder's
    IKE_SA_INIT asks for certificates (CERTREQ, hashes) as the further one would, and a client with
    a certificate gets that identity."""
    i, r = configs()
    cert_r = signing(r, store("gw-rsa"), remote_id="user-fqdn:alice@example.com")
    p = peer_pair(signing(i, store("client")), replace(r, identities=(cert_r,)))
    p.pump()
    established(p)
    answer = init_message(p, "r>i")
    assert answer.get(CertReqPayload) is not None
    assert answer.notify(NotifyType.SIGNATURE_HASH_ALGORITHMS) is not None
    assert p.rsa.config.credentials is cert_r.credentials
