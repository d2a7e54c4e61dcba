"""The algorithm registry: one table from RouterOS names to IANA ids and sizes.

Everything that negotiates, installs, prints or tests an algorithm reads this module; nothing else
in the tree keeps its own list of ids or sizes.

Sources of the ids:
  * IKEv2 Transform Types 1–5 and 6–12 (additional key exchanges): IANA "IKEv2 Parameters"
    (RFC 7296 §3.3.2, RFC 9370 §2.2); ESN is Transform Type 5.
  * IKEv1 Oakley attributes (encryption algorithm 1, hash algorithm 2, group description 4):
    RFC 2409 Appendix A and the IANA "IPSEC Registry".
  * IPsec DOI (RFC 2407 §4.4): ESP transform ids, AH transform ids, and the phase-2
    "Authentication Algorithm" SA attribute (type 5).
  * Where IANA has no id, we use what peers use and say so in ``note``: Twofish has only
    private-use values (strongSwan: IKEv2 1027, IKEv1 Oakley 65005, ESP 253); EC2N groups 3 and 4 are
    IKEv1 only (IKEv2 values 3–4 are reserved); ML-KEM 35–37 are draft-ietf-ipsecme-ikev2-mlkem.

Sizes are in bytes. ``key_size`` is the cipher key alone; ``salt_size`` is the extra key material
taken from KEYMAT behind it (RFC 4106 §8.1, RFC 3686 §5.1, RFC 7634 §2), so an SA needs
``keymat_size = key_size + salt_size`` bytes. ``block_size`` is the alignment ESP padding must reach
(at least 4, RFC 4303 §2.4). Blowfish and Twofish take key lengths 128/192/256 as strongSwan does;
the default when a peer sends no Key Length attribute is 128 (RFC 2451 §2.2 for Blowfish).
"""

from __future__ import annotations

from dataclasses import dataclass

from ipsecd.crypto.errors import UnknownAlgorithmError

#: IKEv2 transform types (RFC 7296 §3.3.2, RFC 9370 §2.2).
ENCR, PRF, INTEG, KE, ESN = 1, 2, 3, 4, 5
ADDITIONAL_KE_TYPES: tuple[int, ...] = tuple(range(6, 13))

OPENSSL = "OpenSSL"
IPSECD = "ipsecd"


@dataclass(frozen=True, slots=True)
class EncrAlg:
    """An encryption transform: ESP proposal ``enc-algorithms`` and/or IKE profile ``enc-algorithm``."""

    name: str  # proposal enc-algorithms name (ours where RouterOS has none)
    mode: str  # "cbc" | "ctr" | "gcm" | "chacha20poly1305" | "null"
    cipher: str  # block cipher family: "aes", "3des", "des", "blowfish", "camellia", "twofish", ...
    key_size: int
    salt_size: int
    block_size: int
    iv_size: int
    icv_size: int
    aead: bool
    ikev2_id: int
    ikev2_key_attr: bool  # the IKEv2/IKEv1 transform carries a Key Length attribute
    esp_id: int | None  # IPsec DOI ESP transform id (IKEv1 phase 2)
    oakley_id: int | None  # IKEv1 phase-1 encryption algorithm attribute value
    profile_name: str | None  # RouterOS /ip ipsec profile enc-algorithm name, if IKE can use it
    routeros: bool  # listed in RouterOS's proposal enc-algorithms
    implementation: str
    source: str
    note: str = ""

    @property
    def keymat_size(self) -> int:
        """Bytes of KEYMAT this transform consumes (key plus salt/nonce)."""
        return self.key_size + self.salt_size

    @property
    def key_bits(self) -> int:
        return self.key_size * 8


