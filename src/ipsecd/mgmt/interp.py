"""The RouterOS scripting interpreter: variables, blocks, loops, conditions, command substitution.

A script runs command by command. ``:`` commands (``:local``, ``:foreach``, ``:if`` …) run here;
menu commands have their ``$var``, ``( … )`` and ``[ … ]`` arguments evaluated, are written back as
literal text (values quoted), parsed as a console line and run by :class:`~.commands.Commands`, so
they behave exactly as typed (a command with nothing to evaluate, most lines of an import, is parsed
as it stands: :func:`plain_args`); ``[ … ]`` gives the structured outcome as a value (``find`` its ids,
``get`` the value, ``print as-value`` the rows, ``add`` the new id). Variables are local to the
block (``{ … }``, ``do={ … }``) that declares them; a whole import is one block; globals live for
one run. What the language has and ipsecd does not run (functions, ``:execute``, ``:resolve`` …) is
refused with the construct named, never skipped.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .commands import Call, Commands, Outcome, RuntimeProvider, call_of
from .errors import ConfigError, InvalidValue, ScriptError, ScriptSyntaxError
from .schema import CERTIFICATE_PATHS, DIALECTS, DIRECTORIES, MENUS, children, commands_of
from .script import (
    KNOWN_VERBS,
    Command,
    Located,
    OutOfScope,
    Source,
    is_literal,
    locate,
    parse_line,
    sources,
    split_commands,
    tokenize,
)
from .scripting import (
    NS,
    Arg,
    Binary,
    Brace,
    Duration,
    ItemId,
    Lit,
    Quoted,
    RArray,
    Raw,
    Sub,
    Unary,
    Value,
    Var,
    Word,
    binary,
    close_of,
    lex_args,
    literal,
    parse_time,
    read_quoted,
    to_str,
    truth,
    type_name,
    unary,
)
from .txn import Txn
from .values import format_seconds, quote

Render = Callable[[Call, Outcome], str]
"""The console's text for a menu command's outcome (a script's ``print`` shows it)."""

_ICE_NAME = re.compile(r"[a-z][a-z0-9-]*")
MAX_STEPS = 200_000  # commands per run: a runaway loop must not hold the configuration long
SELECTOR_ARGS = ("numbers", "number", "from", "place-before", "copy-from")
UNSUPPORTED = ("execute", "parse", "resolve", "return", "environment", "terminal", "beep", "time",
               "timestamp", "jobname", "retry", "onerror", "serialize", "deserialize", "convert", "rndnum",
               "rndstr", "grep")


@dataclass(slots=True)
class Scope:
    """The variables of one block; ``cwd`` is the block's current menu (a path command changes it)."""

    cwd: str
    parent: Scope | None = None
    vars: dict[str, Value] = field(default_factory=dict)

    def child(self) -> Scope:
        return Scope(self.cwd, self)

    def holder(self, name: str) -> dict[str, Value] | None:
        s: Scope | None = self
        while s is not None:
            if name in s.vars:
                return s.vars
            s = s.parent
        return None


def run_script(txn: Txn, text: str, filename: str, dialect: str | None = None,
               runtime: RuntimeProvider | None = None, render: Render | None = None) -> str:
    """An ``.rsc`` import in ``txn``: its output (``:put``, and menu output through ``render``).
    Warnings go to ``txn.warnings``; a ScriptError names file and line (the caller's transaction
    then changes nothing). Lines of menus ipsecd does not model are skipped with one warning.
    ``dialect`` (``"routeros7"``) reads the script with that router's defaults (``schema.DIALECTS``)."""
    if dialect is not None:
        txn.use_dialect(dialect)
    interp = Interpreter(Commands(txn, runtime), render, filename)
    interp.run_text(text, Scope("/"))
    txn.warnings.extend(interp.warnings())
    return "".join(interp.out)


_WORD = r'[^ \t\r\n"$()\[\]{}]'
_NAME = r'[^ \t\r\n"$()\[\]{}=!<>~/][^ \t\r\n"$()\[\]{}=!<>~]*+'
_PLAIN_ARGS = re.compile(
    rf'[ \t\r]*+(?!#)(?:(?:{_WORD}++|{_NAME}="(?:[^"\\$]|\\.)*+")(?:[ \t\r]++|\Z))*+', re.S
)


def plain_args(text: str) -> bool:
    """True when a menu command's arguments hold nothing to evaluate: bare words and ``name="…"``
    values, no ``$``, brackets or positional quoted string. Evaluating them and writing them back
    (:meth:`Interpreter.evaluated`) gives the text ``tokenize`` reads as it reads ``text`` (a quoted
    value comes back quoted, or bare when it needs no quotes; a bare name=value is one token either
    way), so such lines go to the command layer without the round trip, which was most of an
    import's time. Left out: positional quoted strings (written back bare, ``"detail"`` becomes a
    print flag) and a first word starting with ``#`` (``tokenize`` skips the rest as a comment, the
    general path reads it and may refuse it). tests/mgmt/test_script_fastpath.py holds both paths to
    the same commands."""
    return _PLAIN_ARGS.fullmatch(text) is not None


def is_scripting(text: str, cwd: str) -> bool:
    """True when console input ``text`` needs the interpreter: scripting syntax, several commands,
    or a scripting command written without its colon (``put [find]``)."""
    return not is_literal(text) or Interpreter.bare_ice(text.strip(), cwd)


class Interpreter:
    """Runs scripts on :class:`~.commands.Commands`; ``filename`` set: errors name file and line (an
    import, whose lines for menus outside the model are skipped); unset: console input (refused)."""

    def __init__(self, commands: Commands, render: Render | None = None, filename: str | None = None,
                 globals_: dict[str, Value] | None = None) -> None:
        self.commands, self.render, self.filename = commands, render, filename
        self.globals: dict[str, Value] = {} if globals_ is None else globals_
        self.out: list[str] = []
        self.log: list[str] = []
        self.skipped: dict[str, dict[str, int]] = {}
        self.steps = 0
        self.guarded = 0  # depth of :do … on-error= bodies

    def warnings(self) -> list[str]:
        """``:log`` lines, then one line per file that had lines skipped."""
        out = list(self.log)
        for filename, menus in self.skipped.items():
            out.append(f"warning: {filename}: skipped {sum(menus.values())} line(s) for menus outside "
                       "/ip ipsec and /ip pool: " + ", ".join(menus))
        return out

    # -- driving ---------------------------------------------------------------------------------

    def run_text(self, text: str, scope: Scope) -> None:
        """Every command of a script, in ``scope`` (one scope for the whole text, as an import)."""
        try:
            for src in sources(text):
                self.run_block(src, 0, len(src.text), scope)
        except RecursionError:
            raise ScriptSyntaxError("script nested too deeply") from None

    def run_block(self, src: Source, start: int, end: int, scope: Scope, capture: bool = False) -> Value:
        """The commands in ``src.text[start:end]``; the value of the last one."""
        value: Value = None
        for off, text in split_commands(src.text, start, end):
            value = self.run_command(src, off, off + len(text), scope, capture)
        return value

    def run_command(self, src: Source, start: int, end: int, scope: Scope, capture: bool = False) -> Value:
        self._tick()
        try:
            text = src.text[start:end]
            if text.startswith(":"):
                return self.ice(src, start + 1, end, scope)
            if self.bare_ice(text, scope.cwd):  # "foreach …", "put …": the colon is optional
                return self.ice(src, start, end, scope)
            if text.startswith("{"):
                close = close_of(src.text, start, end)
                if src.text[close + 1:end].strip():
                    raise ScriptSyntaxError(f"unexpected {src.text[close + 1:end].strip()[:20]!r} after }}")
                return self.run_block(src, start + 1, close, scope.child(), capture)
            if text[0] in "$([":
                raise ScriptSyntaxError(f"unsupported: a command cannot start with {text[0]} "
                                        "(functions and expression statements are not supported)")
            return self.menu_command(src, start, end, scope, capture)
        except ScriptError:
            raise
        except ConfigError as exc:
            if self.filename is None:
                raise
            raise ScriptError(self.filename, src.line_at(start), exc) from None

    def _tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise ScriptSyntaxError(f"script stopped after {MAX_STEPS} commands (an endless loop?)")

    # -- menu commands ---------------------------------------------------------------------------

    def menu_command(self, src: Source, start: int, end: int, scope: Scope, capture: bool) -> Value:
        new_cwd, found = locate(src.text[start:end], scope.cwd)
        if found is None:
            scope.cwd = new_cwd
            return None
        if isinstance(found, OutOfScope):
            if self.filename is None or capture:
                raise ScriptSyntaxError(f"no such menu: {found.menu} (ipsecd models /ip ipsec and /ip pool)")
            menus = self.skipped.setdefault(self.filename, {})
            menus[found.menu] = menus.get(found.menu, 0) + 1
            scope.cwd = new_cwd
            return None
        assert isinstance(found, Located)
        rest = src.text[start + found.rest_at:end]
        if plain_args(rest):
            cmd = Command(found.path, found.verb, tokenize(rest))
        else:
            cmd = self.evaluated(src, start, end, found, scope)
        if cmd.name == "import" and cmd.path not in MENUS and cmd.path not in CERTIFICATE_PATHS:
            return self.import_file(cmd)
        call = call_of(cmd)
        if self.guarded:  # under on-error: a failed command must leave no half-made change behind
            rollback = self.commands.txn.savepoint()
            try:
                out = self.commands.call(call)
            except ConfigError:
                rollback()
                raise
        else:
            out = self.commands.call(call)
        if capture and not _shown(call):
            return _value_of(call, out)
        if self.render is not None:
            self.out.append(self.render(call, out))
        return None

    def evaluated(self, src: Source, start: int, end: int, found: Located, scope: Scope) -> Command:
        """The command with its arguments evaluated, written back as literal text and parsed as a
        console line: the general path, which :func:`plain_args` lines skip."""
        args = lex_args(src.text, start + found.rest_at, end, conditions=found.verb == "find", where=True)
        inner = scope.child()
        inner.cwd = found.path
        _, cmd = parse_line(f"{found.path} {found.verb} {self.args_text(args, src, inner)}", "/")
        if not isinstance(cmd, Command):
            raise ScriptSyntaxError(f"{found.path}: {found.verb} is not a command")
        return cmd

    def import_file(self, cmd: Command) -> Value:
        """``/import file-name=F``: the file runs as a script of its own (its errors name it)."""
        named = {t.name: t.text for t in cmd.args if t.kind == "assign"}
        pos = [t.text for t in cmd.args if t.kind != "assign"]
        path = named.pop("file-name", None) or (pos.pop(0) if pos else "")
        dialect = named.pop("defaults", None)
        if not path or named or pos:
            raise ScriptSyntaxError("import takes file-name=FILE [defaults=DIALECT]")
        if dialect is not None and dialect not in DIALECTS:
            raise InvalidValue(f'import: invalid value for defaults: "{dialect}" '
                               f"(allowed: {' | '.join(DIALECTS)})")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ConfigError(f"import: cannot read {one_line(path)}: {reason}") from None
        if dialect is not None:
            self.commands.txn.use_dialect(dialect)
        outer, self.filename = self.filename, path
        try:
            self.run_text(text, Scope("/"))
        finally:
            self.filename = outer
        return None

    def args_text(self, args: Iterable[Arg], src: Source, scope: Scope) -> str:
        """The arguments as literal console text: words as written, evaluated values quoted."""
        parts: list[str] = []
        for a in args:
            node = a.value
            if isinstance(node, Raw | Word):
                parts.append(node.text if a.name is None else f"{a.name}{a.op}{node.text}")
                continue
            if isinstance(node, Brace):
                raise ScriptSyntaxError(f"unsupported: a {{ … }} block as {a.name or 'an'} argument "
                                        "of a menu command")
            value = self.eval(node, src, scope)
            text = _arg_text(value, a.name is None or a.name in SELECTOR_ARGS)
            parts.append(text if a.name is None else f"{a.name}{a.op}{text}")
        return " ".join(parts)

    # -- evaluation ------------------------------------------------------------------------------

    def eval(self, node: object, src: Source, scope: Scope) -> Value:
        """The value of an argument or expression node."""
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Word):
            return literal(node.text)
        if isinstance(node, Quoted):
            return "".join(p if isinstance(p, str) else to_str(self.eval(p, src, scope)) for p in node.parts)
        if isinstance(node, Var):
            return self.lookup(node.name, scope)
        if isinstance(node, Unary):
            return unary(node.op, self.eval(node.operand, src, scope))
        if isinstance(node, Binary):
            if node.op in ("&&", "and", "||", "or"):
                left = truth(self.eval(node.left, src, scope))
                if left == (node.op in ("||", "or")):
                    return left
                return truth(self.eval(node.right, src, scope))
            return binary(node.op, self.eval(node.left, src, scope), self.eval(node.right, src, scope))
        if isinstance(node, Sub):
            return self.run_block(src, node.start, node.end, scope.child(), capture=True)
        if isinstance(node, Brace):
            return self.array(src, node, scope)
        raise ScriptSyntaxError(f"unexpected {node!r}")

    def array(self, src: Source, node: Brace, scope: Scope) -> RArray:
        """``{a;b;key=c}``: an array literal."""
        arr = RArray()
        for off, text in split_commands(src.text, node.start, node.end):
            key: str | None = None
            if text.startswith('"'):  # "quoted key"=value
                quoted, after = read_quoted(src.text, off, off + len(text))
                if src.text[after:after + 1] == "=":
                    key = to_str(self.eval(quoted, src, scope))
                    off, text = after + 1, src.text[after + 1:off + len(text)]
            args = lex_args(src.text, off, off + len(text))
            if len(args) != 1 or args[0].op not in ("", "=") or (key is not None and args[0].name):
                raise ScriptSyntaxError(f"bad array element {text[:30]!r}")
            a = args[0]
            value = self.eval(a.value, src, scope)
            key = key if key is not None else a.name
            if key is None:
                arr.seq.append(value)
            else:
                arr.keyed[key] = value
        return arr

    def lookup(self, name: str, scope: Scope) -> Value:
        vars_ = scope.holder(name)
        if vars_ is not None:
            return vars_[name]
        if name in self.globals:
            return self.globals[name]
        raise ScriptSyntaxError(f"undefined variable ${name}")

    def block(self, node: Arg | None, what: str, src: Source, scope: Scope) -> Callable[[Scope], None]:
        """The ``do={ … }`` (or ``else=``) argument as something to run in a given scope."""
        if node is None:
            return lambda s: None
        if not isinstance(node.value, Brace):
            raise ScriptSyntaxError(f"unsupported: {what}= must be a {{ … }} block "
                                    "(functions are not supported)")
        brace = node.value

        def run(inner: Scope) -> None:
            self.run_block(src, brace.start, brace.end, inner)

        return run

    # -- ":" commands ----------------------------------------------------------------------------

    @staticmethod
    def bare_ice(text: str, cwd: str) -> bool:
        """A scripting command written without its colon: its name is neither a submenu nor a
        command of the current menu (``set`` in a menu is the menu's; at ``/`` it is ``:set``)."""
        m = _ICE_NAME.match(text)
        if m is None or (m.group() not in ICE_COMMANDS and m.group() not in UNSUPPORTED):
            return False
        menu = MENUS.get(cwd)
        if menu is None and cwd != "/" and cwd not in DIRECTORIES:  # below a menu ipsecd does not model
            return m.group() not in KNOWN_VERBS
        return m.group() not in children(cwd) and (menu is None or m.group() not in commands_of(menu))

    def ice(self, src: Source, start: int, end: int, scope: Scope) -> Value:
        """The scripting command whose name starts at ``start`` (after the colon)."""
        m = _ICE_NAME.match(src.text, start, end)
        name = m.group() if m else ""
        if name not in ICE_COMMANDS:
            what = "is not supported by ipsecd" if name in UNSUPPORTED else "does not exist"
            shown = name or (src.text[start:end].split() or [""])[0]
            raise ScriptSyntaxError(f"unsupported: scripting command :{shown} {what}")
        args = lex_args(src.text, start + len(name), end)
        handler: Callable[[IceCall], Value] = getattr(self, "ice_" + name)
        return handler(IceCall(name, args, src, scope))

    def _val(self, c: IceCall, i: int) -> Value:
        """The ``i``-th positional argument's value (nil when absent)."""
        return self.eval(c.pos[i].value, c.src, c.scope) if i < len(c.pos) else None

    def _decl(self, c: IceCall) -> tuple[str, Value]:
        if "do" in c.named:
            raise ScriptSyntaxError(f"unsupported: functions (:{c.name} NAME do={{ … }}) are not supported")
        c.check(0, 2)
        if not c.pos or not isinstance(c.pos[0].value, Word):
            raise ScriptSyntaxError(f":{c.name} needs a variable name")
        return c.pos[0].value.text, self._val(c, 1)

    def ice_local(self, c: IceCall) -> Value:
        name, value = self._decl(c)
        c.scope.vars[name] = value
        return None

    def ice_global(self, c: IceCall) -> Value:
        name, value = self._decl(c)
        if len(c.pos) > 1 or name not in self.globals:
            self.globals[name] = value
        return None

    def ice_set(self, c: IceCall) -> Value:
        """``:set NAME VALUE``, ``:set ($array->KEY) VALUE``."""
        c.check(1, 2)
        target, value = c.pos[0].value, self._val(c, 1)
        if isinstance(target, Binary) and target.op == "->":
            arr = self.eval(target.left, c.src, c.scope)
            if not isinstance(arr, RArray):
                raise ScriptSyntaxError(f":set: {type_name(arr)} is not an array")
            arr.put(self.eval(target.right, c.src, c.scope), value)
            return None
        if not isinstance(target, Word | Var):
            raise ScriptSyntaxError(":set needs a variable name")
        name = target.text if isinstance(target, Word) else target.name
        holder = c.scope.holder(name)
        if holder is None:
            if name not in self.globals:
                raise ScriptSyntaxError(f"undefined variable ${name} (declare it with :local or :global)")
            holder = self.globals
        holder[name] = value
        return None

    def ice_put(self, c: IceCall) -> Value:
        c.check(1, 1)
        self.out.append(to_str(self._val(c, 0)) + "\n")
        return None

    def ice_if(self, c: IceCall) -> Value:
        """``:if (COND) do={ … } else={ … }``."""
        c.check(1, 1, "do", "else")
        branch = c.named.get("do") if truth(self._val(c, 0)) else c.named.get("else")
        self.block(branch, "do", c.src, c.scope)(c.scope.child())
        return None

    def ice_foreach(self, c: IceCall) -> Value:
        """``:foreach V in=ARRAY do={ … }`` and ``:foreach K,V in=…`` (key and value)."""
        c.check(1, 1, "in", "do")
        names = c.pos[0].value.text.split(",") if isinstance(c.pos[0].value, Word) else []
        if not 1 <= len(names) <= 2 or not all(names):
            raise ScriptSyntaxError(":foreach needs a variable name (or KEY,VALUE)")
        if "in" not in c.named:
            raise ScriptSyntaxError(":foreach needs in=")
        seq = self.eval(c.named["in"].value, c.src, c.scope)
        body = self.block(c.named.get("do"), "do", c.src, c.scope)
        pairs = list(seq.pairs()) if isinstance(seq, RArray) else ([] if seq is None else [(0, seq)])
        for key, value in pairs:
            self._tick()
            inner = c.scope.child()
            inner.vars.update(zip(names, (key, value) if len(names) == 2 else (value,), strict=True))
            body(inner)
        return None

    def ice_for(self, c: IceCall) -> Value:
        """``:for I from=A to=B step=S do={ … }`` (inclusive; counts down when A > B)."""
        c.check(1, 1, "from", "to", "step", "do")
        if not isinstance(c.pos[0].value, Word) or "from" not in c.named or "to" not in c.named:
            raise ScriptSyntaxError(":for needs a variable name, from= and to=")
        first, last = (self._int(c, k) for k in ("from", "to"))
        step = self._int(c, "step") if "step" in c.named else (1 if last >= first else -1)
        if step == 0 or (last - first) * step < 0:
            return None
        body = self.block(c.named.get("do"), "do", c.src, c.scope)
        for i in range(first, last + (1 if step > 0 else -1), step):
            self._tick()
            inner = c.scope.child()
            inner.vars[c.pos[0].value.text] = i
            body(inner)
        return None

    def _int(self, c: IceCall, key: str) -> int:
        v = self.eval(c.named[key].value, c.src, c.scope)
        if not isinstance(v, int) or isinstance(v, bool):
            raise ScriptSyntaxError(f":{c.name}: {key}= must be a number, not {type_name(v)}")
        return v

    def ice_while(self, c: IceCall) -> Value:
        """``:while (COND) do={ … }``."""
        c.check(1, 1, "do")
        body = self.block(c.named.get("do"), "do", c.src, c.scope)
        while truth(self._val(c, 0)):
            body(c.scope.child())
            self._tick()
        return None

    def ice_do(self, c: IceCall) -> Value:
        """``:do { … } while=(COND)`` and ``:do { … } on-error={ … }``."""
        c.check(0, 1, "command", "while", "on-error")
        arg = c.named.get("command") or (c.pos[0] if c.pos else None)
        body = self.block(arg, "command", c.src, c.scope)
        if "on-error" in c.named:
            handler = self.block(c.named["on-error"], "on-error", c.src, c.scope)
            self.guarded += 1
            try:
                body(c.scope.child())
            except ConfigError:
                handler(c.scope.child())
            finally:
                self.guarded -= 1
            return None
        body(c.scope.child())
        while "while" in c.named and truth(self.eval(c.named["while"].value, c.src, c.scope)):
            body(c.scope.child())
            self._tick()
        return None

    def ice_len(self, c: IceCall) -> Value:
        c.check(1, 1)
        v = self._val(c, 0)
        if isinstance(v, ItemId):  # the one id a [find] found
            return 1
        return len(v) if isinstance(v, RArray | str) else (0 if v is None else len(to_str(v)))

    def ice_typeof(self, c: IceCall) -> Value:
        c.check(1, 1)
        return type_name(self._val(c, 0))

    def ice_tostr(self, c: IceCall) -> Value:
        c.check(1, 1)
        return to_str(self._val(c, 0))

    def ice_tonum(self, c: IceCall) -> Value:
        c.check(1, 1)
        v = self._val(c, 0)
        if isinstance(v, bool):
            return None
        if isinstance(v, Duration):
            return int(v) // NS if v >= 0 else -(-int(v) // NS)  # a time gives its whole seconds
        if isinstance(v, int):
            return int(v)
        typed = literal(to_str(v).strip())
        return typed if isinstance(typed, int) and not isinstance(typed, bool) else None

    def ice_totime(self, c: IceCall) -> Value:
        """``:totime``: a number is seconds (``:totime 90`` is ``00:01:30``), text is read as a time
        literal (``1d2h3m``, ``01:00:00``, ``00:00:00.5``); anything else is nil."""
        c.check(1, 1)
        v = self._val(c, 0)
        if isinstance(v, Duration):
            return v
        if isinstance(v, int) and not isinstance(v, bool):
            return Duration(v * NS)
        if v is None or isinstance(v, bool | RArray):
            return None
        text = to_str(v).strip()
        ns = int(text) * NS if text.isdigit() else parse_time(text)
        return None if ns is None else Duration(ns)

    def ice_tobool(self, c: IceCall) -> Value:
        c.check(1, 1)
        v = self._val(c, 0)
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            return v != 0
        return {"true": True, "yes": True, "false": False, "no": False}.get(to_str(v))

    def ice_toarray(self, c: IceCall) -> Value:
        c.check(1, 1)
        v = self._val(c, 0)
        if isinstance(v, RArray):
            return v.copy()
        if isinstance(v, str) and not isinstance(v, ItemId):
            return RArray([literal(p) for p in v.split(",")] if v else [])
        return RArray([] if v is None else [v])

    def ice_toip(self, c: IceCall) -> Value:
        return self._to_ip(c, ipaddress.IPv4Address)

    def ice_toip6(self, c: IceCall) -> Value:
        return self._to_ip(c, ipaddress.IPv6Address)

    def _to_ip(self, c: IceCall, kind: type) -> Value:
        c.check(1, 1)
        v = literal(to_str(self._val(c, 0)))
        return v if isinstance(v, kind) else None

    def ice_pick(self, c: IceCall) -> Value:
        """``:pick VALUE START [END]``: a character range of a string, an element or range of an array."""
        c.check(2, 3)
        v, first, last = self._val(c, 0), self._val(c, 1), self._val(c, 2)
        if not isinstance(first, int) or not (last is None or isinstance(last, int)):
            raise ScriptSyntaxError(":pick needs numbers for start and end")
        if isinstance(v, RArray):
            items = [x for _, x in v.pairs()]
            if last is not None:
                return RArray(items[first:last])
            return items[first] if 0 <= first < len(items) else None
        text = to_str(v)
        return text[first:first + 1 if last is None else last]

    def ice_find(self, c: IceCall) -> Value:
        """``:find IN WHAT [AFTER]``: the index of a substring or an array element, or nil."""
        c.check(2, 3)
        v, want, after = self._val(c, 0), self._val(c, 1), self._val(c, 2)
        first = after + 1 if isinstance(after, int) and not isinstance(after, bool) else 0
        if isinstance(v, RArray):
            items = [x for _, x in v.pairs()]
            return next((i for i in range(first, len(items)) if binary("=", items[i], want)), None)
        found = to_str(v).find(to_str(want), first)
        return None if found < 0 else found

    def ice_nothing(self, c: IceCall) -> Value:
        c.check(0, 0)
        return None

    def ice_error(self, c: IceCall) -> Value:
        """``:error MESSAGE`` stops the script (an import changes nothing); the message is shown on
        one line, control characters escaped."""
        c.check(1, 1)
        raise ConfigError(one_line(to_str(self._val(c, 0))) or "script stopped by :error")

    def ice_log(self, c: IceCall) -> Value:
        """``:log LEVEL MESSAGE``: shown as a warning (ipsecd has no router log)."""
        c.check(2, 2)
        level = c.pos[0].value.text if isinstance(c.pos[0].value, Word) else ""
        if level not in ("debug", "info", "warning", "error"):
            raise ScriptSyntaxError(":log needs a level: debug, info, warning or error")
        self.log.append(f"log {level}: {to_str(self._val(c, 1))}")
        return None

    def ice_delay(self, c: IceCall) -> Value:
        """``:delay TIME`` does not wait: a script runs in one transaction, so nothing it could wait
        for changes meanwhile."""
        c.check(0, 1)
        if c.pos:
            v = self._val(c, 0)
            timed = isinstance(v, int) and not isinstance(v, bool)  # a time, or a number of seconds
            if not timed and not (isinstance(v, str) and parse_time(v) is not None):
                raise ScriptSyntaxError(f":delay needs a time, not {to_str(v)!r}")
        return None


