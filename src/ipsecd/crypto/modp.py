"""MODP Diffie-Hellman groups 1, 2 (RFC 2409 §6.1–6.2) and 5, 14–18 (RFC 3526).

Every one of these primes is defined by the same formula (RFC 2412 Appendix E, RFC 3526 §1–§7):

    p = 2^n - 2^(n-64) - 1 + 2^64 * ( floor(2^(n-130) * pi) + k )

with the generator 2. The primes are computed from that definition (pi by Machin's formula in
integer arithmetic, a few milliseconds for 8192 bits, once per group) instead of being pasted as
kilobytes of hexadecimal; the tests compare them with the published values.

Why our own arithmetic: ``cryptography`` 50 deprecates finite-field DH and may drop it; Python's
``pow()`` is the whole of what MODP needs. Private exponents are short, as RFC 3526 §8 allows: twice
the group's estimated strength in bits, so a 2048-bit exchange costs a 320-bit exponentiation
(~2.6 ms here) instead of a 2048-bit one. Python integers are not constant time; the exponents are
ephemeral (one per exchange), which is the usual mitigation for IKE.

Encoding (RFC 7296 §3.4, RFC 2409 §5): public values and the shared secret g^ir are big-endian and
left-padded with zeros to the length of the prime. A peer value of another length, or outside
1 < y < p-1 (RFC 2631 §2.1.5 / NIST SP 800-56A: 1 and p-1 generate trivial subgroups), is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from ipsecd.crypto.errors import InvalidPublicValueError, UnknownAlgorithmError


@dataclass(frozen=True, slots=True)
class ModpGroup:
    """One MODP group: its IANA number, prime size, RFC constant k and private exponent size."""

    group: int
    bits: int
    k: int
    exponent_bits: int
    source: str

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
    1: ModpGroup(1, 768, 149686, 160, "RFC 2409 §6.1"),
    2: ModpGroup(2, 1024, 129093, 160, "RFC 2409 §6.2"),
    5: ModpGroup(5, 1536, 741804, 240, "RFC 3526 §2"),
    14: ModpGroup(14, 2048, 124476, 320, "RFC 3526 §3"),
    15: ModpGroup(15, 3072, 1690314, 420, "RFC 3526 §4"),
    16: ModpGroup(16, 4096, 240904, 480, "RFC 3526 §5"),
    17: ModpGroup(17, 6144, 929484, 540, "RFC 3526 §6"),
    18: ModpGroup(18, 8192, 4743158, 620, "RFC 3526 §7"),
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


class ModpKeyPair:
    """An ephemeral MODP private exponent and its public value g^x mod p."""

    __slots__ = ("_group", "_x", "public")

    def __init__(self, group: ModpGroup, rng: Callable[[int], bytes]) -> None:
        self._group = group
        nbytes = (group.exponent_bits + 7) // 8
        mask = (1 << group.exponent_bits) - 1
        x = 0
        while x < 2:
            x = int.from_bytes(rng(nbytes), "big") & mask
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
        return pow(y, self._x, p).to_bytes(g.size, "big")
