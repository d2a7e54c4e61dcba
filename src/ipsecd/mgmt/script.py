"""The RouterOS script language as ``.rsc`` exports and the console use it: lexer and line parser.

Scope: menu paths (``/ip ipsec peer``, ``/ip/ipsec/peer``, relative ``peer`` after ``/ip ipsec``,
``..``), line continuation with a trailing ``\\``, ``#`` comments, ``name=value`` arguments with
quoted strings (escapes ``\\"`` ``\\\\`` ``\\n`` ``\\t`` ``\\r`` ``\\$`` ``\\?`` ``\\_`` and ``\\HH``), positional
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

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "$": "$", "?": "?", "_": " ", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v"}
_OPS = re.compile(r"!=|=|~|<|>")


@dataclass(slots=True)
class Tok:
    """A token: ``word`` (bare), ``str`` (quoted), ``expr`` (``[ … ]``, ``sub`` holds its tokens) or
    ``assign`` (``name`` ``op`` ``value``; ``sub`` holds the value's tokens when it was ``[ … ]``)."""

    kind: str
    text: str
    name: str = ""
    op: str = ""
    sub: list[Tok] = field(default_factory=list)


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first physical line number, joined line) for every line; ``\\`` at the end continues a line."""
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.split("\n"), 1):  # not splitlines(): "\x85" in a quoted string is text
        raw = raw.removesuffix("\r")
        if not buf:
            start = n
            line = raw
        else:
            line = raw.lstrip()
        if (len(line) - len(line.rstrip("\\"))) % 2:  # an odd run of backslashes: the last one continues
            buf.append(line[:-1])
            continue
        buf.append(line)
        yield start, "".join(buf)
        buf = []
    if buf:
        yield start, "".join(buf)


def _read_quoted(s: str, i: int) -> tuple[str, int]:
    """Parse the quoted string starting at ``s[i] == '"'``; (text, index after the closing quote)."""
    out: list[str] = []
    i += 1
    while i < len(s):
        ch = s[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(s):
                break
            nxt = s[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if re.fullmatch(r"[0-9A-Fa-f]{2}", s[i + 1:i + 3]):
                out.append(chr(int(s[i + 1:i + 3], 16)))
                i += 3
                continue
            raise ScriptSyntaxError(f"bad escape \\{nxt} in quoted string")
        out.append(ch)
        i += 1
    raise ScriptSyntaxError("unterminated quoted string")


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
        j = i
        while j < n and s[j] not in ' \t\r"[':
            j += 1
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


KNOWN_VERBS = (*BASE_COMMANDS, "move", "kill-connections", "flush", "generate-key", "import", "export-pub-key",
               "generate", "edit", "get", "unset", "reset")


def _descend(path: str, word: str) -> str | None:
    if word == "..":
        parts = path.split()
        return "/" + " ".join(parts[:-1]).lstrip("/") if len(parts) > 1 else "/"
    if word in children(path):
        words = [w for w in path.lstrip("/").split() if w]
        return resolve_path([*words, word])
    return None


def parse_line(line: str, cwd: str) -> tuple[str, Command | OutOfScope | None]:
    """Parse one logical line at current path ``cwd``: (new cwd, command, out-of-scope marker or None).

    The menu path is resolved from the leading plain words *before* the arguments are tokenized, so
    lines of menus ipsecd does not model are skipped whatever syntax their arguments use.
    """
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return cwd, None
    if stripped[0] in ":{}":
        return cwd, OutOfScope(":" + stripped[1:].split()[0] if stripped[0] == ":" and len(stripped) > 1 else ":script")
    if cwd not in MENUS and cwd not in DIRECTORIES and cwd != "/" and not stripped.startswith("/"):
        return cwd, OutOfScope(cwd)  # relative line below an unknown menu
    words: list[str] = []
    rest_at = len(stripped)
    for m in re.finditer(r"\S+", stripped):
        if any(c in m.group() for c in '="[]'):
            rest_at = m.start()
            break
        words.append(m.group())
    rest = stripped[rest_at:]
    path = cwd
    if words and words[0].startswith("/"):
        path = "/"
        words = [w for w in words[0].split("/") if w] + words[1:]
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
    return cwd, Command(path, words[i], tokenize(" ".join([*words[i + 1:], rest])))


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
