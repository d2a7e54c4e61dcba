"""ISAKMP codecs: every payload round-trips, unknown values and payloads are kept, lengths are
checked, and any input raises only our WireError (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.wire.errors import MalformedMessageError, WireError
from ipsecd.wire.ikev1 import vendor
from ipsecd.wire.ikev1.attributes import Attribute, decode_attributes, encode_attributes
from ipsecd.wire.ikev1.enums import (
    CertEncoding,
    CfgType,
    EncapMode,
    ExchangeType,
    IdType,
    IpsecAttr,
    NotifyType,
    OakleyAttr,
    PayloadType,
    ProtocolId,
)
from ipsecd.wire.ikev1.header import FLAG_COMMIT, FLAG_ENCRYPTION, HEADER_SIZE, Header
from ipsecd.wire.ikev1.message import Message, decode_chain, encode_chain
from ipsecd.wire.ikev1.payloads import (
    AttributePayload,
    CertPayload,
    CertReqPayload,
    DeletePayload,
    HashPayload,
    IdPayload,
    KePayload,
    NatDPayload,
    NatOaPayload,
    NoncePayload,
    NotifyPayload,
    RawPayload,
    SigPayload,
    VendorPayload,
)
from ipsecd.wire.ikev1.sa import Proposal, SaPayload, Transform


def _phase1_sa() -> SaPayload:
    attrs = [
        Attribute(OakleyAttr.ENCRYPTION_ALGORITHM, 7),
        Attribute(OakleyAttr.KEY_LENGTH, 256),
        Attribute(OakleyAttr.HASH_ALGORITHM, 2),
        Attribute(OakleyAttr.AUTHENTICATION_METHOD, 1),
        Attribute(OakleyAttr.GROUP_DESCRIPTION, 14),
        Attribute(OakleyAttr.LIFE_TYPE, 1),
        Attribute(OakleyAttr.LIFE_DURATION, (86400).to_bytes(4, "big")),
    ]
    return SaPayload(
        [Proposal(1, ProtocolId.ISAKMP, b"", [Transform(1, 1, attrs), Transform(2, 1, attrs[2:])])]
    )


def _phase2_sa() -> SaPayload:
    esp = [Attribute(IpsecAttr.ENCAPSULATION_MODE, EncapMode.UDP_TUNNEL_DRAFT),
           Attribute(IpsecAttr.AUTHENTICATION_ALGORITHM, 2), Attribute(IpsecAttr.SA_LIFE_TYPE, 2),
           Attribute(IpsecAttr.SA_LIFE_DURATION, (4_000_000_000).to_bytes(4, "big"))]
    return SaPayload([Proposal(1, ProtocolId.AH, b"\x00\x00\x01\x00", [Transform(1, 3, esp[1:2])]),
                      Proposal(1, ProtocolId.ESP, b"\x00\x00\x02\x00", [Transform(1, 12, esp)]),
                      Proposal(2, ProtocolId.ESP, b"\x00\x00\x03\x00", [Transform(1, 3, esp)])])


def _all_payloads() -> list:
    return [
        _phase1_sa(), _phase2_sa(), KePayload(b"k" * 256), NoncePayload(b"n" * 16),
        IdPayload(IdType.IPV4_ADDR_SUBNET, bytes([10, 0, 0, 0, 255, 255, 255, 0]), 17, 1701),
        IdPayload(IdType.FQDN, b"gw.example", 17, 500), IdPayload(IdType(200), b"?"),
        CertPayload(CertEncoding.X509_SIG, b"cert"), CertReqPayload(CertEncoding.X509_SIG, b"dn"),
        HashPayload(b"h" * 20), SigPayload(b"s" * 64),
        NotifyPayload(NotifyType.RESPONDER_LIFETIME, b"\x00\x00\x10\x00", b"\x80\x01\x00\x01",
                      ProtocolId.ESP),
        NotifyPayload(NotifyType.R_U_THERE, b"c" * 16, b"\x00\x00\x00\x07"),
        NotifyPayload(NotifyType(12345)),
        DeletePayload(ProtocolId.ISAKMP, [b"i" * 8 + b"r" * 8]),
        DeletePayload(ProtocolId.ESP, [b"\x00\x00\x10\x00", b"\x00\x00\x20\x00"]),
        VendorPayload(vendor.NATT_RFC3947),
        NatDPayload(b"d" * 20),
        NatDPayload(b"e" * 16, draft=True),
        NatOaPayload(IdType.IPV4_ADDR, bytes([192, 0, 2, 1])),
        NatOaPayload(IdType.IPV4_ADDR, b"\1\2\3\4", True),
        AttributePayload(
            CfgType.REQUEST, 7, [Attribute(1, b""), Attribute(16520, 2), Attribute(3, b"\0\0\0\0")]
        ),
        RawPayload(99, b"future"),
    ]


def test_every_payload_round_trips() -> None:
    msg = Message(Header(b"I" * 8, b"R" * 8, 0, ExchangeType.QUICK, FLAG_COMMIT, 0xDEADBEEF), _all_payloads())
    data = msg.encode()
    back = Message.decode(data)
    assert back.header.exchange is ExchangeType.QUICK and back.header.commit
    assert back.header.message_id == 0xDEADBEEF and back.header.length == len(data)
    assert back.payloads == msg.payloads
    assert back.encode() == data
    assert [p.ptype() for p in back.payloads][-6:] == [20, 130, 21, 131, 14, 99]


def test_unknown_registry_values_are_kept() -> None:
    assert NotifyType(12345).name == "UNKNOWN_12345"
    assert ExchangeType(200).name == "UNKNOWN_200"
    assert NotifyType.NO_PROPOSAL_CHOSEN.is_error and not NotifyType.R_U_THERE.is_error


def test_attributes_tv_and_tlv() -> None:
    attrs = [Attribute(11, 1), Attribute(12, 28800), Attribute(12, 100_000), Attribute(6, b"\x01" * 128)]
    data = encode_attributes(attrs)
    assert data[:4] == bytes.fromhex("800b0001")  # AF=1 TV
    assert data[8:12] == bytes.fromhex("000c0004")  # TLV with a 4-byte number
    back = decode_attributes(data)
    assert [a.number for a in back[:3]] == [1, 28800, 100_000]
    assert back[3].value == b"\x01" * 128
    with pytest.raises(MalformedMessageError):
        _ = back[3].number


def test_rfc_layout_of_a_phase1_sa() -> None:
    """RFC 2408 §3.4–3.6 byte layout: DOI 1, SIT_IDENTITY_ONLY, proposal #1 ISAKMP, KEY_IKE."""
    sa = SaPayload([Proposal(1, ProtocolId.ISAKMP, b"", [Transform(1, 1, [Attribute(1, 5)])])])
    assert sa.encode_body().hex() == ("000000010000000100000014010100010000000c0101000080010005")