@dataclass(frozen=True, slots=True)
class IntegAlg:
    """An integrity transform (ESP/AH ``auth-algorithms``; IKEv2 Transform Type 3)."""

    name: str
    hash: str | None  # hashlib/cryptography hash name; None for null
    key_size: int
    icv_size: int
    ikev2_id: int
    auth_attr_id: int | None  # IPsec DOI phase-2 Authentication Algorithm attribute
    ah_id: int | None  # IPsec DOI AH transform id
    routeros: bool
    implementation: str
    source: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class PrfAlg:
    """A pseudo-random function (IKEv2 Transform Type 2; profile ``prf-algorithm``)."""

    name: str
    kind: str  # "hmac" | "aes-xcbc" | "aes-cmac"
    hash: str | None
    output_size: int
    key_size: int  # preferred key size (RFC 7296 §2.13)
    fixed_key: bool  # AES-XCBC/CMAC-PRF-128: keys of other sizes are adapted (RFC 4434 / 4615)
    ikev2_id: int
    routeros: bool
    implementation: str
    source: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class HashAlg:
    """Profile ``hash-algorithm``: IKEv1 Oakley hash, and for IKEv2 the integrity and default PRF."""

    name: str
    digest_size: int
    oakley_id: int
    integ: str  # IntegAlg name used for IKEv2 SK_a
    prf: str  # PrfAlg name for prf-algorithm=auto
    routeros: bool
    source: str


@dataclass(frozen=True, slots=True)
class Group:
    """A key-exchange method (``dh-group`` / ``pfs-group``); the math lives in ``ke.py``."""

    name: str
    id: int
    kind: str  # "modp" | "ec2n" | "ecp" | "montgomery" | "kem"
    bits: int  # size of the group's field / parameter set
    ikev1: bool
    ikev2_types: tuple[int, ...]  # IKEv2 transform types it may appear in
    routeros: bool
    source: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class EsnAlg:
    """IKEv2 Transform Type 5 (Extended Sequence Numbers, RFC 7296 §3.3.2)."""

    name: str
    ikev2_id: int


def _cbc(name: str, cipher: str, key: int, block: int, ids: tuple[int, int | None, int | None],
         profile: str | None, source: str, *, key_attr: bool = True, routeros: bool = True,
         impl: str = OPENSSL, note: str = "") -> EncrAlg:
    """A CBC row; ``ids`` = (IKEv2 transform id, ESP transform id, Oakley encryption value)."""
    ikev2, esp, oakley = ids
    return EncrAlg(name=name, mode="cbc", cipher=cipher, key_size=key, salt_size=0, block_size=block,
                   iv_size=block, icv_size=0, aead=False, ikev2_id=ikev2, ikev2_key_attr=key_attr,
                   esp_id=esp, oakley_id=oakley, profile_name=profile, routeros=routeros,
                   implementation=impl, source=source, note=note)


def _aes(name: str, mode: str, key: int, icv: int = 0, transform_id: int = 13, *,
         routeros: bool = True) -> EncrAlg:
    """AES-CTR (RFC 3686) or AES-GCM (RFC 4106): 4-byte salt, 8-byte IV; same id for IKEv2 and ESP."""
    return EncrAlg(name=name, mode=mode, cipher="aes", key_size=key, salt_size=4, block_size=4,
                   iv_size=8, icv_size=icv, aead=mode == "gcm", ikev2_id=transform_id,
                   ikev2_key_attr=True, esp_id=transform_id, oakley_id=None, profile_name=None,
                   routeros=routeros, implementation=OPENSSL,
                   source="RFC 3686" if mode == "ctr" else "RFC 4106")


def _twofish(name: str, key: int, routeros: bool) -> EncrAlg:
    return _cbc(name, "twofish", key, 16, (1027, 253, 65005), None, "Twofish paper (Schneier et al. 1998)",
                routeros=routeros, impl=IPSECD, note=_TWOFISH_NOTE)


_TWOFISH_NOTE = ("ipsecd's own pure-Python Twofish (OpenSSL has none); no IANA id: private-use values"
                 " as strongSwan (IKEv2 1027, IKEv1 65005, ESP 253)")
_BLOWFISH_NOTE = "key length 128/192/256 as strongSwan; 128 when no Key Length attribute"
_DES_NOTE = "single DES run as TripleDES with K1=K2=K3 (cryptography has no DES)"
_AES_CBC = (12, 12, 7)
_BLOWFISH = (7, 7, 3)
_CAMELLIA = (23, 22, 8)

