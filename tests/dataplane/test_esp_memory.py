"""Per-SA memory (issue 5, DESIGN.md §5): an idle ESP SA holds no OpenSSL cipher object until its
first packet, and SAs of one alignment share their trailer tables instead of each building a copy."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ipsecd.dataplane import esp
from ipsecd.dataplane.errors import ConfigError
from ipsecd.dataplane.esp import EspSa
from ipsecd.policy.types import Direction, Mode

from .test_esp import inner_packet, spec


@pytest.mark.parametrize(
    ("encr", "klen", "cls"), [("aes-128-gcm", 20, AESGCM), ("chacha20poly1305", 36, ChaCha20Poly1305)]
)
@pytest.mark.parametrize("first", ["seal", "seal_payload"])
def test_cipher_object_is_built_on_the_first_packet_and_then_called_directly(
        encr: str, klen: int, cls: type, first: str) -> None:
    key = os.urandom(klen)
    out = EspSa(spec(Direction.OUT, encr=encr, ekey=key))
    inb = EspSa(spec(Direction.IN, encr=encr, ekey=key))
    assert not isinstance(out._raw, cls) and not isinstance(inb._raw, cls)
    pkt = inner_packet(4, Mode.TUNNEL, 100)
    if first == "seal":
        assert inb.open(out.seal(pkt)) == pkt
    else:
        assert inb.open_payload(out.seal_payload(pkt)) == pkt
    assert isinstance(out._raw, cls) and isinstance(inb._raw, cls)
    assert inb.open(out.seal(pkt)) == pkt  # and keeps working with the real object


def test_sas_of_the_same_algorithms_share_their_layout_and_addresses() -> None:
    a = EspSa(
        spec(Direction.OUT, encr="aes-128-cbc", ekey=os.urandom(16), integ="sha256", ikey=os.urandom(32))
    )
    b = EspSa(
        spec(Direction.IN, encr="aes-128-cbc", ekey=os.urandom(16), integ="sha256", ikey=os.urandom(32))
    )
    c = EspSa(spec(Direction.IN, encr="aes-128-gcm", ekey=os.urandom(20)))
    assert a._lay is b._lay and a._lay is not c._lay
    assert a.src is b.src and a.dst is b.dst and a.src is not a.dst  # one bytes object per address



@pytest.mark.parametrize(("encr", "klen", "integ", "ilen"),
                         [("aes-128-gcm", 20, "null", 0), ("aes-256-cbc", 32, "sha256", 32)])
def test_installing_an_sa_of_a_known_pair_builds_no_cipher_object(
        monkeypatch: pytest.MonkeyPatch, encr: str, klen: int, integ: str, ilen: int) -> None:
    """Issue 16: the first SA of an algorithm pair proves the pair and its keys with real cipher
    objects; the next ones check their key sizes only (an install cost ~0.1 ms of OpenSSL set-up
    each), and a key of the wrong size is still refused with the cipher's own message."""
    EspSa(spec(Direction.OUT, encr=encr, ekey=os.urandom(klen), integ=integ, ikey=os.urandom(ilen)))
    built: list[str] = []
    real = esp.esp_cipher
    monkeypatch.setattr(esp, "esp_cipher", lambda name, key: built.append(name) or real(name, key))
    sa = EspSa(spec(Direction.IN, encr=encr, ekey=os.urandom(klen), integ=integ, ikey=os.urandom(ilen)))
    assert built == []
    with pytest.raises(ConfigError, match=f"key must be {klen} bytes"):
        EspSa(spec(Direction.IN, encr=encr, ekey=os.urandom(klen - 1), integ=integ, ikey=os.urandom(ilen)))
    pkt = inner_packet(4, Mode.TUNNEL, 100)
    out = EspSa(spec(Direction.OUT, encr=encr, ekey=sa.spec.encr_key, integ=integ, ikey=sa.spec.integ_key))
    assert sa.open(out.seal(pkt)) == pkt and built  # the first packet builds them
