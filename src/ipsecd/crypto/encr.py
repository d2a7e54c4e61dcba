"""ESP and IKE encryption with per-SA cached contexts.

    cipher = new_cipher(alg, key)     # key = cipher key || salt/nonce tail (RFC 4106 §8.1, RFC 3686
                                      # §5.1, RFC 7634 §2), exactly as KEYMAT yields it
    AEAD:  cipher.seal(iv, plaintext, aad) -> ciphertext || ICV;  cipher.open(iv, data, aad)
    other: cipher.encrypt(iv, data);  cipher.decrypt(iv, data)

Modes:
  * AES-GCM (RFC 4106) and ChaCha20-Poly1305 (RFC 7634): nonce = 4-byte salt || 8-byte IV, on
    OpenSSL's one-shot AEAD objects (``AESGCM``, ``ChaCha20Poly1305``) created once per SA. The 8-
    and 12-byte-ICV GCM forms (RFC 4106 §3.3, IANA ids 18/19) truncate the tag on seal and, on open,
    recompute the full tag with the same cached object (see ``AeadCipher.open``).
  * AES-CTR (RFC 3686 §4): counter block = nonce || IV || 0x00000001, computed with a cached
    ``AESGCM`` object (see ``_aes_ctr``) rather than a ``Cipher`` per packet.
  * CBC (RFC 2451, 3602, 4312): a ``Cipher`` object per packet costs more than the AES work on a
    1400-byte packet, so each SA keeps one streaming CBC encryptor and one decryptor for its life
    (each made on its first use).
    A CBC stream's state is simply the last ciphertext block C, so encrypting under an arbitrary
    IV means feeding P1 ⊕ IV ⊕ C as the first block; decrypting means feeding the IV first and
    dropping that one output block. Both produce exactly what a fresh ``Cipher(…, CBC(iv))``
    would (the tests prove it). ``encrypt_fresh_iv`` also lets the stream choose the IV: a random
    block is encrypted first and its ciphertext, being unpredictable, is the IV (RFC 4303 §3.3.2
    asks only that). A context belongs to one SA and one
    thread (the data-plane worker that owns the SA), like the sequence number it travels with.
  * DES: ``cryptography`` dropped single DES; it is 3DES-EDE with K1=K2=K3, which equals DES.
  * Blowfish, Camellia, TripleDES come from ``cryptography.hazmat.decrepit``; Twofish is ours
    (``twofish.py``, block transform and CBC).
  * null (RFC 2410): identity.

Errors: a wrong key size is :class:`KeySizeError`; an IV of the wrong size or a CBC payload that is
not a whole number of blocks, or an AEAD input shorter than its ICV, is :class:`MalformedInputError`;
a tag that does not verify is :class:`IntegrityError`.
"""

from __future__ import annotations

