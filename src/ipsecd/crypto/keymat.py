"""Key derivation for IKEv2 (RFC 7296 §2.13–2.18, RFC 9370 §2.2.2–2.2.4) and IKEv1 (RFC 2409 §5, App. B).

IKEv2:
    SKEYSEED = prf(Ni | Nr, g^ir)                                       §2.14
    {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
             = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)                    §2.14
    KEYMAT   = prf+(SK_d, [g^ir (new) |] Ni | Nr)                       §2.17
    SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)                    §2.18 (IKE SA rekey)
  For PRFs with a fixed key size (AES-XCBC-PRF-128, AES-CMAC-PRF-128) only the first 64 bits of Ni
  and of Nr key the SKEYSEED prf (§2.14), as strongSwan 5.9 and libreswan do (the strongSwan
  cross-check test covers both PRFs). RFC 9370 adds, after each additional key exchange n in
  IKE_INTERMEDIATE, SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr) and new SK_* from it with the same
  prf+ input; in CREATE_CHILD_SA the additional secrets follow g^ir: g^ir | SK(1) | ... | SK(n).

IKEv1 (the prf is the HMAC of the negotiated hash):
    SKEYID   = prf(pre-shared key, Ni_b | Nr_b)                         (pre-shared key)
    SKEYID   = prf(Ni_b | Nr_b, g^xy)                                   (signatures)
    SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
    SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
    SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
    cipher key: SKEYID_e truncated, or Ka = K1 | K2 | ..., K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1)
    phase-1 IV = hash(g^xi | g^xr); phase-2 IV = hash(last phase-1 CBC block | M-ID)  (App. B)
    KEYMAT   = K1 | K2 | ..., K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b),
               Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)   §5.5

``prf_alg`` is what ``ipsecd.crypto.prf.new_prf`` accepts (a registry PRF row or its name); the
IKEv1 functions take the negotiated hash (``"md5"``, ``"sha1"``, ``"sha256"``, ``"sha384"``,
``"sha512"``). Key material is never logged: the key containers print without their bytes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from ipsecd.crypto import registry
from ipsecd.crypto.errors import KeySizeError, MalformedInputError, UnknownAlgorithmError
from ipsecd.crypto.prf import new_prf, prf_plus
from ipsecd.crypto.registry import PrfAlg

PrfAlgorithm = PrfAlg | str  # a registry PRF row or its name ("sha256", "aes-xcbc", ...)

# -- IKEv2 ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IkeSaKeys:
    """The seven IKE SA keys of RFC 7296 §2.14 (bytes hidden from repr)."""

    sk_d: bytes = field(repr=False)
    sk_ai: bytes = field(repr=False)
    sk_ar: bytes = field(repr=False)
    sk_ei: bytes = field(repr=False)
    sk_er: bytes = field(repr=False)
    sk_pi: bytes = field(repr=False)
    sk_pr: bytes = field(repr=False)


def ikev2_skeyseed(prf_alg: PrfAlgorithm, ni: bytes, nr: bytes, g_ir: bytes) -> bytes:
    """SKEYSEED = prf(Ni | Nr, g^ir), with the 64-bit nonce rule for fixed-key PRFs."""
    alg = registry.prf(prf_alg) if isinstance(prf_alg, str) else prf_alg
    if alg.fixed_key:
        key = ni[:8] + nr[:8]
    else:
        key = ni + nr
    return new_prf(alg, key).compute(g_ir)


def ikev2_ike_sa_keys(
    prf_alg: PrfAlgorithm,
    skeyseed: bytes,
    ni: bytes,
    nr: bytes,
    spi_i: bytes,
    spi_r: bytes,
    integ_key_len: int,
    encr_key_len: int,
    prf_key_len: int,
) -> IkeSaKeys:
    """SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr from SKEYSEED (lengths in bytes).

    ``encr_key_len`` includes any salt (RFC 4106/5282: AES-GCM-128 in IKE takes 16 + 4 bytes);
    ``integ_key_len`` is 0 with an AEAD; ``prf_key_len`` is the PRF's preferred key size.
    """
    if len(spi_i) != 8 or len(spi_r) != 8:
        raise MalformedInputError("IKEv2 key derivation: IKE SPIs must be 8 bytes each")
    if min(integ_key_len, encr_key_len, prf_key_len) < 0:
        raise KeySizeError("IKEv2 key derivation: negative key length")
    sizes = (prf_key_len, integ_key_len, integ_key_len, encr_key_len, encr_key_len, prf_key_len, prf_key_len)
    stream = prf_plus(prf_alg, skeyseed, ni + nr + spi_i + spi_r, sum(sizes))
    parts = []
    pos = 0
    for size in sizes:
        parts.append(stream[pos : pos + size])
        pos += size
    return IkeSaKeys(*parts)


def ikev2_rekey_skeyseed(
    prf_alg: PrfAlgorithm,
    old_sk_d: bytes,
    g_ir_new: bytes,
    ni: bytes,
    nr: bytes,
    additional: Iterable[bytes] = (),
) -> bytes:
    """SKEYSEED of a rekeyed IKE SA: prf(SK_d (old), g^ir (new) [| SK(1) | ... | SK(n)] | Ni | Nr)."""
    return new_prf(prf_alg, old_sk_d).compute(g_ir_new + b"".join(additional) + ni + nr)


def ikev2_child_keymat(
    prf_alg: PrfAlgorithm,
    sk_d: bytes,
    ni: bytes,
    nr: bytes,
    length: int,
    g_ir: bytes | None = None,
    additional: Iterable[bytes] = (),
) -> bytes:
    """CHILD SA KEYMAT = prf+(SK_d, [g^ir (new) | SK(1) | ... | SK(n) |] Ni | Nr), ``length`` bytes.

    Split in the order of RFC 7296 §2.17: the initiator-to-responder encryption key, then its
    integrity key, then the same for the responder-to-initiator direction.
    """
    seed = (g_ir or b"") + b"".join(additional) + ni + nr
    return prf_plus(prf_alg, sk_d, seed, length)


def ikev2_intermediate_skeyseed(
    prf_alg: PrfAlgorithm, sk_d_prev: bytes, shared: bytes, ni: bytes, nr: bytes
) -> bytes:
    """RFC 9370 §2.2.2: SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr) after additional key exchange n.

    Feed the result to ``ikev2_ike_sa_keys`` with the IKE_SA_INIT nonces and the IKE SA's SPIs to
    get SK_d(n), SK_a[i/r](n), SK_e[i/r](n) and SK_p[i/r](n).
    """
    return new_prf(prf_alg, sk_d_prev).compute(shared + ni + nr)


# -- IKEv1 ---------------------------------------------------------------------------------------

_IKEV1_HASHES = ("md5", "sha1", "sha256", "sha384", "sha512")


def _hash_name(hash_alg: str) -> str:
    name = hash_alg.lower().removeprefix("hmac-").replace("-", "")
    if name not in _IKEV1_HASHES:
        raise UnknownAlgorithmError(f"IKEv1 hash {hash_alg!r}: not one of {', '.join(_IKEV1_HASHES)}")
    return name


def ikev1_prf(hash_alg: str, key: bytes, data: bytes) -> bytes:
    """The IKEv1 prf: HMAC with the negotiated hash (RFC 2409 §4, no PRF attribute negotiated)."""
    return new_prf(_hash_name(hash_alg), key).compute(data)


def ikev1_hash(hash_alg: str, data: bytes) -> bytes:
    """The negotiated hash itself (not its HMAC), as the IV computations use it."""
    return hashlib.new(_hash_name(hash_alg), data).digest()


def skeyid_psk(hash_alg: str, psk: bytes, ni_b: bytes, nr_b: bytes) -> bytes:
    """SKEYID for pre-shared key authentication: prf(pre-shared-key, Ni_b | Nr_b)."""
    return ikev1_prf(hash_alg, psk, ni_b + nr_b)


def skeyid_sig(hash_alg: str, ni_b: bytes, nr_b: bytes, g_xy: bytes) -> bytes:
    """SKEYID for signature authentication: prf(Ni_b | Nr_b, g^xy)."""
    return ikev1_prf(hash_alg, ni_b + nr_b, g_xy)


@dataclass(frozen=True, slots=True)
class SkeyidSet:
    """SKEYID_d, SKEYID_a, SKEYID_e of an ISAKMP SA (bytes hidden from repr)."""

    skeyid_d: bytes = field(repr=False)
    skeyid_a: bytes = field(repr=False)
    skeyid_e: bytes = field(repr=False)


def cookie_pair(cky_i: bytes, cky_r: bytes) -> bytes:
    """CKY-I | CKY-R (or CKY-R | CKY-I for HASH_R), each checked to be 8 bytes."""
    if len(cky_i) != 8 or len(cky_r) != 8:
        raise MalformedInputError("IKEv1 key derivation: cookies must be 8 bytes each")
    return cky_i + cky_r


def skeyid_d(hash_alg: str, skeyid: bytes, g_xy: bytes, cky_i: bytes, cky_r: bytes) -> bytes:
    """SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)."""
    return ikev1_prf(hash_alg, skeyid, g_xy + cookie_pair(cky_i, cky_r) + b"\x00")


def skeyid_a(
    hash_alg: str, skeyid: bytes, skeyid_d_value: bytes, g_xy: bytes, cky_i: bytes, cky_r: bytes
) -> bytes:
    """SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)."""
    return ikev1_prf(hash_alg, skeyid, skeyid_d_value + g_xy + cookie_pair(cky_i, cky_r) + b"\x01")


def skeyid_e(
    hash_alg: str, skeyid: bytes, skeyid_a_value: bytes, g_xy: bytes, cky_i: bytes, cky_r: bytes
) -> bytes:
    """SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)."""
    return ikev1_prf(hash_alg, skeyid, skeyid_a_value + g_xy + cookie_pair(cky_i, cky_r) + b"\x02")


def skeyid_dae(hash_alg: str, skeyid: bytes, g_xy: bytes, cky_i: bytes, cky_r: bytes) -> SkeyidSet:
    """The three chained keys at once."""
    d = skeyid_d(hash_alg, skeyid, g_xy, cky_i, cky_r)
    a = skeyid_a(hash_alg, skeyid, d, g_xy, cky_i, cky_r)
    return SkeyidSet(d, a, skeyid_e(hash_alg, skeyid, a, g_xy, cky_i, cky_r))


def ikev1_encryption_key(hash_alg: str, skeyid_e_value: bytes, key_len: int) -> bytes:
    """The phase-1 cipher key: SKEYID_e truncated, or expanded per RFC 2409 Appendix B."""
    if key_len <= len(skeyid_e_value):
        return skeyid_e_value[:key_len]
    blocks = [ikev1_prf(hash_alg, skeyid_e_value, b"\x00")]
    while sum(map(len, blocks)) < key_len:
        blocks.append(ikev1_prf(hash_alg, skeyid_e_value, blocks[-1]))
    return b"".join(blocks)[:key_len]


def ikev1_phase1_iv(hash_alg: str, g_xi: bytes, g_xr: bytes, block_size: int) -> bytes:
    """Initial phase-1 IV: hash(g^xi | g^xr) truncated to the cipher's block size."""
    return ikev1_hash(hash_alg, g_xi + g_xr)[:block_size]


