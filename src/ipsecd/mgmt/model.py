"""The configuration: committed transactions, and immutable snapshots for the daemon.

:class:`Config` owns the :class:`~.store.Store` and the current state. Every command runs in a
:class:`~.txn.Txn` on a copy of the state; when it succeeds the difference is written in one SQLite
transaction, ``version`` increments and listeners are called with the new :class:`Snapshot`; when it
fails nothing changes. Scripts run through :mod:`.interp` (``import_script``), which sits below
this module: model → interp → commands → txn, never back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from .commands import RuntimeProvider
from .interp import Render, run_script
from .rendering import render as console_render
from .schema import MENUS, Menu
from .store import Item, State, Store
from .txn import Txn, canon, menu_of, value_text
from .values import protocol_text

__all__ = ["Config", "Listener", "Row", "Snapshot", "Txn", "canon", "open_config", "value_text"]

log = logging.getLogger("ipsecd.mgmt")


class Row:
    """One item as the daemon sees it: typed values with defaults filled in (see :mod:`ipsecd.mgmt`)."""

    __slots__ = ("_cache", "_item", "_menu", "index")

    def __init__(self, menu: Menu, item: Item, index: int) -> None:
        self._menu, self._item, self.index = menu, item, index
        self._cache: dict[str, object] = {}

    @property
    def id(self) -> str:
        return self._item.id

    @property
    def default(self) -> bool:
        return self._item.default

    @property
    def disabled(self) -> bool:
        return self._item.values.get("disabled") == "yes"

    @property
    def comment(self) -> str | None:
        return self._item.values.get("comment")

    def text(self, name: str) -> str | None:
        prop = self._menu.prop(name)
        if prop is None:
            raise KeyError(name)
        return value_text(self._menu, self._item, prop)

    def __getitem__(self, name: str) -> Any:
        if name in self._cache:
            return self._cache[name]
        prop = self._menu.prop(name)
        if prop is None:
            raise KeyError(name)
        text = value_text(self._menu, self._item, prop)
        value = None if text is None else prop.type.parse(text)
        self._cache[name] = value
        return value

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __repr__(self) -> str:
        return f"Row({self._menu.path} {self.id} {self._item.values})"


class Snapshot:
    """An immutable view of one committed configuration version."""

    __slots__ = ("_rows", "_state", "version")

    def __init__(self, state: State, version: int) -> None:
        self._state = {k: tuple(v) for k, v in state.items()}
        self.version = version
        self._rows: dict[str, tuple[Row, ...]] = {}

    def rows(self, path: str) -> tuple[Row, ...]:
        rows = self._rows.get(path)
        if rows is None:
            menu = menu_of(path)
            rows = tuple(Row(menu, it, i) for i, it in enumerate(self._state.get(path, ())))
            self._rows[path] = rows
        return rows


def _factory_state() -> tuple[State, int]:
    """The fresh configuration: the default objects of NOTES.md, numbered from *1."""
    state: State = {}
    num = 1
    for path in ("/ip ipsec policy group", "/ip ipsec proposal", "/ip ipsec profile", "/ip ipsec mode-config",
                 "/ip ipsec policy", "/user group", "/user", "/ip service"):
        menu = MENUS[path]
        for values in menu.factory:
            kept = {k: v for k, v in values.items() if menu.by_name[k].default != v}
            state.setdefault(path, []).append(Item(num, kept, True))
            num += 1
    for path, menu in MENUS.items():
        if menu.kind == "single":
            state[path] = [Item(0, {}, True)]
    return state, num


Listener = Callable[[Snapshot], None]
#: Runs a callable on the thread that owns a listener (``loop.call_soon_threadsafe`` for asyncio).
Dispatch = Callable[[Callable[[], None]], object]


@dataclass(frozen=True, slots=True)
class _Subscription:
    callback: Listener
    dispatch: Dispatch | None
    thread: int

    def deliver(self, snapshot: Snapshot) -> None:
        """Call the listener in its own thread: directly when the commit happened there (or when it
        gave no dispatcher), else through ``dispatch``, so a command arriving on another thread (the
        REST server, a test) never runs the daemon's code concurrently with its event loop."""
        if self.dispatch is None or threading.get_ident() == self.thread:
            self.callback(snapshot)
        else:
            self.dispatch(partial(self.callback, snapshot))


