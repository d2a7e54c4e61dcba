"""``/ip ipsec key``: generate-key, export-pub-key, import (private and public PEM), never printed or
exported."""

from __future__ import annotations

import json
from pathlib import Path

from ipsecd.mgmt import Session

from .conftest import run_ok


def test_generate_export_import(session: Session, tmp_path: Path) -> None:
    run_ok(session, "/ip ipsec key generate-key name=mine key-size=1024")
    pub = tmp_path / "mine.pub"
    run_ok(session, f"/ip ipsec key export-pub-key key=mine file-name={pub}")
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    run_ok(session, f"/ip ipsec key/rsa import file-name={pub} name=theirs")
    rows = json.loads(run_ok(session, "/ip ipsec key print", as_json=True))
    assert [(r["name"], r["key-size"], r["private-key"], r["rsa"]) for r in rows] == [
        ("mine", "1024", "yes", "yes"), ("theirs", "1024", "no", "yes")]
    assert "BEGIN" not in run_ok(session, "/ip ipsec key print detail show-sensitive")
    assert "BEGIN" not in run_ok(session, "/export show-sensitive")
    assert "P" in run_ok(session, "/ip ipsec key print").splitlines()[3][:5]


def test_key_errors_are_one_line(session: Session, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    for line in (
        "/ip ipsec key generate-key name=k key-size=512",
        "/ip ipsec key generate-key",
        f"/ip ipsec key import file-name={junk}",
        f"/ip ipsec key import file-name={tmp_path / 'none'}",
        "/ip ipsec key set 0 key-size=2048",
        "/ip ipsec key add name=empty",
    ):
        res = session.execute(line)
        assert res.rc == 1 and res.stderr.count("\n") == 1, (line, res)
    assert json.loads(run_ok(session, "/ip ipsec key print", as_json=True)) == []


def test_psk_generate(session: Session) -> None:
    run_ok(session, "/ip ipsec peer add name=gw")
    res = session.execute("/ip ipsec key psk generate count=3 peer=gw")
    assert res.rc == 0 and "has no effect yet" in res.stderr
    rows = json.loads(run_ok(session, "/ip ipsec key psk print show-sensitive", as_json=True))
    assert len(rows) == 3 and len({r["id"] for r in rows}) == 3
    assert all(len(r["key"]) == 128 and r["peer"] == "gw" for r in rows)
    assert session.execute("/ip ipsec key psk generate count=0").rc == 1
