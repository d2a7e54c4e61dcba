"""The recorded self-test answers agree with independent computations, and a wrong one is caught."""

from __future__ import annotations

import hmac
from collections.abc import Callable

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import Blowfish, Camellia, TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ipsecd.crypto import registry as r
from ipsecd.crypto import selftest as st
from ipsecd.crypto.errors import SelfTestError
from ipsecd.crypto.prf import aes_xcbc_mac
from ipsecd.crypto.twofish import Twofish


def _independent_encr(alg: r.EncrAlg) -> bytes:
    key = st.kat_key(alg.keymat_size)
    k, salt = key[: alg.key_size], key[alg.key_size :]
    iv, pt = st.kat_iv(alg.iv_size), st.KAT_PLAINTEXT
    if alg.mode == "null":
        return pt
    if alg.mode == "chacha20poly1305":
        return ChaCha20Poly1305(k).encrypt(salt + iv, pt, st.KAT_AAD)
    if alg.mode == "gcm":
        full = AESGCM(k).encrypt(salt + iv, pt, st.KAT_AAD)
        return full[: len(pt) + alg.icv_size]
    if alg.mode == "ctr":
        return Cipher(algorithms.AES(k), modes.CTR(salt + iv + b"\0\0\0\1")).encryptor().update(pt)
    if alg.cipher == "twofish":
        tf, prev, out = Twofish(k), iv, b""
        for i in range(0, len(pt), 16):
            prev = tf.encrypt_block(bytes(x ^ y for x, y in zip(pt[i : i + 16], prev, strict=True)))
            out += prev
        return out
    makers: dict[str, Callable[[bytes], BlockCipherAlgorithm]] = {
        "aes": algorithms.AES, "3des": TripleDES, "blowfish": Blowfish, "camellia": Camellia,
        "des": lambda key1: TripleDES(key1 * 3),
    }
    prim = makers[alg.cipher](k)
    return Cipher(prim, modes.CBC(iv)).encryptor().update(pt)


@pytest.mark.parametrize("alg", r.ENCR_ALGS, ids=lambda a: a.name)
def test_encr_answers_are_independent_truth(alg: r.EncrAlg) -> None:
    assert st._EXPECTED[("encr", alg.name)] == _independent_encr(alg).hex()
    st.encr_kat(alg)


@pytest.mark.parametrize("alg", r.INTEG_ALGS, ids=lambda a: a.name)
def test_integ_answers_are_independent_truth(alg: r.IntegAlg) -> None:
    want = b"" if alg.hash is None else hmac.digest(st.kat_key(alg.key_size), st.KAT_PLAINTEXT, alg.hash)
    assert st._EXPECTED[("integ", alg.name)] == want[: alg.icv_size].hex()
    st.integ_kat(alg)


def _independent_prf(alg: r.PrfAlg, key: bytes) -> bytes:
    if alg.hash is not None:
        return hmac.digest(key, st.KAT_PLAINTEXT, alg.hash)
    if alg.kind == "aes-cmac":
        def mac(k: bytes, m: bytes) -> bytes:
            c = cmac.CMAC(algorithms.AES(k))
            c.update(m)
            return c.finalize()
        return mac(key if len(key) == 16 else mac(bytes(16), key), st.KAT_PLAINTEXT)
    k = key if len(key) == 16 else aes_xcbc_mac(bytes(16), key)  # RFC 4434 §2, longer key
    return aes_xcbc_mac(k, st.KAT_PLAINTEXT)


@pytest.mark.parametrize("alg", r.PRF_ALGS, ids=lambda a: a.name)
def test_prf_answers_are_independent_truth(alg: r.PrfAlg) -> None:
    want = _independent_prf(alg, st.kat_key(alg.key_size))
    if alg.fixed_key:
        want += _independent_prf(alg, st.kat_key(20))
    assert st._EXPECTED[("prf", alg.name)] == want.hex()
    st.prf_kat(alg)


def test_run_symmetric_covers_the_registry_and_passes() -> None:
    results = st.run_symmetric()
    assert len(results) == len(r.ENCR_ALGS) + len(r.INTEG_ALGS) + len(r.PRF_ALGS)
    assert all(res.passed for res in results), [res for res in results if not res.passed]


def test_a_wrong_answer_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = dict(st._EXPECTED)
    bad[("encr", "aes-128-gcm")] = "00" * 48
    bad[("prf", "sha1")] = "00"
    monkeypatch.setattr(st, "_EXPECTED", bad)
    with pytest.raises(SelfTestError, match="aes-128-gcm"):
        st.encr_kat(r.encr("aes-128-gcm"))
    failed = {(res.kind, res.name) for res in st.run_symmetric() if not res.passed}
    assert failed == {("encr", "aes-128-gcm"), ("prf", "sha1")}