ENCR_ALGS: tuple[EncrAlg, ...] = (
    EncrAlg(name="null", mode="null", cipher="null", key_size=0, salt_size=0, block_size=4, iv_size=0,
            icv_size=0, aead=False, ikev2_id=11, ikev2_key_attr=False, esp_id=11, oakley_id=None,
            profile_name=None, routeros=True, implementation=OPENSSL, source="RFC 2410"),
    _cbc("des", "des", 8, 8, (2, 2, 1), "des", "RFC 2405", key_attr=False, note=_DES_NOTE),
    _cbc("3des", "3des", 24, 8, (3, 3, 5), "3des", "RFC 2451", key_attr=False),
    _cbc("aes-128-cbc", "aes", 16, 16, _AES_CBC, "aes-128", "RFC 3602"),
    _cbc("aes-192-cbc", "aes", 24, 16, _AES_CBC, "aes-192", "RFC 3602"),
    _cbc("aes-256-cbc", "aes", 32, 16, _AES_CBC, "aes-256", "RFC 3602"),
    _aes("aes-128-ctr", "ctr", 16),
    _aes("aes-192-ctr", "ctr", 24),
    _aes("aes-256-ctr", "ctr", 32),
    _aes("aes-128-gcm", "gcm", 16, 16, 20),
    _aes("aes-192-gcm", "gcm", 24, 16, 20),
    _aes("aes-256-gcm", "gcm", 32, 16, 20),
    _aes("aes-128-gcm-8", "gcm", 16, 8, 18, routeros=False),
    _aes("aes-192-gcm-8", "gcm", 24, 8, 18, routeros=False),
    _aes("aes-256-gcm-8", "gcm", 32, 8, 18, routeros=False),
    _aes("aes-128-gcm-12", "gcm", 16, 12, 19, routeros=False),
    _aes("aes-192-gcm-12", "gcm", 24, 12, 19, routeros=False),
    _aes("aes-256-gcm-12", "gcm", 32, 12, 19, routeros=False),
    _cbc("blowfish", "blowfish", 16, 8, _BLOWFISH, "blowfish", "RFC 2451", note=_BLOWFISH_NOTE),
    _cbc("blowfish-192", "blowfish", 24, 8, _BLOWFISH, None, "RFC 2451", routeros=False,
         note=_BLOWFISH_NOTE),
    _cbc("blowfish-256", "blowfish", 32, 8, _BLOWFISH, None, "RFC 2451", routeros=False,
         note=_BLOWFISH_NOTE),
    _cbc("camellia-128", "camellia", 16, 16, _CAMELLIA, "camellia-128", "RFC 4312, RFC 5529"),
    _cbc("camellia-192", "camellia", 24, 16, _CAMELLIA, "camellia-192", "RFC 4312, RFC 5529"),
    _cbc("camellia-256", "camellia", 32, 16, _CAMELLIA, "camellia-256", "RFC 4312, RFC 5529"),
    _twofish("twofish", 16, True),
    _twofish("twofish-192", 24, False),
    _twofish("twofish-256", 32, False),
    EncrAlg(name="chacha20poly1305", mode="chacha20poly1305", cipher="chacha20", key_size=32, salt_size=4,
            block_size=4, iv_size=8, icv_size=16, aead=True, ikev2_id=28, ikev2_key_attr=False, esp_id=None,
            oakley_id=None, profile_name=None, routeros=True, implementation=OPENSSL, source="RFC 7634",
            note="no IKEv1 ESP transform id"),
)

INTEG_ALGS: tuple[IntegAlg, ...] = (
    IntegAlg("null", None, 0, 0, 0, None, None, True, OPENSSL, "RFC 7296 (NONE)"),
    IntegAlg("md5", "md5", 16, 12, 1, 1, 2, True, OPENSSL, "RFC 2403 (HMAC-MD5-96)"),
    IntegAlg("sha1", "sha1", 20, 12, 2, 2, 3, True, OPENSSL, "RFC 2404 (HMAC-SHA1-96)"),
    IntegAlg("sha256", "sha256", 32, 16, 12, 5, 5, True, OPENSSL, "RFC 4868 (HMAC-SHA-256-128)"),
    IntegAlg("sha384", "sha384", 48, 24, 13, 6, 6, False, OPENSSL, "RFC 4868 (HMAC-SHA-384-192)",
             "not in RouterOS auth-algorithms; offered because strongSwan peers use it"),
    IntegAlg("sha512", "sha512", 64, 32, 14, 7, 7, True, OPENSSL, "RFC 4868 (HMAC-SHA-512-256)"),
)

