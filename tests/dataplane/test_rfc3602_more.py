"""RFC 3602 §4 test cases #6 (transport mode) and #8 (tunnel mode), AES-128-CBC ESP without integrity,
decapsulated by EspSa: the published ESP packet opens to the published original IP packet and the
replay window advances to its sequence number. Completes cases #5/#7 of test_esp_vectors.py."""

from __future__ import annotations

import json
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from ipsecd.dataplane.esp import EspSa
from ipsecd.policy.types import Direction, IpsecProto, Mode, SaSpec
from ipsecd.wire import ip as wip

DATA = json.loads((Path(__file__).resolve().parent.parent / "vectors" / "rfc3602" / "esp_packets_6_8.json")
                  .read_text())
CASES: list[dict[str, Any]] = DATA["cases"]


def _sa(case: dict[str, Any]) -> EspSa:
    p = wip.parse(bytes.fromhex(case["outer"]))
    return EspSa(SaSpec(case["spi"], Direction.IN, IpsecProto.ESP, Mode(case["mode"]), ip_address(p.src),
                        ip_address(p.dst), case["encr"], bytes.fromhex(case["key"]), "null", b""))


def test_source() -> None:
    assert DATA["source"].startswith("RFC 3602") and [c["name"][:5] for c in CASES] == ["case6", "case8"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_rfc3602_packets(case: dict[str, Any]) -> None:
    sa = _sa(case)
    assert sa.open(bytes.fromhex(case["outer"])) == bytes.fromhex(case["inner"])
    assert sa.replay is not None and sa.replay.top == case["seq"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_rfc3602_esp_payload(case: dict[str, Any]) -> None:
    """Next header 1 (ICMP) in transport mode, 4 (IPv4) in tunnel mode; the payload is what the RFC shows."""
    nh, payload = _sa(case).open_esp(bytes.fromhex(case["outer"])[20:])
    inner = bytes.fromhex(case["inner"])
    assert (nh, payload) == ((1, inner[20:]) if case["mode"] == "transport" else (4, inner))
