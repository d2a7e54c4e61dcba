"""The minimal DER reader/writer: round trips, X.690's shortest-form rules, and refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipsecd.crypto import der
from ipsecd.crypto.errors import MalformedInputError


@given(st.integers(0, 2), st.integers(0, 39), st.lists(st.integers(0, 2**64), max_size=8))
def test_oid_round_trip(first: int, second: int, rest: list[int]) -> None:
    dotted = ".".join(str(a) for a in [first, second, *rest])
    item, end = der.read_tlv(der.encode_oid(dotted))
    assert der.decode_oid(item) == dotted and end == len(item.raw)


def test_known_oid_encodings() -> None:
    assert der.encode_oid("1.2.840.113549.1.1.10").hex() == "06092a864886f70d01010a"
    assert der.encode_oid("2.5.4.3").hex() == "0603550403"


@given(st.binary(max_size=70000))
def test_lengths_round_trip_in_shortest_form(value: bytes) -> None:
    raw = der.encode(der.SEQUENCE, value)
    assert der.read_one(raw, der.SEQUENCE).value == value


@given(st.integers(0, 2**200))
def test_uint_round_trip(value: int) -> None:
    item, _ = der.read_tlv(der.encode_uint(value))
    assert der.read_uint(item) == value


@pytest.mark.parametrize(
    "raw",
    [
        "30",
        "3081",
        "308100",
        "30817f" + "00" * 127,
        "3080",
        "3085" + "00" * 5,
        "3003aa",
        "1f0100",
    ],
)
def test_malformed_headers(raw: str) -> None:
    with pytest.raises(MalformedInputError):
        der.read_tlv(bytes.fromhex(raw))


@pytest.mark.parametrize("raw", ["0200", "0201ff", "02020001"])
def test_non_minimal_or_negative_integers(raw: str) -> None:
    with pytest.raises(MalformedInputError):
        der.read_uint(der.read_tlv(bytes.fromhex(raw))[0])


@pytest.mark.parametrize("raw", ["0600", "060180", "06022a80", "0602802a"])
def test_malformed_oids(raw: str) -> None:
    with pytest.raises(MalformedInputError):
        der.decode_oid(der.read_tlv(bytes.fromhex(raw))[0])


def test_read_one_wants_exactly_one_element_of_the_tag() -> None:
    with pytest.raises(MalformedInputError):
        der.read_one(bytes.fromhex("30003000"), der.SEQUENCE)
    with pytest.raises(MalformedInputError):
        der.read_one(bytes.fromhex("3100"), der.SEQUENCE)
    assert [t.tag for t in der.read_all(bytes.fromhex("02010105003000"))] == [2, 5, 0x30]
