"""``ipsecd console/import/export/exec`` (DESIGN.md §4): output, exit status, control-socket client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ipsecd.cli import main

SRC = str(Path(__file__).resolve().parents[2] / "src")


def cli(tmp_path: Path, *args: str) -> list[str]:
    return ["--db", str(tmp_path / "db" / "config.db"), "--control", str(tmp_path / "no-daemon"), *args]


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(cli(tmp_path, *args))
    out = capsys.readouterr()
    return rc, out.out, out.err


MANUAL_DEFAULTS = {
    "/ip ipsec profile": {
        "name": "default", "dh-group": "modp1024,modp2048", "dpd-interval": "2m", "dpd-maximum-failures": "5",
        "enc-algorithm": "aes-128", "hash-algorithm": "sha1", "lifebytes": "0", "lifetime": "1d",
        "nat-traversal": "yes", "proposal-check": "obey"},
    "/ip ipsec proposal": {"name": "default", "auth-algorithms": "sha1",
                           "enc-algorithms": "aes-256-cbc,aes-192-cbc,aes-128-cbc", "lifetime": "30m",
                           "pfs-group": "modp1024", "disabled": "no"},
    "/ip ipsec mode-config": {"name": "request-only", "responder": "no"},
    "/ip ipsec policy group": {"name": "default"},
}
ADDED_DEFAULTS = {
    "/ip ipsec peer add name=x": {
        "exchange-mode": "main", "passive": "no", "port": "500", "profile": "default",
        "send-initial-contact": "yes", "disabled": "no"},
    "/ip ipsec identity add peer=x": {
        "auth-method": "pre-shared-key", "eap-methods": "eap-tls", "generate-policy": "no",
        "match-by": "remote-id", "mode-config": "none", "my-id": "auto", "remote-id": "auto",
        "policy-template-group": "default"},
    "/ip ipsec policy add": {
        "action": "encrypt", "dst-port": "any", "src-port": "any", "group": "default",
        "ipsec-protocols": "esp", "level": "require", "proposal": "default", "protocol": "all",
        "template": "no", "tunnel": "no",
        "src-address": "0.0.0.0/32", "dst-address": "0.0.0.0/32", "sa-src-address": "::",
        "sa-dst-address": "::", "ph2-state": "no-phase2", "ph2-count": "0", "active": "no", "invalid": "no"},
}


def test_exec_json_profile_defaults_match_the_manual_via_the_real_cli(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ipsecd", *cli(tmp_path, "exec", "--json", "/ip ipsec profile print")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 1 and rows[0][".id"].startswith("*")
    assert {k: rows[0][k] for k in MANUAL_DEFAULTS["/ip ipsec profile"]} == MANUAL_DEFAULTS[
        "/ip ipsec profile"
    ]


@pytest.mark.parametrize("path", list(MANUAL_DEFAULTS))
def test_default_objects_match_the_manual(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    rc, out, _ = run(tmp_path, capsys, "exec", "--json", f"{path} print")
    assert rc == 0
    row = json.loads(out)[0]
    assert row["default"] == "yes"
    assert {k: row[k] for k in MANUAL_DEFAULTS[path]} == MANUAL_DEFAULTS[path]


def test_added_objects_get_the_manuals_defaults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for line, expected in ADDED_DEFAULTS.items():
        assert run(tmp_path, capsys, "exec", line)[0] == 0
        path = line.rsplit(" add", 1)[0]
        rows = json.loads(run(tmp_path, capsys, "exec", "--json", f"{path} print")[1])
        assert {k: rows[-1][k] for k in expected} == expected, path


def test_import_export_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.rsc"
    good.write_text("/ip ipsec peer\nadd name=a address=192.0.2.1 exchange-mode=ike2\n"
                    "/ip ipsec identity add peer=a secret=hush\n")
    bad = tmp_path / "bad.rsc"
    bad.write_text("/ip ipsec peer\nadd name=b\nset b port=99999\n")
    assert run(tmp_path, capsys, "import", str(good))[0] == 0
    rc, out, err = run(tmp_path, capsys, "export")
    assert rc == 0 and "add address=192.0.2.1/32 exchange-mode=ike2 name=a" in out and "hush" not in out
    before = run(tmp_path, capsys, "export", "show-sensitive")[1]
    assert "secret=hush" in before
    rc, out, err = run(tmp_path, capsys, "import", str(bad))
    assert rc == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(
        f'{bad}:3: /ip ipsec peer: invalid value for port: "99999" (allowed: integer 0..65535)')
    assert run(tmp_path, capsys, "export", "show-sensitive")[1] == before  # nothing of bad.rsc landed
    rc, out, err = run(tmp_path, capsys, "exec", "/ip ipsec peer remove a")
    assert rc == 1 and "refers to it" in err and err.count("\n") == 1
    rc, _, err = run(tmp_path, capsys, "import", str(tmp_path / "missing.rsc"))
    assert rc == 1 and "no such file" in err
    assert main(cli(tmp_path, "export", "bogus")) == 2  # a usage error


def test_exec_uses_the_control_socket_when_a_daemon_listens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "ctl")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    got: list[dict[str, object]] = []

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            buf = b""
            while not buf.endswith(b"\n"):
                buf += conn.recv(4096)
            got.append(json.loads(buf))
            conn.sendall(
                json.dumps({"rc": 1, "stdout": "live\n", "stderr": "from daemon\n"}).encode() + b"\n"
            )

    t = threading.Thread(target=serve)
    t.start()
    rc = main(
        ["--db", str(tmp_path / "x.db"), "--control", path, "exec", "--json", "/ip ipsec active-peers print"]
    )
    t.join(5)
    srv.close()
    out = capsys.readouterr()
    assert (rc, out.out, out.err) == (1, "live\n", "from daemon\n")
    assert got == [{"command": "/ip ipsec active-peers print", "json": True}]
    assert not (tmp_path / "x.db").exists()  # the daemon answered; the database was not touched


def test_console_reads_lines_from_a_pipe(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ipsecd", *cli(tmp_path, "console")],
        input="/ip ipsec\npeer\nadd name=c1 address=192.0.2.9\nprint terse\n..\nprofile print\n",
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert 'name="c1" address=192.0.2.9/32' in proc.stdout and "modp1024,modp2048" in proc.stdout


def test_unusable_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not an SQLite database" * 10)
    for db in (str(junk), "/proc/no-such-dir/config.db"):
        rc = main(["--db", db, "--control", str(tmp_path / "none"), "exec", "/ip ipsec peer print"])
        err = capsys.readouterr().err
        assert rc == 1 and err.startswith("cannot open configuration database") and err.count("\n") == 1


def test_exec_reads_the_command_from_stdin_or_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17 finding 10: a secret in ``exec``'s argument is visible in ``ps``; ``-``/``--file``
    keep it out."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("/ip ipsec peer add name=p\n/ip ipsec identity \\\n"
                                                 "    add peer=p secret=from-stdin\n"))
    assert run(tmp_path, capsys, "exec", "-")[0] == 0
    cmd = tmp_path / "cmd.rsc"
    cmd.write_text('/ip ipsec identity set [ find peer=p ] secret="from file"\n')
    assert run(tmp_path, capsys, "exec", "--file", str(cmd))[0] == 0
    rc, out, _ = run(tmp_path, capsys, "export", "show-sensitive")
    assert rc == 0 and 'secret="from file"' in out
    bad = "/ip ipsec peer add name=q port=99999\n/ip ipsec peer add name=r\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(bad))
    rc, _, err = run(tmp_path, capsys, "exec", "-")
    assert rc == 1 and "port" in err  # the first refusal stops
    assert "name=r" not in run(tmp_path, capsys, "export")[1]
    assert run(tmp_path, capsys, "exec")[0] == 2
    assert run(tmp_path, capsys, "exec", "/ip ipsec peer print", "--file", str(cmd))[0] == 2