PRF_ALGS: tuple[PrfAlg, ...] = (
    PrfAlg("md5", "hmac", "md5", 16, 16, False, 1, False, OPENSSL, "RFC 2104"),
    PrfAlg("sha1", "hmac", "sha1", 20, 20, False, 2, True, OPENSSL, "RFC 2104"),
    PrfAlg("sha256", "hmac", "sha256", 32, 32, False, 5, True, OPENSSL, "RFC 4868"),
    PrfAlg("sha384", "hmac", "sha384", 48, 48, False, 6, True, OPENSSL, "RFC 4868"),
    PrfAlg("sha512", "hmac", "sha512", 64, 64, False, 7, True, OPENSSL, "RFC 4868"),
    PrfAlg("aes-xcbc", "aes-xcbc", None, 16, 16, True, 4, False, IPSECD, "RFC 4434 (AES-XCBC-PRF-128)",
           "XCBC over OpenSSL AES-ECB"),
    PrfAlg("aes-cmac", "aes-cmac", None, 16, 16, True, 8, False, OPENSSL, "RFC 4615 (AES-CMAC-PRF-128)"),
)

HASH_ALGS: tuple[HashAlg, ...] = (
    HashAlg("md5", 16, 1, "md5", "md5", True, "RFC 1321"),
    HashAlg("sha1", 20, 2, "sha1", "sha1", True, "FIPS 180-4"),
    HashAlg("sha256", 32, 4, "sha256", "sha256", True, "FIPS 180-4"),
    HashAlg("sha384", 48, 5, "sha384", "sha384", True, "FIPS 180-4"),
    HashAlg("sha512", 64, 6, "sha512", "sha512", True, "FIPS 180-4"),
)

_V2_ADD = (KE, *ADDITIONAL_KE_TYPES)
_MLKEM_SRC = "FIPS 203, draft-ietf-ipsecme-ikev2-mlkem"
_MLKEM_NOTE = "name is ours; meant as an additional key exchange (RFC 9370)"
_EC2N_NOTE = "IKEv1 only: IKEv2 values 3-4 are reserved"

GROUPS: tuple[Group, ...] = (
    Group("modp768", 1, "modp", 768, True, _V2_ADD, True, "RFC 2409 §6.1"),
    Group("modp1024", 2, "modp", 1024, True, _V2_ADD, True, "RFC 2409 §6.2"),
    Group("ec2n155", 3, "ec2n", 155, True, (), True, "RFC 2409 §6.3", _EC2N_NOTE),
    Group("ec2n185", 4, "ec2n", 185, True, (), True, "RFC 2409 §6.4", _EC2N_NOTE),
    Group("modp1536", 5, "modp", 1536, True, _V2_ADD, True, "RFC 3526 §2"),
    Group("modp2048", 14, "modp", 2048, True, _V2_ADD, True, "RFC 3526 §3"),
    Group("modp3072", 15, "modp", 3072, True, _V2_ADD, True, "RFC 3526 §4"),
    Group("modp4096", 16, "modp", 4096, True, _V2_ADD, True, "RFC 3526 §5"),
    Group("modp6144", 17, "modp", 6144, True, _V2_ADD, True, "RFC 3526 §6"),
    Group("modp8192", 18, "modp", 8192, True, _V2_ADD, True, "RFC 3526 §7"),
    Group("ecp256", 19, "ecp", 256, True, _V2_ADD, True, "RFC 5903"),
    Group("ecp384", 20, "ecp", 384, True, _V2_ADD, True, "RFC 5903"),
    Group("ecp521", 21, "ecp", 521, True, _V2_ADD, True, "RFC 5903"),
    Group("x25519", 31, "montgomery", 255, False, _V2_ADD, True, "RFC 8031"),
    Group("x448", 32, "montgomery", 448, False, _V2_ADD, False, "RFC 8031", "name is ours"),
    Group("mlkem512", 35, "kem", 512, False, _V2_ADD, False, _MLKEM_SRC, _MLKEM_NOTE),
    Group("mlkem768", 36, "kem", 768, False, _V2_ADD, False, _MLKEM_SRC, _MLKEM_NOTE),
    Group("mlkem1024", 37, "kem", 1024, False, _V2_ADD, False, _MLKEM_SRC, _MLKEM_NOTE),
)

