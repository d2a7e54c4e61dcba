"""The registry: names, IANA ids and sizes, and the errors for what it does not know."""

from __future__ import annotations

import pytest

from ipsecd.crypto import registry as r
from ipsecd.crypto.errors import UnknownAlgorithmError

ROUTEROS_PROPOSAL_ENC = (
    "null des 3des aes-128-cbc aes-192-cbc aes-256-cbc aes-128-ctr aes-192-ctr aes-256-ctr aes-128-gcm "
    "aes-192-gcm aes-256-gcm blowfish camellia-128 camellia-192 camellia-256 twofish chacha20poly1305"
).split()
ROUTEROS_PROFILE_ENC = (
    "des 3des aes-128 aes-192 aes-256 blowfish camellia-128 camellia-192 camellia-256".split()
)
ROUTEROS_GROUPS = (
    "modp768 modp1024 modp1536 modp2048 modp3072 modp4096 modp6144 modp8192 ec2n155 ec2n185 "
    "ecp256 ecp384 ecp521 x25519"
).split()


def test_every_routeros_name_is_known() -> None:
    assert {a.name for a in r.ENCR_ALGS if a.routeros} == set(ROUTEROS_PROPOSAL_ENC)
    for name in ROUTEROS_PROFILE_ENC:
        assert r.ike_encr(name).mode == "cbc"
    for name in ("md5", "null", "sha1", "sha256", "sha512"):
        assert r.integ(name).routeros
    for name in ("md5", "sha1", "sha256", "sha384", "sha512"):
        assert r.hash_alg(name).oakley_id > 0
    for name in ("sha1", "sha256", "sha384", "sha512"):
        assert r.prf(name).routeros
    for name in ROUTEROS_GROUPS:
        assert r.group(name).routeros


def test_names_are_unique() -> None:
    for table in (r.ENCR_ALGS, r.INTEG_ALGS, r.PRF_ALGS, r.HASH_ALGS, r.GROUPS):
        names = [row.name for row in table]
        assert len(names) == len(set(names))


@pytest.mark.parametrize(("name", "ikev2", "bits", "esp", "keymat", "iv", "icv"), [
    ("aes-128-cbc", 12, 128, 12, 16, 16, 0),
    ("aes-256-ctr", 13, 256, 13, 36, 8, 0),
    ("aes-128-gcm", 20, 128, 20, 20, 8, 16),
    ("aes-256-gcm-8", 18, 256, 18, 36, 8, 8),
    ("aes-192-gcm-12", 19, 192, 19, 28, 8, 12),
    ("3des", 3, 192, 3, 24, 8, 0),
    ("des", 2, 64, 2, 8, 8, 0),
    ("blowfish", 7, 128, 7, 16, 8, 0),
    ("camellia-256", 23, 256, 22, 32, 16, 0),
    ("twofish", 1027, 128, 253, 16, 16, 0),
    ("chacha20poly1305", 28, 256, None, 36, 8, 16),
    ("null", 11, 0, 11, 0, 0, 0),
])
def test_encr_rows(name: str, ikev2: int, bits: int, esp: int | None, keymat: int, iv: int, icv: int) -> None:
    a = r.encr(name)
    assert (a.ikev2_id, a.key_bits, a.esp_id, a.keymat_size, a.iv_size, a.icv_size) == (
        ikev2,
        bits,
        esp,
        keymat,
        iv,
        icv,
    )
    assert a.aead == (icv > 0)
    assert a.block_size >= 4


def test_lookup_by_ikev2_ids() -> None:
    assert r.by_ikev2(r.ENCR, 20, 256) is r.encr("aes-256-gcm")
    assert r.by_ikev2(r.ENCR, 12, 128) is r.encr("aes-128-cbc")
    assert r.by_ikev2(r.ENCR, 3) is r.encr("3des")
    assert r.by_ikev2(r.ENCR, 7) is r.encr("blowfish")  # default 128 without Key Length
    assert r.by_ikev2(r.ENCR, 1027, 256) is r.encr("twofish-256")
    assert r.by_ikev2(r.PRF, 5) is r.prf("sha256")
    assert r.by_ikev2(r.PRF, 4) is r.prf("aes-xcbc")
    assert r.by_ikev2(r.INTEG, 14) is r.integ("sha512")
    assert r.by_ikev2(r.INTEG, 13) is r.integ("sha384")
    assert r.by_ikev2(r.KE, 31) is r.group("x25519")
    assert r.by_ikev2(7, 36) is r.group("mlkem768")  # ADDKE2
    assert r.by_ikev2(r.ESN, 1).name == "esn"


def test_lookup_by_ikev1_ids() -> None:
    assert r.by_esp_id(12, 256) is r.encr("aes-256-cbc")
    assert r.by_esp_id(20, 128) is r.encr("aes-128-gcm")
    assert r.by_esp_id(253, 128) is r.encr("twofish")
    assert r.by_oakley_encr(7, 192) is r.encr("aes-192-cbc")
    assert r.by_oakley_encr(5) is r.encr("3des")
    assert r.by_oakley_hash(4) is r.hash_alg("sha256")
    assert r.by_auth_attr(5) is r.integ("sha256")
    assert r.by_ah_id(3) is r.integ("sha1")
    assert r.group_by_id(3).name == "ec2n155"


def test_pfs_group_none() -> None:
    assert r.pfs_group("none") is None
    assert r.pfs_group("modp2048") is r.group_by_id(14)
    with pytest.raises(UnknownAlgorithmError):
        r.pfs_group("off")


def test_profile_prf_auto_follows_hash() -> None:
    assert r.profile_prf("auto", "sha256") is r.prf("sha256")
    assert r.profile_prf("sha512", "sha1") is r.prf("sha512")


@pytest.mark.parametrize("call", [
    lambda: r.encr("aes-512-cbc"),
    lambda: r.ike_encr("aes-128-gcm"),
    lambda: r.integ("sha3"),
    lambda: r.prf("tiger"),
    lambda: r.group("modp999"),
    lambda: r.group_by_id(22),
    lambda: r.by_ikev2(r.ENCR, 12),  # AES without Key Length
    lambda: r.by_ikev2(r.ENCR, 12, 100),
    lambda: r.by_ikev2(r.ENCR, 3, 128),  # 3DES takes no other length
    lambda: r.by_ikev2(r.ENCR, 99),
    lambda: r.by_ikev2(r.KE, 3),  # EC2N: IKEv1 only
    lambda: r.by_ikev2(r.PRF, 5, 128),
    lambda: r.by_ikev2(99, 1),
    lambda: r.by_esp_id(200),
    lambda: r.by_oakley_hash(9),
    lambda: r.by_auth_attr(99),
    lambda: r.by_ah_id(99),
])
def test_unknown_raises_naming_what(call: object) -> None:
    with pytest.raises(UnknownAlgorithmError) as exc:
        call()  # type: ignore[operator]
    assert str(exc.value)


def test_error_message_names_the_value() -> None:
    with pytest.raises(UnknownAlgorithmError, match="'aes-512-cbc'"):
        r.encr("aes-512-cbc")


def test_groups_match_the_key_exchange_module() -> None:
    ke = pytest.importorskip("ipsecd.crypto.ke")
    assert {g.id for g in r.GROUPS} == set(ke.GROUPS)
    for g in r.GROUPS:
        assert ke.GROUPS[g.id].kind == g.kind
