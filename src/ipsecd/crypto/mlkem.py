"""ML-KEM (FIPS 203, August 2024) in pure Python: ML-KEM-512, -768 and -1024.

Why here: IKEv2 uses ML-KEM as an additional key exchange (RFC 9370, ids 35–37 of
draft-ietf-ipsecme-ikev2-mlkem). ``cryptography`` (OpenSSL) has ML-KEM-768 and -1024 and ``ke.py``
uses it for them; it has no ML-KEM-512, and the one maintained pure-Python package would be a new
runtime dependency for ~250 lines of well-specified arithmetic. This module is that arithmetic. It
is checked against the NIST known-answer files for all three parameter sets and against OpenSSL for
-768/-1024 (same keys from the same seed, each side decapsulating the other's ciphertexts).

It is also what makes the KEM reproducible under an injected RNG: ``encaps(ek, m)`` takes the
32-byte message m explicitly (FIPS 203 Algorithm 17, ML-KEM.Encaps_internal).

Python integers are not constant time; the decapsulation re-encryption compare uses
``hmac.compare_digest``, and the implicit-rejection key is always computed.

Algorithm numbers below are FIPS 203's.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from ipsecd.crypto.errors import InvalidPublicValueError, MalformedInputError

Q = 3329
N = 256


@dataclass(frozen=True, slots=True)
class MlKemParams:
    name: str
    k: int
    eta1: int
    eta2: int
    du: int
    dv: int

    @property
    def ek_size(self) -> int:
        return 384 * self.k + 32

    @property
    def dk_size(self) -> int:
        return 768 * self.k + 96

    @property
    def ct_size(self) -> int:
        return 32 * (self.du * self.k + self.dv)


ML_KEM_512 = MlKemParams("ML-KEM-512", 2, 3, 2, 10, 4)
ML_KEM_768 = MlKemParams("ML-KEM-768", 3, 2, 2, 10, 4)
ML_KEM_1024 = MlKemParams("ML-KEM-1024", 4, 2, 2, 11, 5)


def _bitrev7(i: int) -> int:
    return int(f"{i:07b}"[::-1], 2)


_ZETAS = [pow(17, _bitrev7(i), Q) for i in range(128)]
_GAMMAS = [pow(17, 2 * _bitrev7(i) + 1, Q) for i in range(128)]
_N_INV = 3303  # 128^-1 mod q

Poly = list[int]


# -- hash functions (§4.1) ---------------------------------------------------------------------


def _h(s: bytes) -> bytes:
    return hashlib.sha3_256(s).digest()


def _g(s: bytes) -> tuple[bytes, bytes]:
    d = hashlib.sha3_512(s).digest()
    return d[:32], d[32:]


def _j(s: bytes) -> bytes:
    return hashlib.shake_256(s).digest(32)


def _prf(eta: int, s: bytes, b: int) -> bytes:
    return hashlib.shake_256(s + bytes([b])).digest(64 * eta)


# -- encoding (Algorithms 5, 6) and compression (§4.2.1) --------------------------------------


def _encode(f: Poly, d: int) -> bytes:
    acc = 0
    for i in range(N - 1, -1, -1):
        acc = (acc << d) | f[i]
    return acc.to_bytes(32 * d, "little")


def _decode(b: bytes, d: int) -> Poly:
    acc = int.from_bytes(b, "little")
    mask = (1 << d) - 1
    f = [(acc >> (d * i)) & mask for i in range(N)]
    if d == 12:
        f = [x % Q for x in f]
    return f


def _compress(f: Poly, d: int) -> Poly:
    mask = (1 << d) - 1
    return [(((x << d) + Q // 2) // Q) & mask for x in f]


def _decompress(f: Poly, d: int) -> Poly:
    half = 1 << (d - 1)
    return [(x * Q + half) >> d for x in f]


# -- sampling (Algorithms 7, 8) ----------------------------------------------------------------


def _sample_ntt(seed: bytes) -> Poly:
    stream = hashlib.shake_128(seed).digest(840)  # 280 triples; more is needed with prob. < 2^-100
    out: Poly = []
    pos = 0
    while len(out) < N:
        if pos + 3 > len(stream):
            stream = hashlib.shake_128(seed).digest(len(stream) * 2)
        c0, c1, c2 = stream[pos], stream[pos + 1], stream[pos + 2]
        pos += 3
        d1 = c0 + 256 * (c1 & 15)
        d2 = (c1 >> 4) + 16 * c2
        if d1 < Q:
            out.append(d1)
        if d2 < Q and len(out) < N:
            out.append(d2)
    return out


def _cbd(eta: int, b: bytes) -> Poly:
    bits = int.from_bytes(b, "little")
    mask = (1 << eta) - 1
    f = []
    for i in range(N):
        chunk = bits >> (2 * eta * i)
        x = (chunk & mask).bit_count()
        y = ((chunk >> eta) & mask).bit_count()
        f.append((x - y) % Q)
    return f


# -- NTT (Algorithms 9–12) ---------------------------------------------------------------------


def _ntt(f: Poly) -> Poly:
    f = list(f)
    i = 1
    length = 128
    while length >= 2:
        for start in range(0, N, 2 * length):
            zeta = _ZETAS[i]
            i += 1
            for j in range(start, start + length):
                t = zeta * f[j + length] % Q
                f[j + length] = (f[j] - t) % Q
                f[j] = (f[j] + t) % Q
        length >>= 1
    return f


def _ntt_inv(f: Poly) -> Poly:
    f = list(f)
    i = 127
    length = 2
    while length <= 128:
        for start in range(0, N, 2 * length):
            zeta = _ZETAS[i]
            i -= 1
            for j in range(start, start + length):
                t = f[j]
                f[j] = (t + f[j + length]) % Q
                f[j + length] = zeta * (f[j + length] - t) % Q
        length <<= 1
    return [x * _N_INV % Q for x in f]


def _mul_ntt(f: Poly, g: Poly) -> Poly:
    h = [0] * N
    for i in range(128):
        a0, a1, b0, b1 = f[2 * i], f[2 * i + 1], g[2 * i], g[2 * i + 1]
        h[2 * i] = (a0 * b0 + a1 * b1 % Q * _GAMMAS[i]) % Q
        h[2 * i + 1] = (a0 * b1 + a1 * b0) % Q
    return h


def _add(f: Poly, g: Poly) -> Poly:
    return [(a + b) % Q for a, b in zip(f, g, strict=True)]


def _dot(fs: list[Poly], gs: list[Poly]) -> Poly:
    acc = [0] * N
    for f, g in zip(fs, gs, strict=True):
        acc = _add(acc, _mul_ntt(f, g))
    return acc


def _matrix(rho: bytes, k: int) -> list[list[Poly]]:
    """Â with Â[i][j] = SampleNTT(rho || j || i)."""
    return [[_sample_ntt(rho + bytes([j, i])) for j in range(k)] for i in range(k)]


# -- K-PKE (Algorithms 13–15) ------------------------------------------------------------------


def _pke_keygen(p: MlKemParams, d: bytes) -> tuple[bytes, bytes]:
    rho, sigma = _g(d + bytes([p.k]))
    a = _matrix(rho, p.k)
    s = [_ntt(_cbd(p.eta1, _prf(p.eta1, sigma, i))) for i in range(p.k)]
    e = [_ntt(_cbd(p.eta1, _prf(p.eta1, sigma, p.k + i))) for i in range(p.k)]
    t = [_add(_dot(a[i], s), e[i]) for i in range(p.k)]
    ek = b"".join(_encode(x, 12) for x in t) + rho
    dk = b"".join(_encode(x, 12) for x in s)
    return ek, dk


def _pke_encrypt(p: MlKemParams, ek: bytes, m: bytes, r: bytes) -> bytes:
    k = p.k
    t = [_decode(ek[384 * i : 384 * (i + 1)], 12) for i in range(k)]
    a = _matrix(ek[384 * k :], k)
    y = [_ntt(_cbd(p.eta1, _prf(p.eta1, r, i))) for i in range(k)]
    e1 = [_cbd(p.eta2, _prf(p.eta2, r, k + i)) for i in range(k)]
    e2 = _cbd(p.eta2, _prf(p.eta2, r, 2 * k))
    u = [_add(_ntt_inv(_dot([a[j][i] for j in range(k)], y)), e1[i]) for i in range(k)]
    mu = _decompress(_decode(m, 1), 1)
    v = _add(_add(_ntt_inv(_dot(t, y)), e2), mu)
    c1 = b"".join(_encode(_compress(x, p.du), p.du) for x in u)
    return c1 + _encode(_compress(v, p.dv), p.dv)


def _pke_decrypt(p: MlKemParams, dk: bytes, c: bytes) -> bytes:
    k, du = p.k, p.du
    step = 32 * du
    u = [_ntt(_decompress(_decode(c[step * i : step * (i + 1)], du), du)) for i in range(k)]
    v = _decompress(_decode(c[step * k :], p.dv), p.dv)
    s = [_decode(dk[384 * i : 384 * (i + 1)], 12) for i in range(k)]
    w = [(a - b) % Q for a, b in zip(v, _ntt_inv(_dot(s, u)), strict=True)]
    return _encode(_compress(w, 1), 1)


# -- ML-KEM (Algorithms 16–18, with the input checks of §7.2–7.3) ------------------------------


def keygen(p: MlKemParams, d: bytes, z: bytes) -> tuple[bytes, bytes]:
    """(ek, dk) from the 32-byte seeds d and z (ML-KEM.KeyGen_internal)."""
    if len(d) != 32 or len(z) != 32:
        raise MalformedInputError(f"{p.name}: key generation seeds must be 32 bytes each")
    ek, dk_pke = _pke_keygen(p, d)
    return ek, dk_pke + ek + _h(ek) + z


def check_encapsulation_key(p: MlKemParams, ek: bytes) -> None:
    """FIPS 203 §7.2 type and modulus checks of a peer's encapsulation key."""
    if len(ek) != p.ek_size:
        raise InvalidPublicValueError(f"{p.name}: encapsulation key is {len(ek)} bytes, expected {p.ek_size}")
    for i in range(p.k):
        chunk = ek[384 * i : 384 * (i + 1)]
        if _encode(_decode(chunk, 12), 12) != chunk:
            raise InvalidPublicValueError(f"{p.name}: encapsulation key has coefficients >= q")


