"""Twofish block cipher (Schneier, Kelsey, Whiting, Wagner, Hall, Ferguson, 1998), our own.

OpenSSL and ``cryptography`` have no Twofish, yet RouterOS offers it in ``enc-algorithms`` and
strongSwan negotiates it (private-use id 1027), so the project carries it. This is a straight
reading of the paper's §4 (the F function, the g function built on the q0/q1 permutations and the
MDS matrix, the RS code for the S-box key words, and the h-based subkey schedule); for speed the
key-dependent S-boxes and the MDS multiplication are folded into four 256-entry tables per key, as
the paper's "full keying" option describes (§7.3). Pure Python: about 1.3 ms per 1400-byte
packet, fine for a legacy algorithm and said so in ``ipsecd algorithms``. CBC is done here on
words rather than bytes for the same reason; ``encr.py`` checks IV and length first.
"""

from __future__ import annotations

import struct

from ipsecd.crypto.errors import KeySizeError, MalformedInputError

_MASK = 0xFFFFFFFF
_WORDS = struct.Struct("<4I")  # a block as four little-endian words (paper §4.1)

# The 4-bit permutations t0..t3 of q0 and q1 (paper §4.3.5).
_Q_TABLES = (
    (
        (0x8, 0x1, 0x7, 0xD, 0x6, 0xF, 0x3, 0x2, 0x0, 0xB, 0x5, 0x9, 0xE, 0xC, 0xA, 0x4),
        (0xE, 0xC, 0xB, 0x8, 0x1, 0x2, 0x3, 0x5, 0xF, 0x4, 0xA, 0x6, 0x7, 0x0, 0x9, 0xD),
        (0xB, 0xA, 0x5, 0xE, 0x6, 0xD, 0x9, 0x0, 0xC, 0x8, 0xF, 0x3, 0x2, 0x4, 0x7, 0x1),
        (0xD, 0x7, 0xF, 0x4, 0x1, 0x2, 0x6, 0xE, 0x9, 0xB, 0x3, 0x0, 0x8, 0x5, 0xC, 0xA),
    ),
    (
        (0x2, 0x8, 0xB, 0xD, 0xF, 0x7, 0x6, 0xE, 0x3, 0x1, 0x9, 0x4, 0x0, 0xA, 0xC, 0x5),
        (0x1, 0xE, 0x2, 0xB, 0x4, 0xC, 0x3, 0x7, 0x6, 0xD, 0xA, 0x5, 0xF, 0x9, 0x0, 0x8),
        (0x4, 0xC, 0x7, 0x5, 0x1, 0x6, 0x9, 0xA, 0x0, 0xE, 0xD, 0x8, 0x2, 0xB, 0x3, 0xF),
        (0xB, 0x9, 0x5, 0x1, 0xC, 0x3, 0xD, 0xE, 0x6, 0x4, 0x7, 0xF, 0x2, 0x0, 0x8, 0xA),
    ),
)


def _ror4(x: int, n: int) -> int:
    return ((x >> n) | (x << (4 - n))) & 0xF


def _make_q(t: tuple[tuple[int, ...], ...]) -> bytes:
    out = bytearray(256)
    for x in range(256):
        a, b = x >> 4, x & 0xF
        a, b = a ^ b, a ^ _ror4(b, 1) ^ ((a << 3) & 0xF)
        a, b = t[0][a], t[1][b]
        a, b = a ^ b, a ^ _ror4(b, 1) ^ ((a << 3) & 0xF)
        a, b = t[2][a], t[3][b]
        out[x] = (b << 4) | a
    return bytes(out)


Q0 = _make_q(_Q_TABLES[0])
Q1 = _make_q(_Q_TABLES[1])


