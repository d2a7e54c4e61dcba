"""The whole certificate AUTH of IKEv2 IKE_AUTH (RFC 7296 §2.15, §3.6–3.8; RFC 7427) as the
public-key authenticator will run it, from the store to the verdict, on strongSwan pki
certificates: the initiator sends CERT payloads and AUTH, the responder takes the chain from the
CERT payloads, accepts the peer for an identity and checks AUTH with the leaf's key."""

from __future__ import annotations

import pytest

from ipsecd.crypto import sig
from ipsecd.pki.identity import Identity, auto_id
from ipsecd.pki.payloads import cert_payloads, certreq_payload, received_chain
from ipsecd.pki.peer import PeerRules, pick_identity
from ipsecd.pki.store import CertificateStore
from ipsecd.pki.verify import CertificateRefused, Refusal
from ipsecd.wire.ikev2.payloads.cert import CertPayload, CertReqPayload
from ipsecd.wire.ikev2.payloads.simple import AuthPayload

from .conftest import NOW, VECTORS

SIGNED_OCTETS = b"RealMessage1 | NonceRData | prf(SK_pi, IDi')"


def _initiator(cert: str) -> CertificateStore:
    s = CertificateStore(clock=lambda: NOW)
    s.import_file(VECTORS / "ca.crt", name="ca")
    s.import_file(VECTORS / "intermediate.crt", name="intermediate", trusted=False)
    s.import_file(VECTORS / f"{cert}.crt", name="me")
    s.import_file(VECTORS / f"{cert}.key")
    return s


def _responder() -> CertificateStore:
    s = CertificateStore(clock=lambda: NOW)
    s.import_file(VECTORS / "ca.crt", name="ca")
    s.import_file(VECTORS / "ca.crl")
    return s


def _exchange(cert: str, peer_hashes: list[int] | None) -> tuple[str, sig.Scheme]:
    ours = _initiator(cert)
    responder = _responder()
    # IKE_SA_INIT: the responder's CERTREQ names its CA; SIGNATURE_HASH_ALGORITHMS its hashes
    req = CertReqPayload.decode_body(certreq_payload(responder).encode_body())  # type: ignore[union-attr]
    assert req.authorities() == responder.key_ids()
    # IKE_AUTH request: IDi (my-id=auto), CERT payloads, AUTH
    my_id = auto_id(ours.certificate("me"))
    method, scheme = sig.choose_auth(ours.private_key("me"), peer_hashes)
    auth = AuthPayload(method, sig.ikev2_sign(ours.private_key("me"), method, scheme, SIGNED_OCTETS))
    wire = [p.encode_body() for p in cert_payloads(ours.chain("me"))]
    # the responder
    chain, skipped = received_chain(CertPayload.decode_body(b) for b in wire)
    assert skipped == 0
    candidates = [("vpn", PeerRules("fqdn:vpn.example.com")), ("roadwarriors", PeerRules())]
    name, validated = pick_identity(responder, chain, my_id, candidates)
    key = validated.leaf.public_key()
    assert isinstance(key, sig.PublicKey)
    received = AuthPayload.decode_body(auth.encode_body())
    used = sig.ikev2_verify(key, received.method, received.data, SIGNED_OCTETS)
    with pytest.raises(sig.SignatureError):
        sig.ikev2_verify(key, received.method, received.data, SIGNED_OCTETS + b"!")
    return name, used


@pytest.mark.parametrize(
    ("cert", "hashes", "scheme"),
    [
        ("gw-rsa", [2, 3, 4], "sha256WithRSAEncryption"),
        ("gw-rsa", None, "sha1WithRSAEncryption"),  # auth method 1
        ("gw-ecdsa", [2, 3, 4, 5], "ecdsa-with-sha256"),  # chain with the intermediate
        ("client", None, "ecdsa-with-sha256"),  # auth method 9
        ("client-pss", [3], "sha384WithRSAEncryption"),
    ],
)
def test_certificate_auth_end_to_end(cert: str, hashes: list[int] | None, scheme: str) -> None:
    name, used = _exchange(cert, hashes)
    assert name == "roadwarriors" and used.name == scheme


def test_a_revoked_initiator_is_refused_before_its_signature_counts() -> None:
    with pytest.raises(CertificateRefused) as info:
        _exchange("revoked", [2])
    assert info.value.kind is Refusal.REVOKED


def test_the_peer_id_must_be_in_the_certificate() -> None:
    responder = _responder()
    chain = [p.data for p in cert_payloads(_initiator("mismatch").chain("me"))]
    with pytest.raises(CertificateRefused) as info:
        pick_identity(responder, chain, Identity.parse("fqdn:gw.example.com"), [("rw", PeerRules())])
    assert info.value.kind is Refusal.ID_MISMATCH
