"""EC2N groups 3 and 4 of IKEv1 (RFC 2409 §6.3–6.4): elliptic curves over GF(2^155) and GF(2^185).

No maintained library has these curves, so the arithmetic is ours. Field elements are Python ints
read as polynomials over GF(2) (bit i = coefficient of u^i); addition is XOR, multiplication is a
carry-less product (4-bit windows) reduced by the trinomial u^m + u^k + 1.

The curve is y^2 + xy = x^3 + a x^2 + b with a = 0. RFC 2409 gives the generator's x only; "either
[y] can be used", since the KE payload carries just the x coordinate of Ka*P and the shared secret
is the x coordinate of Ka*Kb*P. So we never need y: scalar multiplication is the x-only Montgomery
ladder of López and Dahab ("Fast multiplication on elliptic curves over GF(2^m) without
precomputation", CHES 1999) in projective (X, Z) coordinates, with one inversion at the end.

RFC 2409 lists the number of points on each curve: h*q with q prime and cofactor h = 12 (group 3)
or 4 (group 4). Its generators do not lie in the order-q subgroup (group 3's has order 4q, group 4's
2q), so a prime-subgroup check on peer values would refuse honest peers. We use cofactor
Diffie-Hellman instead (NIST SP 800-56A §5.7.1.2): our scalar is h*k' with k' in [1, q-1], so
whatever small-order component a peer's point carries is multiplied away and the shared point lies
in the order-q subgroup; both sides still agree, since h*k'*(kb*G) = kb*(h*k'*G).

A peer's x is validated: it must fit the field, be non-zero (x = 0 is the point of order 2) and lie
on the curve (Tr(x + a + b/x^2) = 0, i.e. some y solves the equation); a shared point at infinity
(the peer sent a point of small order) is refused.

Encoding: an x coordinate is ceil(m/8) bytes big-endian (20 bytes for group 3, 24 for group 4), as
isakmpd and the SSH IPSEC Express toolkit put it in the KE payload; the shared secret g^xy is the x
coordinate of the shared point, same length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ipsecd.crypto.errors import InvalidPublicValueError, UnknownAlgorithmError

# byte -> its 8 bits spread over 16 (bit i to bit 2i), little-endian: squaring in GF(2)[u]
_SPREAD = [sum(((i >> bit) & 1) << (2 * bit) for bit in range(8)).to_bytes(2, "little") for i in range(256)]


@dataclass(frozen=True, slots=True)
class Ec2nCurve:
    """A curve y^2 + xy = x^3 + a x^2 + b over GF(2)[u]/(u^m + u^k + 1)."""

    group: int
    m: int
    k: int
    a: int
    b: int
    gx: int
    order: int  # number of points on the curve, as printed in RFC 2409
    cofactor: int  # order / q, q prime
    source: str

    @property
    def subgroup_order(self) -> int:
        """The prime q with order = cofactor * q."""
        return self.order // self.cofactor

    @property
    def size(self) -> int:
        return (self.m + 7) // 8

    # -- field arithmetic -------------------------------------------------------------------

    def reduce(self, v: int) -> int:
        m, k = self.m, self.k
        mask = (1 << m) - 1
        while v >> m:
            hi = v >> m
            v = (v & mask) ^ hi ^ (hi << k)
        return v

    def mul(self, a: int, b: int) -> int:
        """Carry-less a*b mod the field polynomial, 4 bits of b at a time (so a short b is cheap)."""
        table = [0] * 16
        table[1] = a
        for i in range(2, 16, 2):
            table[i] = table[i >> 1] << 1
            table[i + 1] = table[i] ^ a
        r = 0
        shift = (b.bit_length() + 3) & ~3
        while shift:
            shift -= 4
            r = (r << 4) ^ table[(b >> shift) & 15]
        return self.reduce(r)

    def sqr(self, a: int) -> int:
        """Squaring is linear over GF(2): spread each byte's bits apart (a zero between each)."""
        spread = b"".join([_SPREAD[byte] for byte in a.to_bytes(self.size, "little")])
        return self.reduce(int.from_bytes(spread, "little"))

    def inv(self, a: int) -> int:
        """Inverse by the extended Euclidean algorithm on polynomials over GF(2)."""
        if a == 0:
            raise ZeroDivisionError("inverse of zero in GF(2^m)")
        u, v = a, (1 << self.m) | (1 << self.k) | 1
        g1, g2 = 1, 0
        while u != 1:
            j = u.bit_length() - v.bit_length()
            if j < 0:
                u, v = v, u
                g1, g2 = g2, g1
                j = -j
            u ^= v << j
            g1 ^= g2 << j
        return self.reduce(g1)

    def trace(self, c: int) -> int:
        """Absolute trace Tr(c) = c + c^2 + c^4 + ... + c^(2^(m-1)), which is 0 or 1."""
        t = c
        s = c
        for _ in range(self.m - 1):
            s = self.sqr(s)
            t ^= s
        return t

    # -- curve ------------------------------------------------------------------------------

    def is_on_curve_x(self, x: int) -> bool:
        """True when some y satisfies the curve equation for this non-zero x.

        With y = x*z the equation becomes z^2 + z = x + a + b/x^2, solvable iff its trace is 0.
        """
        c = x ^ self.a ^ self.mul(self.b, self.inv(self.sqr(x)))
        return self.trace(c) == 0

    def ladder(self, k: int, x: int) -> int | None:
        """x coordinate of k*P for a point P with x coordinate x != 0; None for infinity."""
        if k <= 0:
            raise ValueError("EC2N scalar must be positive")
        mul, sqr, b = self.mul, self.sqr, self.b
        x1, z1 = x, 1
        z2 = sqr(x)
        x2 = sqr(z2) ^ b
        for i in range(k.bit_length() - 2, -1, -1):
            if (k >> i) & 1:
                # (P1, P2) <- (P1 + P2, 2 P2)
                t1 = mul(x1, z2)
                t2 = mul(z1, x2)
                z1 = sqr(t1 ^ t2)
                x1 = mul(x, z1) ^ mul(t1, t2)
                zz = sqr(z2)
                xx = sqr(x2)
                z2 = mul(xx, zz)
                x2 = sqr(xx) ^ mul(sqr(zz), b)
            else:
                # (P1, P2) <- (2 P1, P1 + P2)
                t1 = mul(x1, z2)
                t2 = mul(z1, x2)
                z2 = sqr(t1 ^ t2)
                x2 = mul(x, z2) ^ mul(t1, t2)
                zz = sqr(z1)
                xx = sqr(x1)
                z1 = mul(xx, zz)
                x1 = sqr(xx) ^ mul(sqr(zz), b)
        if z1 == 0:
            return None
        return mul(x1, self.inv(z1))

    def decode(self, data: bytes) -> int:
        """A peer's x coordinate, fully validated (see the module docstring)."""
        name = f"EC2N group {self.group}"
        if len(data) != self.size:
            raise InvalidPublicValueError(f"{name}: public value is {len(data)} bytes, expected {self.size}")
        x = int.from_bytes(data, "big")
        if x >> self.m:
            raise InvalidPublicValueError(f"{name}: x coordinate larger than the field")
        if x == 0:
            raise InvalidPublicValueError(f"{name}: x = 0 is the point of order 2")
        if not self.is_on_curve_x(x):
            raise InvalidPublicValueError(f"{name}: x coordinate of no point on the curve")
        return x


