"""The RouterOS scripting language's values and syntax: typed values, command arguments, expressions.

RouterOS values are typed (``str``, ``num``, ``bool``, ``ip``, ``ip-prefix``, ``ip6``,
``ip6-prefix``, ``id``, ``array``, ``nil``); a bare word is typed by its look (``10`` is a number,
``10.0.0.1`` an address, ``yes`` a boolean). Arguments are bare words (passed to menu commands as
written), quoted strings (``"…$var…"`` interpolates), ``$var`` (``$a->0``, ``$a->"key"``), ``( … )``
expressions, ``[ … ]`` command substitutions and ``{ … }`` blocks or arrays. This module only
builds the syntax tree; :mod:`.interp` evaluates it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Union

from .errors import ScriptSyntaxError

IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


class ItemId(str):
    """An item's ``*1F`` id (RouterOS type ``id``): what ``find`` returns and selectors accept."""

    __slots__ = ()


class Duration(int):
    """A RouterOS ``time`` value in nanoseconds, RouterOS 7's resolution (``30m``, ``1d02:00:00``,
    ``500ms``, ``00:00:01.5``): :data:`NS` to the second; ``:tonum`` gives whole seconds."""

    __slots__ = ()


class RArray:
    """A RouterOS array: positional elements, then keyed ones in key order (as RouterOS sorts them)."""

    __slots__ = ("keyed", "seq")

    def __init__(self, seq: list[Value] | None = None, keyed: dict[str, Value] | None = None) -> None:
        self.seq: list[Value] = seq if seq is not None else []
        self.keyed: dict[str, Value] = keyed if keyed is not None else {}

    def __len__(self) -> int:
        return len(self.seq) + len(self.keyed)

    def pairs(self) -> Iterator[tuple[int | str, Value]]:
        """(key, value) in iteration order: positions first, then keys sorted."""
        yield from enumerate(self.seq)
        for k in sorted(self.keyed):
            yield k, self.keyed[k]

    def get(self, key: Value) -> Value:
        if isinstance(key, int) and not isinstance(key, bool):
            return self.seq[key] if 0 <= key < len(self.seq) else None
        return self.keyed.get(to_str(key))

    def put(self, key: Value, value: Value) -> None:
        if isinstance(key, int) and not isinstance(key, bool):
            if not 0 <= key <= len(self.seq):
                raise ScriptSyntaxError(f"array index {key} out of range (0..{len(self.seq)})")
            if key == len(self.seq):
                self.seq.append(value)
            else:
                self.seq[key] = value
        else:
            self.keyed[to_str(key)] = value

    def copy(self) -> RArray:
        return RArray(list(self.seq), dict(self.keyed))


Value = Union[None, bool, int, str, IPAddr, IPNet, RArray]  # noqa: UP007 (a runtime alias for mypy)
"""``int`` covers ``num`` and :class:`Duration` (``time``); ``str`` covers :class:`ItemId`."""


def type_name(v: Value) -> str:
    """The name ``:typeof`` gives a value."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Duration):
        return "time"
    if isinstance(v, int):
        return "num"
    if isinstance(v, ItemId):
        return "id"
    if isinstance(v, str):
        return "str"
    if isinstance(v, RArray):
        return "array"
    if isinstance(v, ipaddress.IPv4Address):
        return "ip"
    if isinstance(v, ipaddress.IPv6Address):
        return "ip6"
    return "ip-prefix" if isinstance(v, ipaddress.IPv4Network) else "ip6-prefix"


def to_str(v: Value) -> str:
    """A value as ``:tostr`` and ``:put`` show it (arrays joined with ``;``, booleans true/false)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Duration):
        return _clock(v)
    if isinstance(v, RArray):
        return ";".join(to_str(x) if isinstance(k, int) else f"{k}={to_str(x)}" for k, x in v.pairs())
    return str(v)


NS = 10**9
"""Nanoseconds in a second (a :class:`Duration`'s unit)."""


