"""The ``/ip ipsec`` configuration model: schema, values, scripts, SQLite store, console and commands.

API for the daemon (stable; other areas depend on it):

``open_config(db_path: str | None) -> Config``
    The configuration in a SQLite file (created with its default objects when missing), or in
    memory when ``db_path`` is None (``ipsecd run --config FILE.rsc``).
``Config.import_script(text, filename, defaults=None) -> list[str]``
    Runs a script atomically and returns its warnings; raises a :class:`ConfigError` subclass
    (:class:`ScriptError` naming ``file:line``) and changes nothing on the first bad line.
    ``defaults="routeros7"`` reads the script with RouterOS 7's profile defaults (``schema.DIALECTS``),
    as a compact export of such a router must be read (``ipsecd import --defaults routeros7``).
``Config.snapshot() -> Snapshot``
    Immutable. ``snapshot.version`` increments on every committed change; ``snapshot.rows(menu)``
    (``"/ip ipsec peer"`` …) returns ``tuple[Row, ...]`` in print order.
``Row``
    ``row.id`` (``"*1"``), ``row.index`` (print number), ``row.disabled``, ``row.comment``,
    ``row.default`` and ``row["property"]``: the typed value with the default filled in —
    ``ipaddress`` networks (prefixes) and addresses, ``int`` seconds for times (or the special word,
    e.g. ``"disable-dpd"``), ``int`` for integers, ``tuple`` for lists, ``str`` for enum words and
    names, ``bool`` for yes/no, ``str`` or ``bytes`` (``0x…``) for secrets, ``None`` for unset (and
    for port ``any``), :class:`~.values.Identity` ``(kind, value)`` for ``my-id``/``remote-id``,
    ``(first, last)`` address tuples for ``/ip pool ranges``. ``row.text(name)`` gives the canonical text.
``Config.add_listener(callback, dispatch=None)``
    ``callback(snapshot)`` after each committed change. Register it from the daemon's loop with
    ``dispatch=loop.call_soon_threadsafe``: a change committed on another thread (a REST or control
    client thread) is then handed to the loop instead of running the daemon's code concurrently.
``ipsecd.mgmt.commands``
    The structured command layer every front end calls: ``Commands(txn).call(Call(menu, verb, …))``
    → ``Outcome`` (rows, ids, a value, text) or a typed ``ConfigError``; ``find``/``get`` for the
    script interpreter's ``[ find … ]`` and ``[ get … ]``; conditions in :mod:`ipsecd.mgmt.where`.
``Session(config, runtime=None).execute(line, as_json=False) -> CommandResult(rc, stdout, stderr)``
    Runs any console line (``/ip ipsec peer print detail``, ``/ip ipsec active-peers kill-connections``).
    ``rc`` 0 success, 1 refused (one line on stderr).
``RuntimeProvider``
    Protocol the daemon implements: ``rows(menu)`` for ``/ip ipsec active-peers``, ``installed-sa``,
    ``statistics`` (one dict of counters) and ``/ip ipsec policy`` (dicts with ``".id"`` = the policy
    ``Row.id`` plus ``active``/``ph2-state``/``ph2-count``/``invalid``); ``command(menu, name, args)``
    for ``kill-connections`` and ``flush``. Without one, runtime menus print empty tables and zero counters.

Control socket (client here, server in ``ipsecd.daemon.control``): Unix stream socket; the client
sends one JSON line ``{"command": "<line>", "json": <bool>}`` and reads one line
``{"rc": int, "stdout": str, "stderr": str}``.
"""

from __future__ import annotations

from .errors import ConfigError, ScriptError
from .model import Config, Row, Snapshot, open_config
from .session import CommandResult, RuntimeProvider, Session

__all__ = [
    "CommandResult",
    "Config",
    "ConfigError",
    "Row",
    "RuntimeProvider",
    "ScriptError",
    "Session",
    "Snapshot",
    "open_config",
]
