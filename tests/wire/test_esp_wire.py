"""wire/esp.py: ESP padding and trailer (RFC 4303 §2.4–§2.6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipsecd.wire import esp as wesp


@given(st.integers(0, 2000), st.sampled_from([4, 8, 16]), st.integers(0, 255))
def test_trailer_aligns_and_strips(n: int, align: int, nh: int) -> None:
    payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
    t = wesp.trailer(n, nh, align)
    assert (n + len(t)) % align == 0 and len(t) - 2 == wesp.pad_length(n, align) < align
    assert t[:-2] == bytes(range(1, len(t) - 1))
    assert wesp.strip_trailer(payload + t) == (n, nh)


def test_bad_trailers() -> None:
    with pytest.raises(wesp.EspFormatError):
        wesp.strip_trailer(b"\x04")
    with pytest.raises(wesp.EspFormatError):
        wesp.strip_trailer(b"\x01\x02\x05\x04")  # pad length 5 > 2 bytes available
    with pytest.raises(wesp.EspFormatError):
        wesp.strip_trailer(b"abc\x01\x03\x02\x04")  # 1, 3 is not 1, 2
    assert wesp.strip_trailer(b"\x00\x3b") == (0, 59)


def test_header_layout() -> None:
    assert wesp.HEADER.pack(0x11223344, 5) == bytes.fromhex("1122334400000005")
    assert wesp.ESN_AAD.pack(1, 2, 3) == bytes.fromhex("000000010000000200000003")
