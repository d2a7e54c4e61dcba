"""Encryption: published vectors, the streaming-CBC equivalence, tampering and bad input."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import Blowfish, Camellia, TripleDES
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes

from ipsecd.crypto import registry as r
from ipsecd.crypto.encr import AeadCipher, BlockCipher, esp_cipher, new_cipher
from ipsecd.crypto.errors import IntegrityError, KeySizeError, MalformedInputError

VECTORS = Path(__file__).parent.parent / "vectors"


def cases(rel: str) -> list[dict[str, Any]]:
    data = json.loads((VECTORS / rel).read_text())
    assert data["source"]
    return list(data["cases"])


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def block(name: str, key: bytes) -> BlockCipher:
    c = esp_cipher(name, key)
    assert isinstance(c, BlockCipher)
    return c


def aead(name: str, key: bytes) -> AeadCipher:
    c = esp_cipher(name, key)
    assert isinstance(c, AeadCipher)
    return c


# -- vectors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", cases("rfc3602/aes-cbc.json"))
def test_rfc3602_aes_cbc(case: dict[str, str]) -> None:
    c = block("aes-128-cbc", h(case["key"]))
    assert c.encrypt(h(case["iv"]), h(case["plaintext"])).hex() == case["ciphertext"]
    assert c.decrypt(h(case["iv"]), h(case["ciphertext"])).hex() == case["plaintext"]


def test_rfc3602_esp_packets_decrypt() -> None:
    for case in cases("rfc3602/esp_packets.json"):
        outer = h(case["outer"])
        esp = outer[20:]  # IPv4 header without options, then SPI | seq | IV | ciphertext
        c = block(case["encr"], h(case["key"]))
        plain = c.decrypt(esp[8:24], esp[24:])
        pad_len, _next = plain[-2], plain[-1]
        payload = plain[: len(plain) - 2 - pad_len].hex()
        # transport mode: the inner packet is the outer IP header (restored) plus this payload
        assert len(payload) > 40 and case["inner"].endswith(payload)


@pytest.mark.parametrize("case", cases("rfc3686/aes-ctr.json"))
def test_rfc3686_aes_ctr(case: dict[str, str]) -> None:
    key = h(case["key"])
    c = block(f"aes-{len(key) * 8}-ctr", key + h(case["nonce"]))
    assert c.encrypt(h(case["iv"]), h(case["plaintext"])).hex() == case["ciphertext"]
    assert c.decrypt(h(case["iv"]), h(case["ciphertext"])).hex() == case["plaintext"]


@pytest.mark.parametrize("case", cases("draft-mcgrew-gcm-test-01/esp_packets.json"), ids=lambda c: c["name"])
def test_gcm_draft_esp_packets(case: dict[str, Any]) -> None:
    packet = h(case["packet"])
    seq = case["seq"]
    aad = struct.pack(">IQ", case["spi"], seq) if case["esn"] else struct.pack(">II", case["spi"], seq)
    iv, body = packet[8:16], packet[16:]
    c = aead(case["encr"], h(case["key"]))
    assert c.seal(iv, h(case["plaintext"]), aad) == body
    assert c.open(iv, body, aad).hex() == case["plaintext"]


@pytest.mark.parametrize("case", cases("rfc8439/chacha20poly1305.json"))
def test_rfc8439_chacha20poly1305(case: dict[str, str]) -> None:
    nonce = h(case["nonce"])
    c = aead("chacha20poly1305", h(case["key"]) + nonce[:4])
    out = c.seal(nonce[4:], h(case["plaintext"]), h(case["aad"]))
    assert out.hex() == case["ciphertext"] + case["tag"]
    assert c.open(nonce[4:], out, h(case["aad"])).hex() == case["plaintext"]


@pytest.mark.parametrize("case", cases("rfc3713/camellia.json"))
def test_rfc3713_camellia(case: dict[str, str]) -> None:
    key = h(case["key"])
    c = block(f"camellia-{len(key) * 8}", key)
    assert c.encrypt(bytes(16), h(case["plaintext"])).hex() == case["ciphertext"]
    assert c.decrypt(bytes(16), h(case["ciphertext"])).hex() == case["plaintext"]


@pytest.mark.parametrize("case", cases("twofish/twofish-paper.json"))
def test_twofish_paper_vectors(case: dict[str, str]) -> None:
    key = h(case["key"])
    name = "twofish" if len(key) == 16 else f"twofish-{len(key) * 8}"
    c = block(name, key)
    assert c.encrypt(bytes(16), h(case["plaintext"])).hex() == case["ciphertext"]
    assert c.decrypt(bytes(16), h(case["ciphertext"])).hex() == case["plaintext"]


def test_blowfish_cbc_vector() -> None:
    (case,) = cases("blowfish/bf-cbc.json")
    c = block("blowfish", h(case["key"]))
    assert c.encrypt(h(case["iv"]), h(case["plaintext"])).hex() == case["ciphertext"]
    assert c.decrypt(h(case["iv"]), h(case["ciphertext"])).hex() == case["plaintext"]


def test_blowfish_ecb_vectors_on_the_primitive_we_use() -> None:
    for case in cases("blowfish/bf-ecb.json"):
        enc = Cipher(Blowfish(h(case["key"])), modes.ECB()).encryptor()
        assert enc.update(h(case["plaintext"])).hex() == case["ciphertext"]


@pytest.mark.parametrize("case", cases("nist-cavp-tdes/tcbcmmt3.json")[:5])
def test_3des_cavp(case: dict[str, str]) -> None:
    c = block("3des", h(case["key"]))
    assert c.encrypt(h(case["iv"]), h(case["plaintext"])).hex() == case["ciphertext"]
    assert c.decrypt(h(case["iv"]), h(case["ciphertext"])).hex() == case["plaintext"]


def test_single_des_classic_vector() -> None:
    # FIPS 46 worked example (key 133457799BBCDFF1): single DES as 3DES with K1=K2=K3.
    c = block("des", h("133457799bbcdff1"))
    assert c.encrypt(bytes(8), h("0123456789abcdef")).hex() == "85e813540f0ab405"


# -- streaming CBC equals fresh-Cipher CBC ----------------------------------------------------------


def _reference(alg: r.EncrAlg, key: bytes) -> BlockCipherAlgorithm:
    table: dict[str, Callable[[], BlockCipherAlgorithm]] = {
        "aes": lambda: algorithms.AES(key),
        "3des": lambda: TripleDES(key),
        "des": lambda: TripleDES(key * 3),
        "blowfish": lambda: Blowfish(key),
        "camellia": lambda: Camellia(key),
    }
    return table[alg.cipher]()


CBC_OPENSSL = [a for a in r.ENCR_ALGS if a.mode == "cbc" and a.cipher != "twofish"]


@pytest.mark.parametrize("alg", CBC_OPENSSL, ids=lambda a: a.name)
def test_streaming_cbc_equals_fresh_cipher(alg: r.EncrAlg) -> None:
    key = os.urandom(alg.key_size)
    c = new_cipher(alg, key)
    d = new_cipher(alg, key)
    assert isinstance(c, BlockCipher) and isinstance(d, BlockCipher)
    for n_blocks in (1, 2, 7, 1, 90, 3):
        iv = os.urandom(alg.iv_size)
        pt = os.urandom(n_blocks * alg.block_size)
        ref = Cipher(_reference(alg, key), modes.CBC(iv)).encryptor().update(pt)
        assert c.encrypt(iv, memoryview(pt)) == ref
        assert d.decrypt(iv, ref) == pt
        fresh = c.encrypt_fresh_iv(pt)
        f_iv, f_ct = fresh[: alg.iv_size], fresh[alg.iv_size :]
        assert f_ct == Cipher(_reference(alg, key), modes.CBC(f_iv)).encryptor().update(pt)
        assert d.decrypt(f_iv, f_ct) == pt


@pytest.mark.parametrize("first", ["empty", "fresh-iv"])
def test_streaming_cbc_whatever_its_first_use(first: str) -> None:
    """The stream is made on its first use (started at that IV); what comes after is unaffected."""
    alg = r.encr("aes-128-cbc")
    key = os.urandom(16)
    c = new_cipher(alg, key)
    assert isinstance(c, BlockCipher)
    if first == "empty":
        assert c.encrypt(os.urandom(16), b"") == b""
    else:
        assert len(c.encrypt_fresh_iv(bytes(32))) == 48
    for n_blocks in (1, 3):
        iv, pt = os.urandom(16), os.urandom(16 * n_blocks)
        assert c.encrypt(iv, pt) == Cipher(_reference(alg, key), modes.CBC(iv)).encryptor().update(pt)


def test_fresh_ivs_differ() -> None:
    c = block("aes-128-cbc", bytes(16))
    ivs = {c.encrypt_fresh_iv(bytes(16))[:16] for _ in range(50)}
    assert len(ivs) == 50


# -- every cipher: round trip, tampering, bad input -------------------------------------------------


def _bad_icv(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


@pytest.mark.parametrize("alg", [a for a in r.ENCR_ALGS if a.aead], ids=lambda a: a.name)
def test_aead_round_trip_and_tampering(alg: r.EncrAlg) -> None:
    c = new_cipher(alg, os.urandom(alg.keymat_size))
    assert isinstance(c, AeadCipher)
    iv, aad, pt = os.urandom(8), b"\x00\x00\x43\x21\x00\x00\x00\x01", os.urandom(77)
    out = c.seal(iv, pt, aad)
    assert len(out) == len(pt) + alg.icv_size
    assert c.open(iv, memoryview(out), aad) == pt
    altered_ct = bytes([out[0] ^ 0x80]) + out[1:]
    for bad in (altered_ct, _bad_icv(out)):
        with pytest.raises(IntegrityError, match=alg.name):
            c.open(iv, bad, aad)
    with pytest.raises(IntegrityError):
        c.open(iv, out, aad[:-1] + b"\x02")
    with pytest.raises(IntegrityError):
        c.open(os.urandom(8), out, aad)
    with pytest.raises(MalformedInputError, match="shorter"):
        c.open(iv, out[: alg.icv_size - 1], aad)
    with pytest.raises(MalformedInputError, match="IV"):
        c.seal(iv[:7], pt, aad)


@pytest.mark.parametrize("alg", [a for a in r.ENCR_ALGS if not a.aead], ids=lambda a: a.name)
def test_block_round_trip_and_bad_input(alg: r.EncrAlg) -> None:
    c = new_cipher(alg, os.urandom(alg.keymat_size))
    assert isinstance(c, BlockCipher) and not c.aead
    iv = os.urandom(alg.iv_size)
    pt = os.urandom(alg.block_size * 8)
    ct = c.encrypt(iv, pt)
    assert c.decrypt(iv, ct) == pt
    if alg.mode != "null":
        assert ct != pt
        with pytest.raises(MalformedInputError, match="IV"):
            c.encrypt(iv + b"\x00", pt)
    if alg.mode == "cbc":
        with pytest.raises(MalformedInputError, match="multiple"):
            c.decrypt(iv, ct[:-1])


@pytest.mark.parametrize("alg", r.ENCR_ALGS, ids=lambda a: a.name)
def test_wrong_key_size(alg: r.EncrAlg) -> None:
    with pytest.raises(KeySizeError, match=alg.name):
        new_cipher(alg, bytes(alg.keymat_size + 1))


def test_gcm_truncated_icv_is_a_prefix_of_the_full_tag() -> None:
    key = os.urandom(20)
    full = aead("aes-128-gcm", key).seal(bytes(8), b"x" * 40, b"aad")
    assert aead("aes-128-gcm-8", key).seal(bytes(8), b"x" * 40, b"aad") == full[:-8]
    assert aead("aes-128-gcm-12", key).seal(bytes(8), b"x" * 40, b"aad") == full[:-4]


@pytest.mark.parametrize("name", ["aes-128-gcm-8", "aes-256-gcm-12"])
def test_truncated_gcm_agrees_with_openssl_truncated_tag_api(name: str) -> None:
    alg = r.encr(name)
    key = os.urandom(alg.keymat_size)
    k, salt = key[: alg.key_size], key[alg.key_size :]
    iv, aad, pt = os.urandom(8), b"\x00\x00\x00\x01\x00\x00\x00\x02", os.urandom(333)
    ours = aead(name, key).seal(iv, pt, aad)
    dec = Cipher(algorithms.AES(k), modes.GCM(salt + iv, ours[-alg.icv_size :], alg.icv_size)).decryptor()
    dec.authenticate_additional_data(aad)
    assert dec.update(ours[: -alg.icv_size]) + dec.finalize() == pt
    assert aead(name, key).open(iv, ours, aad) == pt


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32, 33, 1400])
def test_ctr_equals_openssl_ctr_at_every_length(length: int) -> None:
    key, iv = os.urandom(36), os.urandom(8)
    data = os.urandom(length)
    ref = Cipher(algorithms.AES(key[:32]), modes.CTR(key[32:] + iv + b"\0\0\0\1")).encryptor().update(data)
    c = block("aes-256-ctr", key)
    assert c.encrypt(iv, data) == ref
    assert c.decrypt(iv, memoryview(ref)) == data
