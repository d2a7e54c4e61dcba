"""views.py: RouterOS-style export folding and the ``value-list`` / ``as-value`` print formats."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ipsecd.mgmt import Session, open_config
from ipsecd.mgmt.script import logical_lines
from ipsecd.mgmt.views import EXPORT_WIDTH, fold

from .conftest import run_ok

# What export lines are made of: words, '=', spaces (runs of them inside quoted comments), quotes and
# backslash escapes as quote() writes them.
_PIECES = st.sampled_from(
    ["add", " ", "   ", "=", "name", "x" * 30, '"', '\\"', "\\\\", "\\C3\\A9", "a", "-", "10.0.0.1/32"]
)


@given(st.lists(_PIECES, min_size=1, max_size=60).map("".join).filter(lambda s: not s.startswith(" ")))
def test_fold_reads_back_and_fits(line: str) -> None:
    phys = fold(line)
    assert [text for _, text in logical_lines("\n".join(phys))] == [line]
    for i, p in enumerate(phys):
        if i:
            assert p.startswith("    ") and p[4] != " "
        if len(p) > EXPORT_WIDTH:  # only a run of spaces wider than a line is left whole
            assert " " * (EXPORT_WIDTH - 5) in p


def test_fold_breaks_after_space_or_equals_like_routeros() -> None:
    line = "add address=192.0.2.1/32 comment=" + '"' + "word " * 12 + '"' + " exchange-mode=ike2 name=peer-1"
    phys = fold(line)
    assert len(phys) == 2
    assert phys[0].endswith(" \\") or phys[0].endswith("=\\")
    assert all(len(p) <= EXPORT_WIDTH for p in phys)
    assert fold("add name=a") == ["add name=a"]


def test_export_is_folded_and_imports_back(session: Session) -> None:
    long_comment = "site to site tunnel towards the branch office in the north, owned by the network team"
    run_ok(session, f'/ip ipsec peer add name=branch address=192.0.2.1/32 comment="{long_comment}"')
    exported = run_ok(session, "/export")
    assert all(len(line) <= EXPORT_WIDTH for line in exported.splitlines())
    assert any(line.endswith("\\") for line in exported.splitlines())
    other = Session(open_config(None))
    for _, line in logical_lines(exported):
        if line.strip() and not line.startswith("#"):
            run_ok(other, line)
    assert run_ok(other, "/export") == exported


def test_print_value_list_and_as_value(session: Session) -> None:
    run_ok(session, "/ip ipsec peer add name=p1 address=192.0.2.1/32")
    run_ok(session, "/ip ipsec peer add name=p2 address=192.0.2.2/32 passive=yes")
    vl = run_ok(session, "/ip ipsec peer print value-list").splitlines()
    name_line = next(line for line in vl if line.strip().startswith("name:"))
    assert name_line.split(":", 1)[1].split() == ["p1", "p2"]
    addr_line = next(line for line in vl if line.strip().startswith("address:"))
    assert addr_line.split(":", 1)[1].split() == ["192.0.2.1/32", "192.0.2.2/32"]
    av = run_ok(session, "/ip ipsec peer print as-value").splitlines()
    assert len(av) == 2
    fields = dict(kv.split("=", 1) for kv in av[1].split(";"))
    assert fields["name"] == "p2" and fields["passive"] == "yes" and fields[".id"].startswith("*")
    assert run_ok(session, "/ip ipsec peer print brief") == run_ok(session, "/ip ipsec peer print")
