"""The PRF as key derivation sees it, until ``ipsecd.crypto.prf`` (owned by the PRF work) lands.

Only this module changes when it does: ``keymat`` and ``auth`` import ``new_prf``, ``prf_plus`` and
``fixed_key_size`` from here. Until then it knows the HMAC PRFs (RFC 2104, RFC 4868) by name.
prf+ is RFC 7296 §2.13: T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), at most 255 blocks.
"""

from __future__ import annotations

import hashlib
import hmac

from ipsecd.crypto.errors import KeySizeError, UnknownAlgorithmError

PrfAlgorithm = object  # a registry PRF row or its name

_HMAC = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}


def _name(alg: PrfAlgorithm) -> str:
    raw = alg if isinstance(alg, str) else str(getattr(alg, "name", alg))
    name = raw.lower().removeprefix("prf-").removeprefix("hmac-").replace("-", "")
    if name == "sha":
        name = "sha1"
    return name


class _HmacPrf:
    __slots__ = ("_key", "_name", "output_size")

    def __init__(self, name: str, key: bytes) -> None:
        self._name = name
        self._key = key
        self.output_size = hashlib.new(name).digest_size

    def compute(self, data: bytes) -> bytes:
        return hmac.digest(self._key, data, self._name)


def new_prf(alg: PrfAlgorithm, key: bytes) -> _HmacPrf:
    name = _name(alg)
    if name not in _HMAC:
        raise UnknownAlgorithmError(f"PRF {alg!r}: unknown")
    return _HmacPrf(_HMAC[name], key)


def fixed_key_size(alg: PrfAlgorithm) -> int | None:
    """Key size of PRFs that only take one (AES-XCBC/CMAC-PRF-128: 16); None for HMAC."""
    if getattr(alg, "fixed_key", False):
        return int(getattr(alg, "key_size", 16))
    if _name(alg) in ("aesxcbc", "aescmac"):
        return 16
    return None


def prf_plus(alg: PrfAlgorithm, key: bytes, seed: bytes, length: int) -> bytes:
    prf = new_prf(alg, key)
    if length > 255 * prf.output_size:
        raise KeySizeError(f"prf+ with {_name(alg)}: {length} bytes exceed 255 blocks")
    out = b""
    block = b""
    n = 1
    while len(out) < length:
        block = prf.compute(block + seed + bytes([n]))
        out += block
        n += 1
    return out[:length]
