"""Console completion from the schema (the pure function; no terminal), current-menu handling, and
pasting: lines joined exactly as an import joins them (through a pseudo-terminal too)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from ipsecd.mgmt import Config, Session, open_config
from ipsecd.mgmt.console import Console, complete

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_menus_and_commands() -> None:
    assert complete("", "/") == ["..", "certificate", "export", "import", "ip", "radius", "user"]
    assert complete("/ip/ipsec/p", "/") == ["/ip/ipsec/peer", "/ip/ipsec/policy", "/ip/ipsec/profile",
                                            "/ip/ipsec/proposal"]
    assert complete("pe", "/ip ipsec") == ["peer"]
    assert "group" in complete("", "/ip ipsec policy") and "move" in complete("", "/ip ipsec policy")
    assert complete("kill", "/ip ipsec active-peers") == ["kill-connections"]
    assert complete("/ip ipsec key ", "/") == ["..", "export-pub-key", "find", "generate-key", "import",
                                               "print", "psk", "qkd", "remove", "rsa", "set"]


def test_properties_and_values() -> None:
    assert complete("/ip ipsec peer add exch", "/") == ["exchange-mode="]
    assert complete("add exchange-mode=", "/ip ipsec peer") == [
        "exchange-mode=aggressive", "exchange-mode=base", "exchange-mode=ike2", "exchange-mode=main"]
    assert complete("set 0 dh-group=ecp256,modp20", "/ip ipsec profile") == ["dh-group=ecp256,modp2048"]
    assert complete("print de", "/ip ipsec peer") == ["detail"]
    assert "where" in complete("print ", "/ip ipsec peer")
    assert "secret=" in complete("add ", "/ip ipsec identity")
    assert "default=" not in complete("set 0 ", "/ip ipsec profile")  # read-only properties are not offered
    assert complete("add my-id=fq", "/ip ipsec identity") == ["my-id=fqdn:"]


def test_references_complete_to_configured_names(config: Config) -> None:
    session = Session(config)
    session.execute("/ip ipsec profile add name=strong")
    console = Console(lambda line, as_json: Session(config).execute(line, as_json))
    assert complete("add profile=", "/ip ipsec peer", console.names) == ["profile=default", "profile=strong"]
    assert complete("add mode-config=", "/ip ipsec identity", console.names) == ["mode-config=none",
                                                                                "mode-config=request-only"]


def test_console_keeps_the_current_menu(config: Config) -> None:
    console = Console(lambda line, as_json: Session(config).execute(line, as_json))
    assert console.run_line("/ip ipsec").rc == 0 and console.cwd == "/ip ipsec"
    assert console.run_line("peer").rc == 0 and console.cwd == "/ip ipsec peer"
    assert console.run_line("add name=z").rc == 0
    assert console.run_line("/ip ipsec profile print").rc == 0 and console.cwd == "/ip ipsec peer"
    assert console.run_line("..").rc == 0 and console.cwd == "/ip ipsec"
    res = console.run_line("nosuch")
    assert res.rc == 1 and console.cwd == "/ip ipsec"
    assert [r["name"] for r in config.snapshot().rows("/ip ipsec peer")] == ["z"]


# -- pasting: lines are joined as an import joins them --------------------------------------------

WIDE = (
    '/ip ipsec profile add name=branch-offices dh-group=ecp256,modp2048 enc-algorithm=aes-256,aes-128 '
    'hash-algorithm=sha256 lifetime=8h\n'
    '/ip ipsec peer add name=hq address=198.51.100.1 exchange-mode=ike2 profile=branch-offices '
    'comment="head office, primary uplink (do not remove)"\n'
    '/ip ipsec identity add peer=hq secret="a rather long pre-shared key for the head office tunnel" '
    'my-id=fqdn:branch.example.net remote-id=fqdn:hq.example.net\n'
    '/ip ipsec policy add peer=hq tunnel=yes src-address=192.168.88.0/24 dst-address=10.0.0.0/8 '
    'comment="everything behind the head office"\n')


def _pty_console(tmp_path: Path, keystrokes: list[bytes]) -> str:
    """Run ``ipsecd console`` on a pseudo-terminal (prompt_toolkit's real input path), type each
    chunk once the console shows a prompt, and return the configuration exported afterwards."""
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm", PYTHONPATH=SRC, PROMPT_TOOLKIT_NO_CPR="1",
               XDG_DATA_HOME=str(tmp_path / "data"))
    db = str(tmp_path / "console.db")
    argv = [sys.executable, "-m", "ipsecd", "--db", db, "--control", str(tmp_path / "none"), "console"]
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    seen = bytearray()
    try:
        for chunk in keystrokes:
            deadline = time.monotonic() + 30
            while b"[ipsecd]" not in seen and time.monotonic() < deadline:  # wait for a prompt
                if select.select([master], [], [], 0.2)[0]:
                    seen += os.read(master, 65536)
            seen.clear()
            os.write(master, chunk)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return Session(open_config(db)).execute("/export show-sensitive").stdout


def test_pasting_a_wrapped_export_into_the_console(tmp_path: Path) -> None:
    source = open_config(None)
    source.import_script(WIDE, "wide.rsc")
    exported = Session(source).execute("/export show-sensitive").stdout
    assert exported.count("\\\n    ") >= 3  # export folds the long lines
    typed = exported.replace("\n", "\r").encode()  # a terminal sends Enter as CR, line by line
    block = ":foreach n in={\"b1\";\"b2\"} do={\n  /ip ipsec peer add name=$n \\\n      passive=yes\n}\n"
    bracketed = b"\x1b[200~" + block.encode() + b"\x1b[201~\r"  # a bracketed paste, then Enter
    got = _pty_console(tmp_path, [typed, bracketed, b"quit\r"])
    again = open_config(None)
    again.import_script(exported + "/ip ipsec peer\nadd name=b1 passive=yes\nadd name=b2 passive=yes\n",
                        "x.rsc")
    assert got == Session(again).execute("/export show-sensitive").stdout


def test_console_feed_joins_continuations_and_blocks(config: Config) -> None:
    console = Console(lambda line, as_json: Session(config).execute(line, as_json))
    assert console.feed("/ip ipsec peer") and console.cwd == "/ip ipsec peer"
    assert console.feed("add name=a \\") == [] and console.prompt == "... "
    assert [r.rc for r in console.feed("    passive=yes")] == [0]
    assert console.feed(":foreach i in={1;2} do={") == [] and console.feed('  add name=("b" . $i)') == []
    assert [r.rc for r in console.feed("}")] == [0] and console.prompt == "[ipsecd] /ip ipsec peer> "
    res = console.feed(":put [get a passive]; :put [:len [find]]")
    assert [r.stdout for r in res] == ["true\n3\n"]
    assert console.feed("add name=c \\") == [] and [r.rc for r in console.finish()] == [0]
    assert console.feed("quit") == [] and console.quit
    rows = config.snapshot().rows("/ip ipsec peer")
    assert [(r["name"], r["passive"]) for r in rows] == [("a", True), ("b1", False), ("b2", False),
                                                         ("c", False)]


def test_console_from_a_pipe_joins_like_an_import(tmp_path: Path) -> None:
    db = str(tmp_path / "pipe.db")
    script = ("/ip ipsec peer add name=x \\\n    passive=yes\n"
              ':for i from=1 to=2 do={\n  /ip ipsec peer add name=("y" . $i)\n}\n')
    proc = subprocess.run([sys.executable, "-m", "ipsecd", "--db", db, "--control", str(tmp_path / "none"),
                           "console"], input=script, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=SRC))
    assert (proc.returncode, proc.stderr) == (0, "")
    rows = open_config(db).snapshot().rows("/ip ipsec peer")
    assert [(r["name"], r["passive"]) for r in rows] == [("x", True), ("y1", False), ("y2", False)]
