"""wire/natt.py: telling ESP, IKE and NAT-keepalives apart on UDP 4500 (RFC 3948 §2)."""

from __future__ import annotations

from ipsecd.wire import natt


def test_classify() -> None:
    assert natt.classify(b"\xff") is natt.Kind.KEEPALIVE
    assert natt.classify(natt.add_marker(b"IKE header....")) is natt.Kind.IKE
    assert natt.classify(b"\x00\x00\x00\x00") is natt.Kind.IKE
    assert natt.classify(b"\x00\x00\x10\x00\x00\x00\x00\x01") is natt.Kind.ESP
    assert natt.classify(b"\x00\x00\x00\x05" + bytes(8)) is natt.Kind.INVALID  # reserved SPI 1–255
    assert natt.classify(b"\x12\x34\x56") is natt.Kind.INVALID  # too short for ESP
    assert natt.classify(b"") is natt.Kind.INVALID
    assert natt.classify(b"\xfe") is natt.Kind.INVALID
    assert natt.classify(memoryview(b"\xff")) is natt.Kind.KEEPALIVE


def test_marker_round_trip() -> None:
    msg = b"\x01" * 28
    assert natt.strip_marker(natt.add_marker(msg)) == msg


def test_gro_segments_are_classified_one_by_one() -> None:
    esp = b"\x00\x00\x10\x00" + bytes(96)
    ike = natt.add_marker(b"\x02" * 96)
    batch = esp + ike + esp[:50]
    kinds = [natt.classify(s) for s in natt.segments(batch, 100)]
    assert kinds == [natt.Kind.ESP, natt.Kind.IKE, natt.Kind.ESP]
    assert [bytes(s) for s in natt.segments(batch, 0)] == [batch]
