"""MODP groups: the primes against their published values, short exponents, validation, and
agreement with an independent implementation (OpenSSL's finite-field DH through ``cryptography``)."""

from __future__ import annotations

import warnings

import pytest

from ipsecd.crypto import modp
from ipsecd.crypto.errors import InvalidPublicValueError, UnknownAlgorithmError
from ipsecd.crypto.ke import deterministic_rng, new_ke
from ipsecd.crypto.modp import MODP_GROUPS, modp_group, pi_scaled
from tests.crypto.test_ke import VECTORS

PUBLISHED = {
    int(k): int(v, 16)
    for k, _, v in (
        line.partition(" = ")
        for line in (VECTORS / "rfc3526" / "modp_primes.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
}


def test_pi_digits() -> None:
    # pi = 3.243F6A8885A308D3 13198A2E ... in hexadecimal
    assert pi_scaled(64) == 0x3243F6A8885A308D3
    assert pi_scaled(128) >> 32 == 0x3243F6A8885A308D313198A2E


@pytest.mark.parametrize("group", sorted(MODP_GROUPS))
def test_primes_match_the_rfcs(group: int) -> None:
    g = MODP_GROUPS[group]
    assert g.prime == PUBLISHED[group]
    assert g.prime.bit_length() == g.bits


@pytest.mark.parametrize("group", [1, 2])
def test_rfc2409_primes_are_safe_primes(group: int) -> None:
    p = MODP_GROUPS[group].prime
    q = (p - 1) // 2
    for base in (2, 3, 5, 7):
        assert pow(base, p - 1, p) == 1
        assert pow(base, q - 1, q) == 1


def test_short_exponent_is_used() -> None:
    g = MODP_GROUPS[14]
    all_ones = new_ke(14, lambda n: b"\xff" * n)  # the exponent is masked to 320 bits
    assert all_ones.public_value() == pow(2, 2**320 - 1, g.prime).to_bytes(256, "big")


def test_degenerate_exponents_are_redrawn() -> None:
    draws = [b"\x00" * 40, b"\x00" * 39 + b"\x01", b"\x00" * 39 + b"\x07"]
    ke = new_ke(14, lambda n: draws.pop(0))
    assert ke.public_value() == pow(2, 7, MODP_GROUPS[14].prime).to_bytes(256, "big")


@pytest.mark.parametrize("group", [1, 2, 5, 14])
def test_peer_value_validation(group: int) -> None:
    g = modp_group(group)
    p = g.prime
    me = new_ke(group)
    for y in (0, 1, p - 1, p, p + 1, 2 ** (8 * g.size) - 1):
        with pytest.raises(InvalidPublicValueError, match=f"MODP group {group}"):
            me.compute_shared(y.to_bytes(g.size, "big"))
    for data in (b"", b"\x02", (2).to_bytes(g.size + 1, "big"), (5).to_bytes(g.size - 1, "big")):
        with pytest.raises(InvalidPublicValueError, match="bytes, expected"):
            me.compute_shared(data)
    # the smallest and largest valid values are accepted, and the result is padded to the prime
    assert len(me.compute_shared((2).to_bytes(g.size, "big"))) == g.size
    assert len(me.compute_shared((p - 2).to_bytes(g.size, "big"))) == g.size


def test_unknown_modp_group() -> None:
    with pytest.raises(UnknownAlgorithmError, match="MODP group 3"):
        modp_group(3)


@pytest.mark.parametrize("group", [2, 14])
def test_agrees_with_openssl(group: int) -> None:
    from cryptography.hazmat.primitives.asymmetric import dh

    g = MODP_GROUPS[group]
    with warnings.catch_warnings():  # finite-field DH is deprecated in cryptography >= 50
        warnings.simplefilter("ignore")
        params = dh.DHParameterNumbers(g.prime, 2).parameters()
        theirs = params.generate_private_key()
        their_y = theirs.public_key().public_numbers().y
        ours = new_ke(group, deterministic_rng(b"modp-vs-openssl"))  # the pow() path
        shared = ours.compute_shared(their_y.to_bytes(g.size, "big"))
        our_y = int.from_bytes(ours.public_value(), "big")
        peer = dh.DHPublicNumbers(our_y, dh.DHParameterNumbers(g.prime, 2)).public_key()
        expected = theirs.exchange(peer)
    assert int.from_bytes(shared, "big") == int.from_bytes(expected, "big")
    assert len(shared) == g.size


@pytest.mark.parametrize("group", [5, 14])
def test_pow_and_openssl_paths_agree(group: int) -> None:
    pow_side = new_ke(group, deterministic_rng(b"pow-side"))
    openssl_side = new_ke(group)
    assert modp.openssl_parameters(group) is not None  # cryptography still has FFDH here
    value_o = openssl_side.public_value()
    shared = pow_side.compute_shared(value_o)
    assert openssl_side.compute_shared(pow_side.public_value()) == shared
    assert len(value_o) == len(shared) == MODP_GROUPS[group].size


def test_fallback_when_cryptography_drops_ffdh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(modp, "_dh", None)
    modp.openssl_parameters.cache_clear()
    try:
        assert modp.openssl_parameters(14) is None
        a, b = new_ke(14), new_ke(14)  # system rng, pow() path
        assert a.compute_shared(b.public_value()) == b.compute_shared(a.public_value())
        assert a.public_value() != b.public_value()
    finally:
        modp.openssl_parameters.cache_clear()


def test_rfc2409_groups_stay_on_pow() -> None:
    assert modp.openssl_parameters(1) is None and modp.openssl_parameters(2) is None


def test_openssl_path_validates_too() -> None:
    me = new_ke(14)
    p = MODP_GROUPS[14].prime
    for y in (1, p - 1):
        with pytest.raises(InvalidPublicValueError, match="outside"):
            me.compute_shared(y.to_bytes(256, "big"))


def test_openssl_refusal_becomes_invalid_public_value(monkeypatch: pytest.MonkeyPatch) -> None:
    me = new_ke(14)
    peer = new_ke(14).public_value()
    me.public_value()  # key made with the real OpenSSL path

    class Refusing:  # stands in for cryptography's dh module
        @staticmethod
        def DHParameterNumbers(p: int, g: int) -> object:
            return (p, g)

        @staticmethod
        def DHPublicNumbers(y: int, numbers: object) -> object:
            raise ValueError("invalid public key")

    monkeypatch.setattr(modp, "_dh", Refusing)
    with pytest.raises(InvalidPublicValueError, match="OpenSSL refused"):
        me.compute_shared(peer)