def _clock(ns: int) -> str:
    """A time as RouterOS 7 prints it: ``1w2d03:04:05``, a fraction only when there is one
    (``00:00:01.500``: milliseconds, or micro- or nanoseconds when they are needed)."""
    sign, s = ("-", -ns) if ns < 0 else ("", ns)
    s, frac = divmod(s, NS)
    digits = 0 if not frac else 3 if frac % 10**6 == 0 else 6 if frac % 1000 == 0 else 9
    fraction = f".{frac // 10 ** (9 - digits):0{digits}}" if digits else ""
    w, s = divmod(s, 604800)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{sign}{f'{w}w' if w else ''}{f'{d}d' if d else ''}{h:02}:{m:02}:{s:02}{fraction}"


_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?")
_IPV6 = re.compile(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?:/\d{1,3})?")
_NUM = re.compile(r"-?(?:0x[0-9A-Fa-f]+|\d+)")
# the clock form first: in an expression the longest time must win (``1d02:00:00``, not ``1d``)
_TIME = re.compile(r"(?:\d+w)?(?:\d+d)?\d+:\d\d(?::\d\d(?:\.\d{1,9})?)?|(?:\d+(?:ms|[wdhms]))+")
_UNIT_TIME = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?")
_CLOCK_TIME = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(\d+):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?")
_ID = re.compile(r"\*[0-9A-Fa-f]+")


def _ip(text: str) -> Value:
    """An address or prefix, or None when ``text`` is neither."""
    try:
        if "/" in text:
            return ipaddress.ip_network(text, strict=False)
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def literal(text: str) -> Value:
    """The typed value of a bare word (``:local x WORD``, a word in an expression, a printed value)."""
    if text in ("true", "yes"):
        return True
    if text in ("false", "no"):
        return False
    if _NUM.fullmatch(text):
        return int(text, 16) if "x" in text else int(text)
    if _ID.fullmatch(text):
        return ItemId(text)
    if _TIME.fullmatch(text):
        ns = parse_time(text)
        return text if ns is None else Duration(ns)
    if _IPV4.fullmatch(text) or (":" in text and _IPV6.fullmatch(text)):
        ip = _ip(text)
        if ip is not None:
            return ip
    return text


def parse_time(text: str) -> int | None:
    """A time as RouterOS reads one, in nanoseconds: units (``1w2d3h4m5s``, ``1d2h3m``, ``500ms``)
    or a clock (``01:00:00``, ``1d02:00:00``, ``00:00:01.5``; ``01:30`` is hours and minutes), as
    RouterOS also prints them; None when ``text`` is neither (minutes or seconds past 59)."""
    m = _UNIT_TIME.fullmatch(text)
    if text and m:
        w, d, h, mi, s, ms = (int(x) if x else 0 for x in m.groups())
        return (((w * 7 + d) * 24 + h) * 60 + mi) * 60 * NS + s * NS + ms * 10**6
    m = _CLOCK_TIME.fullmatch(text)
    if m is None:
        return None
    w, d, h, mi, s = (int(x) if x else 0 for x in m.groups()[:5])
    if mi > 59 or s > 59:
        return None
    frac = int((m.group(6) or "").ljust(9, "0"))
    return (((w * 7 + d) * 24 + h) * 60 + mi) * 60 * NS + s * NS + frac


# -- syntax tree --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lit:
    """A typed literal."""

    value: Value


@dataclass(frozen=True, slots=True)
class Word:
    """A bare word of a menu command's arguments: passed on as written."""

    text: str


@dataclass(frozen=True, slots=True)
class Raw:
    """``(`` or ``)`` grouping a ``where``/``find`` condition: passed on as written."""

    text: str


@dataclass(frozen=True, slots=True)
class Quoted:
    """A quoted string: literal pieces and interpolated ``$var``, ``$( … )``, ``$[ … ]``."""

    parts: tuple[str | Node, ...]


