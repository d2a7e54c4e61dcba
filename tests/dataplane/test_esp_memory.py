"""Per-SA memory (issue 5, DESIGN.md §5): an idle ESP SA holds no OpenSSL cipher object until its
first packet, and SAs of one alignment share their trailer tables instead of each building a copy."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

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

