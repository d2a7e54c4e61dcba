"""The RouterOS scripting language in imports and console input: variables, loops, conditions,
command substitution, arrays, operators; every unsupported construct refused with its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipsecd.cli import main
from ipsecd.mgmt import Config, Session

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