ICE_COMMANDS = frozenset(name.removeprefix("ice_") for name in vars(Interpreter) if name.startswith("ice_"))


@dataclass(slots=True)
class IceCall:
    """One ``:`` command's arguments: positional in order, named by name."""

    name: str
    args: list[Arg]
    src: Source
    scope: Scope
    pos: list[Arg] = field(init=False)
    named: dict[str, Arg] = field(init=False)

    def __post_init__(self) -> None:
        self.pos = [a for a in self.args if a.name is None]
        self.named = {a.name: a for a in self.args if a.name is not None}

    def check(self, lo: int, hi: int, *names: str) -> None:
        """Refuse missing, extra and unknown arguments (nothing is silently ignored)."""
        if not lo <= len(self.pos) <= hi:
            raise ScriptSyntaxError(f":{self.name} takes {lo}..{hi} unnamed arguments, got {len(self.pos)}")
        for a in self.args:
            if a.name is not None and (a.name not in names or a.op != "="):
                raise ScriptSyntaxError(f":{self.name}: unknown argument {a.name}{a.op}")


def _shown(call: Call) -> bool:
    """``[ print ]`` without ``as-value`` (or ``count-only``): RouterOS shows the listing, as the
    command alone would, and the substitution's value is nil."""
    return call.verb == "print" and not {"as-value", "count-only"} & set(call.flags)


