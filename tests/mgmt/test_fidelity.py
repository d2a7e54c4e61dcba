"""RouterOS fidelity (issue 15): behaviour real routers have, commands and forms they accept, and
validation that refuses what they refuse."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ipsecd.mgmt import Config, Session, open_config
from ipsecd.mgmt.script import logical_lines

from .conftest import run_ok


def refused(session: Session, line: str, *needles: str) -> str:
    """A line that must be refused with one line naming what is wrong, changing nothing."""
    before = run_ok(session, "/export show-sensitive")
    res = session.execute(line)
    assert res.rc == 1 and res.stderr.count("\n") == 1, (line, res.stderr)
    for needle in needles:
        assert needle in res.stderr, (line, res.stderr)
    assert run_ok(session, "/export show-sensitive") == before
    return res.stderr


# -- behaviour that silently differed ------------------------------------------------------------

def test_new_mode_config_is_a_responder_unless_told_otherwise(config: Config, session: Session) -> None:
    """RouterOS's road-warrior server recipe adds a mode-config with address-pool= and no responder=."""
    config.import_script("/ip pool add name=rw ranges=10.9.0.10-10.9.0.50\n"
                         "/ip ipsec mode-config add name=srv address-pool=rw address-prefix-length=32\n"
                         "/ip ipsec mode-config add name=cli responder=no\n", "rw.rsc")
    rows = {r["name"]: r for r in config.snapshot().rows("/ip ipsec mode-config")}
    assert rows["srv"]["responder"] is True
    assert rows["cli"]["responder"] is False and rows["request-only"]["responder"] is False
    export = run_ok(session, "/ip ipsec mode-config export")
    assert "add address-pool=rw address-prefix-length=32 name=srv\n" in export
    assert "add name=cli responder=no\n" in export
    assert "request-only" not in export


def test_a_store_written_before_keeps_its_clients(tmp_path: Path) -> None:
    """A version-1 file stored client mode-configs without responder (then the default): they stay clients."""
    db = str(tmp_path / "config.db")
    first = open_config(db)
    first.import_script("/ip ipsec mode-config add name=old\n/ip ipsec policy add protocol=tcp\n", "old.rsc")
    first.store.close()
    con = sqlite3.connect(db)
    con.execute("UPDATE items SET data='{\"name\": \"old\"}' WHERE data LIKE '%\"old\"%'")
    con.execute("UPDATE items SET data='{\"name\": \"request-only\"}' WHERE data LIKE '%request-only%'")
    con.execute("UPDATE items SET data=replace(data, '\"tcp\"', '\"6\"') WHERE menu='/ip ipsec policy'")
    con.execute("UPDATE meta SET value='1' WHERE key='schema'")
    con.commit()
    con.close()
    old = open_config(db)
    rows = {r["name"]: r["responder"] for r in old.snapshot().rows("/ip ipsec mode-config")}
    assert rows == {"request-only": False, "old": False}
    assert [r["protocol"] for r in old.snapshot().rows("/ip ipsec policy")] == ["all", "tcp"]
    assert "protocol=tcp" in run_ok(Session(old), "/ip ipsec policy export")


def test_system_dns_no_is_kept_in_export(config: Config, session: Session) -> None:
    """A RouterOS router would otherwise take system DNS and refuse static-dns beside it."""
    run_ok(session, "/ip ipsec mode-config add name=m static-dns=10.0.0.53 system-dns=no")
    assert "name=m static-dns=10.0.0.53 system-dns=no" in run_ok(session, "/ip ipsec mode-config export")
    refused(session, "/ip ipsec mode-config set m system-dns=yes", "system-dns and static-dns")


# -- validation ------------------------------------------------------------------------------------

def test_numeric_ranges_and_cross_property_rules_refuse_nonsense(config: Config, session: Session) -> None:
    run_ok(session, "/ip pool add name=p ranges=10.0.0.2-10.0.0.9")
    run_ok(session, "/ip ipsec mode-config add name=srv address-pool=p")
    refused(session, "/ip ipsec mode-config add name=x address-pool=p address-prefix-length=33",
            "/ip ipsec mode-config", "address-prefix-length", '"33"', "1..32")
    refused(session, "/ip ipsec mode-config set srv src-address-list=lan",
            "/ip ipsec mode-config", "src-address-list", '"lan"', "responder=no")
    refused(session, "/ip ipsec mode-config add name=c responder=no address-pool=p",
            "address-pool", '"p"', "responder=yes")
    refused(session, "/ip ipsec mode-config set srv responder=no", "address-pool", "responder=yes")
    run_ok(session, "/ip ipsec mode-config add name=c responder=no src-address-list=lan")
    refused(session, "/ip ipsec mode-config set srv address=10.0.0.7", "address and address-pool")
    # mode-config hands out IPv4 only (7.22 tree: A.B.C.D, A.B.C.D/M)
    refused(session, "/ip ipsec mode-config set srv static-dns=2001:db8::53", "static-dns", "IPv4 address")
    refused(session, "/ip ipsec mode-config set srv split-include=2001:db8::/32", "split-include",
            "IPv4 prefix")


