"""The console: command lines in, rendered text (or JSON) out.

:class:`Session` keeps the console's current menu and runs one line at a time (``execute``): it
parses the line, turns it into a structured :class:`~.commands.Call` and renders the
:class:`~.commands.Outcome` — every decision about the configuration is made in :mod:`.commands`.
Write commands run in their own transaction; read commands on the current state.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from . import certificate
from .commands import PRINT_FLAGS, WRITE_VERBS, Call, Commands, Outcome, RuntimeProvider, call_of
from .errors import ConfigError
from .interp import Interpreter, Scope, is_scripting, one_line
from .model import Config, Txn
from .schema import CERTIFICATE_PATHS, MENUS, Menu
from .script import OutOfScope, logical_lines, parse_line
from .scripting import Value
from .views import (
    FLAG_PROPS,
    PrintRow,
    detail_values,
    json_row,
    render_as_value,
    render_detail,
    render_json,
    render_single,
    render_table,
    render_value_list,
)

__all__ = ["PRINT_FLAGS", "CommandResult", "RuntimeProvider", "Session", "render"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    rc: int
    stdout: str = ""
    stderr: str = ""


def _text_rows(menu: Menu, rows: list[PrintRow]) -> list[PrintRow]:
    """Rows for text output: the read-only flag properties (default, dynamic, responder, a policy's
    active/invalid, an SA's seen-traffic …) are the flag letters there, not columns; JSON keeps them."""
    letters = {prop for _, prop in menu.flags} | set(FLAG_PROPS)
    return [PrintRow(r.index, r.id, r.flags, r.comment,
                     {k: v for k, v in r.values.items()
                      if k not in letters or menu.prop(k) is None or not menu.by_name[k].read_only})
            for r in rows]


def render(call: Call, out: Outcome, as_json: bool) -> str:
    """The console's text (or JSON) for the outcome of a call."""
    menu = MENUS.get(call.menu) or certificate.MENUS.get(call.menu)  # /certificate: not configuration
    if out.value is not None:
        return render_json([{"value": out.value}]) if as_json else out.value + "\n"
    if out.ids is not None and call.verb == "find":
        return render_json([{".id": i} for i in out.ids]) if as_json else ";".join(out.ids) + "\n"
    if out.values is not None:
        return render_json([out.values]) if as_json else render_single(out.values)
    if out.rows is None or menu is None:
        return out.text
    flags = call.flags
    if "count-only" in flags:
        return f"{len(out.rows)}\n"
    if as_json:
        return render_json(json_row(menu, r) for r in out.rows)
    rows = _text_rows(menu, out.rows)
    if "as-value" in flags:
        return render_as_value(menu, rows)
    if "value-list" in flags:
        return render_value_list(menu, rows)
    proplist = call.args.get("proplist")
    if "detail" in flags or "terse" in flags or not menu.columns:  # profiles print detail-style on RouterOS
        if proplist is None:
            for r in rows:
                r.values = detail_values(menu, r.values)
        return render_detail(menu, rows, "show-ids" in flags, "terse" in flags)
    # "brief" is the table itself; "without-paging" changes nothing here (there is no pager).
    columns = (
        [p.strip() for p in proplist.split(",") if p.strip()] if isinstance(proplist, str) else menu.columns
    )
    return render_table(menu, rows, list(columns), "show-ids" in flags)


#: ``:global`` variables of console input, per configuration: they last as long as the process
#: (the daemon, or one ``ipsecd console`` on the database), as RouterOS's last until a reboot.
_GLOBALS: weakref.WeakKeyDictionary[Config, dict[str, Value]] = weakref.WeakKeyDictionary()


class Session:
    """A console: current menu plus ``execute(line)``; thread-safe through the Config lock."""

    def __init__(self, config: Config, runtime: RuntimeProvider | None = None) -> None:
        self.config, self.runtime = config, runtime
        self.cwd = "/"

    def execute(self, line: str, as_json: bool = False) -> CommandResult:
        try:
            if is_scripting(line, self.cwd):
                return self._script(line, as_json)
            text = " ".join(s for _, s in logical_lines(line))
            cwd, cmd = parse_line(text, self.cwd)
            if cmd is not None and not isinstance(cmd, OutOfScope) and cmd.name == "import" \
                    and cmd.path not in MENUS and cmd.path not in CERTIFICATE_PATHS:
                return self._script(line, as_json)
            if isinstance(cmd, OutOfScope):
                return CommandResult(
                    1, "", f"no such menu: {cmd.menu} (ipsecd models /ip ipsec and /ip pool)\n"
                )
            if cmd is None:
                self.cwd = cwd
                return CommandResult(0)
            call = call_of(cmd)
            if call.verb in WRITE_VERBS or (call.menu not in MENUS and call.verb != "export"):
                with self.config.transaction() as txn:
                    out = Commands(txn, self.runtime).call(call)
            else:
                self.config.refresh()
                txn = Txn(self.config.state, self.config.next_num)
                out = Commands(txn, self.runtime).call(call)
            return CommandResult(0, render(call, out, as_json), "".join(w + "\n" for w in txn.warnings))
        except ConfigError as exc:
            return CommandResult(1, "", f"{one_line(str(exc))}\n")

    def _script(self, text: str, as_json: bool) -> CommandResult:
        """Input with scripting (variables, blocks, several commands) or ``/import``: one
        transaction, so a failing command leaves nothing half done; variables end with the input."""
        scope = Scope(self.cwd)
        with self.config.transaction() as txn:
            interp = Interpreter(Commands(txn, self.runtime), lambda c, o: render(c, o, as_json),
                                 globals_=_GLOBALS.setdefault(self.config, {}))
            interp.run_text(text, scope)
        self.cwd = scope.cwd
        warnings = [*txn.warnings, *interp.warnings()]
        return CommandResult(0, "".join(interp.out), "".join(w + "\n" for w in warnings))