ESN_ALGS: tuple[EsnAlg, ...] = (EsnAlg("no-esn", 0), EsnAlg("esn", 1))

Transform = EncrAlg | PrfAlg | IntegAlg | Group | EsnAlg

# -- indexes -------------------------------------------------------------------------------------

_ENCR_BY_NAME = {a.name: a for a in ENCR_ALGS}
_ENCR_BY_PROFILE = {a.profile_name: a for a in ENCR_ALGS if a.profile_name}
_INTEG_BY_NAME = {a.name: a for a in INTEG_ALGS}
_PRF_BY_NAME = {a.name: a for a in PRF_ALGS}
_HASH_BY_NAME = {a.name: a for a in HASH_ALGS}
_GROUP_BY_NAME = {g.name: g for g in GROUPS}
_GROUP_BY_ID = {g.id: g for g in GROUPS}
_DEFAULT_KEY_BITS = 128  # Blowfish/Twofish without a Key Length attribute


def _unknown(what: str, value: object, known: object) -> UnknownAlgorithmError:
    return UnknownAlgorithmError(f"{what} {value!r}: unknown (known: {known})")


def encr(name: str) -> EncrAlg:
    """An encryption algorithm by proposal ``enc-algorithms`` or profile ``enc-algorithm`` name."""
    alg = _ENCR_BY_NAME.get(name) or _ENCR_BY_PROFILE.get(name)
    if alg is None:
        raise _unknown("encryption algorithm", name, ", ".join(_ENCR_BY_NAME))
    return alg


def ike_encr(name: str) -> EncrAlg:
    """A profile ``enc-algorithm`` (IKE SA) name: only CBC ciphers IKEv1 and the profile menu know."""
    alg = _ENCR_BY_PROFILE.get(name)
    if alg is None:
        raise _unknown("profile enc-algorithm", name, ", ".join(_ENCR_BY_PROFILE))
    return alg


def integ(name: str) -> IntegAlg:
    alg = _INTEG_BY_NAME.get(name)
    if alg is None:
        raise _unknown("integrity algorithm", name, ", ".join(_INTEG_BY_NAME))
    return alg


def prf(name: str) -> PrfAlg:
    alg = _PRF_BY_NAME.get(name)
    if alg is None:
        raise _unknown("prf algorithm", name, ", ".join(_PRF_BY_NAME))
    return alg


def hash_alg(name: str) -> HashAlg:
    alg = _HASH_BY_NAME.get(name)
    if alg is None:
        raise _unknown("hash algorithm", name, ", ".join(_HASH_BY_NAME))
    return alg


def profile_prf(prf_algorithm: str, hash_algorithm: str) -> PrfAlg:
    """The PRF a profile selects: ``prf-algorithm=auto`` means the one of ``hash-algorithm``."""
    if prf_algorithm == "auto":
        return prf(hash_alg(hash_algorithm).prf)
    return prf(prf_algorithm)


def group(name: str) -> Group:
    """A ``dh-group``/``pfs-group`` by RouterOS name (``"none"`` is the caller's business)."""
    g = _GROUP_BY_NAME.get(name)
    if g is None:
        raise _unknown("dh-group", name, ", ".join(_GROUP_BY_NAME))
    return g


def pfs_group(name: str) -> Group | None:
    """A proposal ``pfs-group``: ``"none"`` means no PFS (None), anything else as :func:`group`."""
    return None if name == "none" else group(name)


