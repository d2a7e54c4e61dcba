"""Bad input never crashes: any line, or any schema-shaped line with random values, gives rc 0 or a
one-line refusal (rc 1), never an exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipsecd.mgmt import Session, open_config
from ipsecd.mgmt.schema import MENUS, commands_of

SESSION = Session(open_config(None))
PATHS = sorted(MENUS)
WORDS = st.sampled_from(
    ["0", "1", "*1", "default", "[ find ]", "[ find default=yes ]", "where", "detail", "x", ""]
)
VALUES = st.one_of(st.text(max_size=12), st.sampled_from(["yes", "no", "any", "0", "1d", "10.0.0.0/8", "::/0",
                                                          "default", "fqdn:x", "0x00", "none", ""]))


def _check(line: str) -> None:
    res = SESSION.execute(line)
    assert res.rc in (0, 1)
    if res.rc == 1:
        assert res.stderr.count("\n") == 1 and res.stderr.strip(), (line, res)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_any_text(line: str) -> None:
    _check(line)


@st.composite
def schema_lines(draw: st.DrawFn) -> str:
    path = draw(st.sampled_from(PATHS))
    menu = MENUS[path]
    cmd = draw(st.sampled_from([c for c in commands_of(menu) if c not in ("kill-connections", "flush",
                                                                          "generate-key", "import",
                                                                          "export-pub-key")]))
    props = draw(st.lists(st.sampled_from([p.name for p in menu.props] + ["bogus"]), max_size=3))
    args = [draw(WORDS)] + [f"{p}={draw(VALUES)!r}".replace("'", '"') for p in props]
    return f"{path} {cmd} " + " ".join(args)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(schema_lines())
def test_schema_shaped_lines(line: str) -> None:
    _check(line)
