"""ML-KEM (FIPS 203): the NIST known-answer records for all three parameter sets, and mlkem.py
against OpenSSL's ML-KEM-768/1024 (same seed, same keys; each decapsulates the other's ciphertexts)."""

from __future__ import annotations

import os

import pytest

from ipsecd.crypto import mlkem
from ipsecd.crypto.errors import InvalidPublicValueError, MalformedInputError
from tests.crypto.test_ke import VECTORS, load_blocks

PARAMS = {512: mlkem.ML_KEM_512, 768: mlkem.ML_KEM_768, 1024: mlkem.ML_KEM_1024}
KATS = [
    (size, record) for size in PARAMS for record in load_blocks(VECTORS / "fips203" / f"kat_mlkem_{size}.txt")
]


@pytest.mark.parametrize(("size", "kat"), KATS, ids=[f"{s}-{r['count']}" for s, r in KATS])
def test_known_answers(size: int, kat: dict[str, str]) -> None:
    p = PARAMS[size]
    ek, dk = mlkem.keygen(p, bytes.fromhex(kat["d"]), bytes.fromhex(kat["z"]))
    assert ek.hex() == kat["pk"]
    assert dk.hex() == kat["sk"]
    ct, ss = mlkem.encaps(p, ek, bytes.fromhex(kat["msg"]))
    assert ct.hex() == kat["ct"]
    assert ss.hex() == kat["ss"]
    assert mlkem.decaps(p, dk, ct) == ss
    assert mlkem.decaps(p, dk, bytes.fromhex(kat["ct_n"])).hex() == kat["ss_n"]  # implicit rejection


@pytest.mark.parametrize("size", [768, 1024])
def test_interoperates_with_openssl(size: int) -> None:
    from cryptography.hazmat.primitives.asymmetric import mlkem as ossl

    p = PARAMS[size]
    cls = ossl.MLKEM768PrivateKey if size == 768 else ossl.MLKEM1024PrivateKey
    seed = os.urandom(64)
    theirs = cls.from_seed_bytes(seed)
    ek, dk = mlkem.keygen(p, seed[:32], seed[32:])
    assert theirs.public_key().public_bytes_raw() == ek
    shared, ct = theirs.public_key().encapsulate()
    assert mlkem.decaps(p, dk, ct) == shared
    ct2, shared2 = mlkem.encaps(p, ek, os.urandom(32))
    assert theirs.decapsulate(ct2) == shared2


def test_input_checks() -> None:
    p = mlkem.ML_KEM_512
    ek, dk = mlkem.keygen(p, bytes(32), bytes(32))
    with pytest.raises(MalformedInputError, match="seeds"):
        mlkem.keygen(p, bytes(31), bytes(32))
    with pytest.raises(MalformedInputError, match="randomness"):
        mlkem.encaps(p, ek, bytes(16))
    with pytest.raises(InvalidPublicValueError, match="encapsulation key is"):
        mlkem.encaps(p, ek + b"\x00", bytes(32))
    with pytest.raises(InvalidPublicValueError, match=">= q"):
        mlkem.encaps(p, ek[:-34] + b"\xff\xff" + ek[-32:], bytes(32))  # last coefficient 0xfff
    with pytest.raises(InvalidPublicValueError, match="ciphertext is"):
        mlkem.decaps(p, dk, bytes(p.ct_size - 1))
    with pytest.raises(MalformedInputError, match="decapsulation key"):
        mlkem.decaps(p, dk[:-1], bytes(p.ct_size))


def test_sizes() -> None:
    assert [(p.ek_size, p.ct_size, p.dk_size) for p in PARAMS.values()] == [
        (800, 768, 1632),
        (1184, 1088, 2400),
        (1568, 1568, 3168),
    ]
