"""``ipsecd console``: the interactive RouterOS-style console (prompt_toolkit, completion, history).

Completion is derived from the schema (:func:`complete` is a pure function so it is testable without
a terminal): menu paths, commands, property names (``name=``), enum words and names of referenced
items (``profile=`` offers the configured profiles). The console keeps the current menu itself and
sends absolute command lines, so it works the same against the daemon's control socket (one request
per line) and against the database. With stdin not a terminal it runs the lines it reads.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable

from .client import Target
from .errors import ConfigError
from .schema import DIRECTORIES, MENUS, children, commands_of, resolve_path
from .script import parse_line
from .session import PRINT_FLAGS, CommandResult
from .values import Ref

Names = Callable[[str], Iterable[str]]
EXTRA_ARGS = {"add": ("place-before=", "copy-from="), "print": ("where", "proplist=", "from="),
              "set": ("numbers=",), "move": ("destination=",), "comment": ("comment=",),
              "generate-key": ("name=", "key-size="), "import": ("file-name=", "name=", "passphrase="),
              "export-pub-key": ("file-name=", "key=")}


def _descend(path: str, word: str) -> str | None:
    if word == "..":
        parts = path.split()
        return "/" + " ".join(parts[:-1]).lstrip("/") if len(parts) > 1 else "/"
    if word in children(path):
        return resolve_path([*path.lstrip("/").split(), word])
    return None


def complete(text: str, cwd: str, names: Names | None = None) -> list[str]:
    """Candidates for the last (partial) word of ``text`` typed at menu ``cwd``."""
    words = text.split(" ")
    partial = words[-1]
    done = [w for w in words[:-1] if w]
    path = cwd
    if done and done[0].startswith("/"):
        path = "/"
        done = [p for p in done[0].split("/") if p] + done[1:]
    elif not done and partial.startswith("/"):
        head, _, last = partial.rpartition("/")
        base = "/"
        for w in (p for p in head.split("/") if p):
            nxt = _descend(base, w)
            if nxt is None:
                return []
            base = nxt
        return sorted(f"{head}/{c}" for c in children(base) if c.startswith(last))
    verb = None
    for w in done:
        if verb is None:
            nxt = _descend(path, w)
            if nxt is not None:
                path = nxt
                continue
            verb = w
    menu = MENUS.get(path)
    if verb is None:
        cmds = commands_of(menu) if menu else (("export", "import") if path in DIRECTORIES or path == "/" else ())
        return sorted(w for w in (*children(path), *cmds, "..") if w.startswith(partial))
    if menu is None:
        return []
    if "=" in partial:
        pname, _, val = partial.partition("=")
        prop = menu.prop(pname)
        if prop is None:
            return []
        choices = list(prop.type.choices)
        if isinstance(prop.type, Ref) and names is not None:
            choices += list(names(prop.type.menu))
        if pname in ("proplist",):
            return []
        head, _, last = val.rpartition(",")
        pre = f"{pname}={head}," if head else f"{pname}="
        return sorted(pre + c for c in dict.fromkeys(choices) if c.startswith(last))
    if verb == "print":
        options = [*PRINT_FLAGS, *EXTRA_ARGS["print"]]
    elif verb in ("add", "set"):
        options = [p.name + "=" for p in menu.writable if p.name != "key-data"] + list(EXTRA_ARGS[verb])
    else:
        options = list(EXTRA_ARGS.get(verb, ()))
    return sorted(o for o in options if o.startswith(partial))


class Console:
    """Current menu + a function that runs absolute lines (daemon or database)."""

    def __init__(self, execute: Callable[[str, bool], CommandResult]) -> None:
        self.execute = execute
        self.cwd = "/"

    def absolute(self, line: str) -> str:
        stripped = line.strip()
        return stripped if stripped.startswith("/") else f"{self.cwd} {stripped}"

    def run_line(self, line: str) -> CommandResult:
        try:
            new_cwd, cmd = parse_line(line, self.cwd)
        except ConfigError as exc:
            return CommandResult(1, "", f"{exc}\n")
        result = self.execute(self.absolute(line), False)
        if cmd is None and result.rc == 0:
            self.cwd = new_cwd
        return result

    def names(self, path: str) -> list[str]:
        menu = MENUS.get(path)
        if menu is None or menu.key is None:
            return []
        result = self.execute(f"{path} print proplist={menu.key}", True)
        if result.rc:
            return []
        try:
            return [str(r[menu.key]) for r in json.loads(result.stdout) if menu.key in r]
        except (ValueError, TypeError):
            return []


def run_console(target: Target) -> int:
    console = Console(target.execute)
    if not sys.stdin.isatty():
        rc = 0
        for line in sys.stdin:
            if line.strip() in ("quit", "/quit", "exit"):
                break
            res = console.run_line(line.rstrip("\n"))
            sys.stdout.write(res.stdout)
            sys.stderr.write(res.stderr)
            rc = rc or res.rc
        return rc
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document
    from prompt_toolkit.history import FileHistory

    class SchemaCompleter(Completer):
        def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
            text = document.text_before_cursor
            partial = text.split(" ")[-1]
            for cand in complete(text, console.cwd, console.names):
                yield Completion(cand, start_position=-len(partial))

    hist_dir = os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "ipsecd")
    os.makedirs(hist_dir, exist_ok=True)
    session: PromptSession[str] = PromptSession(history=FileHistory(os.path.join(hist_dir, "console_history")),
                                                completer=SchemaCompleter(), complete_while_typing=False)
    while True:
        try:
            line = session.prompt(f"[ipsecd] {console.cwd}> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        if line.strip() in ("quit", "/quit", "exit"):
            return 0
        res = console.run_line(line)
        sys.stdout.write(res.stdout)
        sys.stderr.write(res.stderr)
