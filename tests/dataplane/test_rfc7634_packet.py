"""The RFC 7634 Appendix A ESP packet (ChaCha20-Poly1305, tunnel mode, SPI 0x01020304, seq 5) opened
by EspSa: the published outer IPv4 packet decapsulates to the published inner ICMP echo, the replay
window advances to the packet's sequence number, and altered bytes are refused."""

from __future__ import annotations

import json
from ipaddress import ip_address
from pathlib import Path

import pytest

from ipsecd.dataplane.errors import StateProtocolError
from ipsecd.dataplane.esp import EspSa
from ipsecd.policy.types import Direction, IpsecProto, Mode, SaSpec
from ipsecd.wire import ip as wip

EX = json.loads((Path(__file__).resolve().parent.parent / "vectors" / "rfc7634" / "esp-example.json")
                .read_text())["esp"]
PACKET = bytes.fromhex(EX["packet"])


def _sa() -> EspSa:
    p = wip.parse(PACKET)
    return EspSa(
        SaSpec(
            EX["spi"],
            Direction.IN,
            IpsecProto.ESP,
            Mode.TUNNEL,
            ip_address(p.src),
            ip_address(p.dst),
            "chacha20poly1305",
            bytes.fromhex(EX["key"] + EX["salt"]),
            "null",
            b"",
        )
    )


def _inner() -> bytes:
    """The published plaintext without its ESP trailer (padding, pad length, next header)."""
    pt = bytes.fromhex(EX["plaintext"])
    return pt[: len(pt) - 2 - pt[-2]]


def test_published_addresses_and_trailer() -> None:
    p = wip.parse(PACKET)
    assert (str(ip_address(p.src)), str(ip_address(p.dst))) == ("203.0.113.153", "203.0.113.5")
    pt = bytes.fromhex(EX["plaintext"])
    assert pt[-1] == 4 and pt[-2] == 2  # IPv4 inside, two bytes of padding


def test_open_published_packet() -> None:
    sa = _sa()
    assert sa.open(PACKET) == _inner()
    assert sa.replay is not None and sa.replay.top == EX["seq"]


def test_open_esp_payload() -> None:
    nh, payload = _sa().open_esp(PACKET[20:])
    assert (nh, payload) == (4, _inner())


@pytest.mark.parametrize("pos", [24, 30, 40, len(PACKET) - 1], ids=["seq", "iv", "ciphertext", "tag"])
def test_altered_packet_refused(pos: int) -> None:
    t = bytearray(PACKET)
    t[pos] ^= 0x80
    with pytest.raises(StateProtocolError):
        _sa().open(bytes(t))
