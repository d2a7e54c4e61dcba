"""Stand-in for ``ipsecd.crypto.encr``/``integ`` until the crypto suite lands: the same call shapes
(``esp_cipher``/``esp_integ`` → objects with ``seal/open`` or ``encrypt/decrypt``, ``compute/verify``)
on ``cryptography`` directly, for the ESP algorithms the data plane tests exercise. Replaced by a thin
re-export once ``ipsecd.crypto.encr`` exists; nothing else in the tree should import it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ipsecd.crypto.errors import IntegrityError, KeySizeError, MalformedInputError, UnknownAlgorithmError


class EspCipher(Protocol):
    aead: bool
    iv_size: int
    icv_size: int
    block_size: int

    def seal(self, iv: bytes, plaintext: bytes, aad: bytes) -> bytes: ...
    def open(self, iv: bytes, data: bytes, aad: bytes) -> bytes: ...
    def encrypt(self, iv: bytes, data: bytes) -> bytes: ...
    def decrypt(self, iv: bytes, data: bytes) -> bytes: ...


class EspInteg(Protocol):
    icv_size: int

    def compute(self, data: bytes) -> bytes: ...
    def verify(self, data: bytes, icv: bytes) -> None: ...


class _Aead:
    __slots__ = ("_impl", "_salt", "aead", "block_size", "icv_size", "iv_size")

    def __init__(self, impl: Any, salt: bytes, block_size: int) -> None:
        self._impl = impl
        self._salt = salt
        self.aead = True
        self.iv_size = 8
        self.icv_size = 16
        self.block_size = block_size

    def seal(self, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return bytes(self._impl.encrypt(self._salt + iv, plaintext, aad))

    def open(self, iv: bytes, data: bytes, aad: bytes) -> bytes:
        if len(data) < 16:
            raise MalformedInputError("AEAD input shorter than its tag")
        try:
            return bytes(self._impl.decrypt(self._salt + iv, data, aad))
        except InvalidTag as e:
            raise IntegrityError("AEAD tag mismatch") from e

    def encrypt(self, iv: bytes, data: bytes) -> bytes:
        raise NotImplementedError

    def decrypt(self, iv: bytes, data: bytes) -> bytes:
        raise NotImplementedError


class _Block:
    __slots__ = ("_algo", "_ctr_nonce", "aead", "block_size", "icv_size", "iv_size")

    def __init__(self, algo: Any, iv_size: int, block_size: int, ctr_nonce: bytes | None) -> None:
        self._algo = algo
        self._ctr_nonce = ctr_nonce
        self.aead = False
        self.iv_size = iv_size
        self.icv_size = 0
        self.block_size = block_size

    def _mode(self, iv: bytes) -> Any:
        if self._ctr_nonce is not None:
            return modes.CTR(self._ctr_nonce + iv + b"\x00\x00\x00\x01")
        return modes.CBC(iv)

    def encrypt(self, iv: bytes, data: bytes) -> bytes:
        e = Cipher(self._algo, self._mode(iv)).encryptor()
        return e.update(data) + e.finalize()

    def decrypt(self, iv: bytes, data: bytes) -> bytes:
        if len(data) % self.block_size:
            raise MalformedInputError("ciphertext not a multiple of the block size")
        d = Cipher(self._algo, self._mode(iv)).decryptor()
        return d.update(data) + d.finalize()

    def seal(self, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
        raise NotImplementedError

    def open(self, iv: bytes, data: bytes, aad: bytes) -> bytes:
        raise NotImplementedError


class _Hmac:
    __slots__ = ("_base", "icv_size")

    def __init__(self, digest: str, key: bytes, icv_size: int) -> None:
        self._base = hmac.new(key, digestmod=getattr(hashlib, digest))
        self.icv_size = icv_size

    def compute(self, data: bytes) -> bytes:
        h = self._base.copy()
        h.update(data)
        return h.digest()[: self.icv_size]

    def verify(self, data: bytes, icv: bytes) -> None:
        if not hmac.compare_digest(self.compute(data), icv):
            raise IntegrityError("HMAC mismatch")


_HMAC = {"md5": ("md5", 16, 12), "sha1": ("sha1", 20, 12), "sha256": ("sha256", 32, 16), "sha512": ("sha512", 64, 32)}


def esp_cipher(name: str, key: bytes) -> EspCipher | None:
    """The ESP cipher named ``name`` (RouterOS name) keyed with ``key`` (salt included); None for null."""
    if name == "null":
        return None
    if name.startswith("aes-") and name[4:7] in ("128", "192", "256"):
        klen = int(name[4:7]) // 8
        kind = name[8:]
        if kind == "gcm":
            _check(name, key, klen + 4)
            return _Aead(AESGCM(key[:klen]), key[klen:], 4)
        if kind == "ctr":
            _check(name, key, klen + 4)
            return _Block(algorithms.AES(key[:klen]), 8, 4, key[klen:])
        if kind == "cbc":
            _check(name, key, klen)
            return _Block(algorithms.AES(key), 16, 16, None)
    if name == "chacha20poly1305":
        _check(name, key, 36)
        return _Aead(ChaCha20Poly1305(key[:32]), key[32:], 4)
    raise UnknownAlgorithmError(f"ESP encryption {name!r} unknown")


def esp_integ(name: str, key: bytes) -> EspInteg | None:
    """The ESP/AH integrity algorithm named ``name`` keyed with ``key``; None for null."""
    if name == "null":
        return None
    if name not in _HMAC:
        raise UnknownAlgorithmError(f"integrity {name!r} unknown")
    digest, klen, icv = _HMAC[name]
    _check(name, key, klen)
    return _Hmac(digest, key, icv)


def _check(name: str, key: bytes, size: int) -> None:
    if len(key) != size:
        raise KeySizeError(f"{name} needs a {size}-byte key, got {len(key)}")
