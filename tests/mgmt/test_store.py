"""SQLite store: persistence (print output and ids stable across restarts), concurrent processes
see each other's commits, and an import killed with SIGKILL leaves the file fully before or after."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ipsecd.mgmt import Session, open_config


def test_print_and_ids_stable_across_restarts(tmp_path: Path) -> None:
    db = str(tmp_path / "sub" / "config.db")
    first = open_config(db)
    first.import_script(
        "/ip ipsec peer\nadd name=a\nadd name=b\nadd name=c\n/ip ipsec peer remove b\n"
        "/ip ipsec policy add src-address=10.1.0.0/24 dst-address=10.2.0.0/24 place-before=0\n",
        "s.rsc",
    )
    lines = ["/ip ipsec peer print show-ids", "/ip ipsec policy print detail", "/export show-sensitive"]
    before = [Session(first).execute(line).stdout for line in lines]
    first.store.close()
    second = open_config(db)
    assert [Session(second).execute(line).stdout for line in lines] == before
    Session(second).execute("/ip ipsec peer add name=d")
    ids = [r.id for r in second.snapshot().rows("/ip ipsec peer")]
    assert (
        len(set(ids)) == 3
        and ids[:2] == [r.id for r in open_config(db).snapshot().rows("/ip ipsec peer")][:2]
    )


def test_other_process_commits_are_seen(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    a, b = open_config(db), open_config(db)
    v = a.snapshot().version
    Session(b).execute("/ip ipsec peer add name=from-b")
    snap = a.snapshot()
    assert snap.version == v + 1 and [r["name"] for r in snap.rows("/ip ipsec peer")] == ["from-b"]
    res = Session(a).execute("/ip ipsec peer add name=from-b")
    assert res.rc == 1 and "already exists" in res.stderr


IMPORTER = """
import sys
from ipsecd.mgmt import open_config
config = open_config(sys.argv[1])
print("ready", flush=True)
config.import_script(open(sys.argv[2]).read(), sys.argv[2])
print("done", flush=True)
"""


def _state(db: str) -> tuple[int, int]:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        peers = con.execute("SELECT count(*) FROM items WHERE menu='/ip ipsec peer'").fetchone()[0]
        version = int(con.execute("SELECT value FROM meta WHERE key='version'").fetchone()[0])
        return peers, version
    finally:
        con.close()


def test_sigkill_during_import_leaves_before_or_after(tmp_path: Path) -> None:
    script = tmp_path / "big.rsc"
    n = 3000
    script.write_text("/ip ipsec peer\n" + "".join(f"add name=p{i} address=10.{i // 256 % 256}.{i % 256}.1\n"
                                                   for i in range(n)))
    outcomes = set()
    for attempt, delay in enumerate((0.0, 0.05, 0.15, 0.3, 0.6, 1.0)):
        db = str(tmp_path / f"k{attempt}.db")
        open_config(db).store.close()
        before = _state(db)
        proc = subprocess.Popen(
            [sys.executable, "-c", IMPORTER, db, str(script)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")},
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = _state(db)
        assert after in (before, (n, before[1] + 1)), after
        outcomes.add(after == before)
        reopened = open_config(db)  # usable after the crash, and consistent with the counts
        assert len(reopened.snapshot().rows("/ip ipsec peer")) == after[0]
    assert True in outcomes  # at least one kill landed before the commit (mid-import)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_store_is_private(tmp_path: Path) -> None:
    """Issue 17 finding 7: config.db (and -wal/-shm) held every PSK readable by any local user."""
    old = os.umask(0o022)  # the usual umask: files 0644 and directories 0755 unless asked otherwise
    try:
        store_dir = tmp_path / "state" / "ipsecd"
        config = open_config(str(store_dir / "config.db"))
        config.import_script(
            "/ip ipsec peer add name=p\n/ip ipsec identity add peer=p secret=hunter2\n", "s.rsc"
        )
        assert _mode(store_dir) == 0o700
        files = [p for p in store_dir.iterdir() if p.name.startswith("config.db")]
        assert {p.name for p in files} >= {"config.db", "config.db-wal", "config.db-shm"}
        for p in files:
            assert _mode(p) == 0o600, p
            assert not os.access(p, os.R_OK) or os.geteuid() == os.stat(p).st_uid
    finally:
        os.umask(old)


def test_an_existing_readable_store_is_tightened_with_a_warning(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    store_dir = tmp_path / "ipsecd"
    open_config(str(store_dir / "config.db")).store.close()
    os.chmod(store_dir, 0o755)
    os.chmod(store_dir / "config.db", 0o644)
    shared = tmp_path / "shared"  # a directory that holds other things keeps its mode
    shared.mkdir(mode=0o755)
    (shared / "notes.txt").write_text("x")
    os.chmod(shared, 0o755)
    with caplog.at_level(logging.WARNING, logger="ipsecd.mgmt"):
        open_config(str(store_dir / "config.db")).store.close()
        open_config(str(shared / "config.db")).store.close()
    assert _mode(store_dir) == 0o700 and _mode(store_dir / "config.db") == 0o600
    assert _mode(shared) == 0o755 and _mode(shared / "config.db") == 0o600
    warned = [r.getMessage() for r in caplog.records]
    assert any("config.db was readable by others" in w for w in warned)
    assert any(f"{store_dir} was readable by others" in w for w in warned)


@pytest.mark.skipif(os.geteuid() != 0, reason="reading as another user needs root to switch users")
def test_another_user_cannot_read_the_store() -> None:
    """As ``nobody``: the store directory cannot be entered and the files cannot be read."""
    base = tempfile.mkdtemp(prefix="ipsecd-store-", dir="/tmp")  # a parent every user may traverse
    try:
        os.chmod(base, 0o755)
        store_dir = os.path.join(base, "ipsecd")
        open_config(os.path.join(store_dir, "config.db")).import_script(
            "/ip ipsec peer add name=p\n/ip ipsec identity add peer=p secret=hunter2\n", "s.rsc")
        for name in ("config.db", "config.db-wal"):
            probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat",
                                    os.path.join(store_dir, name)], capture_output=True)
            assert probe.returncode != 0 and b"hunter2" not in probe.stdout
            assert b"Permission denied" in probe.stderr
    finally:
        shutil.rmtree(base)
