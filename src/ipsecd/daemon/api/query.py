"""RouterOS API query words (``?name=value`` …) and REST's ``.query``, as a condition tree.

The API's queries are a little stack machine: each word pushes a test on the stack, ``?#`` words
combine what is there, and at the end every remaining result must hold::

    ?name          the row has the property          ?-name         it does not
    ?name=x        its value is x                    ?<name=x       below x     ?>name=x   above x
    ?#|  or of the top two     ?#&  and of the top two     ?#!  not of the top     ?#.  duplicate top
    ?#N  (a digit) copy the N-th result from the bottom

REST's ``.query`` holds the same words without the ``?``. The tests are
:mod:`ipsecd.mgmt.where`'s own condition nodes (one comparison implementation for the console's
``where`` and for both protocols), evaluated on the rows exactly as the client receives them, so
``?disabled=false`` matches what it prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ipsecd.mgmt import where
from ipsecd.mgmt.where import Cond

MAX_QUERY_WORDS = 256


class QueryError(Exception):
    """A query word that is not one; the message goes to the client."""


def _leaf(word: str) -> Cond:
    if word.startswith("-"):
        return where.Compare(word[1:], "=", "")
    op = "="
    if word[:1] in ("<", ">"):
        op, word = word[0], word[1:]
    name, eq, value = word.partition("=")
    if not name:
        raise QueryError(f"bad query word {word!r}")
    if not eq:
        if op != "=":
            raise QueryError(f"query {op}{name} needs a value")
        return where.Compare(name, "!=", "")
    return where.Compare(name, op, value)


def _combine(stack: list[Cond], ops: str) -> None:
    for ch in ops:
        if ch.isdigit():
            if int(ch) >= len(stack):
                raise QueryError(f"query #{ch}: no such result")
            stack.append(stack[int(ch)])
            continue
        need = 1 if ch in "!." else 2
        if len(stack) < need:
            raise QueryError(f"query #{ch}: the stack holds {len(stack)} result(s)")
        if ch == "!":
            stack.append(where.Not(stack.pop()))
        elif ch == ".":
            stack.append(stack[-1])
        elif ch in "|&":
            b, a = stack.pop(), stack.pop()
            stack.append(where.Any((a, b)) if ch == "|" else where.All((a, b)))
        else:
            raise QueryError(f"unknown query operator #{ch}")


def parse_query(words: Iterable[str]) -> Cond | None:
    """The condition of query words given without their ``?``; None when there are none."""
    stack: list[Cond] = []
    for n, word in enumerate(words):
        if n >= MAX_QUERY_WORDS:
            raise QueryError(f"more than {MAX_QUERY_WORDS} query words")
        if word.startswith("#"):
            _combine(stack, word[1:])
        else:
            stack.append(_leaf(word))
    if not stack:
        return None
    return stack[0] if len(stack) == 1 else where.All(tuple(stack))


def matches(cond: Cond | None, row: Mapping[str, str]) -> bool:
    return cond is None or cond.test(lambda name: row.get(name, ""))
