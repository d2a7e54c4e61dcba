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
import os
import sqlite3
from dataclasses import dataclass, field

from .errors import ConfigError

SCHEMA_VERSION = 1


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
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
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
                cur.execute("INSERT OR REPLACE INTO items (menu, num, pos, is_default, data) VALUES (?,?,?,?,?)",
                            (menu, it.num, pos, int(it.default), json.dumps(it.values, sort_keys=True)))
            gone = [(menu, n) for n in before if n not in seen]
            if gone:
                cur.executemany("DELETE FROM items WHERE menu=? AND num=?", gone)
        cur.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        [("version", str(version)), ("next_num", str(next_num)),
                         ("schema", str(SCHEMA_VERSION))])