@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Sub:
    """``[ … ]``: the command between ``start`` and ``end`` of the source text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Brace:
    """``{ … }``: a block (``do=``) or an array (a value), by where it stands."""

    start: int
    end: int


Node = Lit | Word | Raw | Quoted | Var | Unary | Binary | Sub | Brace


@dataclass(frozen=True, slots=True)
class Arg:
    """A command argument: positional (``name`` None) or ``name op value``."""

    name: str | None
    op: str
    value: Node


# -- lexing -------------------------------------------------------------------------------------

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "$": "$", "?": "?", "_": " ", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v"}
_CLOSE = {"(": ")", "[": "]", "{": "}"}
_VAR_NAME = re.compile(r"[A-Za-z0-9_]+")
_ARG_OP = re.compile(r"!=|<=|>=|=|~|<|>")
_VALUE_START = '"$([{'
_PLAIN_QUOTED = re.compile(r'"([^"\\$]*)"')


def close_of(text: str, i: int, end: int) -> int:
    """Index of the bracket closing ``text[i]`` (quotes and nesting respected)."""
    stack = [_CLOSE[text[i]]]
    j = i + 1
    while j < end:
        ch = text[j]
        if ch == '"':
            j = _string_end(text, j, end)
            continue
        if ch == "\n" and text[j + 1:end].lstrip(" \t").startswith("#"):  # a comment line in a block
            nl = text.find("\n", j + 1, end)
            j = end if nl < 0 else nl
            continue
        if ch in _CLOSE:
            stack.append(_CLOSE[ch])
        elif ch in ")]}":
            if ch != stack.pop():
                raise ScriptSyntaxError(f"unbalanced brackets: unexpected {ch}")
            if not stack:
                return j
        j += 1
    raise ScriptSyntaxError(f"unbalanced brackets: {text[i]} not closed")


def _string_end(text: str, i: int, end: int) -> int:
    j = i + 1
    while j < end:
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == '"':
            return j + 1
        j += 1
    raise ScriptSyntaxError("unterminated quoted string")


def _hex_run(text: str, i: int, end: int) -> tuple[str, int]:
    """A run of ``\\HH`` escapes from ``text[i]``: RouterOS writes each byte of a UTF-8 character so
    (``caf\\C3\\A9``); decoded as UTF-8, byte by byte where it is not."""
    raw = bytearray()
    while i + 2 < end and text[i] == "\\" and text[i + 1] not in _ESCAPES \
            and re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 1:i + 3]):
        raw.append(int(text[i + 1:i + 3], 16))
        i += 3
    try:
        return raw.decode("utf-8"), i
    except UnicodeDecodeError:
        return raw.decode("latin-1"), i


def read_quoted(text: str, i: int, end: int) -> tuple[Quoted, int]:
    """The string starting at ``text[i] == '"'``; (node, index after the closing quote)."""
    plain = _PLAIN_QUOTED.match(text, i, end)
    if plain is not None:  # no escape, no $: the text as written (most quoted values)
        return Quoted((plain.group(1),)), plain.end()
    parts: list[str | Node] = []
    buf: list[str] = []
    i += 1
    while i < end:
        ch = text[i]
        if ch == '"':
            if buf or not parts:
                parts.append("".join(buf))
            return Quoted(tuple(parts)), i + 1
        if ch == "\\":
            nxt = text[i + 1:i + 2]
            if nxt in _ESCAPES and nxt:
                buf.append(_ESCAPES[nxt])
                i += 2
            elif re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 1:i + 3]):
                decoded, i = _hex_run(text, i, end)
                buf.append(decoded)
            else:
                raise ScriptSyntaxError(f"bad escape \\{nxt} in quoted string")
            continue
        if ch == "$" and i + 1 < end and (text[i + 1] in "([" or _VAR_NAME.match(text, i + 1)):
            if buf:
                parts.append("".join(buf))
                buf = []
            node, i = _dollar(text, i, end, chain=False)
            parts.append(node)
            continue
        buf.append(ch)
        i += 1
    raise ScriptSyntaxError("unterminated quoted string")


def _dollar(text: str, i: int, end: int, chain: bool = True) -> tuple[Node, int]:
    """``$name``, ``$"name"``, ``$( … )``, ``$[ … ]`` at ``text[i] == '$'`` (``->`` keys if ``chain``)."""
    nxt = text[i + 1:i + 2]
    node: Node
    if nxt == "(":
        close = close_of(text, i + 1, end)
        node, i = parse_expr(text, i + 2, close), close + 1
    elif nxt == "[":
        close = close_of(text, i + 1, end)
        node, i = Sub(i + 2, close), close + 1
    elif nxt == '"':
        q, i = read_quoted(text, i + 1, end)
        if not all(isinstance(p, str) for p in q.parts):
            raise ScriptSyntaxError("a variable name cannot interpolate")
        node = Var("".join(p for p in q.parts if isinstance(p, str)))
    else:
        m = _VAR_NAME.match(text, i + 1, end)
        if m is None:
            raise ScriptSyntaxError(f"unsupported: ${text[i + 1:i + 8]!r} is not a variable name")
        node, i = Var(m.group()), m.end()
    while chain and text.startswith("->", i):
        key, i = _key(text, i + 2, end)
        node = Binary("->", node, key)
    return node, i


def _key(text: str, i: int, end: int) -> tuple[Node, int]:
    """The key after ``->``: a quoted string, ``$var``, ``( … )`` or a bare word."""
    if i < end and text[i] == '"':
        return read_quoted(text, i, end)
    if i < end and text[i] == "$":
        return _dollar(text, i, end, chain=False)
    if i < end and text[i] == "(":
        close = close_of(text, i, end)
        return parse_expr(text, i + 1, close), close + 1
    m = re.compile(r"[A-Za-z0-9_.-]+").match(text, i, end)
    if m is None:
        raise ScriptSyntaxError("-> needs an index or a key")
    return Lit(literal(m.group())), m.end()


def read_value(text: str, i: int, end: int) -> tuple[Node, int]:
    """A value starting with one of ``"$([{`` at ``text[i]``."""
    ch = text[i]
    if ch == '"':
        return read_quoted(text, i, end)
    if ch == "$":
        return _dollar(text, i, end)
    close = close_of(text, i, end)
    if ch == "(":
        return parse_expr(text, i + 1, close), close + 1
    if ch == "[":
        return Sub(i + 1, close), close + 1
    return Brace(i + 1, close), close + 1


