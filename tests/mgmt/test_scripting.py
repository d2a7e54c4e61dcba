"""The RouterOS scripting language in imports and console input: variables, loops, conditions,
command substitution, arrays, operators; every unsupported construct refused with its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipsecd.cli import main
from ipsecd.mgmt import Config, ScriptError, Session, open_config

from .conftest import run_ok


def ipsecd(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["--db", str(tmp_path / "config.db"), "--control", str(tmp_path / "no-daemon"), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def import_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                name: str = "prov.rsc") -> tuple[int, str, str]:
    path = tmp_path / name
    path.write_text(text)
    return ipsecd(tmp_path, capsys, "import", str(path))


def export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``ipsecd export show-sensitive`` with folded lines joined."""
    rc, out, err = ipsecd(tmp_path, capsys, "export", "show-sensitive")
    assert rc == 0, err
    return out.replace("\\\n    ", "")


def put(config: Config, script: str) -> str:
    """The ``:put`` output of a console input."""
    res = Session(config).execute(script)
    assert res.rc == 0, res.stderr
    return res.stdout


BRANCHES = r"""# provisioning: one IKEv2 tunnel per branch, PSKs in variables
:local hq "198.51.100.1"
:local psk "Branch-PSK-2026!"
:local branches {"kiel"="203.0.113.10";"bonn"="203.0.113.20";"gera"="203.0.113.30"}
:local n 0
/ip ipsec profile add name=branches dh-group=ecp256 enc-algorithm=aes-256 hash-algorithm=sha256
/ip ipsec proposal add name=branches enc-algorithms=aes-256-gcm pfs-group=ecp256
:foreach name,addr in=$branches do={
    :set n ($n + 1)
    /ip ipsec peer add name=("br-" . $name) address=$addr profile=branches exchange-mode=ike2 \
        local-address=$hq comment="branch $n"
    /ip ipsec identity add peer=("br-" . $name) secret=$psk my-id=("fqdn:hq.example.net") \
        remote-id=("fqdn:" . $name . ".example.net")
    /ip ipsec policy add peer=("br-" . $name) tunnel=yes proposal=branches \
        src-address=10.0.0.0/16 dst-address="10.$n.0.0/16"
}
:if ($n != [:len [/ip ipsec peer find]]) do={ :error "peer count mismatch" }
:put ("configured " . $n . " branches")
"""