def _value_of(call: Call, out: Outcome) -> Value:
    """A command's outcome as a ``[ … ]`` value: ids (``find``; the new item's for ``add``), the
    value (``get``), the rows as keyed arrays (``print as-value``), the count, or the text.

    ``find`` gives what RouterOS's does: nil when nothing matches, the id itself when one item
    does (``:typeof`` is ``id``; ``:len`` 1, ``->0`` the id), an array of ids otherwise (``:put``
    shows ``*1;*2``); each of them selects its items in ``set``/``remove``/``get``."""
    if out.ids is not None:
        ids = [ItemId(i) for i in out.ids]
        if call.verb == "add" or len(ids) <= 1:
            return ids[0] if ids else None
        return RArray(list(ids))
    if out.value is not None:
        return literal(out.value)
    if out.values is not None:
        return RArray(keyed={k: literal(v) for k, v in out.values.items()})
    if out.rows is not None:
        if "count-only" in call.flags:
            return len(out.rows)
        rows: list[Value] = []
        for r in out.rows:
            keyed: dict[str, Value] = {".id": ItemId(r.id), **{k: literal(v) for k, v in r.values.items()}}
            if r.comment is not None:
                keyed["comment"] = r.comment
            rows.append(RArray(keyed=keyed))
        return RArray(rows)
    text = out.text.strip()
    return literal(text) if "\n" not in text else text


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped: a refusal is one line on
    stderr even when it quotes a value that holds a newline."""
    return "".join(ch if " " <= ch != "\x7f" else _CONTROL.get(ch, f"\\{ord(ch):02X}") for ch in text)


_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _arg_text(value: Value, selector: bool) -> str:
    """A value written back as a console argument (selectors: ids joined with ``,``)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, RArray):
        items = [to_str(v) for _, v in value.pairs()]
        if selector and not items:
            return '[find .id=""]'  # an empty selection: the command changes nothing, as on RouterOS
        if selector and all(isinstance(v, ItemId) for _, v in value.pairs()):
            return ",".join(items)
        return quote(",".join(items))
    if value is None:
        return '[find .id=""]' if selector else '""'  # nil (a [find] that found nothing) selects nothing
    if isinstance(value, ItemId):
        return str(value)
    if isinstance(value, Duration):  # a configuration time is whole seconds
        return format_seconds(value // NS) if value >= 0 else quote(to_str(value))
    return quote(to_str(value))