def _gf_mul(a: int, b: int, poly: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= poly
        b >>= 1
    return r


_MDS = (
    (0x01, 0xEF, 0x5B, 0x5B),
    (0x5B, 0xEF, 0xEF, 0x01),
    (0xEF, 0x5B, 0x01, 0xEF),
    (0xEF, 0x01, 0xEF, 0x5B),
)
_MDS_POLY = 0x169  # x^8 + x^6 + x^5 + x^3 + 1
_RS = (
    (0x01, 0xA4, 0x55, 0x87, 0x5A, 0x58, 0xDB, 0x9E),
    (0xA4, 0x56, 0x82, 0xF3, 0x1E, 0xC6, 0x68, 0xE5),
    (0x02, 0xA1, 0xFC, 0xC1, 0x47, 0xAE, 0x3D, 0x19),
    (0xA4, 0x55, 0x87, 0x5A, 0x58, 0xDB, 0x9E, 0x03),
)
_RS_POLY = 0x14D  # x^8 + x^6 + x^3 + x^2 + 1

# MDS column j multiplied by every byte value, as a little-endian word: MDS·y = XOR of these.
_MDS_COL: tuple[tuple[int, ...], ...] = tuple(
    tuple(
        sum(_gf_mul(_MDS[i][j], y, _MDS_POLY) << (8 * i) for i in range(4))
        for y in range(256)
    )
    for j in range(4)
)

# Which q is applied at each stage of h, per byte position (paper §4.3.2, Figure 2); stage 0 is
# the k=4 stage, stage 3 the last one before the MDS.
_Q_ORDER = (
    (Q1, Q0, Q0, Q1),
    (Q1, Q1, Q0, Q0),
    (Q0, Q1, Q0, Q1),
    (Q0, Q0, Q1, Q1),
    (Q1, Q0, Q1, Q0),
)


def _h_bytes(x: int, key_words: list[int], j: int) -> int:
    """Byte j of h's S-box layer (before the MDS) for input byte x and key words L0..Lk-1."""
    k = len(key_words)
    y = x
    if k == 4:
        y = _Q_ORDER[0][j][y] ^ ((key_words[3] >> (8 * j)) & 0xFF)
    if k >= 3:
        y = _Q_ORDER[1][j][y] ^ ((key_words[2] >> (8 * j)) & 0xFF)
    y = _Q_ORDER[2][j][y] ^ ((key_words[1] >> (8 * j)) & 0xFF)
    y = _Q_ORDER[3][j][y] ^ ((key_words[0] >> (8 * j)) & 0xFF)
    return _Q_ORDER[4][j][y]


def _h(x: int, key_words: list[int]) -> int:
    out = 0
    for j in range(4):
        out ^= _MDS_COL[j][_h_bytes((x >> (8 * j)) & 0xFF, key_words, j)]
    return out


def _rol(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


class Twofish:
    """One Twofish key: ``encrypt_block``/``decrypt_block`` on 16-byte blocks."""

    __slots__ = ("_k", "_s0", "_s1", "_s2", "_s3")

    block_size = 16

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise KeySizeError(f"twofish: key must be 16, 24 or 32 bytes, got {len(key)}")
        k = len(key) // 8
        words = [int.from_bytes(key[4 * i : 4 * i + 4], "little") for i in range(2 * k)]
        m_even, m_odd = words[0::2], words[1::2]
        s_words = []
        for i in range(k):
            chunk = key[8 * i : 8 * i + 8]
            s = 0
            for r in range(4):
                v = 0
                for c in range(8):
                    v ^= _gf_mul(_RS[r][c], chunk[c], _RS_POLY)
                s |= v << (8 * r)
            s_words.append(s)
        s_words.reverse()  # g uses S = (S_{k-1}, ..., S_0)
        rho = 0x01010101
        subkeys = []
        for i in range(20):
            a = _h(2 * i * rho & _MASK, m_even)
            b = _rol(_h((2 * i + 1) * rho & _MASK, m_odd), 8)
            subkeys.append((a + b) & _MASK)
            subkeys.append(_rol((a + 2 * b) & _MASK, 9))
        self._k = tuple(subkeys)
        self._s0, self._s1, self._s2, self._s3 = (
            tuple(_MDS_COL[j][_h_bytes(x, s_words, j)] for x in range(256)) for j in range(4)
        )

    def _encrypt_words(self, r0: int, r1: int, r2: int, r3: int) -> tuple[int, int, int, int]:
        k, s0, s1, s2, s3 = self._k, self._s0, self._s1, self._s2, self._s3
        r0 ^= k[0]
        r1 ^= k[1]
        r2 ^= k[2]
        r3 ^= k[3]
        for i in range(8, 40, 4):  # two rounds per pass, so the halves never need swapping
            t0 = s0[r0 & 0xFF] ^ s1[(r0 >> 8) & 0xFF] ^ s2[(r0 >> 16) & 0xFF] ^ s3[r0 >> 24]
            t1 = s0[r1 >> 24] ^ s1[r1 & 0xFF] ^ s2[(r1 >> 8) & 0xFF] ^ s3[(r1 >> 16) & 0xFF]
            x = r2 ^ ((t0 + t1 + k[i]) & _MASK)
            r2 = ((x >> 1) | (x << 31)) & _MASK
            r3 = (((r3 << 1) | (r3 >> 31)) & _MASK) ^ ((t0 + 2 * t1 + k[i + 1]) & _MASK)
            t0 = s0[r2 & 0xFF] ^ s1[(r2 >> 8) & 0xFF] ^ s2[(r2 >> 16) & 0xFF] ^ s3[r2 >> 24]
            t1 = s0[r3 >> 24] ^ s1[r3 & 0xFF] ^ s2[(r3 >> 8) & 0xFF] ^ s3[(r3 >> 16) & 0xFF]
            x = r0 ^ ((t0 + t1 + k[i + 2]) & _MASK)
            r0 = ((x >> 1) | (x << 31)) & _MASK
            r1 = (((r1 << 1) | (r1 >> 31)) & _MASK) ^ ((t0 + 2 * t1 + k[i + 3]) & _MASK)
        return r2 ^ k[4], r3 ^ k[5], r0 ^ k[6], r1 ^ k[7]

    def _decrypt_words(self, c0: int, c1: int, c2: int, c3: int) -> tuple[int, int, int, int]:
        k, s0, s1, s2, s3 = self._k, self._s0, self._s1, self._s2, self._s3
        r2, r3, r0, r1 = c0 ^ k[4], c1 ^ k[5], c2 ^ k[6], c3 ^ k[7]
        for i in range(36, 4, -4):
            t0 = s0[r2 & 0xFF] ^ s1[(r2 >> 8) & 0xFF] ^ s2[(r2 >> 16) & 0xFF] ^ s3[r2 >> 24]
            t1 = s0[r3 >> 24] ^ s1[r3 & 0xFF] ^ s2[(r3 >> 8) & 0xFF] ^ s3[(r3 >> 16) & 0xFF]
            r0 = (((r0 << 1) | (r0 >> 31)) & _MASK) ^ ((t0 + t1 + k[i + 2]) & _MASK)
            y = r1 ^ ((t0 + 2 * t1 + k[i + 3]) & _MASK)
            r1 = ((y >> 1) | (y << 31)) & _MASK
            t0 = s0[r0 & 0xFF] ^ s1[(r0 >> 8) & 0xFF] ^ s2[(r0 >> 16) & 0xFF] ^ s3[r0 >> 24]
            t1 = s0[r1 >> 24] ^ s1[r1 & 0xFF] ^ s2[(r1 >> 8) & 0xFF] ^ s3[(r1 >> 16) & 0xFF]
            r2 = (((r2 << 1) | (r2 >> 31)) & _MASK) ^ ((t0 + t1 + k[i]) & _MASK)
            y = r3 ^ ((t0 + 2 * t1 + k[i + 1]) & _MASK)
            r3 = ((y >> 1) | (y << 31)) & _MASK
        return r0 ^ k[0], r1 ^ k[1], r2 ^ k[2], r3 ^ k[3]

    def encrypt_block(self, block: bytes) -> bytes:
        if len(block) != 16:
            raise MalformedInputError(f"twofish: block must be 16 bytes, got {len(block)}")
        return _WORDS.pack(*self._encrypt_words(*_WORDS.unpack(block)))

    def decrypt_block(self, block: bytes) -> bytes:
        if len(block) != 16:
            raise MalformedInputError(f"twofish: block must be 16 bytes, got {len(block)}")
        return _WORDS.pack(*self._decrypt_words(*_WORDS.unpack(block)))

    def cbc_encrypt(self, iv: bytes, data: bytes) -> bytes:
        """CBC over whole 16-byte blocks (the caller checked the lengths)."""
        p0, p1, p2, p3 = _WORDS.unpack(iv)
        out = []
        enc = self._encrypt_words
        for b0, b1, b2, b3 in _WORDS.iter_unpack(data):
            p0, p1, p2, p3 = enc(b0 ^ p0, b1 ^ p1, b2 ^ p2, b3 ^ p3)
            out.append(_WORDS.pack(p0, p1, p2, p3))
        return b"".join(out)

    def cbc_decrypt(self, iv: bytes, data: bytes) -> bytes:
        p0, p1, p2, p3 = _WORDS.unpack(iv)
        out = []
        dec = self._decrypt_words
        for c0, c1, c2, c3 in _WORDS.iter_unpack(data):
            d0, d1, d2, d3 = dec(c0, c1, c2, c3)
            out.append(_WORDS.pack(d0 ^ p0, d1 ^ p1, d2 ^ p2, d3 ^ p3))
            p0, p1, p2, p3 = c0, c1, c2, c3
        return b"".join(out)
