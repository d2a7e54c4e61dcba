"""Key derivation: NIST CAVP (SP 800-135) IKEv2 and IKEv1 KDF vectors, and each RFC formula.

Where no published vector could be had (IKEv1 pre-shared-key SKEYID, Appendix B expansion, IVs,
quick-mode KEYMAT, RFC 9370 updates), the test restates the RFC 2409/7296/9370 formula with Python's
hmac/hashlib directly, so a wrong order of fields, a missing counter byte or a wrong key shows;
test_keymat_strongswan.py checks the same functions against real strongSwan exchanges.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest

from ipsecd.crypto import keymat, registry
from ipsecd.crypto.errors import KeySizeError, MalformedInputError, UnknownAlgorithmError
from ipsecd.crypto.prf import new_prf
from tests.crypto.test_ke import VECTORS, load_blocks

IKEV2 = load_blocks(VECTORS / "nist-cavp-sp800-135" / "ikev2.txt")
IKEV1 = load_blocks(VECTORS / "nist-cavp-sp800-135" / "ikev1.txt")


def h(v: dict[str, str], key: str) -> bytes:
    return bytes.fromhex(v[key])


@pytest.mark.parametrize("v", IKEV2, ids=lambda v: v["spii"])
def test_cavp_ikev2(v: dict[str, str]) -> None:
    prf = v["prf"]
    ni, nr = h(v, "ni"), h(v, "nr")
    skeyseed = keymat.ikev2_skeyseed(prf, ni, nr, h(v, "gir"))
    assert skeyseed == h(v, "skeyseed")
    # DKM is 132 bytes: SK_d, SK_pi, SK_pr 20 each (SHA-1 PRF), SK_a* 20, SK_e* 16
    keys = keymat.ikev2_ike_sa_keys(
        prf, skeyseed, ni, nr, h(v, "spii"), h(v, "spir"), integ_key_len=20, encr_key_len=16, prf_key_len=20
    )
    joined = keys.sk_d + keys.sk_ai + keys.sk_ar + keys.sk_ei + keys.sk_er + keys.sk_pi + keys.sk_pr
    assert joined == h(v, "dkm")
    assert keymat.ikev2_rekey_skeyseed(prf, keys.sk_d, h(v, "gir_new"), ni, nr) == h(v, "skeyseed_rekey")
    if "dkm_child" in v:
        assert keymat.ikev2_child_keymat(prf, keys.sk_d, ni, nr, 132) == h(v, "dkm_child")
        pfs = keymat.ikev2_child_keymat(prf, keys.sk_d, ni, nr, 132, g_ir=h(v, "gir_new"))
        assert pfs == h(v, "dkm_child_dh")


@pytest.mark.parametrize("prf", ["aes-xcbc", "aes-cmac"])
def test_skeyseed_fixed_key_prfs_use_64_bits_of_each_nonce(prf: str) -> None:
    # RFC 7296 §2.14: "only the first 64 bits of Ni and the first 64 bits of Nr are used"
    ni, nr, g_ir = bytes(range(32)), bytes(range(100, 132)), b"\x42" * 256
    got = keymat.ikev2_skeyseed(prf, ni, nr, g_ir)
    assert got == new_prf(prf, ni[:8] + nr[:8]).compute(g_ir)
    assert got != new_prf(prf, ni + nr).compute(g_ir)
    assert keymat.ikev2_skeyseed(registry.prf(prf), ni, nr, g_ir) == got  # a registry row works too
    # HMAC PRFs take the whole nonces
    assert keymat.ikev2_skeyseed("sha256", ni, nr, g_ir) == hmac.digest(ni + nr, g_ir, "sha256")


def test_unknown_prf() -> None:
    with pytest.raises(UnknownAlgorithmError):
        keymat.ikev2_skeyseed("whirlpool", b"n", b"m", b"g")


def test_ikev2_key_lengths_and_repr() -> None:
    keys = keymat.ikev2_ike_sa_keys("sha256", b"s" * 32, b"n" * 32, b"m" * 32, b"i" * 8, b"r" * 8, 0, 36, 32)
    assert (len(keys.sk_d), len(keys.sk_ai), len(keys.sk_ei), len(keys.sk_pr)) == (32, 0, 36, 32)
    assert keys.sk_d.hex() not in repr(keys) and "sk_d" not in repr(keys)
    with pytest.raises(MalformedInputError, match="SPIs"):
        keymat.ikev2_ike_sa_keys("sha256", b"s", b"n", b"m", b"i" * 4, b"r" * 8, 0, 16, 32)
    with pytest.raises(KeySizeError, match="255"):
        keymat.ikev2_child_keymat("sha1", b"k" * 20, b"n", b"m", 255 * 20 + 1)


def test_rfc9370_additional_key_exchanges() -> None:
    sk_d, ni, nr = b"\x01" * 32, b"\x02" * 16, b"\x03" * 16
    sk1, sk2, g_ir = b"\x04" * 32, b"\x05" * 32, b"\x06" * 256
    assert keymat.ikev2_intermediate_skeyseed("sha256", sk_d, sk1, ni, nr) == hmac.digest(
        sk_d, sk1 + ni + nr, "sha256"
    )
    # CREATE_CHILD_SA with additional key exchanges: g^ir | SK(1) | SK(2) | Ni | Nr
    seed = g_ir + sk1 + sk2 + ni + nr
    t1 = hmac.digest(sk_d, seed + b"\x01", "sha256")
    t2 = hmac.digest(sk_d, t1 + seed + b"\x02", "sha256")
    assert keymat.ikev2_child_keymat("sha256", sk_d, ni, nr, 64, g_ir=g_ir, additional=[sk1, sk2]) == t1 + t2
    assert keymat.ikev2_rekey_skeyseed("sha256", sk_d, g_ir, ni, nr, additional=[sk1, sk2]) == hmac.digest(
        sk_d, seed, "sha256"
    )


# -- IKEv1 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("v", IKEV1, ids=lambda v: v["auth"])
def test_cavp_ikev1_signature_auth(v: dict[str, str]) -> None:
    hash_alg = v["hash"]
    skeyid = keymat.skeyid_sig(hash_alg, h(v, "ni"), h(v, "nr"), h(v, "gxy"))
    assert skeyid == h(v, "skeyid")
    args = (h(v, "gxy"), h(v, "cky_i"), h(v, "cky_r"))
    d = keymat.skeyid_d(hash_alg, skeyid, *args)
    a = keymat.skeyid_a(hash_alg, skeyid, d, *args)
    e = keymat.skeyid_e(hash_alg, skeyid, a, *args)
    assert (d, a, e) == (h(v, "skeyid_d"), h(v, "skeyid_a"), h(v, "skeyid_e"))
    assert keymat.skeyid_dae(hash_alg, skeyid, *args) == keymat.SkeyidSet(d, a, e)


def test_ikev1_skeyid_psk() -> None:
    # No published ikev1 pre-shared-key record was available (see the vector file): RFC 2409 §5.
    psk, ni, nr = b"secret", b"\x11" * 16, b"\x22" * 16
    assert keymat.skeyid_psk("sha256", psk, ni, nr) == hmac.digest(psk, ni + nr, "sha256")
    assert keymat.skeyid_psk("md5", psk, ni, nr) == hmac.digest(psk, ni + nr, "md5")


def test_ikev1_appendix_b_key_expansion() -> None:
    e = bytes(range(20))
    assert keymat.ikev1_encryption_key("sha1", e, 16) == e[:16]
    assert keymat.ikev1_encryption_key("sha1", e, 20) == e
    k1 = hmac.digest(e, b"\x00", "sha1")
    k2 = hmac.digest(e, k1, "sha1")
    assert keymat.ikev1_encryption_key("sha1", e, 32) == (k1 + k2)[:32]
    assert keymat.ikev1_encryption_key("sha1", e, 40) == k1 + k2


def test_ikev1_ivs() -> None:
    gxi, gxr = b"\x01" * 128, b"\x02" * 128
    assert keymat.ikev1_phase1_iv("sha1", gxi, gxr, 16) == hashlib.sha1(gxi + gxr).digest()[:16]
    assert keymat.ikev1_phase1_iv("md5", gxi, gxr, 8) == hashlib.md5(gxi + gxr).digest()[:8]
    last = b"\xaa" * 16
    mid = 0x12345678
    expected = hashlib.sha256(last + struct.pack("!I", mid)).digest()[:16]
    assert keymat.ikev1_phase2_iv("sha256", last, mid, 16) == expected
    ciphertext = bytes(range(48))
    assert keymat.ikev1_next_iv(ciphertext, 16) == ciphertext[32:]
    for bad in (b"", bytes(15), bytes(17)):
        with pytest.raises(MalformedInputError, match="IV chaining"):
            keymat.ikev1_next_iv(bad, 16)


@pytest.mark.parametrize("pfs", [False, True])
def test_ikev1_quick_mode_keymat(pfs: bool) -> None:
    skeyid_d, spi, ni, nr = b"\x33" * 20, b"\xc0\x01\x02\x03", b"\x44" * 16, b"\x55" * 16
    g_qm = b"\x66" * 128 if pfs else None
    seed = (g_qm or b"") + b"\x03" + spi + ni + nr  # protocol 3 = ESP
    k1 = hmac.digest(skeyid_d, seed, "sha1")
    k2 = hmac.digest(skeyid_d, k1 + seed, "sha1")
    k3 = hmac.digest(skeyid_d, k2 + seed, "sha1")
    got = keymat.ikev1_quick_mode_keymat("sha1", skeyid_d, 3, spi, ni, nr, 52, g_qm_xy=g_qm)
    assert got == (k1 + k2 + k3)[:52]
    with pytest.raises(MalformedInputError, match="protocol"):
        keymat.ikev1_quick_mode_keymat("sha1", skeyid_d, 256, spi, ni, nr, 16)


def test_ikev1_bad_input() -> None:
    with pytest.raises(UnknownAlgorithmError, match="IKEv1 hash"):
        keymat.skeyid_psk("whirlpool", b"k", b"n", b"m")
    with pytest.raises(MalformedInputError, match="cookies"):
        keymat.skeyid_d("sha1", b"k", b"g", b"short", b"\x00" * 8)