def lex_args(text: str, start: int, end: int, conditions: bool = False, where: bool = False) -> list[Arg]:
    """The arguments in ``text[start:end]``; ``conditions`` (``find``; after a ``where`` word when
    ``where``) keeps ``( )`` as grouping and passes them on, where elsewhere they hold an expression."""
    args: list[Arg] = []
    i = start
    while i < end:
        stops = " \t\r\n" + _VALUE_START + (")" if conditions else "")
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if conditions and ch in "()":
            args.append(Arg(None, "", Raw(ch)))
            i += 1
            continue
        if ch in _VALUE_START:
            node, i = read_value(text, i, end)
            args.append(Arg(None, "", node))
        else:
            j = i
            while j < end and text[j] not in stops:
                j += 1
            word = text[i:j]
            m = _ARG_OP.search(word)
            if m and m.start() > 0 and not word.startswith("/"):
                name, op, rest = word[:m.start()], m.group(), word[m.end():]
                if rest == "" and j < end and text[j] in _VALUE_START:
                    node, j = read_value(text, j, end)
                    if conditions and op == "=" and text[j:j + 1] == "(":
                        raise ScriptSyntaxError(f"unexpected ( after {name}=")
                else:
                    node = Word(rest)
                args.append(Arg(name, op, node))
            else:
                args.append(Arg(None, "", Word(word)))
                conditions = conditions or (where and word == "where")
            i = j
        if i < end and text[i] not in " \t\r\n" and not (conditions and text[i] in "()"):
            raise ScriptSyntaxError(f"unsupported: {text[i:i + 12]!r} joined to the word before it; "
                                    'write ("text" . $var) or "text$var"')
    return args


# -- expressions --------------------------------------------------------------------------------

_BINARY = {",": 1, "||": 2, "or": 2, "&&": 3, "and": 3, "=": 4, "!=": 4, "<": 4, ">": 4, "<=": 4, ">=": 4,
           "in": 4, "|": 5, "^": 6, "&": 7, "<<": 8, ">>": 8, ".": 9, "+": 10, "-": 10, "*": 11, "/": 11,
           "%": 11, "->": 13}