def test_encrypted_chain_with_padding() -> None:
    first, chain = encode_chain([HashPayload(b"h" * 20), NoncePayload(b"n" * 16)])
    padded = chain + bytes(-len(chain) % 16)
    assert decode_chain(first, padded, padded=True) == [HashPayload(b"h" * 20), NoncePayload(b"n" * 16)]
    with pytest.raises(MalformedMessageError):
        decode_chain(first, padded + b"\0")
    hdr = Header(b"I" * 8, b"R" * 8, first, ExchangeType.MAIN, FLAG_ENCRYPTION, 0)
    with pytest.raises(MalformedMessageError):
        Message.decode(hdr.encode(HEADER_SIZE + len(padded)) + padded)


@pytest.mark.parametrize("data", [
    b"", b"\0" * 27, Header(b"I" * 8, b"\0" * 8, 0, ExchangeType.MAIN, 0, 0, version=0x20).encode(28),
    Header(b"I" * 8, b"\0" * 8, 0, ExchangeType.MAIN, 0, 0).encode(29) + b"\0",
    Header(b"I" * 8, b"\0" * 8, 0, ExchangeType.MAIN, 0, 0).encode(40) + b"\0" * 12,
    Header(b"I" * 8, b"\0" * 8, 2, ExchangeType.MAIN, 0, 0).encode(32) + b"\0\0\0\4",
])
def test_malformed_messages(data: bytes) -> None:
    with pytest.raises(WireError):
        Message.decode(data)


def test_proposal_count_and_delete_sizes_checked() -> None:
    sa = _phase1_sa().encode_body()
    broken = sa[:8 + 4 + 3] + b"\x05" + sa[8 + 4 + 4:]  # says 5 transforms, carries 2
    with pytest.raises(MalformedMessageError):
        SaPayload.decode_body(broken)
    with pytest.raises(MalformedMessageError):
        DeletePayload.decode_body(bytes.fromhex("00000001030400020000000100"))


def test_vendor_ids() -> None:
    assert vendor.describe(vendor.MICROSOFT + b"\0\0\0\x09") == "Microsoft"
    assert vendor.describe(b"\x01\x02") == "unknown 0102"
    assert vendor.natt_flavour([vendor.NATT_DRAFT_02, vendor.NATT_DRAFT_03]) == vendor.NATT_DRAFT_03
    assert vendor.natt_flavour([vendor.DPD]) is None
    assert PayloadType(130) is PayloadType.NAT_D_DRAFT


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 255))
def test_any_chain_raises_only_wire_error(data: bytes, first: int) -> None:
    try:
        decode_chain(first, data, padded=bool(first & 1))
    except WireError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_any_sa_body_raises_only_wire_error(data: bytes) -> None:
    try:
        SaPayload.decode_body(b"\0\0\0\1\0\0\0\1" + data)
    except WireError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_mutated_message_raises_only_wire_error(noise: bytes) -> None:
    data = bytearray(
        Message(Header(b"I" * 8, b"R" * 8, 0, ExchangeType.QUICK, 0, 1), _all_payloads()).encode()
    )
    for i, b in enumerate(noise):
        data[(i * 37 + b) % len(data)] ^= b
    try:
        Message.decode(bytes(data))
    except WireError:
        pass
