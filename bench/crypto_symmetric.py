"""Per-packet cost of ipsecd's symmetric wrappers against calling ``cryptography`` directly.

Targets (issue 3, "Speed"): with a cached per-SA context, seal+open of a 1400-byte packet costs at
most 1.5x calling ``cryptography`` directly in the same run, for AES-GCM (anchor: a cached ``AESGCM``
object's encrypt+decrypt) and for AES-CBC + HMAC-SHA-256 (anchor: the best direct use we know -
the faster of a fresh ``Cipher`` per packet and a long-lived streaming CBC context, each with a
precomputed HMAC ``copy()``). Every other transform's per-packet cost is listed first for reference.

    .venv/bin/python bench/crypto_symmetric.py [--packets N]

The figures and ratios are printed last.
"""

from __future__ import annotations

import argparse
import os
import timeit
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ipsecd.crypto import registry
from ipsecd.crypto.encr import AeadCipher, new_cipher
from ipsecd.crypto.integ import new_integ

SIZE = 1400
AAD = bytes.fromhex("0000432100000001")


def per_call_us(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def ours_seal_open(alg: registry.EncrAlg) -> Callable[[], object]:
    c = new_cipher(alg, os.urandom(alg.keymat_size))
    iv = os.urandom(alg.iv_size)
    size = SIZE - SIZE % alg.block_size
    data = os.urandom(size)
    if isinstance(c, AeadCipher):
        aead = c
        return lambda: aead.open(iv, aead.seal(iv, data, AAD), AAD)
    block = c
    return lambda: block.decrypt(iv, block.encrypt(iv, data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--packets", type=int, default=20000, help="calls per timing run")
    args = parser.parse_args()
    n = args.packets

    print(f"per-packet encrypt+decrypt of {SIZE} bytes, µs (Twofish with fewer calls):")
    for alg in registry.ENCR_ALGS:
        calls = max(n // 200, 20) if alg.cipher == "twofish" else n
        print(f"  {alg.name:18} {per_call_us(ours_seal_open(alg), calls):9.2f}")

    # -- AES-128-GCM ----------------------------------------------------------------------------
    key, salt, iv = os.urandom(16), os.urandom(4), os.urandom(8)
    data = os.urandom(SIZE)
    direct_gcm = AESGCM(key)
    nonce = salt + iv
    ours_gcm = new_cipher(registry.encr("aes-128-gcm"), key + salt)
    assert isinstance(ours_gcm, AeadCipher)
    t_gcm_direct = per_call_us(
        lambda: direct_gcm.decrypt(nonce, direct_gcm.encrypt(nonce, data, AAD), AAD), n
    )
    t_gcm_ours = per_call_us(lambda: ours_gcm.open(iv, ours_gcm.seal(iv, data, AAD), AAD), n)

    # -- AES-128-CBC + HMAC-SHA-256-128 ------------------------------------------------------------
    ckey, mkey, civ = os.urandom(16), os.urandom(32), os.urandom(16)
    cdata = os.urandom(SIZE - SIZE % 16)
    mac_ctx = hmac.HMAC(mkey, hashes.SHA256())

    def direct_fresh() -> bytes:
        ct = Cipher(algorithms.AES(ckey), modes.CBC(civ)).encryptor().update(cdata)
        m = mac_ctx.copy()
        m.update(civ + ct)
        tag = m.finalize()[:16]
        m = mac_ctx.copy()
        m.update(civ + ct)
        assert m.finalize()[:16] == tag
        return Cipher(algorithms.AES(ckey), modes.CBC(civ)).decryptor().update(ct)

    enc = Cipher(algorithms.AES(ckey), modes.CBC(bytes(16))).encryptor()
    dec = Cipher(algorithms.AES(ckey), modes.CBC(bytes(16))).decryptor()

    def direct_streaming() -> bytes:
        # IV chosen by the stream (random first block): the cheapest CBC OpenSSL offers per packet.
        out = enc.update(os.urandom(16) + cdata)
        m = mac_ctx.copy()
        m.update(out)
        tag = m.finalize()[:16]
        m = mac_ctx.copy()
        m.update(out)
        assert m.finalize()[:16] == tag
        return dec.update(out)[16:]

    cbc = new_cipher(registry.encr("aes-128-cbc"), ckey)
    integ = new_integ(registry.integ("sha256"), mkey)
    assert not isinstance(cbc, AeadCipher)
    block = cbc

    def ours_cbc() -> bytes:
        body = block.encrypt_fresh_iv(cdata)
        icv = integ.compute(body)
        integ.verify(body, icv)
        return block.decrypt(body[:16], body[16:])

    def ours_cbc_given_iv() -> bytes:
        body = civ + block.encrypt(civ, cdata)
        icv = integ.compute(body)
        integ.verify(body, icv)
        return block.decrypt(body[:16], body[16:])

    t_cbc_fresh = per_call_us(direct_fresh, n)
    t_cbc_stream = per_call_us(direct_streaming, n)
    t_cbc_best = min(t_cbc_fresh, t_cbc_stream)
    t_cbc_ours = per_call_us(ours_cbc, n)
    t_cbc_ours_iv = per_call_us(ours_cbc_given_iv, n)

    print()
    print(f"aes-128-cbc+sha256 direct, fresh Cipher per packet:   {t_cbc_fresh:6.2f} µs")
    print(f"aes-128-cbc+sha256 direct, streaming CBC context:     {t_cbc_stream:6.2f} µs")
    print(f"aes-128-cbc+sha256 ipsecd, caller-supplied IV:        {t_cbc_ours_iv:6.2f} µs "
          f"({t_cbc_ours_iv / t_cbc_best:.2f}x best direct)")
    print(f"AES-128-GCM seal+open 1400 B: ipsecd {t_gcm_ours:.2f} µs, direct AESGCM {t_gcm_direct:.2f} µs, "
          f"ratio {t_gcm_ours / t_gcm_direct:.2f}x (target <= 1.5x)")
    print(f"AES-128-CBC+HMAC-SHA-256-128 protect+verify 1400 B: ipsecd {t_cbc_ours:.2f} µs, best direct "
          f"{t_cbc_best:.2f} µs, ratio {t_cbc_ours / t_cbc_best:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
