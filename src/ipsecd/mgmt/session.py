"""The console: command lines in, rendered text (or JSON) out.

:class:`Session` keeps the console's current menu and runs one line at a time (``execute``): it
parses the line, turns it into a structured :class:`~.commands.Call` and renders the
:class:`~.commands.Outcome` — every decision about the configuration is made in :mod:`.commands`.
Write commands run in their own transaction; read commands on the current state.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from .commands import PRINT_FLAGS, WRITE_VERBS, Commands, RuntimeProvider, call_of
from .errors import ConfigError
from .interp import Interpreter, Scope, is_scripting, one_line
from .model import Config, Txn
from .rendering import render
from .schema import CERTIFICATE_PATHS, MENUS
from .script import OutOfScope, logical_lines, parse_line
from .scripting import Value

__all__ = ["PRINT_FLAGS", "CommandResult", "RuntimeProvider", "Session", "render"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    rc: int
    stdout: str = ""
    stderr: str = ""


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
