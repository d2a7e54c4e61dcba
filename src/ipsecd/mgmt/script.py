"""The RouterOS script language as ``.rsc`` exports and the console use it: lexer and line parser.

Scope: menu paths (``/ip ipsec peer``, ``/ip/ipsec/peer``, relative ``peer`` after ``/ip ipsec``,
``..``), line continuation with a trailing ``\\``, ``#`` comments, ``name=value`` arguments with
quoted strings (escapes ``\\"`` ``\\\\`` ``\\n`` ``\\t`` ``\\r`` ``\\$`` ``\\?`` ``\\_`` and
``\\HH``), positional
item selectors (print index lists ``0,2``, ``*1F`` ids, names) and ``[ find … ]`` expressions. What a
command *does* lives in :mod:`.session`; this module only turns text into :class:`Command` objects.
Lines for menus outside ``/ip ipsec`` and ``/ip pool`` (and ``:`` scripting commands) come back as
:class:`OutOfScope` so an import can skip them with one warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .errors import ScriptSyntaxError
from .schema import BASE_COMMANDS, DIRECTORIES, MENUS, children, resolve_path
from .scripting import read_quoted

_OPS = re.compile(r"!=|=|~|<|>")
_BRACKETS = re.compile(r'["{}\[\]()]')
_IN_QUOTES = re.compile(r'[\\"]')
_COMMAND_MARKS = re.compile(r'["{}\[\]();\n]')
_COMMENT_AHEAD = re.compile(r"[ \t]*#")
_WORD_END = re.compile(r'[ \t\r"\[]')
_SPECIAL = re.compile(r'[="\[\](){}$;]')
_NON_SPACE = re.compile(r"\S+")


@dataclass(slots=True)
class Tok:
    """A token: ``word`` (bare), ``str`` (quoted), ``expr`` (``[ … ]``, ``sub`` holds its tokens) or
    ``assign`` (``name`` ``op`` ``value``; ``sub`` holds the value's tokens when it was ``[ … ]``)."""

    kind: str
    text: str
    name: str = ""
    op: str = ""
    sub: list[Tok] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Source:
    """A logical line: its text and where it came from, so an error deep in a block names its line.

    ``joins`` are the offsets in ``text`` where a ``\\`` continuation joined two physical lines (the
    newline is gone there); newlines still in ``text`` separate the commands of a multi-line block.
    """

    text: str
    line: int
    joins: tuple[int, ...] = ()

    def line_at(self, offset: int) -> int:
        """The physical line of ``text[offset]``."""
        return self.line + self.text.count("\n", 0, offset) + sum(1 for j in self.joins if j <= offset)


class LineJoiner:
    """Physical lines in, logical lines out: the one joining rule of script imports and the console.

    A line ending in an odd run of ``\\`` continues on the next (whose indentation is dropped, as
    RouterOS folds its exports); a line that leaves a quote, ``{``, ``[`` or ``(`` open continues
    too, with its newline kept (inside a block it ends a command). A ``#`` line is a comment.
    """

    def __init__(self, first_line: int = 1) -> None:
        self._next = first_line
        self._start = first_line
        self._buf: list[str] = []
        self._joins: list[int] = []
        self._len = 0
        self._continued = False
        self._depth = 0
        self._quoted = False

    @property
    def pending(self) -> bool:
        """True while a logical line is incomplete (the console shows a continuation prompt)."""
        return bool(self._buf)

    def feed(self, raw: str) -> Source | None:
        """Add one physical line; the logical line it completes, if any."""
        n = self._next
        self._next += 1
        line = raw.removesuffix("\r")
        if not self._buf:
            self._start = n
            if not line.strip() or line.lstrip().startswith("#"):
                return Source(line, n)
        elif self._continued:
            line = line.lstrip()
            self._joins.append(self._len)
        else:
            line = "\n" + line
        self._continued = (len(line) - len(line.rstrip("\\"))) % 2 == 1  # odd run: the last one continues
        if self._continued:
            line = line[:-1]
        self._scan(line)
        if not self._buf and not (self._continued or self._depth > 0 or self._quoted):
            return Source(line, n)  # a line on its own, as flush() would give it
        self._buf.append(line)
        self._len += len(line)
        if self._continued or self._depth > 0 or self._quoted:
            return None
        return self.flush()

    def flush(self) -> Source | None:
        """The pending logical line as it is (at the end of the input; it may still be unbalanced)."""
        if not self._buf:
            return None
        src = Source("".join(self._buf), self._start, tuple(self._joins))
        self._buf, self._joins, self._len = [], [], 0
        self._continued, self._depth, self._quoted = False, 0, False
        return src

    def _scan(self, line: str) -> None:
        """Track quotes and bracket depth over ``line``, jumping from one character that matters to
        the next (every line of an import passes here)."""
        if not self._quoted and self._depth and line.lstrip().startswith("#"):
            return  # a comment line inside a block
        i = 0
        while (m := (_IN_QUOTES if self._quoted else _BRACKETS).search(line, i)) is not None:
            ch, i = m.group(), m.end()
            if self._quoted:
                if ch == "\\":
                    i += 1
                else:
                    self._quoted = False
            elif ch == '"':
                self._quoted = True
            elif ch in "{[(":
                self._depth += 1
            else:
                self._depth = max(0, self._depth - 1)


def sources(text: str) -> Iterator[Source]:
    """The logical lines of a script (comments and blank lines included, as one-line sources)."""
    joiner = LineJoiner()
    for raw in text.split("\n"):  # not splitlines(): "\x85" in a quoted string is text
        src = joiner.feed(raw)
        if src is not None:
            yield src
    last = joiner.flush()
    if last is not None:
        yield last


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first physical line number, joined text) for every logical line (see :class:`LineJoiner`)."""
    for src in sources(text):
        yield src.line, src.text


def split_commands(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, str]]:
    """The commands in ``text[start:end]``: (offset, text) split at ``;`` and newlines outside quotes
    and brackets; blank commands and ``#`` comments (to the end of their line) left out."""
    end = len(text) if end is None else end
    out: list[tuple[int, str]] = []
    i = start
    while i < end:
        while i < end and text[i] in " \t\r\n;":
            i += 1
        if i < end and text[i] == "#":
            nl = text.find("\n", i, end)
            i = end if nl < 0 else nl
            continue
        begin = i
        i = _command_end(text, i, end)
        if text[begin:i].strip():
            out.append((begin, text[begin:i].rstrip()))
    return out