_UNARY = {"!", "-", "~", "not"}
_UNARY_PREC = 12
_OPERATORS = sorted({*_BINARY, *_UNARY} - {"or", "and", "in", "not"}, key=len, reverse=True)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _expr_tokens(text: str, start: int, end: int) -> list[str | Node]:
    """Operators as str, operands as nodes."""
    toks: list[str | Node] = []
    i = start
    while i < end:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch in '"$([{':
            node, i = read_value(text, i, end) if ch != "$" else _dollar(text, i, end, chain=False)
            toks.append(node)
            continue
        for rx in (_IPV4, _TIME, _IPV6):
            m = rx.match(text, i, end)
            if m and (rx is not _IPV6 or m.group().count(":") >= 2) and not _WORD.match(text, m.end(), end):
                value = literal(m.group())
                if rx is _TIME or not isinstance(value, str):
                    toks.append(Lit(value))
                    i = m.end()
                    break
        else:
            m = re.compile(r"0x[0-9A-Fa-f]+|\d+").match(text, i, end)
            if m:
                toks.append(Lit(int(m.group(), 0) if "x" in m.group() else int(m.group())))
                i = m.end()
                continue
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is not None:
                toks.append(op)
                i += len(op)
                continue
            m = _WORD.match(text, i, end)
            if m is None:
                raise ScriptSyntaxError(f"unexpected {text[i:i + 10]!r} in expression")
            word = m.group()
            toks.append(word if word in ("and", "or", "in", "not") else Lit(literal(word)))
            i = m.end()
    return toks


def parse_expr(text: str, start: int, end: int) -> Node:
    """The expression in ``text[start:end]`` (the inside of ``( … )``)."""
    toks = _expr_tokens(text, start, end)
    if not toks:
        return Lit(None)
    pos = 0

    def operand() -> Node:
        nonlocal pos
        if pos >= len(toks):
            raise ScriptSyntaxError("expression ends where a value was expected")
        tok = toks[pos]
        pos += 1
        if isinstance(tok, str):
            if tok not in _UNARY:
                raise ScriptSyntaxError(f"unexpected operator {tok} in expression")
            return Unary(tok, climb(_UNARY_PREC))
        return tok

    def climb(min_prec: int) -> Node:
        nonlocal pos
        left = operand()
        while pos < len(toks):
            tok = toks[pos]
            if not isinstance(tok, str):
                raise ScriptSyntaxError("two values in an expression without an operator between them")
            prec = _BINARY.get(tok)
            if prec is None:
                raise ScriptSyntaxError(f"unexpected operator {tok} in expression")
            if prec < min_prec:
                break
            pos += 1
            left = Binary(tok, left, climb(prec + 1))
        return left

    return climb(0)


# -- operators ----------------------------------------------------------------------------------


def truth(v: Value) -> bool:
    """A condition's value: booleans as they are; nothing, empty and zero are false."""
    if isinstance(v, bool):
        return v
    if v is None:
        return False
    if isinstance(v, RArray | str | int):
        return bool(len(v) if isinstance(v, RArray | str) else v)
    return True


def _fail(op: str, a: Value, b: Value | None = None) -> ScriptSyntaxError:
    what = type_name(a) if b is None and op in _UNARY else f"{type_name(a)} and {type_name(b)}"
    return ScriptSyntaxError(f"cannot apply {op} to {what}")


def _num(v: Value) -> bool:
    return isinstance(v, int) and not isinstance(v, bool | Duration)


def _time(op: str, a: Value, b: Value) -> Value:
    """Time arithmetic: time ± time, time * or / a number (and number * time)."""
    if isinstance(a, Duration) and isinstance(b, Duration) and op in ("+", "-"):
        return Duration(a + b if op == "+" else a - b)
    if isinstance(a, Duration) and _num(b) and op in ("*", "/"):
        assert isinstance(b, int)
        if op == "/" and b == 0:
            raise ScriptSyntaxError("division by zero")
        return Duration(a * b if op == "*" else _truncated(a, b))
    if _num(a) and isinstance(b, Duration) and op == "*":
        assert isinstance(a, int)
        return Duration(a * b)
    raise _fail(op, a, b)


