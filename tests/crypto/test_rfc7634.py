"""ChaCha20-Poly1305 for ESP and IKEv2 (RFC 7634 §2-§3): the published examples of Appendix A (ESP)
and Appendix B (IKEv2 SK payload), sealed and opened through ipsecd.crypto.encr. The nonce is the
4-byte salt from the KEYMAT followed by the 8-byte IV (§2), the AAD is SPI ‖ sequence number for ESP
(§2.1) and the IKE header plus the SK payload header for IKEv2 (§3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ipsecd.crypto.encr import AeadCipher, esp_cipher
from ipsecd.crypto.errors import IntegrityError

DATA = json.loads((Path(__file__).parent.parent / "vectors" / "rfc7634" / "esp-example.json").read_text())
EXAMPLES = [DATA["esp"], DATA["ikev2"]]


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def _cipher(ex: dict[str, Any]) -> AeadCipher:
    c = esp_cipher("chacha20poly1305", h(ex["key"]) + h(ex["salt"]))  # KEYMAT = key ‖ salt (§2)
    assert isinstance(c, AeadCipher)
    return c


@pytest.mark.parametrize("ex", EXAMPLES, ids=["esp", "ikev2"])
def test_seal_gives_published_ciphertext_and_tag(ex: dict[str, Any]) -> None:
    out = _cipher(ex).seal(h(ex["iv"]), h(ex["plaintext"]), h(ex["aad"]))
    assert out == h(ex["ciphertext"]) + h(ex["tag"])


@pytest.mark.parametrize("ex", EXAMPLES, ids=["esp", "ikev2"])
def test_open_gives_published_plaintext(ex: dict[str, Any]) -> None:
    pt = _cipher(ex).open(h(ex["iv"]), h(ex["ciphertext"]) + h(ex["tag"]), h(ex["aad"]))
    assert pt == h(ex["plaintext"])


def test_esp_aad_is_spi_and_sequence_number() -> None:
    ex = DATA["esp"]
    assert h(ex["aad"]) == ex["spi"].to_bytes(4, "big") + ex["seq"].to_bytes(4, "big")


def test_ikev2_message_layout() -> None:
    """The whole published message is AAD (IKE header + SK header) ‖ IV ‖ ciphertext ‖ tag."""
    ex = DATA["ikev2"]
    msg = h(ex["message"])
    assert int.from_bytes(msg[24:28], "big") == len(msg)  # IKE header length field
    assert msg == h(ex["aad"]) + h(ex["iv"]) + h(ex["ciphertext"]) + h(ex["tag"])


@pytest.mark.parametrize("ex", EXAMPLES, ids=["esp", "ikev2"])
@pytest.mark.parametrize("part", ["ciphertext", "tag", "aad", "iv"])
def test_altered_input_is_refused(ex: dict[str, Any], part: str) -> None:
    fields = {k: bytearray(h(ex[k])) for k in ("iv", "ciphertext", "tag", "aad")}
    fields[part][0] ^= 0x01
    with pytest.raises(IntegrityError, match="chacha20poly1305"):
        _cipher(ex).open(
            bytes(fields["iv"]), bytes(fields["ciphertext"] + fields["tag"]), bytes(fields["aad"])
        )
