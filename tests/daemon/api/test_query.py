from __future__ import annotations

import pytest

from ipsecd.daemon.api.query import QueryError, matches, parse_query

ROWS = [
    {".id": "*1", "name": "a", "address": "10.0.0.1/32", "passive": "false", "port": "500"},
    {".id": "*2", "name": "b", "passive": "true", "port": "4500"},
    {".id": "*3", "name": "c", "address": "10.0.0.3/32", "passive": "true", "port": "500"},
]


def ids(words: list[str]) -> list[str]:
    cond = parse_query(words)
    return [r[".id"] for r in ROWS if matches(cond, r)]


@pytest.mark.parametrize(("words", "want"), [
    ([], ["*1", "*2", "*3"]),
    (["name=b"], ["*2"]),
    (["address"], ["*1", "*3"]),  # has the property
    (["-address"], ["*2"]),  # lacks it
    (["passive=true", "port=500"], ["*3"]),  # what remains on the stack is and-ed
    (["name=a", "name=b", "#|"], ["*1", "*2"]),
    (["name=a", "name=b", "#|!"], ["*3"]),
    (["passive=true", "#!"], ["*1"]),
    ([">port=1000"], ["*2"]),
    (["<port=1000"], ["*1", "*3"]),
    (["name=a", "#.", "#&"], ["*1"]),
    (["name=a", "name=c", "#0", "#|", "#|"], ["*1", "*3"]),
])
def test_api_query_stack(words: list[str], want: list[str]) -> None:
    assert ids(words) == want


@pytest.mark.parametrize("words", [["#|"], ["name=a", "#&"], ["#!"], ["=x"], ["name=a", "#5"], ["a", "#?"],
                                   ["<port"]])
def test_bad_queries_are_refused(words: list[str]) -> None:
    with pytest.raises(QueryError):
        parse_query(words)