# -- missing commands and forms ------------------------------------------------------------------

def test_automatic_names_on_every_named_menu(session: Session) -> None:
    for menu, first in (("profile", "profile1"), ("proposal", "proposal1"), ("policy group", "group1"),
                        ("mode-config", "cfg1"), ("peer", "peer1")):
        run_ok(session, f"/ip ipsec {menu} add")
        run_ok(session, f"/ip ipsec {menu} add")
        names = run_ok(session, f"/ip ipsec {menu} print as-value proplist=name")
        second = first[:-1] + "2"
        assert f"name={first}\n" in names and f"name={second}\n" in names, names


def test_get_returns_values_usable_in_scripts(session: Session) -> None:
    run_ok(session, "/ip ipsec peer add name=x address=192.0.2.7/32 comment=hq")
    assert run_ok(session, "/ip ipsec peer get [ find name=x ] address") == "192.0.2.7/32\n"
    assert run_ok(session, "/ip ipsec peer get x profile") == "default\n"
    assert run_ok(session, "/ip ipsec peer get number=x value-name=comment") == "hq\n"
    assert run_ok(session, "/ip ipsec settings get accounting") == "yes\n"
    refused(session, "/ip ipsec peer get x no-such", "unknown property no-such")


def test_positional_unset(session: Session) -> None:
    run_ok(session, "/ip ipsec peer add name=p1 address=192.0.2.1/32 local-address=192.0.2.9 comment=c")
    run_ok(session, "/ip ipsec peer unset p1 local-address")
    run_ok(session, "/ip ipsec peer unset [ find name=p1 ] comment")
    assert run_ok(session, "/ip ipsec peer export") == "# ipsecd configuration export\n/ip ipsec peer\n" \
        "add address=192.0.2.1/32 name=p1\n"
    run_ok(session, "/ip ipsec settings set ddos-cookie-threshold=40")
    run_ok(session, "/ip ipsec settings unset ddos-cookie-threshold")
    assert "ddos" not in run_ok(session, "/ip ipsec settings export")


def test_export_verbose_and_terse(session: Session) -> None:
    run_ok(session, "/ip ipsec peer add name=p address=192.0.2.1/32")
    compact = run_ok(session, "/export")
    verbose = run_ok(session, "/export verbose")
    lines = [line for _, line in logical_lines(verbose)]
    assert "dpd-interval" not in compact
    assert ("set [ find default=yes ] dh-group=modp1024,modp2048 dpd-interval=2m dpd-maximum-failures=5 "
            "enc-algorithm=aes-128 hash-algorithm=sha1 lifebytes=0 lifetime=1d nat-traversal=yes ppk=no "
            "prf-algorithm=auto proposal-check=obey") in lines
    assert (
        "add address=192.0.2.1/32 disabled=no exchange-mode=main name=p passive=no port=500 profile=default "
        "send-initial-contact=yes"
    ) in lines
    terse = run_ok(session, "/export terse verbose").splitlines()
    assert all(line.startswith(("#", "/ip ipsec ", "/ip pool ", "/user ", "/ip service ")) for line in terse)
    assert not any(line.endswith("\\") for line in terse)  # one command per line, never folded
    assert "/ip ipsec peer add address=192.0.2.1/32 disabled=no exchange-mode=main" in "\n".join(terse)
    fresh = open_config(None)
    fresh.import_script(verbose, "verbose.rsc")
    assert run_ok(Session(fresh), "/export") == compact


# -- RouterOS 7 defaults -----------------------------------------------------------------------------

ROUTEROS7_COMPACT = """/ip ipsec profile
add hash-algorithm=sha256 name=branch
/ip ipsec peer
add address=198.51.100.7/32 name=hq profile=branch
"""