import hmac
import os
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import Blowfish, Camellia, TripleDES
from cryptography.hazmat.primitives.ciphers import (
    BlockCipherAlgorithm,
    Cipher,
    CipherContext,
    algorithms,
    modes,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ipsecd.crypto import registry
from ipsecd.crypto.errors import IntegrityError, KeySizeError, MalformedInputError
from ipsecd.crypto.registry import EncrAlg
from ipsecd.crypto.twofish import Twofish

Data = bytes | bytearray | memoryview

__all__ = ["AeadCipher", "BlockCipher", "esp_cipher", "new_cipher"]


def _check_key(alg: EncrAlg, key: bytes) -> None:
    if len(key) != alg.keymat_size:
        raise KeySizeError(
            f"{alg.name}: key must be {alg.keymat_size} bytes"
            + (f" ({alg.key_size} key + {alg.salt_size} salt)" if alg.salt_size else "")
            + f", got {len(key)}"
        )


def _xor3(a: Data, b: bytes, c: bytes) -> bytes:
    n = len(a)
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big") ^ int.from_bytes(c, "big")).to_bytes(n, "big")


class AeadCipher:
    """AES-GCM (16/12/8-byte ICV) or ChaCha20-Poly1305, one per SA and direction."""

    __slots__ = ("_aead", "_key", "_salt", "alg", "block_size", "icv_size", "iv_size")

    aead: Literal[True] = True

    def __init__(self, alg: EncrAlg, key: bytes) -> None:
        _check_key(alg, key)
        self.alg = alg
        self.iv_size = alg.iv_size
        self.icv_size = alg.icv_size
        self.block_size = alg.block_size
        self._key = bytes(key[: alg.key_size])
        self._salt = bytes(key[alg.key_size :])
        self._aead: AESGCM | ChaCha20Poly1305 = (
            ChaCha20Poly1305(self._key) if alg.mode == "chacha20poly1305" else AESGCM(self._key)
        )

    def one_shot(self) -> tuple[AESGCM | ChaCha20Poly1305, bytes] | None:
        """The OpenSSL one-shot object and the salt, for a 16-byte-ICV AEAD; else None.

        For per-packet hot paths (ESP) that already check IV and length themselves: they call
        ``obj.encrypt(salt + iv, …)`` directly and save this wrapper's extra call (~10 % of a
        1400-byte packet). The nonce rule salt ‖ IV is RFC 4106 §4 / RFC 7634 §2.
        """
        if self.icv_size != 16:
            return None
        return self._aead, self._salt

    def _nonce(self, iv: bytes) -> bytes:
        if len(iv) != 8:
            raise MalformedInputError(f"{self.alg.name}: IV must be 8 bytes, got {len(iv)}")
        return self._salt + iv

    def seal(self, iv: bytes, plaintext: Data, aad: bytes) -> bytes:
        """Ciphertext || ICV of ``plaintext`` under salt || ``iv``, authenticating ``aad``."""
        out = self._aead.encrypt(self._nonce(iv), plaintext, aad)
        if self.icv_size != 16:
            return out[: self.icv_size - 16]
        return out

    def open(self, iv: bytes, ciphertext_and_icv: Data, aad: bytes) -> bytes:
        """Plaintext, or IntegrityError when the ICV does not verify."""
        nonce = self._nonce(iv)
        if len(ciphertext_and_icv) < self.icv_size:
            raise MalformedInputError(
                f"{self.alg.name}: {len(ciphertext_and_icv)} bytes is shorter than "
                f"the {self.icv_size}-byte ICV"
            )
        if self.icv_size == 16:
            try:
                return self._aead.decrypt(nonce, ciphertext_and_icv, aad)
            except InvalidTag:
                raise IntegrityError(f"{self.alg.name}: ICV mismatch") from None
        # Truncated GCM ICV: OpenSSL's one-shot decrypt wants all 16 tag bytes. GCM encryption is
        # a keystream XOR, so "encrypting" the ciphertext yields the plaintext; encrypting that
        # again gives the full tag, whose prefix is compared in constant time. The plaintext is
        # released only after the tag matched. Two cached calls beat a Cipher object per packet.
        view = memoryview(ciphertext_and_icv)
        split = len(view) - self.icv_size
        plaintext = self._aead.encrypt(nonce, view[:split], None)[:-16]
        full_tag = self._aead.encrypt(nonce, plaintext, aad)[-16:]
        if not hmac.compare_digest(full_tag[: self.icv_size], view[split:]):
            raise IntegrityError(f"{self.alg.name}: ICV mismatch")
        return plaintext


class BlockCipher:
    """A CBC, CTR or null cipher for ESP/IKE: ``encrypt``/``decrypt`` with an explicit IV.

    null (RFC 2410) has no IV and is the identity; it aligns ESP to 4 bytes.
    """

    __slots__ = ("_algo", "_ctr", "_dec", "_enc", "_enc_last", "_nonce", "_twofish", "alg", "block_size",
                 "cipher_block_size", "iv_size")

    aead: Literal[False] = False

    def __init__(self, alg: EncrAlg, key: bytes) -> None:
        _check_key(alg, key)
        self.alg = alg
        self.iv_size = alg.iv_size
        self.block_size = alg.block_size
        cipher_key = bytes(key[: alg.key_size])
        self._nonce = bytes(key[alg.key_size :])
        self._twofish: Twofish | None = None
        self._algo: BlockCipherAlgorithm | None = None
        self._enc: CipherContext | None = None
        self._dec: CipherContext | None = None
        self._ctr: AESGCM | None = None
        if alg.mode == "ctr":
            self._ctr = AESGCM(cipher_key)
        if alg.mode == "null":
            self.cipher_block_size = 1
            self._enc_last = b""
            return
        if alg.cipher == "twofish":
            self._twofish = Twofish(cipher_key)
            self.cipher_block_size = 16
            self._enc_last = bytes(16)
            return
        self._algo = _block_algorithm(alg, cipher_key)
        self.cipher_block_size = self._algo.block_size // 8
        self._enc_last = bytes(self.cipher_block_size)

    def _stream(self, encrypt: bool, iv: bytes | None = None) -> CipherContext | None:
        """The CBC stream of one direction, made on its first use and started at that use's IV, which
        then needs no chaining trick (None for other modes): an IKE SA seals and unseals each
        message with a throw-away cipher, which uses one direction once."""
        if self.alg.mode != "cbc" or self._algo is None:  # CTR, null, Twofish (our own CBC)
            return None
        cipher = Cipher(self._algo, modes.CBC(iv if iv is not None else bytes(self.cipher_block_size)))
        if encrypt:
            self._enc = cipher.encryptor()
            return self._enc
        self._dec = cipher.decryptor()
        return self._dec

    def _check(self, iv: bytes, data: Data) -> None:
        if len(iv) != self.iv_size:
            raise MalformedInputError(f"{self.alg.name}: IV must be {self.iv_size} bytes, got {len(iv)}")
        if self.alg.mode == "cbc" and len(data) % self.cipher_block_size:
            raise MalformedInputError(
                f"{self.alg.name}: {len(data)} bytes is not a multiple of "
                f"the {self.cipher_block_size}-byte block"
            )

    def encrypt(self, iv: bytes, data: Data) -> bytes:
        """CBC (or CTR) encryption of ``data`` under ``iv``; CBC data must be whole blocks."""
        self._check(iv, data)
        bs = self.cipher_block_size
        enc = self._enc
        if enc is None:
            enc = self._stream(encrypt=True, iv=bytes(iv))
            if enc is None:
                return self._other(iv, data, encrypt=True)
            out = enc.update(data)
            self._enc_last = out[-bs:] if out else bytes(iv)  # the stream's chaining state
            return out
        if not data:
            return b""
        view = memoryview(data)
        first = enc.update(_xor3(view[:bs], iv, self._enc_last))
        out = first + enc.update(view[bs:]) if len(data) > bs else first
        self._enc_last = out[-bs:]
        return out

    def encrypt_fresh_iv(self, data: Data) -> bytes:
        """IV || CBC ciphertext with an unpredictable IV drawn from the stream itself."""
        enc = self._enc or self._stream(encrypt=True)
        if enc is None:
            iv = os.urandom(self.iv_size)
            return iv + self.encrypt(iv, data)
        self._check(bytes(self.iv_size), data)
        out = enc.update(os.urandom(self.cipher_block_size))
        out += enc.update(data)
        self._enc_last = out[-self.cipher_block_size :]
        return out

    def decrypt(self, iv: bytes, data: Data) -> bytes:
        """Inverse of :meth:`encrypt`; no padding is removed (ESP's trailer is the caller's)."""
        self._check(iv, data)
        dec = self._dec
        if dec is None:
            dec = self._stream(encrypt=False, iv=bytes(iv))
            return self._other(iv, data, encrypt=False) if dec is None else dec.update(data)
        dec.update(iv)  # sets the chaining state to the IV; that output block is meaningless
        return dec.update(data)

    def _other(self, iv: bytes, data: Data, *, encrypt: bool) -> bytes:
        if self.alg.mode == "null":
            return bytes(data)
        if self._twofish is not None:
            tf = self._twofish
            return tf.cbc_encrypt(iv, bytes(data)) if encrypt else tf.cbc_decrypt(iv, bytes(data))
        assert self._ctr is not None
        return _aes_ctr(self._ctr, self._nonce + iv, data)


def _aes_ctr(gcm: AESGCM, nonce_iv: bytes, data: Data) -> bytes:
    """RFC 3686 AES-CTR from a cached AESGCM object instead of a ``Cipher`` per packet.

    GCM with a 96-bit nonce N starts from J0 = N || 00000001 — exactly RFC 3686's first counter
    block — and encrypts data from N || 00000002 on. The first keystream block E(J0) is the tag of
    an empty message (GHASH of nothing is 0, GCM spec §7.1), so: block 1 = data ⊕ tag(""), the rest
    is GCM's ciphertext of data[16:] with its tag dropped. The RFC 3686 vectors check this.
    """
    first = gcm.encrypt(nonce_iv, b"", None)
    n = len(data)
    head = (int.from_bytes(data[:16], "big") ^ int.from_bytes(first[: min(n, 16)], "big")).to_bytes(
        min(n, 16), "big"
    )
    if n <= 16:
        return head
    return head + gcm.encrypt(nonce_iv, data[16:], None)[:-16]


def _block_algorithm(alg: EncrAlg, key: bytes) -> BlockCipherAlgorithm:
    if alg.cipher == "aes":
        return algorithms.AES(key)
    if alg.cipher == "3des":
        return TripleDES(key)
    if alg.cipher == "des":
        return TripleDES(key * 3)  # K1=K2=K3: EDE collapses to single DES
    if alg.cipher == "blowfish":
        return Blowfish(key)
    if alg.cipher == "camellia":
        return Camellia(key)
    raise KeySizeError(f"{alg.name}: no block cipher for {alg.cipher}")  # pragma: no cover - registry


def new_cipher(alg: EncrAlg, key: bytes) -> AeadCipher | BlockCipher:
    """The per-SA cipher context for ``alg``; ``key`` includes the salt/nonce tail where there is one."""
    if alg.aead:
        return AeadCipher(alg, key)
    return BlockCipher(alg, key)


def esp_cipher(name: str, key: bytes) -> AeadCipher | BlockCipher:
    """``new_cipher`` by proposal ``enc-algorithms`` name (``"aes-256-gcm"``, ``"3des"`` …)."""
    return new_cipher(registry.encr(name), key)
