"""Integrity transforms: RFC 2202/4231/4868 vectors, truncation, tampering, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ipsecd.crypto import registry as r
from ipsecd.crypto.encr import BlockCipher, new_cipher
from ipsecd.crypto.errors import IntegrityError, KeySizeError, MalformedInputError
from ipsecd.crypto.integ import esp_integ, icv_once, new_integ

VECTORS = Path(__file__).parent.parent / "vectors"


def cases(rel: str) -> list[dict[str, Any]]:
    data = json.loads((VECTORS / rel).read_text())
    assert data["source"]
    return list(data["cases"])


def test_rfc4868_hmac_sha256_128() -> None:
    for case in cases("rfc4868/hmac-sha-256-128.json"):
        integ = esp_integ("sha256", bytes.fromhex(case["key"]))
        icv = integ.compute(bytes.fromhex(case["data"]))
        assert icv.hex() == case["mac"][:32]
        integ.verify(bytes.fromhex(case["data"]), icv)


@pytest.mark.parametrize(("name", "rel"), [
    ("md5", "rfc2202/hmac-md5.json"),
    ("sha1", "rfc2202/hmac-sha1.json"),
])
def test_truncated_hmac_vectors(name: str, rel: str) -> None:
    """The ICV is the leading 96 bits of the published HMAC, for keys of the SA's size.

    (RFC 4231's keys are never a SHA-2 hash's length; SHA-2 ICVs are checked on RFC 4868's.)
    """
    alg = r.integ(name)
    used = 0
    for case in cases(rel):
        key = bytes.fromhex(case["key"])
        if len(key) != alg.key_size:
            continue  # SA keys always have the hash's length (RFC 4868 §2.1.1)
        icv = new_integ(alg, key).compute(bytes.fromhex(case["data"]))
        assert icv.hex() == case["mac"][: 2 * alg.icv_size]
        used += 1
    assert used >= 1


@pytest.mark.parametrize("alg", [a for a in r.INTEG_ALGS if a.hash], ids=lambda a: a.name)
def test_tampering_and_bad_input(alg: r.IntegAlg) -> None:
    integ = new_integ(alg, os.urandom(alg.key_size))
    data = os.urandom(100)
    icv = integ.compute(memoryview(data))
    assert len(icv) == alg.icv_size
    integ.verify(data, icv)
    with pytest.raises(IntegrityError, match=alg.name):
        integ.verify(bytes([data[0] ^ 1]) + data[1:], icv)
    with pytest.raises(IntegrityError, match=alg.name):
        integ.verify(data, icv[:-1] + bytes([icv[-1] ^ 1]))
    with pytest.raises(MalformedInputError, match=alg.name):
        integ.verify(data, icv[:-1])
    with pytest.raises(KeySizeError, match=alg.name):
        new_integ(alg, bytes(alg.key_size - 1))


@pytest.mark.parametrize("alg", r.INTEG_ALGS, ids=lambda a: a.name)
def test_one_shot_icv_equals_the_keyed_context(alg: r.IntegAlg) -> None:
    key, data = os.urandom(alg.key_size), os.urandom(77)
    assert icv_once(alg, key, data) == new_integ(alg, key).compute(data)
    with pytest.raises(KeySizeError, match=alg.name):
        icv_once(alg, key + b"x", data)


def test_null_integrity() -> None:
    integ = esp_integ("null", b"")
    assert integ.icv_size == 0 and integ.compute(b"abc") == b""
    integ.verify(b"abc", b"")
    with pytest.raises(MalformedInputError):
        integ.verify(b"abc", b"\x00")


CBC_LIKE = [a for a in r.ENCR_ALGS if not a.aead]
HMACS = [a for a in r.INTEG_ALGS if a.hash]


@pytest.mark.parametrize("enc", CBC_LIKE, ids=lambda a: a.name)
@pytest.mark.parametrize("auth", HMACS, ids=lambda a: a.name)
def test_cipher_plus_integrity_pairs_reject_tampering(enc: r.EncrAlg, auth: r.IntegAlg) -> None:
    """Encrypt-then-MAC as ESP does it: any altered ciphertext or ICV byte is refused before decrypting."""
    cipher = new_cipher(enc, os.urandom(enc.keymat_size))
    assert isinstance(cipher, BlockCipher)
    integ = new_integ(auth, os.urandom(auth.key_size))
    iv = os.urandom(enc.iv_size)
    header = b"\x00\x00\x43\x21\x00\x00\x00\x07"
    body = header + iv + cipher.encrypt(iv, os.urandom(enc.block_size * 4))
    packet = body + integ.compute(body)
    integ.verify(packet[: -auth.icv_size], packet[-auth.icv_size :])
    flipped_ct = bytearray(packet)
    flipped_ct[len(header) + enc.iv_size] ^= 0x01
    flipped_icv = bytearray(packet)
    flipped_icv[-1] ^= 0x01
    for bad in (bytes(flipped_ct), bytes(flipped_icv)):
        with pytest.raises(IntegrityError):
            integ.verify(bad[: -auth.icv_size], bad[-auth.icv_size :])
