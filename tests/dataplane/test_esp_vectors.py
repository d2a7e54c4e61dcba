"""Published ESP packets decapsulated by EspSa: RFC 3602 §4 cases #5 (transport) and #7 (tunnel), and
the fourteen ESP packets of draft-mcgrew-gcm-test-01 §4 (AES-GCM, 128/192/256-bit keys, with and
without extended sequence numbers). Data files under tests/vectors/<source>/."""

from __future__ import annotations

import json
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from ipsecd.dataplane.errors import StateProtocolError
from ipsecd.dataplane.esp import EspSa
from ipsecd.policy.types import Direction, IpsecProto, Mode, SaSpec
from ipsecd.wire import ip as wip

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
RFC3602 = json.loads((VECTORS / "rfc3602" / "esp_packets.json").read_text())["cases"]
GCM = json.loads((VECTORS / "draft-mcgrew-gcm-test-01" / "esp_packets.json").read_text())["cases"]


@pytest.mark.parametrize("case", RFC3602, ids=[c["name"] for c in RFC3602])
def test_rfc3602_packets(case: dict[str, Any]) -> None:
    outer = bytes.fromhex(case["outer"])
    p = wip.parse(outer)
    sa = EspSa(SaSpec(case["spi"], Direction.IN, IpsecProto.ESP, Mode(case["mode"]), ip_address(p.src),
                      ip_address(p.dst), case["encr"], bytes.fromhex(case["key"]), "null", b""))
    assert sa.open(outer) == bytes.fromhex(case["inner"])
    assert sa.replay is not None and sa.replay.top == case["seq"]


def _gcm_sa(case: dict[str, Any]) -> EspSa:
    sa = EspSa(SaSpec(case["spi"], Direction.IN, IpsecProto.ESP, Mode.TUNNEL, ip_address("192.0.2.1"),
                      ip_address("192.0.2.2"), case["encr"], bytes.fromhex(case["key"]), "null", b"",
                      esn=case["esn"]))
    assert sa.replay is not None
    sa.replay.top = case["seq"] - 1  # the receiver has seen everything before this packet
    return sa


@pytest.mark.parametrize("case", GCM, ids=[c["name"] for c in GCM])
def test_gcm_draft_packets(case: dict[str, Any]) -> None:
    sa = _gcm_sa(case)
    plaintext = bytes.fromhex(case["plaintext"])
    nh, payload = sa.open_esp(bytes.fromhex(case["packet"]))
    padlen = plaintext[-2]
    assert (nh, payload) == (plaintext[-1], plaintext[: len(plaintext) - 2 - padlen])
    assert sa.replay is not None and sa.replay.top == case["seq"]


@pytest.mark.parametrize("case", GCM[:3] + [c for c in GCM if c["esn"]][:2], ids=lambda c: c["name"])
def test_gcm_draft_packets_altered(case: dict[str, Any]) -> None:
    sa = _gcm_sa(case)
    packet = bytearray(bytes.fromhex(case["packet"]))
    for pos in (5, 12, 20, len(packet) - 1):  # seq, IV, ciphertext, tag
        t = bytearray(packet)
        t[pos] ^= 0x80
        with pytest.raises(StateProtocolError):
            sa.open_esp(bytes(t))
