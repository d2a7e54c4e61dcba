"""Pseudo-random functions and prf+ for IKE key derivation.

    p = new_prf(alg_or_name, key);  p.compute(data);  p.output_size
    prf_plus(p, seed, length)  or  prf_plus(alg_or_name, key, seed, length)   (RFC 7296 §2.13)

* HMAC-MD5/SHA1/SHA2-256/384/512 (RFC 2104, RFC 4868 §2.1.2: the full, untruncated output).
* AES-XCBC-PRF-128 (RFC 4434) on AES-XCBC-MAC (RFC 3566 §4): K1/K2/K3 derived by encrypting
  0x01…, 0x02…, 0x03… blocks; the last block is xored with K2 when complete, else padded with
  0x80 00… and xored with K3. Key rule (RFC 4434 §2): a 16-byte key is used as is, a shorter one is
  zero-padded to 16 bytes, a longer one is replaced by AES-XCBC-PRF-128 keyed with 0^128 over it.
* AES-CMAC-PRF-128 (RFC 4615 §3) on OpenSSL's CMAC: a 16-byte key is used as is, any other
  length is replaced by AES-CMAC keyed with 0^128 over it.

prf+ (RFC 7296 §2.13): T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), at most 255 blocks.
"""

from __future__ import annotations

from _hashlib import hmac_new as _hmac_new  # OpenSSL's HMAC, as hmac.new uses it
from typing import overload

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ipsecd.crypto import registry
from ipsecd.crypto.errors import KeySizeError, MalformedInputError
from ipsecd.crypto.registry import PrfAlg

Data = bytes | bytearray | memoryview

__all__ = ["Prf", "aes_xcbc_mac", "new_prf", "prf_plus"]

_BLOCK = 16


def aes_xcbc_mac(key: bytes, data: Data) -> bytes:
    """AES-XCBC-MAC (RFC 3566 §4.3) with a 16-byte key, untruncated (16 bytes)."""
    if len(key) != _BLOCK:
        raise KeySizeError(f"aes-xcbc: key must be 16 bytes, got {len(key)}")
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    k1, k2, k3 = (ecb.update(bytes([i]) * _BLOCK) for i in (1, 2, 3))
    data = bytes(data)
    if data and len(data) % _BLOCK == 0:
        head, last, k_last = data[:-_BLOCK], data[-_BLOCK:], k2
    else:
        cut = len(data) - len(data) % _BLOCK
        head = data[:cut]
        tail = data[cut:]
        last, k_last = tail + b"\x80" + bytes(_BLOCK - len(tail) - 1), k3
    e = bytes(_BLOCK)
    if head:
        e = Cipher(algorithms.AES(k1), modes.CBC(bytes(_BLOCK))).encryptor().update(head)[-_BLOCK:]
    x = int.from_bytes(last, "big") ^ int.from_bytes(e, "big") ^ int.from_bytes(k_last, "big")
    return Cipher(algorithms.AES(k1), modes.ECB()).encryptor().update(x.to_bytes(_BLOCK, "big"))


def _aes_cmac(key: bytes, data: Data) -> bytes:
    c = cmac.CMAC(algorithms.AES(key))
    c.update(bytes(data))
    return c.finalize()


class Prf:
    """A keyed PRF; ``compute`` may be called any number of times."""

    __slots__ = ("_hash", "_key", "alg", "output_size")

    def __init__(self, alg: PrfAlg, key: Data) -> None:
        self.alg = alg
        self.output_size = alg.output_size
        key = bytes(key)
        # HMACs run as one OpenSSL HMAC object per computation, made by the C constructor the
        # stdlib's ``hmac`` module itself wraps: IKE computes each keyed prf once or a few times
        # (prf+), where the Python ``hmac.HMAC`` wrapper and its copies cost about twice as much
        self._hash = alg.hash
        if alg.hash is not None:
            self._key = key
        elif alg.kind == "aes-xcbc":
            if len(key) < _BLOCK:
                key = key + bytes(_BLOCK - len(key))
            elif len(key) > _BLOCK:
                key = aes_xcbc_mac(bytes(_BLOCK), key)
            self._key = key
        else:
            self._key = key if len(key) == _BLOCK else _aes_cmac(bytes(_BLOCK), key)

    def compute(self, data: Data) -> bytes:
        if self._hash is not None:
            return _hmac_new(self._key, data, self._hash).digest()
        if self.alg.kind == "aes-xcbc":
            return aes_xcbc_mac(self._key, data)
        return _aes_cmac(self._key, data)


def new_prf(alg: PrfAlg | str, key: Data) -> Prf:
    """A keyed PRF from a registry row or its name (``"sha256"``, ``"aes-xcbc"`` …)."""
    return Prf(registry.prf(alg) if isinstance(alg, str) else alg, key)


@overload
def prf_plus(prf: Prf, key_or_seed: Data, seed_or_length: int, length: None = None) -> bytes: ...
@overload
def prf_plus(prf: PrfAlg | str, key_or_seed: Data, seed_or_length: Data, length: int) -> bytes: ...


def prf_plus(prf: Prf | PrfAlg | str, key_or_seed: Data, seed_or_length: Data | int,
             length: int | None = None) -> bytes:
    """prf+ (RFC 7296 §2.13): ``prf_plus(prf, seed, length)`` or ``prf_plus(alg, key, seed, length)``."""
    if isinstance(prf, Prf):
        if not isinstance(seed_or_length, int) or length is not None:
            raise TypeError("prf_plus(prf, seed, length)")
        p, seed, n = prf, bytes(key_or_seed), seed_or_length
    else:
        if isinstance(seed_or_length, int) or length is None:
            raise TypeError("prf_plus(alg, key, seed, length)")
        p, seed, n = new_prf(prf, key_or_seed), bytes(seed_or_length), length
    if n < 0:
        raise MalformedInputError(f"prf+ ({p.alg.name}): negative length {n}")
    if n > 255 * p.output_size:
        raise KeySizeError(f"prf+ ({p.alg.name}): {n} bytes exceeds 255 blocks of {p.output_size}")
    out = bytearray()
    t = b""
    i = 1
    while len(out) < n:
        t = p.compute(t + seed + bytes([i]))
        out += t
        i += 1
    return bytes(out[:n])
