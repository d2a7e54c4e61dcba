"""wire/ah.py: AH header, ICV field alignment and the mutable-field rules (RFC 4302 §2, §3.3.3.1)."""

from __future__ import annotations

import pytest

from ipsecd.wire import ah as wah
from ipsecd.wire import ip as wip


@pytest.mark.parametrize(
    ("icv", "v6", "field"),
    [
        (12, False, 12),
        (12, True, 12),
        (16, False, 16),
        (16, True, 20),
        (24, True, 28),
        (32, False, 32),
        (32, True, 36),
    ],
)
def test_icv_field_alignment(icv: int, v6: bool, field: int) -> None:
    assert wah.icv_field_len(icv, v6) == field
    assert (wah.HEADER_LEN + field) % (8 if v6 else 4) == 0


def test_header_round_trip_and_errors() -> None:
    h = wah.header(4, 0xABCD, 9, 20)
    assert len(h) == 32 and h[1] == 32 // 4 - 2
    assert wah.parse(h, 0, len(h)) == (4, 32, 0xABCD, 9)
    with pytest.raises(wah.AhFormatError):
        wah.parse(h, 0, 10)
    with pytest.raises(wah.AhFormatError):
        wah.parse(h[:2] + h[2:], 0, 28)  # claims 32 bytes, 28 present
    bad = bytearray(h)
    bad[1] = 0  # 8 bytes: shorter than the fixed header
    with pytest.raises(wah.AhFormatError):
        wah.parse(bytes(bad), 0, len(bad))


def test_ipv4_mutable_fields_and_options() -> None:
    a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    # options: NOP, Router Alert (immutable), Record Route (mutable, 7 bytes), End of List
    opts = b"\x01" + b"\x94\x04\x00\x00" + b"\x07\x07\x04\x0a\x00\x00\x09" + b"\x00" * 0
    opts += b"\x00" * (-len(opts) % 4)
    base = bytearray(wip.ipv4_header(a, b, 51, 0, tos=0x10, ident=0x4242, df=True, ttl=9))
    base[0] = 0x40 | (20 + len(opts)) // 4
    hdr = bytearray(bytes(base) + opts)
    wah.zero_ipv4_mutable(hdr)
    assert hdr[1] == 0 and hdr[6:9] == b"\x00\x00\x00" and hdr[10:12] == b"\x00\x00"
    assert hdr[4:6] == b"\x42\x42" and hdr[12:20] == a + b  # immutable fields stay
    assert hdr[20:25] == b"\x01\x94\x04\x00\x00"  # NOP and Router Alert kept
    assert hdr[25:32] == bytes(7)  # Record Route zeroed entirely
    broken = bytearray(bytes(base[:20]) + b"\x07\x09\x00\x00")
    with pytest.raises(wah.AhFormatError):
        wah.zero_ipv4_mutable(broken)


def test_ipv6_mutable_fields_and_options() -> None:
    a, b = bytes(15) + b"\x01", bytes(15) + b"\x02"
    # Hop-by-Hop: option 0x05 (Router Alert, immutable data) and option 0x3e (0x20 bit: mutable)
    hbh = bytes([51, 0]) + b"\x05\x02\xaa\xbb" + b"\x3e\x00"
    hdr = bytearray(wip.ipv6_header(a, b, 0, 8, tclass=0xB8, flow=0xFFFFF, hop_limit=3) + hbh)
    hbh_mut = bytes([51, 1]) + b"\x05\x02\xaa\xbb" + b"\x3e\x08" + b"\x11" * 8
    hdr2 = bytearray(wip.ipv6_header(a, b, 0, 16) + hbh_mut)
    wah.zero_ipv6_mutable(hdr, len(hdr), sending=True)
    assert hdr[:4] == b"\x60\x00\x00\x00" and hdr[7] == 0 and hdr[8:40] == a + b
    assert hdr[40:] == hbh
    wah.zero_ipv6_mutable(hdr2, len(hdr2), sending=False)
    assert hdr2[44:46] == b"\xaa\xbb" and hdr2[48:56] == bytes(8)
    routing = bytearray(wip.ipv6_header(a, b, 43, 8) + bytes([51, 0, 0, 1]) + bytes(4))  # segments left 1
    with pytest.raises(wah.AhFormatError):
        wah.zero_ipv6_mutable(routing, len(routing), sending=True)
    wah.zero_ipv6_mutable(routing, len(routing), sending=False)
    frag_before = bytearray(wip.ipv6_header(a, b, 44, 8) + bytes(8))
    with pytest.raises(wah.AhFormatError):
        wah.zero_ipv6_mutable(frag_before, len(frag_before), sending=False)
