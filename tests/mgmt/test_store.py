"""SQLite store: persistence (print output and ids stable across restarts), concurrent processes
see each other's commits, and an import killed with SIGKILL leaves the file fully before or after."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from ipsecd.mgmt import Session, open_config


def test_print_and_ids_stable_across_restarts(tmp_path: Path) -> None:
    db = str(tmp_path / "sub" / "config.db")
    first = open_config(db)
    first.import_script("/ip ipsec peer\nadd name=a\nadd name=b\nadd name=c\n/ip ipsec peer remove b\n"
                        "/ip ipsec policy add src-address=10.1.0.0/24 dst-address=10.2.0.0/24 place-before=0\n",
                        "s.rsc")
    lines = ["/ip ipsec peer print show-ids", "/ip ipsec policy print detail", "/export show-sensitive"]
    before = [Session(first).execute(line).stdout for line in lines]
    first.store.close()
    second = open_config(db)
    assert [Session(second).execute(line).stdout for line in lines] == before
    Session(second).execute("/ip ipsec peer add name=d")
    ids = [r.id for r in second.snapshot().rows("/ip ipsec peer")]
    assert len(set(ids)) == 3 and ids[:2] == [r.id for r in open_config(db).snapshot().rows("/ip ipsec peer")][:2]


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
        proc = subprocess.Popen([sys.executable, "-c", IMPORTER, db, str(script)], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")})
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
