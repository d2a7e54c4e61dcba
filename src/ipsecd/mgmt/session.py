"""Running console command lines and scripts against a :class:`~.model.Config`.

:class:`Session` keeps the console's current menu and runs one line at a time (``execute``), each
write command in its own transaction. :func:`run_script` runs a whole ``.rsc`` import in *one*
transaction and skips lines for menus ipsecd does not model with one warning. Runtime menus
(active-peers, installed-sa, statistics) and the policy fields ``active``/``ph2-state``/
``ph2-count``/``invalid`` come from a :class:`RuntimeProvider` the daemon implements.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from . import keys
from .errors import ConfigError, InvalidValue, NoSuchItem, ScriptError, ScriptSyntaxError, UnknownProperty
from .model import Config, Txn, canon
from .schema import EXPORT_ORDER, MENUS, STATISTICS_COUNTERS, Menu, commands_of
from .script import Command, OutOfScope, Tok, logical_lines, parse_line
from .store import Item
from .views import (
    FLAG_PROPS,
    PrintRow,
    _text,
    item_flags,
    item_values,
    json_row,
    render_as_value,
    render_detail,
    render_export,
    render_json,
    render_single,
    render_table,
    render_value_list,
    runtime_flags,
)


class RuntimeProvider(Protocol):
    """Live state from the daemon.

    ``rows(menu)`` is called with ``"/ip ipsec active-peers"``, ``"/ip ipsec installed-sa"``,
    ``"/ip ipsec statistics"`` (one dict of counters, RouterOS names) and ``"/ip ipsec policy"``
    (one dict per policy with live state: key ``".id"`` = the policy's ``Row.id``, plus any of
    ``active``, ``ph2-state``, ``ph2-count``, ``invalid``). Values are printed with ``str`` (bools as
    yes/no). ``command(menu, name, args)`` runs ``kill-connections``/``flush`` and returns the text to show.
    """

    def rows(self, menu: str) -> list[dict[str, object]]: ...

    def command(self, menu: str, name: str, args: dict[str, str]) -> str: ...


@dataclass(frozen=True, slots=True)
class CommandResult:
    rc: int
    stdout: str = ""
    stderr: str = ""


WRITE_COMMANDS = {"add", "set", "unset", "remove", "enable", "disable", "comment", "move", "generate-key", "import",
                  "generate"}
PRINT_FLAGS = {"detail", "terse", "count-only", "show-ids", "show-sensitive", "brief", "without-paging",
               "as-value", "value-list"}


class Executor:
    """Runs parsed commands inside one transaction (or on a throw-away copy for read-only ones)."""

    def __init__(self, txn: Txn, runtime: RuntimeProvider | None, as_json: bool) -> None:
        self.txn, self.runtime, self.as_json = txn, runtime, as_json
        self._live_rows: dict[str, list[dict[str, object]]] = {}

    def _live(self, path: str) -> list[dict[str, object]]:
        """The daemon's rows for a menu, asked once per command: a policy ``print where ...`` needs
        them for the matcher, the live columns and the generated policies."""
        rows = self._live_rows.get(path)
        if rows is None:
            rows = self._live_rows[path] = list(self.runtime.rows(path)) if self.runtime is not None else []
        return rows

    # -- argument helpers ------------------------------------------------------------------------

    @staticmethod
    def _split(menu: Menu, cmd: Command) -> tuple[list[Tok], dict[str, Tok]]:
        pos: list[Tok] = []
        named: dict[str, Tok] = {}
        for t in cmd.args:
            if t.kind == "assign":
                if t.op != "=":
                    raise ScriptSyntaxError(f"{menu.path}: unexpected operator in {t.name}{t.op}{t.text}")
                named[t.name] = t
            else:
                pos.append(t)
        return pos, named

    def select(self, menu: Menu, tok: Tok) -> list[Item]:
        """Items named by an index list, ``*id``, name, or ``[ find … ]``."""
        items = self.txn.items(menu.path)
        if tok.kind == "expr" or (tok.kind == "assign" and tok.sub):
            sub = tok.sub
            if not sub or sub[0].kind != "word" or sub[0].text != "find":
                raise ScriptSyntaxError(f"{menu.path}: only [ find … ] expressions are supported")
            conds = sub[1:]
            if conds and conds[0].kind == "word" and conds[0].text == "where":
                conds = conds[1:]
            match = self.matcher(menu, conds)
            return [it for it in items if match(it)]
        out: list[Item] = []
        for part in [tok.text] if tok.kind == "str" else tok.text.split(","):
            out.append(self._one(menu, items, part.strip()))
        return out

    def _one(self, menu: Menu, items: list[Item], ref: str) -> Item:
        if ref.isascii() and ref.isdigit():
            if int(ref) < len(items):
                return items[int(ref)]
        elif ref.startswith("*"):
            for it in items:
                if it.id.lower() == ref.lower():
                    return it
        elif menu.key is not None:
            num = self.txn.names(menu).get(ref)
            if num is not None:
                return next(it for it in items if it.num == num)
        raise NoSuchItem(f'{menu.path}: no such item "{ref}"')

    def _selection(self, menu: Menu, pos: list[Tok], named: dict[str, Tok]) -> list[Item]:
        tok = named.pop("numbers", None) or (pos.pop(0) if pos else None)
        if tok is None:
            raise ScriptSyntaxError(f"{menu.path}: which item? (index, *id, name or [ find ])")
        return self.select(menu, tok)

    def _extra(self, menu: Menu) -> dict[str, dict[str, object]]:
        """Live policy fields by ``.id``: the daemon's, plus ``invalid`` for duplicates (the manual's cause)."""
        if menu.path != "/ip ipsec policy":
            return {}
        extra: dict[str, dict[str, object]] = {}
        seen: set[tuple[str | None, ...]] = set()
        for it in self.txn.items(menu.path):
            v = it.values
            if v.get("disabled") == "yes" or v.get("template") == "yes":
                continue
            key = tuple(v.get(k) for k in ("src-address", "dst-address", "protocol", "src-port", "dst-port"))
            if key in seen:
                extra[it.id] = {"invalid": True}
            seen.add(key)
        for r in self._live(menu.path):
            if r.get("dynamic") != "yes":
                extra.setdefault(str(r.get(".id")), {}).update(r)
        return extra

    def matcher(self, menu: Menu, toks: list[Tok]) -> Callable[[Item], bool]:
        """Compile a ``find``/``where`` condition: ``p=v``, ``p!=v``, ``p~regex``, ``p``, ``!p``, and/or/not."""
        extra = self._extra(menu)

        def value(item: Item, name: str) -> str:
            if name == ".id":
                return item.id
            if name == "disabled":
                return item.values.get("disabled", "no")
            if name == "comment":
                return item.values.get("comment", "")
            return item_values(menu, item, extra.get(item.id), True).get(name, "")

        def check(name: str) -> None:
            if name not in (".id", "disabled", "comment") and menu.prop(name) is None:
                raise UnknownProperty(f"{menu.path}: unknown property {name} in find")

        def atom(t: Tok) -> Callable[[Item], bool]:
            if t.kind in ("assign", "word"):
                check(t.name if t.kind == "assign" else t.text.lstrip("!"))
            if t.kind == "assign":
                prop = menu.prop(t.name)
                want = t.text
                if prop is not None and t.op in ("=", "!="):
                    try:
                        want = canon(menu, prop, t.text)
                    except InvalidValue:
                        pass
                if t.op == "=":
                    return lambda it: value(it, t.name) == want
                if t.op == "!=":
                    return lambda it: value(it, t.name) != want
                if t.op == "~":
                    try:
                        rx = re.compile(want)
                    except re.error:
                        raise InvalidValue(f'{menu.path}: bad regular expression "{want}"') from None
                    return lambda it: rx.search(value(it, t.name)) is not None
                raise ScriptSyntaxError(f"{menu.path}: operator {t.op} is not supported in find")
            if t.kind == "word":
                neg = t.text.startswith("!")
                name = t.text.lstrip("!")
                return lambda it: (value(it, name) not in ("", "no", "false")) != neg
            raise ScriptSyntaxError(f"{menu.path}: unexpected {t.text!r} in find")

        def parse(ts: list[Tok]) -> Callable[[Item], bool]:
            ors: list[list[Callable[[Item], bool]]] = [[]]
            negate = False
            for t in ts:
                if t.kind == "word" and t.text in ("or", "||"):
                    ors.append([])
                elif t.kind == "word" and t.text in ("and", "&&"):
                    continue
                elif t.kind == "word" and t.text in ("not", "!"):
                    negate = not negate
                else:
                    f = atom(t)
                    if negate:
                        f, negate = _negated(f), False
                    ors[-1].append(f)
            return lambda it: any(all(f(it) for f in ands) for ands in ors)

        return parse(toks)

    # -- commands --------------------------------------------------------------------------------

    def run(self, cmd: Command) -> str:
        if cmd.path not in MENUS:
            if cmd.name == "import":
                return self.import_file(cmd)
            if cmd.name == "export":
                paths = [p for p in EXPORT_ORDER if p.startswith(cmd.path.rstrip("/"))] if cmd.path != "/" else EXPORT_ORDER
                return render_export(self.txn.state, "show-sensitive" in self._flags_of(cmd), paths)
            raise ScriptSyntaxError(f"{cmd.path}: no such command {cmd.name}")
        menu = MENUS[cmd.path]
        if cmd.name not in commands_of(menu):
            raise ScriptSyntaxError(f"{menu.path}: no such command {cmd.name} (allowed: {', '.join(commands_of(menu))})")
        if cmd.name in ("kill-connections", "flush"):
            if self.runtime is None:
                raise ConfigError(f"{menu.path}: {cmd.name} needs the running daemon")
            return self.runtime.command(menu.path, cmd.name, {})
        handler = getattr(self, "cmd_" + cmd.name.replace("-", "_"))
        return str(handler(menu, cmd))

    def import_file(self, cmd: Command) -> str:
        named = {t.name: t.text for t in cmd.args if t.kind == "assign"}
        pos = [t.text for t in cmd.args if t.kind != "assign"]
        path = named.get("file-name") or (pos[0] if pos else "")
        if not path:
            raise ScriptSyntaxError("import: file-name= is required")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"import: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
        run_lines(self.txn, text, path)
        return ""

    @staticmethod
    def _flags_of(cmd: Command) -> set[str]:
        return {t.text for t in cmd.args if t.kind == "word"}

    def _changes(self, menu: Menu, named: dict[str, Tok]) -> dict[str, str]:
        for name, t in named.items():
            if t.sub:
                raise ScriptSyntaxError(f"{menu.path}: {name}= takes a value, not an expression")
        return {name: t.text for name, t in named.items()}

    def cmd_add(self, menu: Menu, cmd: Command) -> str:
        pos, named = self._split(menu, cmd)
        if pos:
            raise ScriptSyntaxError(f"{menu.path}: unexpected argument {pos[0].text!r} to add")
        before = copy = None
        if "place-before" in named:
            if not menu.ordered:
                raise UnknownProperty(f"{menu.path}: unknown property place-before")
            sel = self.select(menu, named.pop("place-before"))
            before = sel[0] if sel else None
        if "copy-from" in named:
            sel = self.select(menu, named.pop("copy-from"))
            copy = sel[0] if sel else None
        self.txn.add(menu, self._changes(menu, named), before, copy)
        return ""

    def cmd_set(self, menu: Menu, cmd: Command) -> str:
        pos, named = self._split(menu, cmd)
        items = self.txn.items(menu.path)[:1] if menu.kind == "single" else self._selection(menu, pos, named)
        if pos:
            raise ScriptSyntaxError(f"{menu.path}: unexpected argument {pos[0].text!r} to set")
        changes = self._changes(menu, named)
        for it in items:
            self.txn.set(menu, self._current(menu, it), changes)
        return ""

    def _targets(self, menu: Menu, cmd: Command) -> tuple[list[Item], dict[str, Tok]]:
        """Items of every positional selector and ``numbers=`` (at least one required), other named args."""
        pos, named = self._split(menu, cmd)
        sels = pos + ([named.pop("numbers")] if "numbers" in named else [])
        if not sels:
            raise ScriptSyntaxError(f"{menu.path}: which item? (index, *id, name or [ find ])")
        items: dict[int, Item] = {}
        for t in sels:
            items.update((it.num, it) for it in self.select(menu, t))
        return list(items.values()), named

    def _current(self, menu: Menu, item: Item) -> Item:
        """The item as it is now in the transaction (an earlier edit may have replaced it)."""
        return self.txn.items(menu.path)[self.txn.position(menu, item)]

    def cmd_remove(self, menu: Menu, cmd: Command) -> str:
        items, _ = self._targets(menu, cmd)
        self.txn.remove(menu, items)
        return ""

    def cmd_unset(self, menu: Menu, cmd: Command) -> str:
        """``unset ITEMS value-name=a,b``: back to the default (or unset)."""
        if menu.kind == "single":
            items, named = self.txn.items(menu.path)[:1], self._split(menu, cmd)[1]
        else:
            items, named = self._targets(menu, cmd)
        names = [n.strip() for n in named.pop("value-name", Tok("word", "")).text.split(",") if n.strip()]
        if not names or named:
            raise ScriptSyntaxError(f"{menu.path}: unset takes value-name=PROPERTY[,PROPERTY]")
        for it in items:
            self.txn.set(menu, self._current(menu, it), dict.fromkeys(names, ""))
        return ""

    def _toggle(self, menu: Menu, cmd: Command, value: str) -> str:
        items, _ = self._targets(menu, cmd)
        for it in items:
            self.txn.set(menu, self._current(menu, it), {"disabled": value})
        return ""

    def cmd_enable(self, menu: Menu, cmd: Command) -> str:
        return self._toggle(menu, cmd, "no")

    def cmd_disable(self, menu: Menu, cmd: Command) -> str:
        return self._toggle(menu, cmd, "yes")

    def cmd_comment(self, menu: Menu, cmd: Command) -> str:
        pos, named = self._split(menu, cmd)
        items = self._selection(menu, pos, named)
        if "comment" in named:
            text = named["comment"].text
        elif pos:
            text = pos[0].text
        else:
            raise ScriptSyntaxError(f"{menu.path}: comment needs comment=TEXT")
        for it in items:
            self.txn.set(menu, self._current(menu, it), {"comment": text})
        return ""

    def cmd_move(self, menu: Menu, cmd: Command) -> str:
        pos, named = self._split(menu, cmd)
        items = self._selection(menu, pos, named)
        dest_tok = named.get("destination") or (pos[0] if pos else None)
        lst = self.txn.items(menu.path)
        if dest_tok is None:
            dest = len(lst)
        elif dest_tok.text.isascii() and dest_tok.text.isdigit() and not dest_tok.sub:
            dest = int(dest_tok.text)
        else:
            target = self.select(menu, dest_tok)
            dest = self.txn.position(menu, target[0]) if target else len(lst)
        self.txn.move(menu, items, dest)
        return ""

    def cmd_find(self, menu: Menu, cmd: Command) -> str:
        conds = cmd.args[1:] if cmd.args and cmd.args[0].text == "where" else cmd.args
        match = self.matcher(menu, conds)
        return ";".join(it.id for it in self.txn.items(menu.path) if match(it)) + "\n"

    def cmd_export(self, menu: Menu, cmd: Command) -> str:
        paths = [menu.path] if menu.path in EXPORT_ORDER else []  # keys are never exported (RouterOS)
        return render_export(self.txn.state, "show-sensitive" in self._flags_of(cmd), paths)

    def cmd_generate_key(self, menu: Menu, cmd: Command) -> str:
        _, named = self._split(menu, cmd)
        return keys.generate(self.txn, menu, self._changes(menu, named))

    def cmd_generate(self, menu: Menu, cmd: Command) -> str:
        _, named = self._split(menu, cmd)
        return keys.generate_psk(self.txn, menu, self._changes(menu, named))

    def cmd_import(self, menu: Menu, cmd: Command) -> str:
        _, named = self._split(menu, cmd)
        return keys.import_file(self.txn, menu, self._changes(menu, named))

    def cmd_export_pub_key(self, menu: Menu, cmd: Command) -> str:
        _, named = self._split(menu, cmd)
        return keys.export_public(self.txn, menu, self._changes(menu, named),
                                  lambda t: self.select(menu, Tok("word", t)))

    def cmd_print(self, menu: Menu, cmd: Command) -> str:
        flags: set[str] = set()
        where: list[Tok] | None = None
        proplist: list[str] | None = None
        sel: list[Item] | None = None
        for i, t in enumerate(cmd.args):
            if t.kind == "word" and t.text == "where":
                where = cmd.args[i + 1:]
                break
            if t.kind == "word" and t.text in PRINT_FLAGS:
                flags.add(t.text)
            elif t.kind == "assign" and t.name == "proplist":
                proplist = [p.strip() for p in t.text.split(",") if p.strip()]
                for p in proplist:
                    if menu.prop(p) is None and p not in (".id", "comment", "disabled"):
                        raise UnknownProperty(f"{menu.path}: unknown property {p} in proplist")
            elif t.kind == "assign" and t.name == "from":
                sel = self.select(menu, t)
            elif t.kind == "assign" and t.name in ("file", "interval", "follow", "append"):
                raise ScriptSyntaxError(f"{menu.path}: print {t.name}= is not supported")
            else:
                raise ScriptSyntaxError(f"{menu.path}: unexpected argument {t.text!r} to print")
        sensitive = "show-sensitive" in flags
        if menu.kind in ("single", "runtime-single"):
            values = self._single_values(menu, sensitive)
            if proplist:
                values = {k: v for k, v in values.items() if k in proplist}
            return render_json([values]) if self.as_json else render_single(values)
        rows = self._rows(menu, sensitive, where, sel)
        if proplist:
            for r in rows:
                r.values = {k: r.values[k] for k in proplist if k in r.values}
        if "count-only" in flags:
            return f"{len(rows)}\n"
        if self.as_json:
            return render_json(json_row(menu, r) for r in rows)
        if "as-value" in flags:
            return render_as_value(menu, rows)
        if "value-list" in flags:
            return render_value_list(menu, rows)
        if "detail" in flags or "terse" in flags:
            return render_detail(menu, rows, "show-ids" in flags, "terse" in flags)
        # "brief" is the table itself; "without-paging" changes nothing here (there is no pager).
        return render_table(menu, rows, proplist or list(menu.columns), "show-ids" in flags)

    def _single_values(self, menu: Menu, sensitive: bool) -> dict[str, str]:
        if menu.kind == "single":
            return item_values(menu, self.txn.items(menu.path)[0], None, sensitive)
        got = self._live(menu.path)
        counters: dict[str, object] = dict(got[0]) if got else {}
        out = {name: _text(counters.get(name, 0)) for name in STATISTICS_COUNTERS}
        out.update({k: _text(v) for k, v in counters.items() if k not in out})
        return out

    def _rows(self, menu: Menu, sensitive: bool, where: list[Tok] | None, sel: list[Item] | None) -> list[PrintRow]:
        if menu.kind == "runtime":
            return self._live_print_rows(menu, self._live(menu.path), sensitive, where)
        extra = self._extra(menu)
        match = self.matcher(menu, where) if where is not None else None
        chosen = {it.num for it in sel} if sel is not None else None
        out = []
        for i, it in enumerate(self.txn.items(menu.path)):
            if (chosen is not None and it.num not in chosen) or (match is not None and not match(it)):
                continue
            values = item_values(menu, it, extra.get(it.id), sensitive)
            flags = item_flags(menu, it, values)
            if not self.as_json:
                values = {k: v for k, v in values.items() if k not in FLAG_PROPS or not menu.by_name[k].read_only}
            out.append(PrintRow(i, it.id, flags, it.values.get("comment"), values))
        if menu.path == "/ip ipsec policy" and sel is None:
            # the daemon's generated policies (generate-policy): numbered after the configured ones,
            # flagged D; read-only, so ``find``/numbers never reach them
            dynamic = [r for r in self._live(menu.path) if r.get("dynamic") == "yes"]
            out += self._live_print_rows(menu, dynamic, sensitive, where, len(self.txn.items(menu.path)), "D")
        return out

    @staticmethod
    def _live_print_rows(menu: Menu, raw: list[dict[str, object]], sensitive: bool, where: list[Tok] | None,
                         first: int = 0, flag: str = "") -> list[PrintRow]:
        """Rows of the daemon's (read-only) state, numbered from ``first``; ``where`` compares values."""
        rows = []
        for i, r in enumerate(raw, first):
            values = {k: _text(v) for k, v in r.items() if k != ".id" and
                      (sensitive or not (menu.prop(k) and menu.by_name[k].secret))}
            rows.append(PrintRow(i, str(r.get(".id", f"*{i + 1:X}")), flag + runtime_flags(menu, values), None, values))
        if where is not None:
            rows = [r for r in rows if all(r.values.get(t.name, "") == t.text for t in where if t.kind == "assign")]
        return rows


