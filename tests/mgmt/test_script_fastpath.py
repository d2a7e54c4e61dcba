"""The interpreter's fast path (``interp.plain_args``) changes nothing but speed.

A menu command whose arguments hold nothing to evaluate goes straight to ``tokenize`` and the command
layer; the general path evaluates the arguments, writes them back as console text and parses that
(``Interpreter.evaluated``). Both must give the same command for every such line — over the RouterOS
corpus, ipsecd's own exports of it, the import benchmark's script, and random argument text — and an
import through either path the same configuration.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.mgmt import Session, interp, open_config
from ipsecd.mgmt.commands import Commands
from ipsecd.mgmt.errors import ConfigError
from ipsecd.mgmt.interp import Interpreter, Scope, plain_args
from ipsecd.mgmt.script import Command, Located, Source, locate, sources, split_commands, tokenize
from ipsecd.mgmt.txn import Txn

from .test_routeros_vectors import CORPUS


def _bench_script(n: int) -> str:
    """The script bench/mgmt_import_10k.py imports, with ``n`` peers."""
    spec = importlib.util.spec_from_file_location(
        "mgmt_import_10k", Path(__file__).resolve().parents[2] / "bench" / "mgmt_import_10k.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.script(n))


def _texts() -> Iterator[tuple[str, str]]:
    """(name, script): the corpus, ipsecd's exports of it (compact, verbose and terse, with secrets)
    and the benchmark's script."""
    for path in CORPUS:
        text = path.read_text()
        yield path.name, text
        config = open_config(None)
        config.import_script(text, path.name)
        for how in ("", " verbose", " terse"):
            yield f"{path.name} export{how}", Session(config).execute(f"/export show-sensitive{how}").stdout
    yield "bench", _bench_script(20)


TEXTS = list(_texts())


_EMPTY = open_config(None)
_INTERP = Interpreter(Commands(Txn(_EMPTY.state, _EMPTY.next_num)))  # plain arguments run no command


def _general(src: Source, start: int, end: int, found: Located) -> Command | str:
    """The command the general path gives, or its refusal."""
    try:
        return _INTERP.evaluated(src, start, end, found, Scope(found.path))
    except ConfigError as exc:
        return f"{type(exc).__name__}: {exc}"


def _fast(rest: str, found: Located) -> Command | str:
    try:
        return Command(found.path, found.verb, tokenize(rest))
    except ConfigError as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize(("name", "text"), TEXTS, ids=[name for name, _ in TEXTS])
def test_plain_lines_give_the_command_the_general_path_gives(name: str, text: str) -> None:
    cwd, plain = "/", 0
    for src in sources(text):
        for start, command in split_commands(src.text):
            if command.startswith((":", "{")):
                continue
            cwd, found = locate(command, cwd)
            if not isinstance(found, Located):
                continue
            end = start + len(command)
            rest = src.text[start + found.rest_at:end]
            if plain_args(rest):
                plain += 1
                assert _fast(rest, found) == _general(src, start, end, found), (name, src.line, command)
    assert plain > 0, name


@pytest.mark.parametrize(("name", "text"), TEXTS, ids=[name for name, _ in TEXTS])
def test_an_import_through_either_path_gives_the_same_configuration(
        name: str, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = open_config(None)
    fast_warnings = fast.import_script(text, "x.rsc")
    monkeypatch.setattr(interp, "plain_args", lambda _text: False)
    general = open_config(None)
    assert general.import_script(text, "x.rsc") == fast_warnings
    exports = [Session(c).execute("/export verbose show-sensitive").stdout for c in (fast, general)]
    assert exports[0] == exports[1]
    assert fast.state == general.state


_CHARS = ' \t=!<>~/#."\\az09-_:,*?$()[]{}é\x01'
_WORDS = st.text(alphabet="=!<>~/#.\\az09-_:,*?é\x01", min_size=1, max_size=8)
_BODY = st.lists(st.sampled_from(["a", "b c", "1", "_", "é", "?", "\n", "\x85", "\x01", "$", "$a", "\\\"",
                                  "\\\\", "\\n", "\\$", "\\?", "\\_", "\\01", "\\C3\\A9", "\\q", "\\"]),
                 max_size=5).map("".join)
_QUOTED = st.builds(lambda name, op, body: f'{name}{op}"{body}"',
                    st.sampled_from(["name", "comment", "x<", "a!", "a~b", "/x", "#c", ""]),
                    st.sampled_from(["=", "=", "=", "!=", "<", "<=", "~", ""]), _BODY)
_PIECES = st.one_of(_WORDS, _QUOTED, _QUOTED, st.text(alphabet=_CHARS, max_size=4))
_ARGS = st.lists(st.tuples(_PIECES, st.sampled_from([" ", " ", "  ", "\t", ""])), max_size=6).map(
    lambda pieces: "".join(piece + sep for piece, sep in pieces))


@settings(max_examples=1500, deadline=None)
@given(_ARGS, st.sampled_from([("/ip ipsec peer", "add"), ("/ip ipsec policy", "print"),
                               ("/ip ipsec identity", "find"), ("/ip ipsec profile", "set")]))
def test_random_plain_arguments_give_the_command_the_general_path_gives(
        rest: str, where: tuple[str, str]) -> None:
    if not plain_args(rest):
        return
    found = Located(where[0], where[1], rest, 0)
    assert _fast(rest, found) == _general(Source(rest, 1), 0, len(rest), found)