def test_provisioning_script_with_loops_variables_and_psks(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = import_file(tmp_path, capsys, BRANCHES)
    assert (rc, err) == (0, "")
    assert out == "configured 3 branches\n"
    exported = export(tmp_path, capsys)
    for i, (name, addr) in enumerate((("bonn", "203.0.113.20"), ("gera", "203.0.113.30"),
                                      ("kiel", "203.0.113.10")), 1):  # keyed arrays iterate in key order
        assert f'add address={addr}/32 comment="branch {i}" exchange-mode=ike2 local-address=198.51.100.1 ' \
               f"name=br-{name} profile=branches" in exported
        assert f"add my-id=fqdn:hq.example.net peer=br-{name} remote-id=fqdn:{name}.example.net " \
               'secret="Branch-PSK-2026!"' in exported
        assert f"add dst-address=10.{i}.0.0/16 peer=br-{name} proposal=branches src-address=10.0.0.0/16 " \
               "tunnel=yes" in exported
    assert "$" not in exported


def test_for_loop_conditionals_and_idempotent_removal(config: Config) -> None:
    script = """
/ip ipsec peer remove [find comment="managed"]
:for i from=1 to=5 do={
    :if ($i % 2 = 0) do={
        /ip ipsec peer add name=("even" . $i) address="192.0.2.$i" comment=managed
    } else={
        :if ($i > 3 && $i != 4) do={ /ip ipsec peer add name=("odd" . $i) passive=yes comment=managed }
    }
}
"""
    config.import_script(script, "a.rsc")
    config.import_script(script, "a.rsc")  # runs again: removes its own peers first
    rows = config.snapshot().rows("/ip ipsec peer")
    assert [r["name"] for r in rows] == ["even2", "even4", "odd5"]
    assert [r.text("address") for r in rows[:2]] == ["192.0.2.2/32", "192.0.2.4/32"]
    assert rows[2]["passive"] is True


def test_for_counts_down_and_steps(config: Config) -> None:
    assert put(config, ":for i from=5 to=1 step=-2 do={ :put $i }") == "5\n3\n1\n"
    assert put(config, ":for i from=1 to=3 do={ :put $i }") == "1\n2\n3\n"


def test_variable_expansion_in_values_stores_the_value(config: Config) -> None:
    config.import_script(':local psk "s3cr3t"\n/ip ipsec peer add name=gw\n'
                         "/ip ipsec identity add peer=gw secret=$psk\n", "psk.rsc")
    assert config.snapshot().rows("/ip ipsec identity")[0]["secret"] == "s3cr3t"


def test_command_substitution_find_get_and_print_as_value(config: Config) -> None:
    config.import_script("/ip ipsec peer add name=a address=192.0.2.1 port=4500\n"
                         "/ip ipsec peer add name=b address=192.0.2.2\n", "s.rsc")
    out = put(config, """
:put [/ip ipsec peer get [find name=a] port]
:put [/ip ipsec peer get a address]
:put [:typeof [/ip ipsec peer get a address]]
:put [/ip ipsec peer get value-name=name numbers=1]
:local ids [/ip ipsec peer find]
:put [:len $ids]
:put [:typeof ($ids->0)]
:foreach row in=[/ip ipsec peer print as-value] do={ :put ($row->"name" . "@" . $row->"address") }
:put [/ip ipsec settings get accounting]
:put [/ip ipsec peer print count-only]
""")
    assert out.splitlines() == ["4500", "192.0.2.1/32", "ip-prefix", "b", "2", "id", "a@192.0.2.1/32",
                                "b@192.0.2.2/32", "true", "2"]
    assert put(config, "/ip ipsec peer\n:put [get [find address=192.0.2.2/32] name]\n") == "b\n"


def test_find_ids_select_items_and_empty_selection_changes_nothing(config: Config) -> None:
    config.import_script("/ip ipsec peer\nadd name=a\nadd name=b\nadd name=c\n"
                         ':local two [find where name~"^[ab]"]\n'
                         "set $two comment=first\n"
                         "disable [find name=c]\n"
                         "set [find name=nosuch] comment=never\n"
                         ":local none [find name=nosuch]\n"
                         "remove $none\n", "ids.rsc")
    rows = config.snapshot().rows("/ip ipsec peer")
    assert [(r.comment, r.disabled) for r in rows] == [("first", False), ("first", False), (None, True)]


def test_arrays_indexing_and_conversions(config: Config) -> None:
    out = put(config, """
:local a {10;20;"x"}
:local k {name="gw";port=4500}
:put ($a->1)
:put ($k->"port" + 1)
:set ($k->"port") 500
:set ($a->3) "new"
:put $k
:put $a
:put [:len $a]
:put [:typeof $a]
:put [:toarray "a,b,c"]
:put [:typeof [:tonum "42"]]
:put ([:tonum "41"] + 1)
:put [:tostr 10.0.0.1]
:put [:typeof 10.0.0.0/8]
:put [:pick "branch-office" 0 6]
:put [:pick $a 2]
:put [:find "abcdef" "cd"]
:put (1,2,3)
:put [:typeof [:nothing]]
""")
    assert out.splitlines() == ["20", "4501", "name=gw;port=500", "10;20;x;new", "4", "array", "a;b;c", "num",
                                "42", "10.0.0.1", "ip-prefix", "branch", "x", "2", "1;2;3", "nil"]


def test_operators(config: Config) -> None:
    out = put(config, """
:put (1 + 2 * 3)
:put ((1 + 2) * 3)
:put (7 / 2)
:put (10.0.0.1 + 5)
:put (10.0.0.9 - 10.0.0.1)
:put (192.168.1.77 & 255.255.255.0)
:put (10.1.2.3 in 10.0.0.0/8)
:put (10.1.0.0/16 in 10.0.0.0/8)
:put (192.0.2.1 in 10.0.0.0/8)
:put (!true)
:put (yes && no || yes)
:put ("a" . 1 . "b")
:put ("abc" = "abc" and 2 >= 3)
:put (not (1 < 2))
:put (-5 * -2)
""")
    assert out.splitlines() == ["7", "9", "3", "10.0.0.6", "8", "192.168.1.0", "true", "true", "false",
                                "false", "true", "a1b", "false", "false", "10"]


def test_string_interpolation(config: Config) -> None:
    script = ':local i 3\n:local a {1;2}\n:put "n=$i sum=$($i + 1) len=$[:len $a] cost=\\$5 end$"'
    assert put(config, script) == "n=3 sum=4 len=2 cost=$5 end$\n"


def test_scopes_locals_end_with_their_block_globals_do_not(config: Config) -> None:
    assert put(config, ":global g 1\n{ :local x 2; :set g ($g + $x) }\n:put $g") == "3\n"
    res = Session(config).execute("{ :local inner 1 }\n:put $inner")
    assert res.rc == 1 and "undefined variable $inner" in res.stderr
    assert put(config, ":local x 1\n:if (true) do={ :local x 2; :put $x }\n:put $x") == "2\n1\n"
    assert put(config, ":local x 1\n:if (true) do={ :set x 5 }\n:put $x") == "5\n"


def test_while_do_and_on_error(config: Config) -> None:
    assert put(config, ":local i 0\n:while ($i < 3) do={ :set i ($i + 1) }\n:put $i") == "3\n"
    assert put(config, ":local i 0\n:do { :set i ($i + 1) } while=($i < 5)\n:put $i") == "5\n"
    out = put(config, ':do { /ip ipsec peer add name=x profile=nosuch } on-error={ :put "caught" }\n'
                      ":put [:len [/ip ipsec peer find]]")
    assert out == "caught\n0\n"


def test_multiline_blocks_continuations_and_semicolons(config: Config) -> None:
    config.import_script("""/ip ipsec peer
:foreach n in={"p1";"p2"} do={
    # a comment inside the block { with a brace
    add name=$n \\
        passive=yes; add name=($n . "-b")
}
/ip ipsec profile; add name=semi
""", "m.rsc")
    assert [r["name"] for r in config.snapshot().rows("/ip ipsec peer")] == ["p1", "p1-b", "p2", "p2-b"]
    assert config.snapshot().rows("/ip ipsec peer")[0]["passive"] is True
    assert [r["name"] for r in config.snapshot().rows("/ip ipsec profile")] == ["default", "semi"]


def test_console_input_with_variables_runs_in_one_transaction(session: Session) -> None:
    res = session.execute(':local n "gw"\n/ip ipsec peer add name=$n\n/ip ipsec peer add name=$n')
    assert res.rc == 1 and "gw" in res.stderr
    assert run_ok(session, "/ip ipsec peer print count-only") == "0\n"
    run_ok(session, ':local n "gw"; /ip ipsec peer add name=$n')
    assert json.loads(run_ok(session, "/ip ipsec peer print", as_json=True))[0]["name"] == "gw"


ROAD_WARRIORS = r"""# road-warrior server: one identity per user, the PSKs in an array, idempotent
:global rwPool "10.99.0.10-10.99.0.250"
/ip pool add name=rw-pool ranges=$rwPool
/ip ipsec mode-config add name=rw-cfg address-pool=rw-pool split-include=192.168.88.0/24 system-dns=no
/ip ipsec policy group add name=rw
/ip ipsec profile add name=rw dh-group=ecp256,modp2048 enc-algorithm=aes-256 hash-algorithm=sha256
/ip ipsec peer add name=rw passive=yes exchange-mode=ike2 profile=rw
/ip ipsec proposal add name=rw enc-algorithms=aes-256-gcm pfs-group=none
/ip ipsec policy add group=rw proposal=rw template=yes dst-address=10.99.0.0/24 src-address=192.168.88.0/24
"""

ROAD_WARRIOR_USERS = r"""
:local users {alice="pw-alice-1";bob="pw-bob-2";carol="pw-carol-3"}
:local added 0
:foreach user,psk in=$users do={
  :local rid ("user-fqdn:" . $user . "@example.net")
  :if ([:len [/ip ipsec identity find remote-id=$rid]] = 0) do={
    /ip ipsec identity add peer=rw secret=$psk generate-policy=port-strict mode-config=rw-cfg \
        policy-template-group=rw remote-id=$rid
    :set added ($added + 1)
  } else={
    /ip ipsec identity set [find remote-id=$rid] secret=$psk
  }
}
:log info ("road warriors added: " . $added)
"""


def test_road_warrior_server_script_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert import_file(tmp_path, capsys, ROAD_WARRIORS, "rw.rsc")[0] == 0
    rc, out, err = import_file(tmp_path, capsys, ROAD_WARRIOR_USERS, "users.rsc")
    assert (rc, out, err) == (0, "", "log info: road warriors added: 3\n")
    again = ROAD_WARRIOR_USERS.replace("pw-bob-2", "pw-bob-NEW")
    rc, out, err = import_file(tmp_path, capsys, again, "users.rsc")
    assert (rc, err) == (0, "log info: road warriors added: 0\n")
    exported = export(tmp_path, capsys)
    assert "/ip pool\nadd name=rw-pool ranges=10.99.0.10-10.99.0.250\n" in exported
    ids = [line for line in exported.splitlines() if line.startswith("add generate-policy=port-strict")]
    assert len(ids) == 3
    for user, psk in (("alice", "pw-alice-1"), ("bob", "pw-bob-NEW"), ("carol", "pw-carol-3")):
        assert any(f"remote-id=user-fqdn:{user}@example.net" in i and f"secret={psk}" in i for i in ids), ids


def test_site_to_site_policies_from_nested_loops_over_prefix_arrays(config: Config) -> None:
    config.import_script(r"""
:local hqAddr 203.0.113.7
/ip ipsec peer add name=hq address=$hqAddr exchange-mode=main
/ip ipsec identity add peer=hq secret="ikev1 psk"
:local localNets {192.168.10.0/24;192.168.20.0/24}
:local remoteNets [:toarray "10.1.0.0/16,10.2.0.0/16"]
:foreach l in=$localNets do={
    :foreach r in=$remoteNets do={
        :if (!($l in 10.0.0.0/8)) do={
            /ip ipsec policy add peer=hq tunnel=yes src-address=$l dst-address=$r
        }
    }
}
/ip ipsec peer set [find address=($hqAddr . "/32")] address=($hqAddr + 1)
""", "s2s.rsc")
    snap = config.snapshot()
    assert [(str(r["src-address"]), str(r["dst-address"])) for r in snap.rows("/ip ipsec policy")[1:]] == [
        ("192.168.10.0/24", "10.1.0.0/16"), ("192.168.10.0/24", "10.2.0.0/16"),
        ("192.168.20.0/24", "10.1.0.0/16"), ("192.168.20.0/24", "10.2.0.0/16")]
    assert snap.rows("/ip ipsec peer")[0].text("address") == "203.0.113.8/32"


def test_on_error_keeps_what_ran_before_the_failing_command(config: Config) -> None:
    config.import_script(':do { /ip ipsec peer add name=ok1; /ip ipsec peer add name=bad profile=nosuch; '
                         '/ip ipsec peer add name=never } on-error={ /ip ipsec peer add name=handled }\n',
                         "e.rsc")
    assert [r["name"] for r in config.snapshot().rows("/ip ipsec peer")] == ["ok1", "handled"]


def test_txn_savepoint_rolls_back_to_the_point(config: Config) -> None:
    from ipsecd.mgmt.schema import MENUS

    with config.transaction() as txn:
        txn.add(MENUS["/ip ipsec peer"], {"name": "kept"}, None, None)
        rollback = txn.savepoint()
        txn.add(MENUS["/ip ipsec peer"], {"name": "gone"}, None, None)
        rollback()
        txn.add(MENUS["/ip ipsec peer"], {"name": "gone"}, None, None)  # the name index was reset too
    assert [r["name"] for r in config.snapshot().rows("/ip ipsec peer")] == ["kept", "gone"]


def test_import_inside_a_script_and_from_the_console(tmp_path: Path, config: Config) -> None:
    inner = tmp_path / "inner.rsc"
    inner.write_text(':put "inner"\n/ip ipsec peer add name=from-inner\n/interface bridge add name=br0\n')
    out = put(config, f':put "outer"\n/import file-name="{inner}"\n:put [:len [/ip ipsec peer find]]')
    assert out == "outer\ninner\n1\n"
    res = Session(config).execute(f"/import file-name={inner}")
    assert res.rc == 1 and "from-inner" in res.stderr  # a duplicate name, reported in the inner file
    assert res.stderr.startswith(f"{inner}:2: ")
    res = Session(config).execute("/import")
    assert res.rc == 1 and "import takes file-name=FILE" in res.stderr


# -- refusals: exit 1, file:line, the construct named, nothing changed ----------------------------

REFUSED = [
    (":global f\n$f\n", 2, "a command cannot start with $"),
    (":execute \"/ip ipsec peer add name=z\"\n", 1, "scripting command :execute is not supported"),
    (":resolve example.com\n", 1, "scripting command :resolve is not supported"),
    (":frobnicate 1\n", 1, "scripting command :frobnicate does not exist"),
    (":for i from=1 to=2 do={\n  /ip ipsec peer add name=peer$i\n}\n", 2, "joined to the word before it"),
    ("/ip ipsec peer add name=$nosuch\n", 1, "undefined variable $nosuch"),
    (":foreach i do={ :put $i }\n", 1, ":foreach needs in="),
    (":local n [/system identity get name]\n", 1, "no such menu: /system identity"),
    (":local f do={ :put 1 }\n", 1, "functions (:local NAME do={ … }) are not supported"),
    (":if (true) do=$x\n", 1, "do= must be a { … } block"),
    (":put (1 +)\n", 1, "expression ends where a value was expected"),
    (":put (1 2)\n", 1, "two values in an expression"),
    (':put ("a" < 1)\n', 1, "cannot apply < to str and num"),
    (":put [:len]\n", 1, ":len takes 1..1 unnamed arguments"),
    (":foreach i in={1;2} do={ :put $i } bogus=1\n", 1, ":foreach: unknown argument bogus="),
    (":put {1;2\n", 1, "not closed"),
    (':error "stop here"\n', 1, "stop here"),
    (":while (true) do={ :local a 1 }\n", 1, "endless loop"),
    ("/ip ipsec peer add name={ 1 }\n", 1, "a { … } block as name argument of a menu command"),
    (":set nosuch 1\n", 1, "undefined variable $nosuch (declare it with :local or :global)"),
    (':local s "x"\n:set ($s->0) 1\n', 2, ":set: str is not an array"),
    (":local a {1}\n:set ($a->5) 1\n", 2, "array index 5 out of range"),
    (":for i from=a to=3 do={}\n", 1, ":for: from= must be a number, not str"),
    (":for i to=3 do={}\n", 1, ":for needs a variable name, from= and to="),
    (':log loud "x"\n', 1, ":log needs a level"),
    (":put (1 / 0)\n", 1, "division by zero"),
    (":local a {1 2}\n", 1, "bad array element"),
    (":put $-x\n", 1, "is not a variable name"),
    (':pick "abc" x\n', 1, ":pick needs numbers"),
    ("/ip ipsec peer add name=(\"a\" . [:resolve x])\n", 1, "scripting command :resolve is not supported"),
    (":put ($x\n", 1, "not closed"),
    ("/ip ipsec peer add name=a\n{ :put 1 } extra\n", 2, "unexpected 'extra' after }"),
    ("/ip ipsec peer\n:local x (10.0.0.1 + 10.0.0.2)\n", 2, "cannot apply + to ip and ip"),
]


@pytest.mark.parametrize(("script", "line", "message"), REFUSED)
def test_unsupported_and_wrong_constructs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      script: str, line: int, message: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import ipsecd.mgmt.interp as interp

    monkeypatch.setattr(interp, "MAX_STEPS", 2000)
    rc, _out, err = import_file(tmp_path, capsys, "/ip ipsec profile add name=before\n" + script, "bad.rsc")
    assert rc == 1
    assert err.startswith(f"{tmp_path / 'bad.rsc'}:{line + 1}: ") and message in err, err
    assert err.count("\n") == 1
    assert "name=before" not in export(tmp_path, capsys)  # atomic: the first line is gone too


def test_console_globals_last_across_inputs_locals_do_not(config: Config) -> None:
    assert put(config, ':global psk "from-the-console"\n:local tmp 1') == ""
    run_ok(Session(config), "/ip ipsec peer add name=gw")
    run_ok(Session(config), "/ip ipsec identity add peer=gw secret=$psk")
    assert config.snapshot().rows("/ip ipsec identity")[0]["secret"] == "from-the-console"
    res = Session(config).execute(":put $tmp")
    assert res.rc == 1 and "undefined variable $tmp" in res.stderr
    assert Session(open_config(None)).execute(":put $psk").rc == 1  # another configuration's console


_SCRIPT_PIECES = st.sampled_from([
    ":local x ", ":put ", ":set x ", ":for i from=1 to=3 do=", ":foreach i in=", ":if ", "do=", "else=",
    "{", "}", "(", ")", "[", "]", '"', "$", "$x", "$i", "->", "0", "1", "-1", "10.0.0.1", "10.0.0.0/8", "::1",
    "yes", ";", "\n", " ", "\\", ".", "+", "-", "*", "/", "<<", "=", "!=", "&&", "!", "in", ",",
    "/ip ipsec peer add name=", "find", "get", "print as-value", "/ip ipsec peer", ":len ", ":pick ",
    ":toarray ", "#", "a", "x=", "255.255.255.255", "9223372036854775807", ":delay ", ":error ", "@", "*1"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_SCRIPT_PIECES, max_size=25).map("".join))
def test_any_script_text_is_run_or_refused_in_one_line(text: str) -> None:
    res = Session(open_config(None)).execute(text)
    assert res.rc in (0, 1)
    if res.rc:
        assert res.stderr.count("\n") == 1 and res.stderr.strip(), (text, res)


def test_hex_escapes_are_utf8_bytes_as_routeros_exports_them(config: Config) -> None:
    config.import_script('/ip ipsec peer add name=a comment="caf\\C3\\A9 \\E2\\82\\AC \\FF\\41 \\a"\n',
                         "u.rsc")
    assert config.snapshot().rows("/ip ipsec peer")[0].comment == "café € ÿA \a"
    run_ok(Session(config), '/ip ipsec peer set a comment="na\\C3\\AFve"')  # a literal console line
    assert config.snapshot().rows("/ip ipsec peer")[0].comment == "naïve"


def test_variables_in_where_and_find_conditions(config: Config) -> None:
    config.import_script("/ip ipsec policy\n"
                         ":foreach n in={10.1.0.0/24;10.2.0.0/24;172.16.0.0/24} do={\n"
                         "  add dst-address=$n tunnel=yes\n}\n",
                         "w.rsc")
    out = put(config, """
:local net 10.0.0.0/8
:local skip "10.2.0.0/24"
:put [:len [/ip ipsec policy find where dst-address in $net and !(dst-address=$skip)]]
/ip ipsec policy print count-only where dst-address in $net or dst-address=("172.16." . 0 . ".0/24")
""")
    assert out == "1\n3\n"


def test_time_values(config: Config) -> None:
    out = put(config, """
:local t 30m
:put [:typeof $t]
:put ($t * 2)
:put (1d + 2h30m)
:put (1h > 59m)
:put [:tonum 1h]
/ip ipsec proposal add name=p lifetime=($t * 2)
:put [/ip ipsec proposal get p lifetime]
:put [:typeof [/ip ipsec proposal get p lifetime]]
""")
    assert out.splitlines() == ["time", "01:00:00", "1d02:30:00", "true", "3600", "01:00:00", "time"]
    assert config.snapshot().rows("/ip ipsec proposal")[1]["lifetime"] == 3600


def test_scripting_commands_without_their_colon(config: Config) -> None:
    out = put(config, """
local names {"a";"b"}
foreach n in=$names do={ /ip ipsec peer add name=$n }
if ([:len [/ip ipsec peer find]] = 2) do={ put "two" }
/ip ipsec peer
set [find name=a] passive=yes
put [get a passive]
if(true) do={ put [:len [find]] }
""")
    assert out == "two\ntrue\n2\n"
    assert put(config, "put [:len [/ip ipsec peer find]]") == "2\n"  # one console line
    res = Session(config).execute("resolve example.com")  # not a menu: refused, not skipped
    assert res.rc == 1 and "scripting command :resolve is not supported" in res.stderr
    with pytest.raises(ScriptError, match=r"x.rsc:2: unsupported: scripting command :execute"):
        config.import_script("/ip ipsec peer add name=c\nexecute \"/ip ipsec peer add name=d\"\n", "x.rsc")


def test_error_messages_stay_on_one_line(config: Config) -> None:
    res = Session(config).execute(':error "first\nsecond"')
    assert (res.rc, res.stderr) == (1, "first\\nsecond\n")
    assert Session(config).execute(':error ""').stderr == "script stopped by :error\n"
    res = Session(config).execute(':local n "a\\nb"; /ip ipsec peer add name=$n local-address=$n')
    assert res.rc == 1 and res.stderr.count("\n") == 1 and '"a\\nb"' in res.stderr


def test_add_gives_the_new_items_id(config: Config) -> None:
    out = put(config, ':local id [/ip ipsec peer add name=z]\n/ip ipsec peer set $id comment="by id"\n'
                      ":put [:typeof $id]\n:put [/ip ipsec peer get $id comment]")
    assert out == "id\nby id\n"


def test_find_gives_nil_one_id_or_an_array_as_routeros(config: Config) -> None:
    """Issue 15: ``[find]`` was always an array. RouterOS gives the id itself when one item
    matches, an array (``:put`` shows ``*1;*2``) when several do, nil when none; each selects in
    ``set``/``get``/``remove``, and ``:len``/``->0``/``:foreach`` treat one id as a list of one."""
    config.import_script("/ip ipsec peer\nadd name=a\nadd name=b\n", "p.rsc")
    a, b = (r.id for r in config.snapshot().rows("/ip ipsec peer"))
    out = put(config, """/ip ipsec peer
:put [find]
:put [:typeof [find]]
:local one [find name=a]
:put [:typeof $one]
:put $one
:put [:len $one]
:put ($one->0)
:foreach i in=$one do={ :put [get $i name] }
set $one comment=picked
:put [get $one comment]
:put [:typeof [find name=zz]]
:put [:len [find name=zz]]
set [find name=zz] comment=never
:put [:len [find comment=never]]
""")
    assert out.splitlines() == [f"{a};{b}", "array", "id", a, "1", a, "a", "picked", "nil", "0", "0"]


def test_print_in_brackets_without_as_value_prints(config: Config) -> None:
    """Issue 15: ``[ print ]`` without ``as-value`` shows the listing (as on RouterOS) and its value
    is nil; ``as-value`` and ``count-only`` still give rows and the count."""
    config.import_script("/ip ipsec peer add name=a address=192.0.2.1\n", "p.rsc")
    out = put(
        config,
        ':local v [/ip ipsec peer print]\n:put ("value=" . [:typeof $v])\n'
        ":put [:typeof [/ip ipsec peer print as-value]]\n:put [/ip ipsec peer print count-only]",
    )
    lines = out.splitlines()
    assert lines[0].startswith("Columns:") and any(" a " in x and "192.0.2.1/32" in x for x in lines)
    assert lines[-3:] == ["value=nil", "array", "1"]


@pytest.mark.parametrize(
    ("text", "shown", "seconds"),
    [
        ("1d2h3m", "1d02:03:00", 93780),
        ("01:00:00", "01:00:00", 3600),
        ("1d02:03:00", "1d02:03:00", 93780),  # what RouterOS prints reads back
        ("1w2d03:04:05", "1w2d03:04:05", 788645),
        ("01:30", "01:30:00", 5400),
        ("500ms", "00:00:00.500", 0),
        ("1s500ms", "00:00:01.500", 1),
        ("00:00:01.5", "00:00:01.500", 1),
        ("00:00:00.000001", "00:00:00.000001", 0),
        ("90s", "00:01:30", 90),
    ],
)
def test_time_values_take_every_form_routeros_reads(
    config: Config, text: str, shown: str, seconds: int
) -> None:
    """Issue 15: times were whole seconds and only ``1d2h``/``hh:mm:ss``: RouterOS 7 keeps them to
    the nanosecond and reads back the forms it prints (``1d02:03:00``); ``:totime`` takes seconds."""
    out = put(
        config,
        f":local t {text}\n:put [:typeof $t]\n:put $t\n:put [:tonum $t]\n"
        f':put ([:totime "{shown}"] = $t)\n:put ([:totime {seconds}] = {seconds}s)',
    )
    assert out.splitlines() == ["time", shown, str(seconds), "true", "true"]


def test_time_arithmetic_keeps_fractions_and_gives_configuration_whole_seconds(config: Config) -> None:
    out = put(config, """
:put (1500ms * 3)
:put (1s / 4)
:put ((10s - 500ms) > 9s)
:put [:totime "nonsense"]
:delay 100ms
/ip ipsec proposal add name=p lifetime=(1h30m + 1500ms)
:put [/ip ipsec proposal get p lifetime]
""")
    assert out.splitlines() == ["00:00:04.500", "00:00:00.250", "true", "", "01:30:01"]
    assert config.snapshot().rows("/ip ipsec proposal")[1]["lifetime"] == 5401
