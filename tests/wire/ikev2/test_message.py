"""IKEv2 codecs: every payload round-trips; the unknown/critical payload rules; length checks."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from ipsecd.wire.enums import (
    AuthMethod,
    CfgAttr,
    CfgType,
    DhGroup,
    EncrId,
    ExchangeType,
    IdType,
    NotifyType,
    PayloadType,
    ProtocolId,
    TransformType,
    TsType,
)
from ipsecd.wire.errors import MalformedMessageError, UnsupportedCriticalPayloadError, WireError
from ipsecd.wire.ikev2.header import FLAG_INITIATOR, Header
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import RawPayload
from ipsecd.wire.ikev2.payloads.cp import CpPayload
from ipsecd.wire.ikev2.payloads.notify import DeletePayload, NotifyPayload
from ipsecd.wire.ikev2.payloads.sa import Proposal, SaPayload, Transform
from ipsecd.wire.ikev2.payloads.simple import AuthPayload, IdPayload, KePayload, NoncePayload, VendorPayload
from ipsecd.wire.ikev2.payloads.sk import SkPayload
from ipsecd.wire.ikev2.payloads.ts import TrafficSelector, TsPayload
from ipsecd.wire.ikev2.rules import check_payloads


def _hdr(exchange: ExchangeType = ExchangeType.IKE_SA_INIT) -> Header:
    return Header(b"A" * 8, bytes(8), 0, exchange, FLAG_INITIATOR, 0)


def _sample() -> Message:
    sa = SaPayload(
        [
            Proposal(
                1,
                ProtocolId.IKE,
                b"",
                [
                    Transform(TransformType.ENCR, EncrId.AES_CBC, 128),
                    Transform(TransformType.PRF, 2),
                    Transform(TransformType.INTEG, 2),
                    Transform(TransformType.DH, DhGroup.MODP2048),
                ],
            ),
            Proposal(
                2,
                ProtocolId.ESP,
                b"\x01\x02\x03\x04",
                [Transform(TransformType.ENCR, EncrId.AES_GCM_16, 256), Transform(TransformType.ESN, 0)],
            ),
        ]
    )
    ts = TrafficSelector(
        TsType.TS_IPV4_ADDR_RANGE, 0, 0, 65535, ip_address("10.0.0.0"), ip_address("10.0.0.255")
    )
    ts6 = TrafficSelector(TsType.TS_IPV6_ADDR_RANGE, 6, 80, 80, ip_address("::1"), ip_address("::2"))
    return Message(
        _hdr(),
        [
            sa,
            KePayload(DhGroup.MODP2048, b"k" * 256),
            NoncePayload(b"n" * 32),
            NotifyPayload(NotifyType.NAT_DETECTION_SOURCE_IP, b"h" * 20),
            IdPayload(IdType.ID_FQDN, b"gw.example"),
            IdPayload(IdType.ID_IPV4_ADDR, b"\x01\x02\x03\x04", initiator=False),
            AuthPayload(AuthMethod.SHARED_KEY_MIC, b"a" * 20),
            TsPayload([ts, ts6]),
            TsPayload([ts], initiator=False),
            CpPayload(
                CfgType.CFG_REQUEST, [(CfgAttr.INTERNAL_IP4_ADDRESS, b""), (CfgAttr.INTERNAL_IP4_DNS, b"")]
            ),
            DeletePayload(ProtocolId.ESP, [b"\x00\x00\x10\x00", b"\x00\x00\x20\x00"]),
            VendorPayload(b"ipsecd"),
        ],
    )


def test_every_payload_round_trips() -> None:
    msg = _sample()
    data = msg.encode()
    back = Message.decode(data)
    assert back.payloads == msg.payloads
    assert back.encode() == data
    assert back.header.exchange == ExchangeType.IKE_SA_INIT and back.header.from_initiator
    id_r = back.all(IdPayload)[1]
    assert id_r.ptype() == PayloadType.IDR and not id_r.initiator
    assert back.notify(NotifyType.NAT_DETECTION_SOURCE_IP) is not None
    assert back.error_notify() is None


def _with_unknown(critical: bool) -> bytes:
    """A message whose second payload is an unknown type 200."""
    data = bytearray(Message(_hdr(), [NoncePayload(b"n" * 16)]).encode())
    data[28] = 200  # nonce's Next Payload -> unknown
    data += bytes([0, 0x80 if critical else 0, 0, 8]) + b"zzzz"
    data[24:28] = len(data).to_bytes(4, "big")
    return bytes(data)


def test_unknown_noncritical_payload_is_skipped_and_critical_rejected() -> None:
    msg = Message.decode(_with_unknown(False))
    raw = msg.payloads[1]
    assert isinstance(raw, RawPayload) and raw.ptype() == 200 and raw.body == b"zzzz"
    with pytest.raises(UnsupportedCriticalPayloadError) as e:
        Message.decode(_with_unknown(True))
    assert e.value.payload_type == 200


def test_sk_must_be_last_and_records_offset() -> None:
    msg = Message(
        _hdr(ExchangeType.IKE_AUTH),
        [NotifyPayload(NotifyType.INITIAL_CONTACT), SkPayload(PayloadType.IDI, b"\x00" * 40)],
    )
    data = msg.encode()
    back = Message.decode(data)
    sk = back.get(SkPayload)
    assert sk is not None and sk.first_inner == PayloadType.IDI
    assert data[sk.offset : sk.offset + 40] == b"\x00" * 40 and sk.offset + 40 == len(data)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d[:-1],  # truncated
        lambda d: d + b"\x00",  # trailing byte: header length lies
        lambda d: d[:17] + b"\x30" + d[18:],  # major version 3
        lambda d: d[:30] + b"\xff\xff" + d[32:],  # first payload length overruns
        lambda d: d[:30] + b"\x00\x02" + d[32:],  # first payload length below its header
        lambda d: d[:20],  # shorter than the header
    ],
)
def test_malformed_raise_wire_errors(mutate: object) -> None:
    data = _sample().encode()
    with pytest.raises(WireError):
        Message.decode(mutate(data))  # type: ignore[operator]


def test_unknown_enum_values_are_kept() -> None:
    n = NotifyPayload(NotifyType(50000), b"x")
    back = Message.decode(Message(_hdr(), [n]).encode()).payloads[0]
    assert isinstance(back, NotifyPayload) and int(back.type) == 50000 and back.type.name == "UNKNOWN_50000"
    assert not back.type.is_error


def test_delete_spi_size_checked() -> None:
    data = bytearray(Message(_hdr(), [DeletePayload(ProtocolId.ESP, [b"1234"])]).encode())
    data[33] = 8  # SPI size 8 for ESP
    with pytest.raises(MalformedMessageError):
        Message.decode(bytes(data))


def test_exchange_rules() -> None:
    sa = _sample()
    check_payloads(ExchangeType.IKE_SA_INIT, False, sa.payloads)
    with pytest.raises(MalformedMessageError, match="lacks KE"):
        check_payloads(
            ExchangeType.IKE_SA_INIT, False, [p for p in sa.payloads if not isinstance(p, KePayload)]
        )
    with pytest.raises(MalformedMessageError, match="2 NONCE"):
        check_payloads(ExchangeType.IKE_SA_INIT, True, [*sa.payloads, NoncePayload(b"n" * 16)])
    check_payloads(ExchangeType.IKE_SA_INIT, True, [NotifyPayload(NotifyType.NO_PROPOSAL_CHOSEN)])
    with pytest.raises(MalformedMessageError):  # a request cannot dodge the rules with an error notify
        check_payloads(ExchangeType.IKE_SA_INIT, False, [NotifyPayload(NotifyType.NO_PROPOSAL_CHOSEN)])


def test_decoded_transforms_and_selectors_are_shared_and_the_tables_bounded() -> None:
    from ipsecd.wire.ikev2.payloads import sa as sa_mod
    from ipsecd.wire.ikev2.payloads import ts as ts_mod
    from ipsecd.wire.ikev2.payloads.base import INTERN_LIMIT

    data = _sample().encode()
    a, b = Message.decode(data), Message.decode(data)
    sa_a, sa_b = a.get(SaPayload), b.get(SaPayload)
    assert sa_a is not None and sa_b is not None and sa_a.proposals is not sa_b.proposals
    assert all(
        x is y for x, y in zip(sa_a.proposals[0].transforms, sa_b.proposals[0].transforms, strict=True)
    )
    ts_a, ts_b = a.get(TsPayload), b.get(TsPayload)
    assert ts_a is not None and ts_b is not None and ts_a.selectors[0] is ts_b.selectors[0]
    # a peer sending ever new transform bytes never grows the table past its limit
    for n in range(INTERN_LIMIT + 10):
        junk = Message(
            _hdr(), [SaPayload([Proposal(1, ProtocolId.IKE, b"", [Transform(TransformType.DH, n)])])]
        )
        Message.decode(junk.encode())
    assert len(sa_mod._TRANSFORMS) <= INTERN_LIMIT and len(ts_mod._SELECTORS) <= INTERN_LIMIT