def _command_end(text: str, i: int, end: int) -> int:
    """Where the command starting at ``text[i]`` ends: the first ``;`` or newline outside quotes and
    brackets (``end`` if none), jumping from one character that matters to the next."""
    depth, quoted = 0, False
    while i < end:
        m = (_IN_QUOTES if quoted else _COMMAND_MARKS).search(text, i, end)
        if m is None:
            return end
        i, ch = m.start(), m.group()
        if quoted:
            if ch == "\\":
                i += 1
            else:
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif depth <= 0:
            return i  # ; or a newline
        elif ch == "\n" and _COMMENT_AHEAD.match(text, i + 1, end):  # a comment inside a block
            nl = text.find("\n", i + 1, end)
            i = end if nl < 0 else nl
            continue
        i += 1
    return i


def is_literal(text: str) -> bool:
    """True when ``text`` is at most one command and uses no scripting: no ``:`` command, block,
    ``$`` (also inside a quoted string), ``( … )`` or ``[ … ]`` other than ``[ find … ]``."""
    cmds = [c for src in sources(text) for c in split_commands(src.text)]
    if len(cmds) != 1:
        return not cmds
    s = cmds[0][1]
    if s[0] in ":{":
        return False
    i, quoted = 0, False
    while i < len(s):
        ch = s[i]
        if quoted and ch == "\\":
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == "$" and (not quoted or re.match(r"[\w(\[]", s[i + 1:i + 2])):
            return False  # a variable, also interpolated in a quoted string
        elif not quoted and (ch in "({" or (ch == "[" and not re.match(r"\[\s*find\b", s[i:]))):
            return False
        i += 1
    return True


def _read_quoted(s: str, i: int) -> tuple[str, int]:
    """Parse the quoted string starting at ``s[i] == '"'``; (text, index after the closing quote).
    The interpreter's reader, so both agree on escapes; literal lines have no ``$`` to interpolate."""
    node, end = read_quoted(s, i, len(s))
    if not all(isinstance(p, str) for p in node.parts):
        raise ScriptSyntaxError("unexpected $ in a quoted string")
    return "".join(p for p in node.parts if isinstance(p, str)), end


def _bracket_end(s: str, i: int) -> int:
    """Index after the ``]`` matching ``s[i] == '['`` (quotes respected)."""
    depth = 0
    while i < len(s):
        ch = s[i]
        if ch == '"':
            _, i = _read_quoted(s, i)
            continue
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ScriptSyntaxError("unbalanced [ ]")