EC2N_CURVES: dict[int, Ec2nCurve] = {
    3: Ec2nCurve(
        group=3,
        m=155,
        k=62,
        a=0,
        b=0x07338F,
        gx=0x7B,
        order=0x0800000000000000000057DB5698537193AEF944,
        cofactor=12,
        source="RFC 2409 §6.3",
    ),
    4: Ec2nCurve(
        group=4,
        m=185,
        k=69,
        a=0,
        b=0x1EE9,
        gx=0x18,
        order=0x01FFFFFFFFFFFFFFFFFFFFFFDBF2F889B73E484175F94EBC,
        cofactor=4,
        source="RFC 2409 §6.4",
    ),
}


def ec2n_curve(group: int) -> Ec2nCurve:
    try:
        return EC2N_CURVES[group]
    except KeyError:
        raise UnknownAlgorithmError(f"EC2N group {group}: not one of {sorted(EC2N_CURVES)}") from None


class Ec2nKeyPair:
    """An ephemeral EC2N scalar h*k' (cofactor h) and the x coordinate of h*k'*G."""

    __slots__ = ("_curve", "_k", "public")

    def __init__(self, curve: Ec2nCurve, rng: Callable[[int], bytes]) -> None:
        self._curve = curve
        q = curve.subgroup_order
        nbytes = (q.bit_length() + 7) // 8 + 8  # 64 extra bits make the reduction bias negligible
        self._k = curve.cofactor * (int.from_bytes(rng(nbytes), "big") % (q - 1) + 1)
        gx = curve.ladder(self._k, curve.gx)
        assert gx is not None  # h*G has order q and 1 <= k' < q
        self.public = gx.to_bytes(curve.size, "big")

    def shared(self, peer: bytes) -> bytes:
        curve = self._curve
        x = curve.decode(peer)
        z = curve.ladder(self._k, x)
        if z is None:
            raise InvalidPublicValueError(
                f"EC2N group {curve.group}: peer point of small order (shared point is the identity)"
            )
        return z.to_bytes(curve.size, "big")
