"""escape(): peer-controlled text can neither start a new log line nor drive a terminal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ipsecd.util.text import escape


def test_printable_text_is_unchanged() -> None:
    assert escape("fqdn:gw.example.com") == "fqdn:gw.example.com"
    assert escape("user-fqdn:jörg@example.com") == "user-fqdn:jörg@example.com"


def test_controls_and_escapes() -> None:
    forged = "x\n12:00:00 INFO ipsecd: peer gw: IKE SA established\x1b[2J\r\u202e\x7f\x85"
    out = escape(forged)
    assert out == ("x\\n12:00:00 INFO ipsecd: peer gw: IKE SA established\\x1b[2J\\r\\u202e\\x7f\\x85")
    assert escape("a\\nb") == "a\\\\nb"  # a literal backslash-n is not mistaken for an escaped newline


def test_bytes() -> None:
    assert escape(b"strongSwan") == "strongSwan"
    assert escape(b"\x00\xff\n") == "\\x00\\xff\\n"


@given(st.one_of(st.text(), st.binary()))
def test_output_is_always_one_printable_line(value: str | bytes) -> None:
    out = escape(value)
    assert out.isprintable()
    assert "\n" not in out and "\x1b" not in out