def tokenize(s: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch in " \t\r":
            i += 1
            continue
        if ch == "#" and not toks:
            break
        if ch == '"':
            text, i = _read_quoted(s, i)
            toks.append(Tok("str", text))
            continue
        if ch == "[":
            end = _bracket_end(s, i)
            toks.append(Tok("expr", s[i + 1:end - 1], sub=tokenize(s[i + 1:end - 1])))
            i = end
            continue
        m = _WORD_END.search(s, i)
        j = n if m is None else m.start()
        word = s[i:j]
        m = _OPS.search(word)
        if m and m.start() > 0 and not word.startswith("/"):
            name, op, rest = word[:m.start()], m.group(), word[m.end():]
            if rest == "" and j < n and s[j] == '"':
                value, j = _read_quoted(s, j)
                toks.append(Tok("assign", value, name=name, op=op))
            elif rest == "" and j < n and s[j] == "[":
                end = _bracket_end(s, j)
                inner = s[j + 1:end - 1]
                toks.append(Tok("assign", inner, name=name, op=op, sub=tokenize(inner) or [Tok("word", "")]))
                j = end
            else:
                toks.append(Tok("assign", rest, name=name, op=op))
        elif j < n and s[j] == '"' and word:
            raise ScriptSyntaxError(f"unexpected quote after {word}")
        else:
            toks.append(Tok("word", word))
        i = j
    return toks


@dataclass(slots=True)
class Command:
    path: str
    name: str
    args: list[Tok]


@dataclass(slots=True)
class OutOfScope:
    """A line for a menu ipsecd does not model (``/interface bridge``, ``:delay``)."""

    menu: str


KNOWN_VERBS = (*BASE_COMMANDS, "move", "kill-connections", "flush", "generate-key", "import",
               "export-pub-key", "generate", "edit", "get", "unset", "reset")


def _descend(path: str, word: str) -> str | None:
    if word == "..":
        parts = path.split()
        return "/" + " ".join(parts[:-1]).lstrip("/") if len(parts) > 1 else "/"
    if word in children(path):
        words = [w for w in path.lstrip("/").split() if w]
        return resolve_path([*words, word])
    return None


@dataclass(frozen=True, slots=True)
class Located:
    """A menu command found in a line: absolute menu path, command word, the arguments' text."""

    path: str
    verb: str
    rest: str
    rest_at: int  # where the arguments start in the stripped line


def locate(line: str, cwd: str) -> tuple[str, Located | OutOfScope | None]:
    """Find the menu and command of one line at current path ``cwd``: (new cwd, what it is).

    The menu path is resolved from the leading plain words *before* any argument is read, so lines
    of menus ipsecd does not model are skipped whatever syntax their arguments use. None: a blank
    line, a comment or a bare path (which changes the current menu).
    """
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return cwd, None
    if cwd not in MENUS and cwd not in DIRECTORIES and cwd != "/" and not stripped.startswith("/"):
        return cwd, OutOfScope(cwd)  # relative line below an unknown menu
    words: list[str] = []
    starts: list[int] = []
    rest_at = len(stripped)
    for m in _NON_SPACE.finditer(stripped):
        if _SPECIAL.search(m.group()):
            rest_at = m.start()
            break
        words.append(m.group())
        starts.append(m.start())
    rest = stripped[rest_at:]
    path = cwd
    if words and words[0].startswith("/"):
        path = "/"
        parts = [w for w in words[0].split("/") if w]
        words, starts = parts + words[1:], [0] * len(parts) + starts[1:]
    i = 0
    while i < len(words):
        nxt: str | None = path
        for part in words[i].split("/"):  # "key/rsa" after "/ip ipsec" is a path too
            nxt = _descend(nxt, part) if nxt is not None and part else nxt
        if nxt is None or nxt == path:
            break
        path = nxt
        i += 1
    if i == len(words) and not rest:
        return path, None
    if path in DIRECTORIES or path == "/":
        if i == len(words) or words[i] not in ("export", "import"):
            return _unknown(path, words[i:], rest, cwd)
    if i == len(words):
        raise ScriptSyntaxError(f"{path}: expected a command, got {rest.split()[0]!r}")
    args_at = starts[i + 1] if i + 1 < len(words) else rest_at
    return cwd, Located(path, words[i], stripped[args_at:], args_at)


def parse_line(line: str, cwd: str) -> tuple[str, Command | OutOfScope | None]:
    """Parse one line of literal text at current path ``cwd``: (new cwd, command or out-of-scope
    marker or None). Scripting (``:`` commands, ``$`` variables, blocks) is :mod:`.interp`'s."""
    stripped = line.strip()
    if stripped[:1] in (":", "{", "}"):
        return cwd, OutOfScope(":" + stripped[1:].split()[0] if stripped[0] == ":" and len(stripped) > 1
                               else ":script")
    cwd, found = locate(line, cwd)
    if not isinstance(found, Located):
        return cwd, found
    return cwd, Command(found.path, found.verb, tokenize(found.rest))


def _unknown(path: str, words: list[str], rest: str, cwd: str) -> tuple[str, OutOfScope]:
    """A path outside the model: the menu is the words up to the first command word or argument."""
    menu_words: list[str] = []
    has_verb = bool(rest)
    for w in words:
        if w in KNOWN_VERBS:
            has_verb = True
            break
        menu_words.append(w)
    menu = ((path if path != "/" else "") + " " + " ".join(menu_words)).strip()
    if not menu.startswith("/"):
        menu = "/" + menu
    if menu.startswith("/ip ipsec"):
        raise ScriptSyntaxError(f"no such menu or command: {menu}")
    return (cwd if has_verb else menu), OutOfScope(menu)
