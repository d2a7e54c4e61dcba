"""Table-driven from the schema: every writable property accepts a valid value and prints it back as
RouterOS does, and refuses an invalid one with one line naming menu, property, value and what is allowed."""

from __future__ import annotations

import json

import pytest

from ipsecd.mgmt import Session, open_config
from ipsecd.mgmt.passwords import PasswordHash
from ipsecd.mgmt.schema import MENUS, Menu, Prop
from ipsecd.mgmt.values import (
    Address,
    AddressRange,
    Bool,
    Enum,
    EnumList,
    Hex,
    IdentityType,
    Int,
    ListOf,
    Millis,
    Port,
    Prefix,
    Protocol,
    Ref,
    Secret,
    Str,
    Time,
    ValueType,
)

from .conftest import run_ok

REF_TARGETS = {"/ip ipsec peer": "p1", "/ip pool": "pool1", "/ip ipsec key": "k1",
               "/ip ipsec profile": "default", "/ip ipsec proposal": "default",
               "/ip ipsec policy group": "default", "/ip ipsec mode-config": "request-only",
               "/user group": "read"}


def valid(prop: Prop) -> tuple[str, str]:
    """(value to write, text print shows) for a property's type."""
    t: ValueType = prop.type
    if isinstance(t, Port):
        return "0443", "443"
    if isinstance(t, Int):
        return str(t.hi), str(t.hi)
    if isinstance(t, Bool):
        return ("no", "no") if prop.default == "yes" else ("yes", "yes")
    if isinstance(t, Enum):
        choice = [c for c in t.choices if c != prop.default][-1]
        return choice, choice
    if isinstance(t, EnumList):
        return f"{t.choices[1]},{t.choices[0]},{t.choices[1]}", f"{t.choices[1]},{t.choices[0]}"
    if isinstance(t, Millis):
        return "1s500ms", "1s500ms"
    if isinstance(t, Time):
        return ("00:00:30", "30s") if t.hi <= 3600 else ("1w2d03:04:05", "1w2d3h4m5s")
    if isinstance(t, Address):
        return ("10.1.0.9", "10.1.0.9") if t.v4_only else ("2001:db8::0001", "2001:db8::1")
    if isinstance(t, Prefix):
        return "10.1.2.3/24", "10.1.2.0/24"
    if isinstance(t, ListOf):
        item = t.item
        if isinstance(item, Prefix):
            return "10.1.0.0/24,192.168.7.9", "10.1.0.0/24,192.168.7.9/32"
        if isinstance(item, Address):
            both = "10.1.0.2,10.1.0.3" if item.v4_only else "10.1.0.1,2001:db8::1"
            return both, both
        if isinstance(item, AddressRange):
            return "10.0.0.2-10.0.0.9,10.0.1.0/30", "10.0.0.2-10.0.0.9,10.0.1.0-10.0.1.3"
        return "a.example,b.example", "a.example,b.example"
    if isinstance(t, Protocol):
        return "47", "gre"  # RouterOS prints a protocol's name
    if isinstance(t, IdentityType):
        return "user-fqdn:u@example.net", "user-fqdn:u@example.net"
    if isinstance(t, Ref):
        name = REF_TARGETS[t.menu]
        return name, name
    if isinstance(t, Hex):
        return "0x" + "AB" * (t.min_digits // 2), "ab" * (t.min_digits // 2)
    if isinstance(t, Secret):
        return "0x00ff", "0x00ff"
    if isinstance(t, Str):
        text = "x" * max(t.min_len, 16) if t.min_len else "two words"
        return text, text
    raise AssertionError(f"no sample for {type(t).__name__}")


def invalid(prop: Prop) -> str:
    t = prop.type
    if isinstance(t, Int | Port):
        return "70000" if isinstance(t, Port) else str(t.hi + 1)
    if isinstance(t, Millis):
        return "5x"
    if isinstance(t, Time):
        return "5x" if t.hi > 3600 else "2h"
    if isinstance(t, ListOf) and isinstance(t.item, Str):
        return "bad name!"
    if isinstance(t, Address | Prefix | ListOf):
        return "10.0.0.300/33"
    if isinstance(t, Protocol):
        return "256"
    if isinstance(t, IdentityType):
        return "bogus:x"
    if isinstance(t, Ref):
        return "no-such-thing"
    if isinstance(t, Hex):
        return "zz"
    if isinstance(t, Secret):
        return "0xZZ"
    if isinstance(t, Str):
        return "short" if t.min_len > 5 else "x" * (t.max_len + 1)
    return "bogus-value"


def cases() -> list[tuple[Menu, Prop]]:
    # /user password prints as its salted hash, never as written: tests/mgmt/test_users.py covers it
    return [(m, p) for m in MENUS.values() if m.kind in ("list", "single") for p in m.writable
            if not isinstance(p.type, PasswordHash)]


def _setup() -> tuple[Session, dict[str, str]]:
    s = Session(open_config(None))
    for line in (
        "/ip pool add name=pool1 ranges=10.0.0.1-10.0.0.5",
        "/ip ipsec peer add name=p1",
        "/ip ipsec key generate-key name=k1 key-size=1024",
        "/ip ipsec mode-config add name=mc",
        "/ip ipsec identity add peer=p1",
        "/ip ipsec key psk add id=0123456789abcdef key=" + "00" * 64,
        "/ip ipsec policy group add name=g2",
        "/ip ipsec proposal add name=pr2",
        "/ip ipsec profile add name=pf2",
        "/ip ipsec user add name=u1",
        "/user add name=u2 group=read",
        "/user group add name=ug2",
        "/radius add address=10.0.0.1 secret=s service=ipsec",
    ):
        run_ok(s, line)
    sel = {path: "0" for path in MENUS}
    sel["/ip ipsec policy group"] = "default"
    return s, sel


@pytest.fixture(scope="module")
def base() -> tuple[Session, dict[str, str]]:
    return _setup()


def _set_line(menu: Menu, sel: dict[str, str], name: str, value: str) -> str:
    from ipsecd.mgmt.values import quote

    target = "" if menu.kind == "single" else f" {sel[menu.path]}"
    return f"{menu.path} set{target} {name}={quote(value)}"


@pytest.mark.parametrize(("menu", "prop"), cases(), ids=lambda x: getattr(x, "path", getattr(x, "name", "")))
def test_valid_value_accepted_and_printed(
    base: tuple[Session, dict[str, str]], menu: Menu, prop: Prop
) -> None:
    s, sel = base
    if menu.key == prop.name:  # rename an added item: default objects keep their names
        sel = {**sel, menu.path: str(len(menu.factory))}  # the first added item
        original = json.loads(run_ok(s, f"{menu.path} print", as_json=True))[int(sel[menu.path])][prop.name]
        value = shown = "renamed-" + menu.path.split()[-1].lstrip("/") + "-0000000000"
    else:
        value, shown = valid(prop)
    for pair in menu.conflicts:  # e.g. system-dns vs static-dns: clear the other one first
        if prop.name in pair:
            other = pair[1 - pair.index(prop.name)]
            run_ok(s, f"{menu.path} unset {sel[menu.path]} value-name={other}")
    for name, other, want in menu.requires:  # e.g. address-pool only on a responder
        if name == prop.name:
            run_ok(s, _set_line(menu, sel, other, want))
    res = s.execute(_set_line(menu, sel, prop.name, value))
    assert res.rc == 0, res.stderr
    inert = isinstance(prop.type, Bool) and value == "no"  # turning an unimplemented feature off is no news
    expect_warning = (not prop.implemented and not inert) or any(
        w in prop.unimplemented for w in value.split(",")
    )
    assert ("has no effect yet" in res.stderr) == expect_warning, res.stderr
    out = json.loads(run_ok(s, f"{menu.path} print show-sensitive", as_json=True))
    row = out[int(sel[menu.path]) if sel[menu.path].isdigit() else 0]
    assert row[prop.name] == shown
    if any(name == prop.name for name, _, _ in menu.requires):  # leave the item valid for the other cases
        run_ok(s, f"{menu.path} unset {sel[menu.path]} value-name={prop.name}")
    if menu.key == prop.name:  # put the name back for the other cases
        run_ok(s, _set_line(menu, {**sel, menu.path: shown}, prop.name, original))


@pytest.mark.parametrize(("menu", "prop"), cases(), ids=lambda x: getattr(x, "path", getattr(x, "name", "")))
def test_invalid_value_refused_with_one_line(
    base: tuple[Session, dict[str, str]], menu: Menu, prop: Prop
) -> None:
    s, sel = base
    before = s.execute("/export show-sensitive").stdout
    bad = invalid(prop)
    res = s.execute(_set_line(menu, sel, prop.name, bad))
    assert res.rc == 1
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1
    line = res.stderr.strip()
    assert menu.path in line and prop.name in line and "allowed" in line
    assert bad[:40] in line
    assert s.execute("/export show-sensitive").stdout == before


def test_unknown_property_and_read_only_refused(session: Session) -> None:
    res = session.execute("/ip ipsec peer add name=x colour=blue")
    assert res.rc == 1 and "unknown property colour" in res.stderr and "allowed:" in res.stderr
    res = session.execute("/ip ipsec proposal set default default=no")
    assert res.rc == 1 and "read-only" in res.stderr


def test_unimplemented_property_warns_once_per_import(config: object) -> None:
    from ipsecd.mgmt import Config

    assert isinstance(config, Config)
    warnings = config.import_script(
        "/ip ipsec peer\nadd name=a ppk-secret=abc\nadd name=b ppk-secret=abd\n", "t.rsc"
    )
    assert sum("ppk-secret" in w for w in warnings) == 1
    assert "has no effect yet" in warnings[0]