def test_routeros7_defaults_on_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A compact RouterOS 7 export leaves the router's own defaults out; ``--defaults routeros7`` puts
    them back."""
    config = open_config(None)
    config.import_script(ROUTEROS7_COMPACT, "r7.rsc", defaults="routeros7")
    profiles = {r["name"]: r for r in config.snapshot().rows("/ip ipsec profile")}
    for name in ("default", "branch"):
        assert profiles[name]["dpd-interval"] == 8 and profiles[name]["dpd-maximum-failures"] == 4
        assert profiles[name]["dh-group"] == ("modp2048", "modp1024")
        assert profiles[name]["enc-algorithm"] == ("aes-128", "3des")
    assert profiles["branch"]["hash-algorithm"] == "sha256"
    plain = open_config(None)
    plain.import_script(ROUTEROS7_COMPACT, "r7.rsc")
    assert {r["name"]: r["dpd-interval"] for r in plain.snapshot().rows("/ip ipsec profile")} == {
        "default": 120, "branch": 120}  # ipsecd's own defaults stay the manual's
    export = run_ok(Session(config), "/export")
    assert "defaults" not in export and "routeros7" not in export  # nothing a router would refuse
    assert "set [ find default=yes ] dh-group=modp2048,modp1024 dpd-interval=8s" in export

    from ipsecd.cli import main

    rsc = tmp_path / "r7.rsc"
    rsc.write_text(ROUTEROS7_COMPACT)
    args = ["--db", str(tmp_path / "c.db"), "--control", str(tmp_path / "none")]
    assert main([*args, "import", "--defaults", "routeros7", str(rsc)]) == 0
    assert main([*args, "exec", "/ip ipsec profile get branch dpd-interval"]) == 0
    assert capsys.readouterr().out == "8s\n"


# -- output of live state ------------------------------------------------------------------------------

class _Live:
    """A daemon with one AES-256-GCM SA pair (key material 288 bits: 256 of key, 32 of salt) and a
    generated GRE policy."""

    def rows(self, menu: str) -> list[dict[str, object]]:
        if menu == "/ip ipsec installed-sa":
            sa = {"src-address": "192.0.2.1", "dst-address": "192.0.2.2", "state": "mature", "ESP": "yes",
                  "AH": "no", "auth-algorithm": "null", "enc-algorithm": "aes-256-gcm", "enc-key-size": 288,
                  "hw-aead": "no", "enc-key": "00" * 36, "auth-key": ""}
            return [{"spi": "0x1A2B3C", **sa, "seen-traffic": "yes"},
                    {"spi": "0x4D5E6F", **sa, "enc-algorithm": "aes-128-cbc", "enc-key-size": 128,
                     "seen-traffic": "no"}]
        if menu == "/ip ipsec policy":
            return [
                {
                    ".id": "*D1",
                    "dynamic": "yes",
                    "src-address": "10.0.0.0/24",
                    "dst-address": "10.1.0.0/24",
                    "protocol": "47",
                    "action": "encrypt",
                }
            ]
        return []

    def command(self, menu: str, name: str, args: dict[str, str]) -> str:
        return ""


def test_installed_sa_and_live_policies_print_as_routeros(config: Config) -> None:
    session = Session(config, _Live())
    table = run_ok(session, "/ip ipsec installed-sa print")
    # RouterOS 7's table: the flag groups in use, in capitals, a column each (no H here)
    assert table.splitlines()[0] == "Flags: S - SEEN-TRAFFIC; E - ESP"
    first, second = table.splitlines()[-2:]
    assert first.startswith("0 SE ") and second.startswith("1  E ")
    assert first.split()[:2] == ["0", "SE"] and "aes-gcm" in first.split() and "288" in first.split()
    assert second.split()[:2] == ["1", "E"] and "aes-cbc" in second.split() and "128" in second.split()
    detail = run_ok(session, "/ip ipsec installed-sa print detail")
    words = detail.split()
    assert "enc-algorithm=aes-gcm" in words and "enc-key-size=288" in words and "seen-traffic=" not in detail
    assert "auth-algorithm=null" not in detail  # an AEAD SA has none to show
    assert run_ok(session, "/ip ipsec installed-sa print count-only where seen-traffic") == "1\n"
    res = session.execute('/ip ipsec installed-sa print where enc-key~"^00"')  # keys are hidden values
    assert res.rc == 1 and "enc-key is a hidden value" in res.stderr
    assert "gre" in run_ok(session, "/ip ipsec policy print").split()
    assert run_ok(session, "/ip ipsec policy print count-only where protocol=gre") == "1\n"


class _Resolved:
    """A daemon that resolved peer ``branch``'s DNS name."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def rows(self, menu: str) -> list[dict[str, object]]:
        if menu != "/ip ipsec peer":
            return []
        (peer,) = self.config.snapshot().rows("/ip ipsec peer")
        return [{".id": peer.id, "name": "branch", "current-address": "192.0.2.77"}]

    def command(self, menu: str, name: str, args: dict[str, str]) -> str:
        return ""


def test_a_dns_named_peer_shows_the_address_the_daemon_resolved(config: Config) -> None:
    """RouterOS 7 prints a DNS-named peer's resolved address as ``current-address`` (issue 15)."""
    config.import_script(
        "/ip ipsec peer add name=branch address=branch1.sn.mynetname.net exchange-mode=ike2\n"
    )
    session = Session(config, _Resolved(config))
    detail = run_ok(session, "/ip ipsec peer print detail")
    assert "address=branch1.sn.mynetname.net" in detail.split()
    assert "current-address=192.0.2.77" in detail.split()
    assert run_ok(session, "/ip ipsec peer get branch current-address") == "192.0.2.77\n"
