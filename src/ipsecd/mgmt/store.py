"""SQLite persistence of the configuration: one transaction per command and per script import.

The whole configuration is small (even 10,000 peers are a few MB), so the model works on an
in-memory copy and the store writes the *difference* between the state before and after a command
inside one ``BEGIN IMMEDIATE`` … ``COMMIT``. SQLite's journal makes that atomic: a process killed in
the middle of an import leaves the file fully before or fully after it. A ``version`` counter in
``meta`` increments on every commit, so another process (console vs. daemon) notices the change and
reloads. Item numbers (the ``.id`` ``*1``, ``*2`` …) and list positions are stored, so ``print``
output and ids are stable across restarts.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from dataclasses import dataclass, field

from .errors import ConfigError

#: 2: a mode-config entry without ``responder`` is a responder (RouterOS's behaviour); 1 stored the
#: manual's ``no`` as the default, so loading a version-1 file writes ``responder=no`` explicitly.
SCHEMA_VERSION = 2
#: The files SQLite keeps beside the database (WAL mode, and the rollback journal of older files).
COMPANIONS = ("", "-wal", "-shm", "-journal")
log = logging.getLogger("ipsecd.mgmt")


@dataclass(frozen=True, slots=True)
class Item:
    """One configuration object: its number, explicitly set values (canonical text) and default flag.

    Values equal to the schema default are not kept, so ``export`` writes exactly ``values``
    (minus a default object's factory values). Items are immutable; a change makes a new one.
    """

    num: int
    values: dict[str, str] = field(hash=False)
    default: bool = False

    @property
    def id(self) -> str:
        return f"*{self.num:X}"


State = dict[str, list[Item]]


class StoreError(ConfigError):
    """The database cannot be opened or is not an ipsecd configuration."""


class Store:
    """The SQLite file (or ``:memory:`` when ``path`` is None)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        try:
            if path is not None:
                _private_files(path)
            self.db = sqlite3.connect(path or ":memory:", isolation_level=None, timeout=30.0,
                                      check_same_thread=False)  # Config serialises use with its lock
            self.db.execute("PRAGMA journal_mode=WAL" if path else "PRAGMA journal_mode=MEMORY")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.db.execute("CREATE TABLE IF NOT EXISTS items (menu TEXT NOT NULL, num INTEGER NOT NULL, "
                            "pos INTEGER NOT NULL, is_default INTEGER NOT NULL, data TEXT NOT NULL, "
                            "PRIMARY KEY (menu, num))")
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(f"cannot open configuration database {path}: {exc}") from None

    def schema(self) -> int:
        """The layout version the file was last written with (0 for a fresh file)."""
        v = self.meta("schema")
        return int(v) if v is not None else 0

    def close(self) -> None:
        self.db.close()

    def meta(self, key: str) -> str | None:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"configuration database {self.path}: {exc}") from None
        return None if row is None else str(row[0])

    def version(self) -> int:
        v = self.meta("version")
        return int(v) if v is not None else -1

    def begin(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"configuration database {self.path}: {exc}") from None

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def commit(self) -> None:
        try:
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"configuration database {self.path}: {exc}") from None

    def load(self) -> tuple[int, int, State]:
        """(version, next item number, state); version -1 means a fresh, empty database."""
        state: State = {}
        try:
            for menu, num, is_default, data in self.db.execute(
                    "SELECT menu, num, is_default, data FROM items ORDER BY menu, pos"):
                state.setdefault(menu, []).append(Item(num, json.loads(data), bool(is_default)))
            next_num = int(self.meta("next_num") or 1)
            return self.version(), next_num, state
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise StoreError(f"configuration database {self.path} is damaged: {exc}") from None

    def save(self, old: State, new: State, version: int, next_num: int) -> None:
        """Write the difference ``old`` → ``new`` (inside the caller's transaction)."""
        try:
            self._save(old, new, version, next_num)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"configuration database {self.path}: {exc}") from None

    def _save(self, old: State, new: State, version: int, next_num: int) -> None:
        cur = self.db.cursor()
        for menu in set(old) | set(new):
            before = {it.num: (pos, it) for pos, it in enumerate(old.get(menu, ()))}
            after = new.get(menu, [])
            seen = set()
            for pos, it in enumerate(after):
                seen.add(it.num)
                prev = before.get(it.num)
                if prev is not None and prev[0] == pos and prev[1] is it:
                    continue
                cur.execute(
                    "INSERT OR REPLACE INTO items (menu, num, pos, is_default, data) VALUES (?,?,?,?,?)",
                    (menu, it.num, pos, int(it.default), json.dumps(it.values, sort_keys=True)),
                )
            gone = [(menu, n) for n in before if n not in seen]
            if gone:
                cur.executemany("DELETE FROM items WHERE menu=? AND num=?", gone)
        cur.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        [("version", str(version)), ("next_num", str(next_num)),
                         ("schema", str(SCHEMA_VERSION))])


def _private_files(path: str) -> None:
    """The database holds every pre-shared key, EAP password and private key: create its directory
    0700 and the files 0600 (SQLite gives ``-wal``/``-shm`` the mode of the database file), and
    tighten an existing store that others can read, with a warning (issue 17, finding 7).

    The directory is tightened only when it holds nothing but the store, so a database kept in a
    shared directory never changes that directory's mode.
    """
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for suffix in COMPANIONS:
        _tighten(path + suffix, 0o600)
    mine = {os.path.basename(path) + s for s in COMPANIONS}
    st = os.stat(directory)
    if st.st_uid == os.geteuid() and not st.st_mode & stat.S_ISVTX and set(os.listdir(directory)) <= mine:
        _tighten(directory, 0o700)


def _tighten(path: str, mode: int) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_IMODE(st.st_mode) & 0o077:
        log.warning(
            "%s was readable by others (mode %04o); setting it to %04o", path, stat.S_IMODE(st.st_mode), mode
        )
        os.chmod(path, mode)
