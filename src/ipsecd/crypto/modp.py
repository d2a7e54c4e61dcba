"""MODP Diffie-Hellman groups 1, 2 (RFC 2409 §6.1–6.2) and 5, 14–18 (RFC 3526).

Every one of these primes is defined by the same formula (RFC 2412 Appendix E, RFC 3526 §1–§7):

    p = 2^n - 2^(n-64) - 1 + 2^64 * ( floor(2^(n-130) * pi) + k )

with the generator 2. The primes are computed from that definition (pi by Machin's formula in
integer arithmetic, a few milliseconds for 8192 bits, once per group) instead of being pasted as
kilobytes of hexadecimal; the tests compare them with the published values.

Two implementations: ``cryptography`` 50 deprecates finite-field DH and may drop it. While it has
FFDH, OpenSSL computes (its deprecation warning silenced locally); the fallback, also used whenever
an rng is injected (reproducible tests), is Python's ``pow()``, which is all MODP needs. Its private
exponents are short, as RFC 3526 §8 allows: twice the group's estimated strength in bits, so a
2048-bit exchange costs two 320-bit exponentiations (~2.6 ms each here) instead of 2048-bit ones;
OpenSSL is still ~10x faster (bench/crypto_dh.py). Python integers are not constant time; the
exponents are ephemeral (one per exchange), the usual mitigation for IKE. Both paths are tested
against each other.

Encoding (RFC 7296 §3.4, RFC 2409 §5): public values and the shared secret g^ir are big-endian and
left-padded with zeros to the length of the prime. A peer value of another length, or outside
1 < y < p-1 (RFC 2631 §2.1.5 / NIST SP 800-56A: 1 and p-1 generate trivial subgroups), is refused.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.utils import CryptographyDeprecationWarning

from ipsecd.crypto.errors import InvalidPublicValueError, UnknownAlgorithmError

try:  # deprecated in cryptography 50; when it is gone, pow() below does all of MODP
    from cryptography.hazmat.primitives.asymmetric import dh as _dh
except ImportError:  # pragma: no cover - depends on the installed cryptography
    _dh = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ModpGroup:
    """One MODP group: its IANA number, prime size, RFC constant k and private exponent size."""

    group: int
    bits: int
    k: int
    exponent_bits: int
    source: str
    # OpenSSL knows the RFC 3526 primes as named groups; with the RFC 2409 ones it re-validates the
    # parameters each time a peer value is loaded (~30-50 exchanges/s), where pow() does ~1100-1700/s.
    openssl_named: bool

    @property
    def prime(self) -> int:
        return _prime(self.bits, self.k)

    @property
    def size(self) -> int:
        """Length in bytes of the public value and of the shared secret."""
        return self.bits // 8


GENERATOR = 2

# exponent_bits: 2x the strength estimates of RFC 3526 §8 (upper end of its ranges); for the two
# RFC 2409 groups, 2x the ~80-bit strength usually assigned to 1024-bit moduli.
MODP_GROUPS: dict[int, ModpGroup] = {
    1: ModpGroup(1, 768, 149686, 160, "RFC 2409 §6.1", False),
    2: ModpGroup(2, 1024, 129093, 160, "RFC 2409 §6.2", False),
    5: ModpGroup(5, 1536, 741804, 240, "RFC 3526 §2", True),
    14: ModpGroup(14, 2048, 124476, 320, "RFC 3526 §3", True),
    15: ModpGroup(15, 3072, 1690314, 420, "RFC 3526 §4", True),
    16: ModpGroup(16, 4096, 240904, 480, "RFC 3526 §5", True),
    17: ModpGroup(17, 6144, 929484, 540, "RFC 3526 §6", True),
    18: ModpGroup(18, 8192, 4743158, 620, "RFC 3526 §7", True),
}


def _arctan_inverse(x: int, one: int) -> int:
    """arctan(1/x) scaled by ``one``, by its Taylor series in integer arithmetic."""
    total = term = one // x
    x2 = x * x
    n = 1
    sign = -1
    while term:
        term //= x2
        n += 2
        total += sign * (term // n)
        sign = -sign
    return total


def pi_scaled(bits: int) -> int:
    """floor(pi * 2^bits), by Machin's formula pi = 16 arctan(1/5) - 4 arctan(1/239)."""
    guard = 64
    one = 1 << (bits + guard)
    return (16 * _arctan_inverse(5, one) - 4 * _arctan_inverse(239, one)) >> guard


