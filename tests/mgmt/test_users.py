"""``/ip service``, ``/user`` and ``/user group`` (issue 14): RouterOS's menus, hashed passwords."""

from __future__ import annotations

from ipsecd.mgmt import Session, open_config
from ipsecd.mgmt.passwords import check_password, hash_password


def run(session: Session, line: str) -> str:
    result = session.execute(line)
    assert result.rc == 0, result.stderr
    return result.stdout


def test_passwords_are_salted_hashes() -> None:
    a, b = hash_password("pw"), hash_password("pw")
    assert a != b and a.startswith("$scrypt$ln=14,r=8,p=1$")
    assert check_password(a, "pw") and not check_password(a, "pW")
    assert check_password(None, "") and not check_password(None, "x")
    assert not check_password("$scrypt$ln=30,r=8,p=1$AAAA$AAAA", "pw")  # absurd costs are refused
    assert not check_password("plain", "plain")


def test_menus_print_export_and_import_back() -> None:
    config = open_config(None)
    s = Session(config)
    assert "8728" in run(s, "/ip service print") and "winbox" in run(s, "/ip service print")
    run(s, "/ip service set www port=8080 address=127.0.0.1/32,::1")
    run(s, "/ip service enable api")
    run(s, "/user group add name=ops policy=read,write,api")
    run(s, "/user add name=bob group=ops password=s3cret address=10.0.0.0/8")
    detail = run(s, "/user print detail show-sensitive")
    assert "s3cret" not in detail and "\\$scrypt\\$" in detail
    assert "password" not in run(s, "/user print detail")
    export = run(s, "/export")
    assert "/ip service\nset api disabled=no\nset www address=127.0.0.1/32,::1/128 port=8080" in export
    assert "/user group\nadd name=ops policy=read,write,api" in export
    assert "password" not in export
    again = open_config(None)
    again.import_script(run(s, "/export show-sensitive"), "e.rsc")
    assert run(Session(again), "/export show-sensitive") == run(s, "/export show-sensitive")
    bob = next(r for r in again.snapshot().rows("/user") if r.text("name") == "bob")
    assert check_password(bob.text("password"), "s3cret")


def test_services_are_fixed_rows_and_users_need_a_group() -> None:
    s = Session(open_config(None))
    for line in ("/ip service add name=x", "/ip service remove www", "/user add name=nogroup",
                 "/user add name=x group=nosuch", "/ip service set www port=0", "/user group remove full"):
        assert s.execute(line).rc == 1, line
