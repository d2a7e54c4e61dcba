"""MD4 (RFC 1320), which MS-CHAPv2's password hash needs (RFC 2759 §8.3) and OpenSSL 3 no longer
offers by default (``hashlib.new("md4")`` fails, ``cryptography`` has no MD4). Used only on
passwords of MS-CHAPv2; MD4 is broken as a general hash and must not be used for anything else.
"""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


def _block(state: list[int], block: bytes) -> None:
    """RFC 1320 §3.4: three rounds of sixteen operations over one 64-octet block."""
    x = struct.unpack("<16I", block)
    a, b, c, d = state
    for i in (0, 4, 8, 12):  # round 1: F(X,Y,Z) = XY v not(X) Z
        for k, s in zip(range(i, i + 4), (3, 7, 11, 19), strict=True):
            a = _rotl((a + ((b & c) | (~b & d)) + x[k]) & _MASK, s)
            a, b, c, d = d, a, b, c
    for i in (0, 1, 2, 3):  # round 2: G(X,Y,Z) = XY v XZ v YZ, constant 5A827999
        for k, s in zip((i, i + 4, i + 8, i + 12), (3, 5, 9, 13), strict=True):
            a = _rotl((a + ((b & c) | (b & d) | (c & d)) + x[k] + 0x5A827999) & _MASK, s)
            a, b, c, d = d, a, b, c
    for i in (0, 2, 1, 3):  # round 3: H(X,Y,Z) = X xor Y xor Z, constant 6ED9EBA1
        for k, s in zip((i, i + 8, i + 4, i + 12), (3, 9, 11, 15), strict=True):
            a = _rotl((a + (b ^ c ^ d) + x[k] + 0x6ED9EBA1) & _MASK, s)
            a, b, c, d = d, a, b, c
    state[:] = [(v + w) & _MASK for v, w in zip(state, (a, b, c, d), strict=True)]


def md4(data: bytes) -> bytes:
    """The 16-octet MD4 digest of ``data`` (RFC 1320 §3.1–§3.5: padding, length, rounds)."""
    state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
    padded = data + b"\x80" + bytes(-(len(data) + 9) % 64) + struct.pack("<Q", (len(data) * 8) & (2**64 - 1))
    for i in range(0, len(padded), 64):
        _block(state, padded[i : i + 64])
    return struct.pack("<4I", *state)
