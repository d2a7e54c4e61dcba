"""``find``/``print where`` conditions: RouterOS's expression language as a typed tree.

Grammar (RouterOS precedence: ``not`` binds tightest, then ``and``, then ``or``; juxtaposition is
``and``)::

    expr   := term (("or" | "||") term)*
    term   := factor (("and" | "&&")? factor)*
    factor := ("not" | "!") factor | "(" expr ")" | atom
    atom   := prop | prop OP value | prop "in" value         OP: = != ~ < > <= >=

A bare ``prop`` is true when the value is set and not ``no``/``false``. ``in`` tests that an address
or prefix lies inside a prefix (for lists such as ``split-include``, any element); ``<``/``>`` compare
numbers, times (``30m`` < ``1h``) and addresses. Conditions are built from the console tokens of
:mod:`.script` by :func:`parse`, or directly (the script interpreter, REST) from :class:`Compare`,
:class:`Truthy`, :class:`Not`, :class:`All` and :class:`Any`.

Hidden values (``secret``, ``password``, keys) are never matched: a condition naming one is refused,
so ``where secret~"^PSK"`` cannot be used as an oracle on a secret that ``print`` hides.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import InvalidValue, ScriptSyntaxError
from .script import Tok
from .values import parse_seconds

#: Reads the printed text of a property of the item being tested ("" when unset).
Getter = Callable[[str], str]
OPERATORS = ("=", "!=", "~", "<", ">", "<=", ">=", "in")


@dataclass(frozen=True, slots=True)
class Compare:
    prop: str
    op: str  # one of OPERATORS
    value: str

    def test(self, get: Getter) -> bool:
        have = get(self.prop)
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        if self.op == "~":
            return _regex(self.value).search(have) is not None
        if self.op == "in":
            return _inside(have, self.value)
        return _ordered(have, self.op, self.value)


@dataclass(frozen=True, slots=True)
class Truthy:
    prop: str

    def test(self, get: Getter) -> bool:
        return get(self.prop) not in ("", "no", "false")


@dataclass(frozen=True, slots=True)
class Not:
    inner: Cond

    def test(self, get: Getter) -> bool:
        return not self.inner.test(get)


@dataclass(frozen=True, slots=True)
class All:
    parts: tuple[Cond, ...]

    def test(self, get: Getter) -> bool:
        return all(p.test(get) for p in self.parts)


@dataclass(frozen=True, slots=True)
class Any:
    parts: tuple[Cond, ...]

    def test(self, get: Getter) -> bool:
        return any(p.test(get) for p in self.parts)


Cond = Compare | Truthy | Not | All | Any


def props_of(cond: Cond) -> list[Compare | Truthy]:
    """The leaves of a condition (to check property names and rewrite values to canonical text)."""
    if isinstance(cond, Compare | Truthy):
        return [cond]
    if isinstance(cond, Not):
        return props_of(cond.inner)
    return [leaf for p in cond.parts for leaf in props_of(p)]


def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error:
        raise InvalidValue(f'bad regular expression "{pattern}"') from None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _inside(have: str, prefix: str) -> bool:
    outer = _network(prefix)
    if outer is None:
        raise InvalidValue(f'"{prefix}" is not an address or prefix (in needs one)')
    for part in have.split(","):
        inner = _network(part)
        if inner is not None and inner.version == outer.version and inner.subnet_of(outer):  # type: ignore[arg-type]
            return True
    return False


def _number(text: str) -> float | int | ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        return parse_seconds(text)
    except (ValueError, KeyError):
        return None


def _ordered(have: str, op: str, want: str) -> bool:
    a, b = _number(have), _number(want)
    if a is None or b is None or isinstance(a, int | float) != isinstance(b, int | float):
        return False
    if not isinstance(a, int | float) and not isinstance(b, int | float) and a.version != b.version:
        return False
    lt, eq = a < b, a == b  # type: ignore[operator]
    return {"<": lt, ">": not lt and not eq, "<=": lt or eq, ">=": not lt}[op]


# -- parsing console tokens ------------------------------------------------------------------------

_WORDS = {"and": "and", "&&": "and", "or": "or", "||": "or", "not": "not", "!": "not", "(": "(", ")": ")"}


def _peel(toks: Sequence[Tok]) -> list[str | Tok]:
    """Split the parentheses and ``!`` that the line tokenizer leaves stuck to words (``(name=a``,
    ``!disabled)``) into operator strings; everything else stays a token."""
    out: list[str | Tok] = []
    depth = 0
    for t in toks:
        if t.kind == "word" and t.text.lower() in _WORDS:
            word = _WORDS[t.text.lower()]
            depth += {"(": 1, ")": -1}.get(word, 0)
            out.append(word)
            continue
        if t.kind not in ("word", "assign"):
            out.append(t)
            continue
        head = t.name if t.kind == "assign" else t.text
        while head[:1] in ("(", "!") and len(head) > 1:
            out.append("(" if head[0] == "(" else "not")
            depth += head[0] == "("
            head = head[1:]
        text, closing = (head if t.kind == "word" else t.text), 0
        tail = text if t.kind == "word" or not t.sub else ""
        while tail.endswith(")") and depth - closing > 0:
            tail, closing = tail[:-1], closing + 1
        if t.kind == "word":
            out.append(Tok("word", tail))
        else:
            out.append(
                Tok("assign", text[: len(text) - closing] if closing else text, name=head, op=t.op, sub=t.sub)
            )
        out.extend([")"] * closing)
        depth -= closing
    return out


class _Parser:
    def __init__(self, items: list[str | Tok], where: str) -> None:
        self.items, self.i, self.where = items, 0, where

    def peek(self) -> str | Tok | None:
        return self.items[self.i] if self.i < len(self.items) else None

    def take(self) -> str | Tok:
        item = self.items[self.i]
        self.i += 1
        return item

    def expr(self) -> Cond:
        parts = [self.term()]
        while self.peek() == "or":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Any(tuple(parts))

    def term(self) -> Cond:
        parts = [self.factor()]
        while self.peek() not in (None, "or", ")"):
            if self.peek() == "and":
                self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    def factor(self) -> Cond:
        item = self.peek()
        if item is None:
            raise ScriptSyntaxError(f"{self.where}: condition ends too early")
        self.take()
        if item == "not":
            return Not(self.factor())
        if item == "(":
            inner = self.expr()
            if self.peek() != ")":
                raise ScriptSyntaxError(f"{self.where}: unbalanced ( ) in condition")
            self.take()
            return inner
        if isinstance(item, str):
            raise ScriptSyntaxError(f"{self.where}: unexpected {item!r} in condition")
        return self.atom(item)

    def atom(self, t: Tok) -> Cond:
        if t.kind == "assign":
            op, value = t.op, t.text
            if op in ("<", ">") and value.startswith("="):
                op, value = op + "=", value[1:]
            if t.sub:
                raise ScriptSyntaxError(f"{self.where}: {t.name}{op}[ … ] is not a value")
            return Compare(t.name, op, value)
        if t.kind == "word" and t.text:
            nxt = self.peek()
            if isinstance(nxt, Tok) and nxt.kind == "word" and nxt.text == "in":
                self.take()
                if self.peek() is None or isinstance(self.peek(), str):
                    raise ScriptSyntaxError(f"{self.where}: {t.text} in needs a prefix")
                target = self.take()
                assert isinstance(target, Tok)
                return Compare(t.text, "in", target.text)
            return Truthy(t.text)
        raise ScriptSyntaxError(f"{self.where}: unexpected {t.text!r} in condition")


def parse(toks: Sequence[Tok], where: str) -> Cond:
    """The condition written by console tokens (``name=a or (ph2-count>0 and !disabled)``);
    ``where`` (the menu path) prefixes error messages. An empty condition is true."""
    items = _peel(toks)
    if not items:
        return All(())
    p = _Parser(items, where)
    cond = p.expr()
    if p.peek() is not None:
        raise ScriptSyntaxError(f"{where}: unexpected {p.peek()!r} in condition")
    return cond