class Config:
    """The configuration model over a store; thread-safe (the daemon's control socket and its loop)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.RLock()
        self._listeners: list[_Subscription] = []
        version, next_num, state = store.load()
        if version < 0:
            state, next_num = _factory_state()
            store.begin()
            try:
                store.save({}, state, 0, next_num)
                store.commit()
            except BaseException:
                store.rollback()
                raise
            version = 0
        elif store.schema() < 2:
            version, state = _migrate_v1(store, version, next_num, state)
        self.version, self.next_num, self.state = version, next_num, state
        self._snapshot = Snapshot(state, version)

    def add_listener(self, callback: Listener, dispatch: Dispatch | None = None) -> None:
        """Call ``callback(snapshot)`` after every committed change, in order.

        Registered from the daemon's loop with ``dispatch=loop.call_soon_threadsafe``: a change
        committed by that thread calls it at once; one committed by any other thread is handed to
        the loop. Without ``dispatch`` it runs in the committing thread, under the config lock.
        """
        self._listeners.append(_Subscription(callback, dispatch, threading.get_ident()))

    def refresh(self) -> None:
        """Reload if another process committed a change."""
        with self._lock:
            if self.store.version() != self.version:
                self.version, self.next_num, self.state = self.store.load()
                self._snapshot = Snapshot(self.state, self.version)

    def snapshot(self) -> Snapshot:
        self.refresh()
        return self._snapshot

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Txn]:
        """A write transaction: commits when the block ends, changes nothing if it raises."""
        with self._lock:
            self.store.begin()
            try:
                if self.store.version() != self.version:
                    self.version, self.next_num, self.state = self.store.load()
                txn = Txn(self.state, self.next_num)
                yield txn
                changed = txn.next_num != self.next_num or any(
                    txn.state.get(k, []) != self.state.get(k, []) for k in set(txn.state) | set(self.state))
                if changed:
                    self.store.save(self.state, txn.state, self.version + 1, txn.next_num)
                self.store.commit()
            except BaseException:
                self.store.rollback()
                raise
            if changed:
                self.version += 1
                self.next_num, self.state = (
                    txn.next_num,
                    {k: v for k, v in txn.state.items() if v or k in self.state},
                )
                self._snapshot = Snapshot(self.state, self.version)
                for sub in list(self._listeners):
                    try:
                        sub.deliver(self._snapshot)
                    except Exception:  # the change is committed; a failing listener must not undo the reply
                        log.exception("configuration listener %r failed", sub.callback)

    def import_script(self, text: str, filename: str = "<script>", defaults: str | None = None,
                      runtime: RuntimeProvider | None = None, output: list[str] | None = None) -> list[str]:
        """Run a script atomically; the warnings, or a ConfigError subclass naming file and line.

        ``defaults="routeros7"`` reads it with RouterOS 7's defaults where they differ from the
        manual's (``schema.DIALECTS``), as a compact export of such a router must be read.
        ``runtime``: the daemon's, for a script that also runs ``/certificate`` commands.
        ``output``: receives what the script shows (``:put``, ``print``), as the console shows it."""
        render: Render | None = None
        if output is not None:
            render = partial(console_render, as_json=False)
        with self.transaction() as txn:
            shown = run_script(txn, text, filename, defaults, runtime, render)
        if output is not None:
            output.append(shown)
        return list(txn.warnings)


def _migrate_v1(store: Store, version: int, next_num: int, state: State) -> tuple[int, State]:
    """A file written before layout 2: its mode-configs without ``responder`` meant ``no`` (then the
    default) and must keep meaning it; policy protocols stored as numbers become the names RouterOS
    prints (``47`` is ``gre``), as they are stored now."""
    path = "/ip ipsec mode-config"
    new = dict(state)
    new[path] = [
        it if "responder" in it.values else Item(it.num, {**it.values, "responder": "no"}, it.default)
        for it in state.get(path, [])
    ]
    new["/ip ipsec policy"] = [
        Item(it.num, {**it.values, "protocol": protocol_text(it.values["protocol"])}, it.default)
        if "protocol" in it.values else it
        for it in state.get("/ip ipsec policy", [])
    ]
    store.begin()
    try:
        store.save(state, new, version + 1, next_num)
        store.commit()
    except BaseException:
        store.rollback()
        raise
    return version + 1, new


def open_config(db_path: str | None) -> Config:
    """The configuration in the SQLite file ``db_path`` (created if missing), or in memory for None."""
    return Config(Store(db_path))