def _truncated(a: int, b: int) -> int:
    """``a / b`` rounded toward zero, as RouterOS divides (exact for nanosecond times, which a
    float would round)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def unary(op: str, v: Value) -> Value:
    if op in ("!", "not"):
        return not truth(v)
    if op == "-" and _num(v):
        assert isinstance(v, int)
        return -v
    if op == "~" and _num(v):
        assert isinstance(v, int)
        return ~v
    if op == "~" and isinstance(v, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return type(v)(~int(v) & (2 ** v.max_prefixlen - 1))
    raise _fail(op, v)


def _as_array(v: Value) -> RArray:
    return v.copy() if isinstance(v, RArray) else RArray([] if v is None else [v])


def _equal(a: Value, b: Value) -> bool:
    if type_name(a) == type_name(b) and not isinstance(a, RArray):
        return a == b
    if isinstance(a, RArray) and isinstance(b, RArray):
        return list(a.pairs()) == list(b.pairs())
    return to_str(a) == to_str(b)


def _compare(op: str, a: Value, b: Value) -> bool:
    same = type_name(a) == type_name(b) and type_name(a) in ("num", "time", "str", "ip", "ip6", "id")
    if not same:
        raise _fail(op, a, b)
    key: Callable[[Value], int | str] = (lambda v: int(v)) if isinstance(a, IPAddr) else (  # type: ignore[arg-type]
        lambda v: v if isinstance(v, int | str) else to_str(v))
    x, y = key(a), key(b)
    return {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]  # type: ignore[operator]


NUM_MIN, NUM_MAX = -(2**63), 2**63 - 1  # RouterOS numbers are 64-bit signed


def _arith(op: str, a: Value, b: Value) -> Value:
    try:
        value = _arith_unchecked(op, a, b)
    except (ValueError, OverflowError):  # an address past the end of its family
        raise ScriptSyntaxError(f"{to_str(a)} {op} {to_str(b)} is out of range") from None
    if isinstance(value, int) and not NUM_MIN <= value <= NUM_MAX:
        raise ScriptSyntaxError(f"{to_str(a)} {op} {to_str(b)} is out of range (64-bit numbers)")
    return value


def _arith_unchecked(op: str, a: Value, b: Value) -> Value:
    if isinstance(a, Duration) or isinstance(b, Duration):
        return _time(op, a, b)
    if _num(a) and _num(b):
        assert isinstance(a, int) and isinstance(b, int)
        if op in ("/", "%") and b == 0:
            raise ScriptSyntaxError("division by zero")
        if op in ("<<", ">>") and not 0 <= b < 64:
            raise ScriptSyntaxError(f"shift by {b} is out of range (0..63)")
        ops: dict[str, Callable[[int, int], int]] = {
            "+": int.__add__, "-": int.__sub__, "*": int.__mul__, "/": _truncated,
            "%": lambda x, y: x - y * _truncated(x, y), "&": int.__and__, "|": int.__or__, "^": int.__xor__,
            "<<": int.__lshift__, ">>": int.__rshift__}
        return ops[op](a, b)
    if isinstance(a, IPAddr) and _num(b) and op in ("+", "-"):
        assert isinstance(b, int)
        return a + b if op == "+" else a - b
    if _num(a) and isinstance(b, IPAddr) and op == "+":
        assert isinstance(a, int)
        return b + a
    if isinstance(a, IPAddr) and isinstance(b, IPAddr) and a.version == b.version:
        if op == "-":
            return int(a) - int(b)
        if op in ("&", "|", "^"):
            bits = {"&": int(a) & int(b), "|": int(a) | int(b), "^": int(a) ^ int(b)}[op]
            return type(a)(bits)
    raise _fail(op, a, b)


def binary(op: str, a: Value, b: Value) -> Value:
    """``a op b`` for every operator but the short-circuit ``&&``/``||`` (the interpreter's)."""
    if op == ".":
        if isinstance(a, RArray) or isinstance(b, RArray):
            return binary(",", a, b)
        return to_str(a) + to_str(b)
    if op == ",":
        left, right = _as_array(a), _as_array(b)
        left.seq.extend(right.seq)
        left.keyed.update(right.keyed)
        return left
    if op in ("=", "!="):
        return _equal(a, b) == (op == "=")
    if op in ("<", ">", "<=", ">="):
        return _compare(op, a, b)
    if op == "in":
        if isinstance(b, IPNet) and isinstance(a, IPAddr | IPNet) and a.version == b.version:
            return a in b if isinstance(a, IPAddr) else a.subnet_of(b)  # type: ignore[arg-type]
        if isinstance(b, RArray):
            return any(_equal(a, v) for _, v in b.pairs())
        raise _fail(op, a, b)
    if op == "->":
        if isinstance(a, ItemId):  # one id found: the list of one ([find] gives it bare)
            return a if b == 0 else None
        if not isinstance(a, RArray):
            raise _fail(op, a, b)
        return a.get(b)
    return _arith(op, a, b)
