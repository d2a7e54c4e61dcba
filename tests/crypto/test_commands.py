"""``ipsecd algorithms [--json]``: every registry row, its ids and sizes, and a live self-test."""

from __future__ import annotations

import json

import pytest

from ipsecd.cli import main
from ipsecd.crypto import commands
from ipsecd.crypto import registry as r
from ipsecd.crypto import selftest as st


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["algorithms", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_json_lists_every_algorithm_and_group(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--json")
    assert rc == 0
    rows = json.loads(out)
    by_kind: dict[str, set[str]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], set()).add(row["name"])
        assert row["self-test"] == "PASS", row
        assert row["implementation"] in ("OpenSSL", "ipsecd")
    assert by_kind["encryption"] == {a.name for a in r.ENCR_ALGS}
    assert by_kind["integrity"] == {a.name for a in r.INTEG_ALGS}
    assert by_kind["prf"] == {a.name for a in r.PRF_ALGS}
    assert by_kind["key-exchange"] == {g.name for g in r.GROUPS}
    gcm = next(row for row in rows if row["name"] == "aes-256-gcm")
    assert (
        gcm["ikev2"],
        gcm["ikev1-esp"],
        gcm["key-size"],
        gcm["salt-size"],
        gcm["icv-size"],
        gcm["aead"],
    ) == ("1/20/256", 20, 32, 4, 16, True)
    twofish = next(row for row in rows if row["name"] == "twofish")
    assert twofish["implementation"] == "ipsecd" and "1027" in twofish["note"]
    ec2n = next(row for row in rows if row["name"] == "ec2n155")
    assert ec2n["ikev2"] is None and ec2n["ikev1-oakley"] == 3


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["KIND", "NAME", "ROS"]
    sha256 = next(line.split() for line in lines if line.startswith("integrity") and " sha256 " in line)
    assert sha256[-1] == "PASS" and "3/12" in sha256
    assert any(line.startswith("key-exchange") and "x25519" in line for line in lines)


def test_a_failing_self_test_is_shown_and_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = dict(st._EXPECTED)
    bad[("integ", "sha1")] = "00"
    monkeypatch.setattr(st, "_EXPECTED", bad)
    rc, out, err = run(capsys)
    assert rc == 1
    assert "sha1" in err
    row = next(line.split() for line in out.splitlines() if line.startswith("integrity") and " sha1 " in line)
    assert row[-1] == "FAIL"
    assert "Self-test failures:" in out


def test_groups_without_key_exchange_module(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "_group_tester", lambda: (None, {}))
    rc, out, _ = run(capsys, "--json")
    assert rc == 0
    groups = [row for row in json.loads(out) if row["kind"] == "key-exchange"]
    assert groups and all(row["self-test"] == "not available" for row in groups)
