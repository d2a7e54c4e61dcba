"""CERT/CERTREQ payloads from the store and back: our chain without the root, CERTREQ key hashes,
and the peer's chain taken from its CERT payloads."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization

from ipsecd.pki.payloads import MAX_PEER_CERTIFICATES, cert_payloads, certreq_payload, received_chain
from ipsecd.pki.store import CertificateStore, spki_sha1
from ipsecd.wire.ikev2.payloads.cert import CertEncoding, CertPayload, CertReqPayload

from .conftest import NOW, VECTORS, cert


def test_our_chain_and_certreq_round_trip_through_the_peer() -> None:
    ours = CertificateStore(clock=lambda: NOW)
    ours.import_file(VECTORS / "ca.crt", name="ca")
    ours.import_file(VECTORS / "intermediate.crt", name="im", trusted=False)
    ours.import_file(VECTORS / "gw-ecdsa.crt", name="gw")
    payloads = cert_payloads(ours.chain("gw"))
    assert [p.data for p in payloads] == [
        cert(n).public_bytes(serialization.Encoding.DER) for n in ("gw-ecdsa", "intermediate")
    ]
    req = certreq_payload(ours)
    assert req is not None and req.authorities() == [spki_sha1(cert("ca"))]
    decoded = [CertPayload.decode_body(p.encode_body()) for p in payloads]
    chain, skipped = received_chain(decoded)
    assert skipped == 0
    peer = CertificateStore(clock=lambda: NOW)
    peer.import_file(VECTORS / "ca.crt")
    assert len(peer.validate_peer(chain).certificates) == 3
    assert certreq_payload(CertificateStore()) is None
    assert isinstance(CertReqPayload.decode_body(req.encode_body()), CertReqPayload)


def test_received_chain_skips_other_encodings_and_bounds_the_count() -> None:
    crl = CertPayload(CertEncoding.CRL, b"crl")
    x = CertPayload(CertEncoding.X509_CERT_SIGNATURE, b"der")
    chain, skipped = received_chain([crl, *[x] * (MAX_PEER_CERTIFICATES + 2)])
    assert len(chain) == MAX_PEER_CERTIFICATES and skipped == 3


def test_ikev1_cert_and_cr_payloads() -> None:
    from ipsecd.pki.payloads import ikev1_cert_payloads, ikev1_certreq_payloads, ikev1_received_chain
    from ipsecd.wire.ikev1 import payloads as v1

    ours = CertificateStore(clock=lambda: NOW)
    ours.import_file(VECTORS / "ca.crt", name="ca")
    ours.import_file(VECTORS / "intermediate.crt", name="im", trusted=False)
    ours.import_file(VECTORS / "gw-ecdsa.crt", name="gw")
    ours.import_file(VECTORS / "ed-ca.crt", name="ed-ca")
    [cr1, cr2] = ikev1_certreq_payloads(ours)  # one CR per trusted CA, by DN
    assert cr1.authority == cert("ca").subject.public_bytes()
    assert cr2.authority == cert("ed-ca").subject.public_bytes()
    wire = [p.encode_body() for p in ikev1_cert_payloads(ours.chain("gw"))]
    chain, skipped = ikev1_received_chain(v1.CertPayload.decode_body(b) for b in wire)
    assert skipped == 0 and len(chain) == 2
    assert len(ours.validate_peer(chain).certificates) == 3


def test_chain_from_the_bodies_ike_auth_hands_over() -> None:
    from ipsecd.pki.payloads import chain_from_bodies

    der = cert("gw-rsa").public_bytes(serialization.Encoding.DER)
    bodies = [b"\x04" + der, b"\x07crl", b"\x04", b""]
    assert chain_from_bodies(bodies) == ([der], 3)