@cache
def _prime(bits: int, k: int) -> int:
    return (1 << bits) - (1 << (bits - 64)) - 1 + ((pi_scaled(bits - 130) + k) << 64)


def modp_group(group: int) -> ModpGroup:
    try:
        return MODP_GROUPS[group]
    except KeyError:
        raise UnknownAlgorithmError(f"MODP group {group}: not one of {sorted(MODP_GROUPS)}") from None


@cache
def openssl_parameters(group: int) -> Any | None:
    """OpenSSL's DH parameters for the group, or None when ``cryptography`` no longer has FFDH."""
    g = MODP_GROUPS[group]
    if _dh is None or not g.openssl_named:
        return None
    try:
        with _quiet():
            return _dh.DHParameterNumbers(g.prime, GENERATOR).parameters()
    except UnsupportedAlgorithm:  # pragma: no cover - a cryptography/OpenSSL build without FFDH
        return None


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence cryptography's FFDH deprecation warning: the pow() path below is the plan for its end."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        yield


class ModpKeyPair:
    """An ephemeral MODP private key and its public value g^x mod p.

    With the system rng and a ``cryptography`` that still has FFDH, OpenSSL does the work (~10x
    faster than Python's pow, see bench/crypto_dh.py); otherwise, and always with an injected rng
    (reproducible tests), the exponent is drawn from ``rng`` and pow() computes.
    """

    __slots__ = ("_group", "_key", "_x", "public")

    def __init__(self, group: ModpGroup, rng: Callable[[int], bytes] | None) -> None:
        self._group = group
        self._key: Any = None
        self._x = 0
        params = openssl_parameters(group.group) if rng is None else None
        if params is not None:
            with _quiet():
                self._key = params.generate_private_key()
                y = self._key.public_key().public_numbers().y
            self.public = int(y).to_bytes(group.size, "big")
            return
        draw = os.urandom if rng is None else rng
        nbytes = (group.exponent_bits + 7) // 8
        mask = (1 << group.exponent_bits) - 1
        x = 0
        while x < 2:
            x = int.from_bytes(draw(nbytes), "big") & mask
        self._x = x
        self.public = pow(GENERATOR, x, group.prime).to_bytes(group.size, "big")

    def shared(self, peer: bytes) -> bytes:
        """g^(xy) mod p, zero-padded to the prime's length, after validating the peer value."""
        g = self._group
        if len(peer) != g.size:
            raise InvalidPublicValueError(
                f"MODP group {g.group}: public value is {len(peer)} bytes, expected {g.size}"
            )
        p = g.prime
        y = int.from_bytes(peer, "big")
        if not 1 < y < p - 1:
            raise InvalidPublicValueError(f"MODP group {g.group}: public value outside 1 < y < p-1")
        # p is a safe prime (p = 2q + 1): every y in range has order q or 2q, so g^xy != 1.
        if self._key is not None:
            try:
                with _quiet():
                    numbers = _dh.DHParameterNumbers(p, GENERATOR)
                    peer_key = _dh.DHPublicNumbers(y, numbers).public_key()
                    return bytes(self._key.exchange(peer_key)).rjust(g.size, b"\x00")
            except ValueError as exc:  # OpenSSL's own public-key checks
                raise InvalidPublicValueError(
                    f"MODP group {g.group}: OpenSSL refused the value: {exc}"
                ) from None
        return pow(y, self._x, p).to_bytes(g.size, "big")
