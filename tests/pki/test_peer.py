"""accept_peer and pick_identity: chain validation and the identity rules together, as the IKE
public-key authenticator uses them."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from ipsecd.pki.identity import Identity
from ipsecd.pki.peer import PeerRules, accept_peer, pick_identity
from ipsecd.pki.store import CertificateStore
from ipsecd.pki.verify import CertificateRefused, Refusal

from .conftest import NOW, VECTORS, cert


@pytest.fixture
def store() -> CertificateStore:
    s = CertificateStore(clock=lambda: NOW)
    s.import_file(VECTORS / "ca.crt", name="ca")
    s.import_file(VECTORS / "ca.crl")
    s.import_file(VECTORS / "client.crt", name="alice", trusted=False)
    return s


def _der(name: str) -> bytes:
    return cert(name).public_bytes(serialization.Encoding.DER)


def test_remote_id_rules(store: CertificateStore) -> None:
    gw = Identity.parse("fqdn:gw.example.com")
    assert accept_peer(store, [_der("gw-rsa")], gw, PeerRules()).leaf == cert("gw-rsa")
    assert accept_peer(store, [_der("gw-rsa")], gw, PeerRules("fqdn:gw.example.com"))
    with pytest.raises(CertificateRefused) as info:
        accept_peer(store, [_der("mismatch")], gw, PeerRules())
    assert info.value.kind is Refusal.ID_MISMATCH and "DNS:other.example.com" in info.value.reason
    assert accept_peer(store, [_der("mismatch")], gw, PeerRules("ignore"))
    with pytest.raises(CertificateRefused) as info:
        accept_peer(store, [_der("gw-rsa")], gw, PeerRules("fqdn:vpn.example.com"))
    assert "remote-id expects fqdn:vpn.example.com" in info.value.reason
    # the chain is judged first, whatever the ID
    with pytest.raises(CertificateRefused) as info:
        accept_peer(store, [_der("revoked")], Identity.parse("fqdn:revoked.example.com"), PeerRules("ignore"))
    assert info.value.kind is Refusal.REVOKED


def test_match_by_certificate(store: CertificateStore) -> None:
    alice = Identity.parse("user-fqdn:alice@example.com")
    rules = PeerRules(match_by="certificate", remote_certificate="alice")
    assert accept_peer(store, [_der("client")], alice, rules).leaf == cert("client")
    assert accept_peer(store, [], alice, rules).leaf == cert("client")  # no CERT payload: the store's
    with pytest.raises(CertificateRefused, match="is not remote-certificate"):
        accept_peer(store, [_der("gw-rsa")], alice, rules)
    with pytest.raises(CertificateRefused, match="needs remote-certificate"):
        accept_peer(store, [_der("client")], alice, PeerRules(match_by="certificate"))


def test_crl_use(store: CertificateStore) -> None:
    bare = CertificateStore(clock=lambda: NOW)
    bare.import_file(VECTORS / "ca.crt", name="ca")
    gw = Identity.parse("fqdn:gw.example.com")
    bare.set_crl_use(True)
    store.set_crl_use(True)
    with pytest.raises(CertificateRefused) as info:
        accept_peer(bare, [_der("gw-rsa")], gw, PeerRules())
    assert info.value.kind is Refusal.NO_CRL
    assert accept_peer(store, [_der("gw-rsa")], gw, PeerRules())


def test_pick_identity(store: CertificateStore) -> None:
    candidates = [
        ("vpn", PeerRules("fqdn:vpn.example.com")),
        ("alice", PeerRules(match_by="certificate", remote_certificate="alice")),
        ("gw", PeerRules("fqdn:gw.example.com")),
    ]
    name, chain = pick_identity(store, [_der("gw-rsa")], Identity.parse("fqdn:gw.example.com"), candidates)
    assert name == "gw" and chain.leaf == cert("gw-rsa")
    name, _ = pick_identity(
        store, [_der("client")], Identity.parse("user-fqdn:alice@example.com"), candidates
    )
    assert name == "alice"
    with pytest.raises(CertificateRefused):
        pick_identity(store, [_der("client-nosan")], Identity.parse("fqdn:x.example.com"), candidates)
    with pytest.raises(CertificateRefused, match="no identity"):
        pick_identity(store, [_der("client")], Identity.parse("fqdn:x.example.com"), [])
