"""EC2N groups 3 and 4 (RFC 2409 §6.3–6.4): field arithmetic, the group law, the RFC's orders, DH.

The x-only Montgomery ladder of ec2n.py is checked against a textbook affine double-and-add written
here from the curve equation (an independent implementation sharing only field multiplication).
"""

from __future__ import annotations

import random

import pytest

from ipsecd.crypto.ec2n import EC2N_CURVES, Ec2nCurve, ec2n_curve
from ipsecd.crypto.errors import InvalidPublicValueError, UnknownAlgorithmError
from ipsecd.crypto.ke import deterministic_rng, new_ke

Point = tuple[int, int] | None  # None: the point at infinity


def is_probable_prime(n: int) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def half_trace(c: Ec2nCurve, v: int) -> int:
    h = v
    for _ in range((c.m - 1) // 2):
        h = c.sqr(c.sqr(h)) ^ v
    return h


def lift(c: Ec2nCurve, x: int) -> Point:
    """A point with this x: y = x*z, z^2 + z = x + a + b/x^2 (m odd: z = half-trace)."""
    rhs = x ^ c.a ^ c.mul(c.b, c.inv(c.sqr(x)))
    z = half_trace(c, rhs)
    assert c.sqr(z) ^ z == rhs
    return (x, c.mul(x, z))


def on_curve(c: Ec2nCurve, p: Point) -> bool:
    if p is None:
        return True
    x, y = p
    return c.sqr(y) ^ c.mul(x, y) == c.mul(c.sqr(x), x) ^ c.mul(c.a, c.sqr(x)) ^ c.b


def add(c: Ec2nCurve, p: Point, q: Point) -> Point:
    if p is None:
        return q
    if q is None:
        return p
    (x1, y1), (x2, y2) = p, q
    if x1 == x2:
        if y1 != y2 or x1 == 0:  # q = -p (-(x, y) = (x, x + y)), or doubling a point of order 2
            return None
        lam = x1 ^ c.mul(y1, c.inv(x1))
        x3 = c.sqr(lam) ^ lam ^ c.a
        return (x3, c.sqr(x1) ^ c.mul(lam ^ 1, x3))
    lam = c.mul(y1 ^ y2, c.inv(x1 ^ x2))
    x3 = c.sqr(lam) ^ lam ^ x1 ^ x2 ^ c.a
    return (x3, c.mul(lam, x1 ^ x3) ^ x3 ^ y1)


def neg(p: Point) -> Point:
    return None if p is None else (p[0], p[0] ^ p[1])


def scalar(c: Ec2nCurve, k: int, p: Point) -> Point:
    r: Point = None
    while k:
        if k & 1:
            r = add(c, r, p)
        p = add(c, p, p)
        k >>= 1
    return r


CURVES = sorted(EC2N_CURVES)


@pytest.mark.parametrize("group", CURVES)
def test_field_arithmetic(group: int) -> None:
    c = EC2N_CURVES[group]
    rnd = random.Random(group)
    assert c.reduce(1 << c.m) == (1 << c.k) | 1  # u^m = u^k + 1
    for _ in range(20):
        a, b, d = (rnd.getrandbits(c.m) for _ in range(3))
        assert c.mul(a, b) == c.mul(b, a)
        assert c.mul(a, c.mul(b, d)) == c.mul(c.mul(a, b), d)
        assert c.mul(a, b ^ d) == c.mul(a, b) ^ c.mul(a, d)
        assert c.sqr(a) == c.mul(a, a)
        if a:
            assert c.mul(a, c.inv(a)) == 1
    with pytest.raises(ZeroDivisionError):
        c.inv(0)


@pytest.mark.parametrize("group", CURVES)
def test_orders_from_rfc2409(group: int) -> None:
    c = EC2N_CURVES[group]
    q = c.subgroup_order
    assert c.order == c.cofactor * q and is_probable_prime(q)
    g = lift(c, c.gx)
    assert on_curve(c, g)
    assert scalar(c, c.order, g) is None  # the RFC's group order kills the generator
    assert c.ladder(c.order, c.gx) is None
    # the generator's own order: 4q for group 3, 2q for group 4 (so it is not in the q-subgroup)
    gen_order = {3: 4 * q, 4: 2 * q}[group]
    assert c.ladder(gen_order, c.gx) is None
    assert c.ladder(gen_order // 2, c.gx) is not None
    assert c.ladder(q, c.gx) is not None


@pytest.mark.parametrize("group", CURVES)
def test_group_law(group: int) -> None:
    c = EC2N_CURVES[group]
    rnd = random.Random(100 + group)
    g = lift(c, c.gx)
    p, q, r = (scalar(c, rnd.getrandbits(40) + 1, g) for _ in range(3))
    assert all(on_curve(c, pt) for pt in (p, q, r, add(c, p, q), add(c, p, p)))
    assert add(c, p, None) == p
    assert add(c, p, neg(p)) is None
    assert add(c, p, q) == add(c, q, p)
    assert add(c, add(c, p, q), r) == add(c, p, add(c, q, r))
    a, b = rnd.getrandbits(60) + 1, rnd.getrandbits(60) + 1
    assert scalar(c, a + b, g) == add(c, scalar(c, a, g), scalar(c, b, g))


@pytest.mark.parametrize("group", CURVES)
def test_ladder_matches_affine_arithmetic(group: int) -> None:
    c = EC2N_CURVES[group]
    rnd = random.Random(200 + group)
    g = lift(c, c.gx)
    for k in (1, 2, 3, 4, 5, rnd.getrandbits(c.m), c.subgroup_order - 1):
        expected = scalar(c, k, g)
        assert expected is not None
        assert c.ladder(k, c.gx) == expected[0]


@pytest.mark.parametrize("group", CURVES)
def test_dh_agreement(group: int) -> None:
    a = new_ke(group, deterministic_rng(b"ec2n-a"))
    b = new_ke(group, deterministic_rng(b"ec2n-b"))
    size = EC2N_CURVES[group].size
    assert len(a.public_value()) == size == {3: 20, 4: 24}[group]
    shared = a.compute_shared(b.public_value())
    assert shared == b.compute_shared(a.public_value())
    assert len(shared) == size


@pytest.mark.parametrize("group", CURVES)
def test_peer_value_validation(group: int) -> None:
    c = EC2N_CURVES[group]
    me = new_ke(group)
    size = c.size
    off_curve = next(x for x in range(2, 1000) if not c.is_on_curve_x(x))
    bad = {
        "x = 0": bytes(size),
        "larger than the field": (1 << c.m).to_bytes(size, "big"),
        "no point on the curve": off_curve.to_bytes(size, "big"),
        "expected": b"\x7b",
    }
    for reason, value in bad.items():
        with pytest.raises(InvalidPublicValueError, match=reason):
            me.compute_shared(value)


def test_small_order_point_is_refused() -> None:
    c = EC2N_CURVES[3]  # h = 12: points of order 3 exist
    # 4q * R kills every component of a curve point R but its order-3 one
    candidates = (c.ladder(4 * c.subgroup_order, x) for x in range(2, 1000) if c.is_on_curve_x(x))
    small = next(p for p in candidates if p is not None)
    assert c.ladder(3, small) is None
    with pytest.raises(InvalidPublicValueError, match="small order"):
        new_ke(3).compute_shared(small.to_bytes(c.size, "big"))


def test_unknown_curve() -> None:
    with pytest.raises(UnknownAlgorithmError):
        ec2n_curve(5)