def group_by_id(group_id: int) -> Group:
    """A group by its number (IKEv1 group description = IKEv2 transform id)."""
    g = _GROUP_BY_ID.get(group_id)
    if g is None:
        raise _unknown("key exchange group", group_id, sorted(_GROUP_BY_ID))
    return g


def _encr_by_key(candidates: list[EncrAlg], what: str, key_bits: int | None) -> EncrAlg:
    if not candidates:
        raise UnknownAlgorithmError(f"{what}: unknown encryption algorithm")
    if not candidates[0].ikev2_key_attr:
        if key_bits is not None and key_bits != candidates[0].key_bits:
            raise UnknownAlgorithmError(f"{what}: key length {key_bits} not valid for {candidates[0].name}")
        return candidates[0]
    if key_bits is None:
        if candidates[0].cipher in ("blowfish", "twofish"):
            key_bits = _DEFAULT_KEY_BITS
        else:
            raise UnknownAlgorithmError(f"{what}: Key Length attribute required")
    for alg in candidates:
        if alg.key_bits == key_bits:
            return alg
    raise UnknownAlgorithmError(f"{what}: key length {key_bits} not supported")


def by_ikev2(transform_type: int, transform_id: int, key_bits: int | None = None) -> Transform:
    """The transform of IKEv2 type/id (and Key Length attribute, in bits, for ciphers that have one)."""
    what = f"IKEv2 transform type {transform_type} id {transform_id}"
    if transform_type == ENCR:
        return _encr_by_key([a for a in ENCR_ALGS if a.ikev2_id == transform_id], what, key_bits)
    if key_bits is not None:
        raise UnknownAlgorithmError(f"{what}: takes no Key Length attribute")
    found: Transform | None
    if transform_type == PRF:
        found = next((a for a in PRF_ALGS if a.ikev2_id == transform_id), None)
    elif transform_type == INTEG:
        found = next((a for a in INTEG_ALGS if a.ikev2_id == transform_id), None)
    elif transform_type == ESN:
        found = next((a for a in ESN_ALGS if a.ikev2_id == transform_id), None)
    elif transform_type == KE or transform_type in ADDITIONAL_KE_TYPES:
        g = _GROUP_BY_ID.get(transform_id)
        found = g if g is not None and transform_type in g.ikev2_types else None
    else:
        raise UnknownAlgorithmError(f"{what}: unknown transform type")
    if found is None:
        raise UnknownAlgorithmError(f"{what}: unknown")
    return found


def by_esp_id(transform_id: int, key_bits: int | None = None) -> EncrAlg:
    """IKEv1 phase 2: the ESP transform id (IPsec DOI) with its Key Length attribute."""
    return _encr_by_key(
        [a for a in ENCR_ALGS if a.esp_id == transform_id], f"ESP transform id {transform_id}", key_bits
    )


def by_oakley_encr(value: int, key_bits: int | None = None) -> EncrAlg:
    """IKEv1 phase 1: the Oakley encryption-algorithm attribute with its Key Length attribute."""
    return _encr_by_key(
        [a for a in ENCR_ALGS if a.oakley_id == value], f"IKEv1 encryption algorithm {value}", key_bits
    )


def by_oakley_hash(value: int) -> HashAlg:
    for a in HASH_ALGS:
        if a.oakley_id == value:
            return a
    raise UnknownAlgorithmError(f"IKEv1 hash algorithm {value}: unknown")


def by_auth_attr(value: int) -> IntegAlg:
    """IKEv1 phase 2: the Authentication Algorithm SA attribute (RFC 2407 §4.5)."""
    for a in INTEG_ALGS:
        if a.auth_attr_id == value:
            return a
    raise UnknownAlgorithmError(f"IKEv1 authentication algorithm {value}: unknown")


def by_ah_id(transform_id: int) -> IntegAlg:
    """IKEv1 phase 2: the AH transform id (RFC 2407 §4.4.3)."""
    for a in INTEG_ALGS:
        if a.ah_id == transform_id:
            return a
    raise UnknownAlgorithmError(f"AH transform id {transform_id}: unknown")
