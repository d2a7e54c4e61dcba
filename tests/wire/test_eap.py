"""EAP packets and EAP-MSCHAPv2 framing (RFC 3748 §4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipsecd.wire import eap
from ipsecd.wire.eap import EapCode, EapError, EapPacket, EapType, MsChapV2, MsOp


def test_request_and_success_round_trip() -> None:
    packet = EapPacket(EapCode.REQUEST, 9, EapType.IDENTITY, b"")
    assert packet.encode() == b"\x01\x09\x00\x05\x01"
    assert eap.parse(packet.encode() + b"pad") == packet
    assert eap.parse(b"\x03\x02\x00\x04") == EapPacket(EapCode.SUCCESS, 2)


@pytest.mark.parametrize("data", [b"", b"\x01\x01\x00\x04", b"\x03\x01\x00\x05x", b"\x07\x01\x00\x04",
                                  b"\x01\x01\x00\x09\x01"])
def test_malformed_packets_are_refused(data: bytes) -> None:
    with pytest.raises(EapError):
        eap.parse(data)


def test_mschapv2_challenge_and_short_success_round_trip() -> None:
    challenge = MsChapV2(MsOp.CHALLENGE, 5, bytes(16), b"srv")
    assert eap.parse_mschapv2(challenge.encode()) == challenge
    assert challenge.encode()[2:4] == (4 + 1 + 16 + 3).to_bytes(2, "big")
    assert eap.parse_mschapv2(b"\x03") == MsChapV2(MsOp.SUCCESS, short=True)
    with pytest.raises(EapError, match="Value-Size"):
        eap.parse_mschapv2(b"\x02\x05\x00\x08\x10abc")


@given(st.binary(max_size=80))
def test_any_input_raises_only_our_parse_error(data: bytes) -> None:
    for fn in (eap.parse, eap.parse_mschapv2):
        try:
            fn(data)
        except EapError:
            pass