def ikev1_phase2_iv(hash_alg: str, last_phase1_block: bytes, message_id: int, block_size: int) -> bytes:
    """First IV of a quick-mode or informational exchange: hash(last phase-1 CBC block | M-ID).

    Later messages of that exchange chain: their IV is the last ciphertext block of the previous
    message of the same exchange (``ikev1_next_iv``).
    """
    return ikev1_hash(hash_alg, last_phase1_block + struct.pack("!I", message_id))[:block_size]


def ikev1_next_iv(ciphertext: bytes, block_size: int) -> bytes:
    """CBC chaining across IKEv1 messages: the last ciphertext block of the previous message."""
    if len(ciphertext) < block_size or len(ciphertext) % block_size:
        raise MalformedInputError(
            f"IKEv1 IV chaining: ciphertext of {len(ciphertext)} bytes is not whole {block_size}-byte blocks"
        )
    return ciphertext[-block_size:]


def ikev1_quick_mode_keymat(
    hash_alg: str,
    skeyid_d_value: bytes,
    protocol: int,
    spi: bytes,
    ni_b: bytes,
    nr_b: bytes,
    length: int,
    g_qm_xy: bytes | None = None,
) -> bytes:
    """Quick-mode KEYMAT for one SA (one direction: ``spi`` is the receiver's), RFC 2409 §5.5."""
    if not 0 <= protocol <= 255:
        raise MalformedInputError(f"IKEv1 KEYMAT: protocol {protocol} does not fit one octet")
    seed = (g_qm_xy or b"") + bytes([protocol]) + spi + ni_b + nr_b
    blocks = [ikev1_prf(hash_alg, skeyid_d_value, seed)]
    while sum(map(len, blocks)) < length:
        blocks.append(ikev1_prf(hash_alg, skeyid_d_value, blocks[-1] + seed))
    return b"".join(blocks)[:length]
