"""Value parsers: RouterOS syntax examples, and hypothesis properties (round trips; only ValueParseError)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipsecd.mgmt.errors import ScriptSyntaxError
from ipsecd.mgmt.schema import MENUS
from ipsecd.mgmt.script import tokenize
from ipsecd.mgmt.values import (
    Identity,
    IdentityType,
    Millis,
    Port,
    Prefix,
    Secret,
    Time,
    ValueParseError,
    format_seconds,
    parse_seconds,
    quote,
)

MY_ID = MENUS["/ip ipsec identity"].by_name["my-id"].type
REMOTE_ID = MENUS["/ip ipsec identity"].by_name["remote-id"].type


@pytest.mark.parametrize(("text", "seconds"), [
    ("30m", 1800), ("1d", 86400), ("1w2d3h", 788400), ("00:30:00", 1800), ("1d 02:00:00", 93600),
    ("90", 90), ("1h30m", 5400), ("0s", 0), ("1w2d03:04:05", 788645), ("1500ms", 1),
])
def test_time_syntax(text: str, seconds: int) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "m", "00:61:00", "1d2w", "-5s", "1.5h"])
def test_time_refused(text: str) -> None:
    with pytest.raises(ValueParseError):
        parse_seconds(text)


def test_time_special_and_range() -> None:
    dpd = Time(0, 3600, ("disable-dpd",))
    assert dpd.parse("disable-dpd") == "disable-dpd"
    assert dpd.canon("00:02:00") == "2m"
    with pytest.raises(ValueParseError) as exc:
        dpd.parse("2h")
    assert "disable-dpd" in exc.value.allowed and "0s..1h" in exc.value.allowed


@given(st.integers(min_value=0, max_value=10**9))
def test_time_format_round_trip(n: int) -> None:
    assert parse_seconds(format_seconds(n)) == n


@given(st.text(max_size=30))
def test_time_only_parse_error(text: str) -> None:
    try:
        v = Time().parse(text)
    except ValueParseError:
        return
    assert isinstance(v, int) and v >= 0


@pytest.mark.parametrize(("text", "millis", "printed"), [
    ("300ms", 300, "300ms"), ("1s500ms", 1500, "1s500ms"), ("3s", 3000, "3s"), ("250", 250, "250ms"),
    ("1m", 60000, "1m"),
])
def test_millis_syntax_and_print(text: str, millis: int, printed: str) -> None:
    """``/radius timeout``: RouterOS's time with milliseconds; a bare number is milliseconds."""
    timeout = MENUS["/radius"].by_name["timeout"].type
    assert isinstance(timeout, Millis)
    assert timeout.parse(text) == millis and timeout.format(millis) == printed


@pytest.mark.parametrize("text", ["", "0", "0ms", "2m", "1.5s", "ms", "5x", "-1"])
def test_millis_refused_with_its_range(text: str) -> None:
    with pytest.raises(ValueParseError) as exc:
        Millis(1, 60000).parse(text)
    assert "1ms..1m" in exc.value.allowed


@given(st.integers(min_value=0, max_value=10**9))
def test_millis_format_round_trip(n: int) -> None:
    assert Millis().parse(Millis().format(n)) == n


@given(st.ip_addresses(), st.integers(min_value=0, max_value=128))
def test_prefix_canonical_and_idempotent(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address, plen: int
) -> None:
    plen = min(plen, addr.max_prefixlen)
    t = Prefix()
    text = t.canon(f"{addr}/{plen}")
    assert t.parse(text) == ipaddress.ip_network(f"{addr}/{plen}", strict=False)
    assert t.canon(text) == text


def test_prefix_bare_address_is_host_prefix() -> None:
    assert Prefix().canon("192.0.2.1") == "192.0.2.1/32"
    assert Prefix().canon("2001:db8::1") == "2001:db8::1/128"


@given(st.one_of(st.integers(0, 65535).map(str), st.just("any"), st.text(max_size=8)))
def test_port(text: str) -> None:
    try:
        v = Port().parse(text)
    except ValueParseError as exc:
        assert "0..65535" in exc.allowed and "any" in exc.allowed
        return
    assert v is None if text == "any" else v == int(text)


@pytest.mark.parametrize(("text", "value"), [
    ("auto", Identity("auto")), ("address", Identity("address")),
    ("address:192.0.2.1", Identity("address", ipaddress.ip_address("192.0.2.1"))),
    ("fqdn:gw.example.net", Identity("fqdn", "gw.example.net")),
    ("user-fqdn:u@example.net", Identity("user-fqdn", "u@example.net")),
    ("key-id:abc", Identity("key-id", "abc")), ("dn:CN=gw,O=Example", Identity("dn", "CN=gw,O=Example")),
])
def test_identity_syntax(text: str, value: Identity) -> None:
    assert MY_ID.parse(text) == value
    assert MY_ID.format(value) == text


def test_identity_refused() -> None:
    assert REMOTE_ID.parse("ignore") == Identity("ignore")
    for bad in ("ignore", "fqdn:", "address:300.1.1.1", "user-fqdn:nobody", "email:x"):
        with pytest.raises(ValueParseError):
            MY_ID.parse(bad)


@given(st.text(max_size=40))
def test_identity_only_parse_error(text: str) -> None:
    assert isinstance(REMOTE_ID, IdentityType)
    try:
        v = REMOTE_ID.parse(text)
    except ValueParseError:
        return
    assert REMOTE_ID.parse(REMOTE_ID.format(v)) == v


def test_hex_secret() -> None:
    assert Secret().parse("0x00ff10") == b"\x00\xff\x10"
    assert Secret().parse("plain") == "plain"
    assert Secret().canon("0X00FF") == "0x00ff"
    with pytest.raises(ValueParseError):
        Secret().parse("0xabc")


@given(st.binary(max_size=64))
def test_hex_secret_round_trip(raw: bytes) -> None:
    assert Secret().parse(Secret().format(raw)) == raw


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_quote_then_tokenize_round_trip(text: str) -> None:
    toks = tokenize(f"set comment={quote(text)}")
    assert toks[-1].kind == "assign" and toks[-1].name == "comment"
    assert toks[-1].text == text


@given(st.text(max_size=60))
def test_tokenizer_raises_only_syntax_errors(text: str) -> None:
    try:
        tokenize(text)
    except ScriptSyntaxError:
        pass


@pytest.mark.parametrize(
    "menu", [m for m in MENUS.values() if m.kind in ("list", "single")], ids=lambda m: m.path
)
def test_every_default_parses(menu: object) -> None:
    from ipsecd.mgmt.schema import Menu

    assert isinstance(menu, Menu)
    for prop in menu.props:
        if prop.default is not None:
            assert prop.type.canon(prop.default) == prop.default, (menu.path, prop.name)
    for values in menu.factory:
        for name, text in values.items():
            assert menu.by_name[name].type.canon(text) == text