def encaps(p: MlKemParams, ek: bytes, m: bytes) -> tuple[bytes, bytes]:
    """(ciphertext, shared key) for the peer's ek and the 32 random bytes m."""
    check_encapsulation_key(p, ek)
    if len(m) != 32:
        raise MalformedInputError(f"{p.name}: encapsulation randomness must be 32 bytes")
    key, r = _g(m + _h(ek))
    return _pke_encrypt(p, ek, m, r), key


def decaps(p: MlKemParams, dk: bytes, c: bytes) -> bytes:
    """Shared key for ciphertext c; a forged c yields the implicit-rejection key J(z || c)."""
    if len(c) != p.ct_size:
        raise InvalidPublicValueError(f"{p.name}: ciphertext is {len(c)} bytes, expected {p.ct_size}")
    if len(dk) != p.dk_size:
        raise MalformedInputError(f"{p.name}: decapsulation key is {len(dk)} bytes, expected {p.dk_size}")
    k = p.k
    dk_pke = dk[: 384 * k]
    ek = dk[384 * k : 768 * k + 32]
    h = dk[768 * k + 32 : 768 * k + 64]
    z = dk[768 * k + 64 :]
    m = _pke_decrypt(p, dk_pke, c)
    key, r = _g(m + h)
    rejected = _j(z + c)
    if hmac.compare_digest(_pke_encrypt(p, ek, m, r), c):
        return key
    return rejected
