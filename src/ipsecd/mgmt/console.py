"""``ipsecd console``: the interactive RouterOS-style console (prompt_toolkit, completion, history).

Completion is derived from the schema (:func:`complete` is a pure function so it is testable without
a terminal): menu paths, commands, property names (``name=``), enum words and names of referenced
items (``profile=`` offers the configured profiles). The console keeps the current menu itself and
sends absolute command lines, so it works the same against the daemon's control socket (one request
per command) and against the database. Lines are joined as a script import joins them (one
:class:`~.script.LineJoiner`), so a pasted export, folded with ``\\``, or a ``{ … }`` block spread
over lines runs once complete. With stdin not a terminal it runs the lines it reads.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable

from .client import Target
from .errors import ConfigError
from .interp import is_scripting
from .schema import DIRECTORIES, MENUS, children, commands_of, resolve_path
from .script import LineJoiner, parse_line
from .session import PRINT_FLAGS, CommandResult
from .values import Ref

Names = Callable[[str], Iterable[str]]
QUIT = ("quit", "/quit", "exit")
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
        top = ("export", "import") if path in DIRECTORIES or path == "/" else ()
        cmds = commands_of(menu) if menu else top
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
    """Current menu + a function that runs absolute lines (daemon or database).

    Typed and pasted text goes through :meth:`feed`, which joins lines with the
    :class:`~.script.LineJoiner` of script imports: a command continued with ``\\`` or a ``{ … }``
    block spread over lines runs once it is complete, so a pasted export behaves as its import.
    """

    def __init__(self, execute: Callable[[str, bool], CommandResult]) -> None:
        self.execute = execute
        self.cwd = "/"
        self.joiner = LineJoiner()
        self.quit = False

    @property
    def prompt(self) -> str:
        """The prompt: the current menu, or a continuation mark while a command is incomplete."""
        return "... " if self.joiner.pending else f"[ipsecd] {self.cwd}> "

    def feed(self, text: str) -> list[CommandResult]:
        """Run what ``text`` (one line or a pasted block) completes; ``quit`` stops the console."""
        results = []
        for raw in text.split("\n"):
            if self.quit:
                break
            if not self.joiner.pending and raw.strip() in QUIT:
                self.quit = True
                break
            src = self.joiner.feed(raw)
            if src is not None and src.text.strip():
                results.append(self.run_line(src.text))
        return results

    def finish(self) -> list[CommandResult]:
        """At the end of the input: an incomplete command runs as it is (and is refused if unbalanced)."""
        src = self.joiner.flush()
        return [self.run_line(src.text)] if src is not None and src.text.strip() else []

    def absolute(self, line: str) -> str:
        stripped = line.strip()
        return stripped if stripped.startswith("/") else f"{self.cwd} {stripped}"

    def run_line(self, line: str) -> CommandResult:
        """One logical line. Scripting (variables, blocks, several commands) goes to the daemon as
        it is, preceded by the current menu, so its relative commands run there."""
        if is_scripting(line, self.cwd):
            return self.execute(line if self.cwd == "/" else f"{self.cwd}\n{line}", False)
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


def _show(results: Iterable[CommandResult]) -> int:
    rc = 0
    for res in results:
        sys.stdout.write(res.stdout)
        sys.stderr.write(res.stderr)
        rc = rc or res.rc
    sys.stdout.flush()
    return rc


def run_console(target: Target) -> int:
    console = Console(target.execute)
    if not sys.stdin.isatty():
        rc = 0
        for line in sys.stdin:
            rc = _show(console.feed(line.rstrip("\n"))) or rc
            if console.quit:
                return rc
        return _show(console.finish()) or rc
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
    session: PromptSession[str] = PromptSession(
        history=FileHistory(os.path.join(hist_dir, "console_history")), completer=SchemaCompleter(),
        complete_while_typing=False)
    while not console.quit:
        try:
            text = session.prompt(console.prompt)
        except KeyboardInterrupt:
            console.joiner.flush()  # Ctrl-C drops an incomplete command
            continue
        except EOFError:
            break
        _show(console.feed(text))
    _show(console.finish())  # Ctrl-D after an incomplete command runs it as typed (as a pipe does)
    return 0
