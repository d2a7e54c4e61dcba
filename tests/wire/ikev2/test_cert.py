"""CERT and CERTREQ codecs (RFC 7296 §3.6, §3.7): layouts byte for byte, refusals, and hypothesis on
decoding arbitrary bodies."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipsecd.wire.enums import PayloadType
from ipsecd.wire.errors import MalformedMessageError, WireError
from ipsecd.wire.ikev2.message import decode_chain, encode_chain
from ipsecd.wire.ikev2.payloads.cert import CertEncoding, CertPayload, CertReqPayload, split_hash_and_url


def test_cert_payload_layout() -> None:
    p = CertPayload(CertEncoding.X509_CERT_SIGNATURE, b"\x30\x82\x01\x00DER")
    first, chain = encode_chain([p])
    assert first == PayloadType.CERT
    assert chain == bytes.fromhex("0000000c04") + b"\x30\x82\x01\x00DER"
    assert CertPayload.decode_body(chain[4:]) == p


def test_certreq_names_cas_by_spki_sha1() -> None:
    ids = [hashlib.sha1(b"ca1").digest(), hashlib.sha1(b"ca2").digest()]
    p = CertReqPayload.for_authorities(ids)
    first, chain = encode_chain([p])
    assert first == PayloadType.CERTREQ
    assert chain[:5] == bytes.fromhex("0000002d04") and chain[5:] == ids[0] + ids[1]
    back = CertReqPayload.decode_body(chain[4:])
    assert back == p and back.authorities() == ids
    assert CertReqPayload.decode_body(b"\x04").authorities() == []  # "any CA"


def test_certreq_refuses_a_list_that_is_not_sha1_hashes() -> None:
    with pytest.raises(MalformedMessageError, match="20-byte SHA-1"):
        CertReqPayload.decode_body(b"\x04" + bytes(21))
    with pytest.raises(MalformedMessageError, match="SHA-1 is 20"):
        CertReqPayload.for_authorities([bytes(19)])
    # other encodings carry data we do not split
    other = CertReqPayload.decode_body(b"\x07abc")
    assert other.encoding is CertEncoding.CRL and other.authorities() == []


def test_cert_refuses_empty_data_and_keeps_unknown_encodings() -> None:
    with pytest.raises(WireError):
        CertPayload.decode_body(b"")
    with pytest.raises(MalformedMessageError, match="without certificate data"):
        CertPayload.decode_body(b"\x04")
    p = CertPayload.decode_body(b"\xc8xyz")
    assert int(p.encoding) == 200 and p.encoding.name == "UNKNOWN_200" and p.encode_body() == b"\xc8xyz"


def test_hash_and_url() -> None:
    h = hashlib.sha1(b"cert").digest()
    assert split_hash_and_url(h + b"http://ca.example/gw.der") == (h, "http://ca.example/gw.der")
    with pytest.raises(MalformedMessageError):
        split_hash_and_url(h)
    with pytest.raises(MalformedMessageError, match="ASCII"):
        split_hash_and_url(h + b"\xff")


def test_cert_payloads_travel_in_a_chain() -> None:
    first, chain = encode_chain(
        [CertPayload(CertEncoding.CRL, b"crl"), CertReqPayload(CertEncoding.X509_CERT_SIGNATURE, b"")]
    )
    payloads = decode_chain(first, chain)
    assert [p.ptype() for p in payloads] == [PayloadType.CERT, PayloadType.CERTREQ]


@given(st.binary(max_size=120))
def test_decoding_arbitrary_bodies_raises_only_wire_errors(body: bytes) -> None:
    for cls in (CertPayload, CertReqPayload):
        try:
            p = cls.decode_body(body)
        except WireError:
            continue
        assert p.encode_body() == body