def _negated(f: Callable[[Item], bool]) -> Callable[[Item], bool]:
    return lambda it: not f(it)


class Session:
    """A console: current menu plus ``execute(line)``; thread-safe through the Config lock."""

    def __init__(self, config: Config, runtime: RuntimeProvider | None = None) -> None:
        self.config, self.runtime = config, runtime
        self.cwd = "/"

    def execute(self, line: str, as_json: bool = False) -> CommandResult:
        try:
            text = " ".join(s for _, s in logical_lines(line))
            cwd, cmd = parse_line(text, self.cwd)
            if isinstance(cmd, OutOfScope):
                return CommandResult(1, "", f"no such menu: {cmd.menu} (ipsecd models /ip ipsec and /ip pool)\n")
            if cmd is None:
                self.cwd = cwd
                return CommandResult(0)
            if cmd.name in WRITE_COMMANDS or (cmd.path not in MENUS and cmd.name != "export"):
                with self.config.transaction() as txn:
                    out = Executor(txn, self.runtime, as_json).run(cmd)
            else:
                self.config.refresh()
                txn = Txn(self.config.state, self.config.next_num)
                out = Executor(txn, self.runtime, as_json).run(cmd)
            return CommandResult(0, out, "".join(w + "\n" for w in txn.warnings))
        except ConfigError as exc:
            return CommandResult(1, "", f"{exc}\n")


def run_lines(txn: Txn, text: str, filename: str) -> None:
    """Run a script's lines in ``txn``; warnings go to ``txn.warnings``; ScriptError names file and line."""
    skipped: dict[str, int] = {}
    ex = Executor(txn, None, False)
    cwd = "/"
    for lineno, line in logical_lines(text):
        try:
            cwd, cmd = parse_line(line, cwd)
            if isinstance(cmd, OutOfScope):
                skipped[cmd.menu] = skipped.get(cmd.menu, 0) + 1
            elif cmd is not None:
                ex.run(cmd)
        except ScriptError:
            raise
        except ConfigError as exc:
            raise ScriptError(filename, lineno, exc) from None
    if skipped:
        n = sum(skipped.values())
        txn.warnings.append(f"warning: {filename}: skipped {n} line(s) for menus outside /ip ipsec and /ip pool: "
                            + ", ".join(skipped))


def run_script(config: Config, text: str, filename: str) -> list[str]:
    """Import a script in one transaction; warnings, or ScriptError naming file and line."""
    with config.transaction() as txn:
        run_lines(txn, text, filename)
    return list(txn.warnings)
