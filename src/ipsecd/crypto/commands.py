"""``ipsecd algorithms [--json]``: every algorithm and group, with a self-test run now.

The listing is the registry (``registry.py``) row by row, like ``swanctl --list-algs``: kind,
RouterOS name, IANA ids (IKEv2 transform type/id and Key Length; IKEv1 Oakley, ESP, AH and
phase-2 authentication attribute values), sizes in bytes, whether OpenSSL or ipsecd computes it,
and the result of its known-answer test (``selftest.py`` for symmetric transforms,
``ke.known_answer_test`` for groups), run at the moment the command runs. Exit status 1 when any
self-test fails, so scripts can use it as a power-on check.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any

from ipsecd.crypto import registry
from ipsecd.crypto.errors import CryptoError
from ipsecd.crypto.selftest import run_symmetric

PASS, FAIL, NOT_AVAILABLE = "PASS", "FAIL", "not available"


def _group_tester() -> tuple[Callable[[int], None] | None, dict[int, Any]]:
    """``ke.known_answer_test`` and ``ke.GROUPS`` if the key-exchange module is there."""
    try:
        ke = importlib.import_module("ipsecd.crypto.ke")
    except ImportError:
        return None, {}
    return getattr(ke, "known_answer_test", None), dict(getattr(ke, "GROUPS", {}))


def _ikev2(transform_type: int, transform_id: int, key_bits: int | None = None) -> str:
    return f"{transform_type}/{transform_id}" + (f"/{key_bits}" if key_bits else "")


def _ke_types(g: registry.Group) -> str | None:
    """``4/19`` and ``+6..12`` when the group may also be an additional key exchange (RFC 9370)."""
    if not g.ikev2_types:
        return None
    extra = [t for t in g.ikev2_types if t != registry.KE]
    base = f"{registry.KE}/{g.id}" if registry.KE in g.ikev2_types else f"-/{g.id}"
    return base + (f"+{min(extra)}..{max(extra)}" if extra else "")


def collect() -> list[dict[str, Any]]:
    """One dict per algorithm and group, with its self-test result."""
    results = {(res.kind, res.name): res for res in run_symmetric()}
    rows: list[dict[str, Any]] = []

    def status(kind: str, name: str) -> tuple[str, str]:
        res = results[(kind, name)]
        return (PASS, "") if res.passed else (FAIL, res.detail)

    for e in registry.ENCR_ALGS:
        st, detail = status("encr", e.name)
        rows.append({
            "kind": "encryption", "name": e.name, "profile-name": e.profile_name, "routeros": e.routeros,
            "ikev2": _ikev2(registry.ENCR, e.ikev2_id, e.key_bits if e.ikev2_key_attr else None),
            "ikev1-oakley": e.oakley_id, "ikev1-esp": e.esp_id, "ikev1-ah": None, "ikev1-auth": None,
            "key-size": e.key_size, "salt-size": e.salt_size, "block-size": e.block_size,
            "iv-size": e.iv_size, "icv-size": e.icv_size, "aead": e.aead,
            "implementation": e.implementation, "source": e.source, "note": e.note,
            "self-test": st, "self-test-error": detail,
        })
    for i in registry.INTEG_ALGS:
        st, detail = status("integ", i.name)
        rows.append({
            "kind": "integrity", "name": i.name, "profile-name": None, "routeros": i.routeros,
            "ikev2": _ikev2(registry.INTEG, i.ikev2_id), "ikev1-oakley": None, "ikev1-esp": None,
            "ikev1-ah": i.ah_id, "ikev1-auth": i.auth_attr_id, "key-size": i.key_size, "salt-size": 0,
            "block-size": None, "iv-size": 0, "icv-size": i.icv_size, "aead": False,
            "implementation": i.implementation, "source": i.source, "note": i.note,
            "self-test": st, "self-test-error": detail,
        })
    for p in registry.PRF_ALGS:
        st, detail = status("prf", p.name)
        rows.append({
            "kind": "prf", "name": p.name, "profile-name": p.name if p.routeros else None,
            "routeros": p.routeros, "ikev2": _ikev2(registry.PRF, p.ikev2_id), "ikev1-oakley": None,
            "ikev1-esp": None, "ikev1-ah": None, "ikev1-auth": None, "key-size": p.key_size,
            "salt-size": 0, "block-size": None, "iv-size": 0, "icv-size": p.output_size, "aead": False,
            "implementation": p.implementation, "source": p.source, "note": p.note,
            "self-test": st, "self-test-error": detail,
        })
    for h in registry.HASH_ALGS:
        integ_st, integ_detail = status("integ", h.integ)
        prf_st, prf_detail = status("prf", h.prf)
        ok = integ_st == PASS and prf_st == PASS
        rows.append({
            "kind": "hash", "name": h.name, "profile-name": h.name, "routeros": h.routeros,
            "ikev2": f"integ {h.integ}, prf {h.prf}", "ikev1-oakley": h.oakley_id, "ikev1-esp": None,
            "ikev1-ah": None, "ikev1-auth": None, "key-size": None, "salt-size": 0, "block-size": None,
            "iv-size": 0, "icv-size": h.digest_size, "aead": False, "implementation": registry.OPENSSL,
            "source": h.source, "note": "",
            "self-test": PASS if ok else FAIL, "self-test-error": integ_detail or prf_detail,
        })
    tester, infos = _group_tester()
    for g in registry.GROUPS:
        info = infos.get(g.id)
        if tester is None or info is None:
            st, detail = NOT_AVAILABLE, "ipsecd.crypto.ke does not provide this group"
        else:
            try:
                tester(g.id)
                st, detail = PASS, ""
            except CryptoError as exc:
                st, detail = FAIL, str(exc)
        rows.append({
            "kind": "key-exchange", "name": g.name, "profile-name": g.name, "routeros": g.routeros,
            "ikev2": _ke_types(g),
            "ikev1-oakley": g.id if g.ikev1 else None, "ikev1-esp": None, "ikev1-ah": None,
            "ikev1-auth": None, "key-size": getattr(info, "public_size", None), "salt-size": 0,
            "block-size": None, "iv-size": 0, "icv-size": getattr(info, "shared_size", None), "aead": False,
            "implementation": getattr(info, "implementation", NOT_AVAILABLE), "source": g.source,
            "note": g.note, "self-test": st, "self-test-error": detail,
        })
    return rows


_COLUMNS = (
    ("KIND", "kind"), ("NAME", "name"), ("ROS", "routeros"), ("PROFILE", "profile-name"),
    ("IKEV2", "ikev2"), ("OAKLEY", "ikev1-oakley"),
    ("ESP", "ikev1-esp"), ("AH", "ikev1-ah"), ("AUTH", "ikev1-auth"), ("KEY", "key-size"),
    ("SALT", "salt-size"), ("BLOCK", "block-size"), ("IV", "iv-size"), ("ICV/OUT", "icv-size"),
    ("IMPL", "implementation"), ("SELF-TEST", "self-test"),
)


def _cell(value: Any) -> str:
    if value is None or value is False:
        return "-"
    if value is True:
        return "yes"
    return str(value)


LEGEND = (
    "Sizes in bytes (key-exchange: KEY = public value, ICV/OUT = shared secret). IKEV2 = transform"
    " type/id[/key bits]; ROS = RouterOS offers it under this name; PROFILE = /ip ipsec profile name."
)


def render_table(rows: list[dict[str, Any]]) -> str:
    """A plain aligned table; key-exchange KEY is the public value size, ICV/OUT the shared secret's."""
    cells = [[h for h, _ in _COLUMNS]] + [[_cell(row[k]) for _, k in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    by_note: dict[str, list[str]] = {}
    for row in rows:
        if row["note"]:
            by_note.setdefault(row["note"], []).append(row["name"])
    notes = [f"{', '.join(names)}: {note}" for note, names in by_note.items()]
    failures = [f"{row['name']}: {row['self-test-error']}" for row in rows if row["self-test"] == FAIL]
    out = lines
    if notes:
        out += ["", LEGEND, "Notes:"] + [f"  {n}" for n in notes]
    if failures:
        out += ["", "Self-test failures:"] + [f"  {f}" for f in failures]
    return "\n".join(out)


def algorithms_command(args: argparse.Namespace) -> int:
    rows = collect()
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(render_table(rows))
    failed = [row["name"] for row in rows if row["self-test"] == FAIL]
    if failed:
        print(f"self-test failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "algorithms", help="list every algorithm and group with IANA ids, sizes and a self-test result"
    )
    p.add_argument("--json", action="store_true", help="print a JSON array of objects")
    p.set_defaults(func=algorithms_command)
