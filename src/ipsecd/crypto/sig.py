"""Signature AUTH for IKE: IKEv2 auth methods 1, 9–11 and 14, and IKEv1's RSA signature.

IKEv2 (RFC 7296 §2.15, §3.8) signs ``<SignedOctets>`` (``crypto.auth.ikev2_signed_octets``):

* method 1, RSA Digital Signature: RSASSA-PKCS1-v1_5 with SHA-1 (§3.8);
* methods 9/10/11, ECDSA with SHA-256 on P-256, SHA-384 on P-384, SHA-512 on P-521 (RFC 4754 §7):
  the signature is r | s, each as long as the curve's field, not DER;
* method 14, Digital Signature (RFC 7427 §3): AUTH data is a one-octet length, the ASN.1
  AlgorithmIdentifier of the signature scheme (Appendix A gives their encodings), then the
  signature (DER Ecdsa-Sig-Value for ECDSA). Schemes: sha256/384/512WithRSAEncryption,
  RSASSA-PSS (RFC 4055 parameters) with SHA-256/384/512, ecdsa-with-SHA256/384/512, and Ed25519 /
  Ed448 (RFC 8420, "identity" hash: the octets are signed as they are). A received
  AlgorithmIdentifier is parsed, not compared as bytes (RFC 7427's PSS example carries the default
  trailer field that its errata and strongSwan omit), and refused when it is unknown, names a hash
  we did not announce, or does not fit the key it is checked with.

Which hashes may be used under method 14 is announced with the SIGNATURE_HASH_ALGORITHMS notify
(RFC 7427 §4): a list of 2-octet hash identifiers, :func:`encode_hash_algorithms` /
:func:`decode_hash_algorithms`. SHA-1 is not announced (RFC 8247 §3.2 says it must not be used
there) but method 1 still means SHA-1, as interoperability with older peers needs.

IKEv1 (RFC 2409 §5.1): with RSA, HASH_I / HASH_R is PKCS#1 type-1 padded and signed *without* a
DigestInfo around it, which ``cryptography`` offers as ``NoDigestInfo``; with ECDSA (RFC 4754) the
HASH itself is signed as the digest and the signature is r | s, as strongSwan does.

Every primitive is ``cryptography``'s; only the AlgorithmIdentifier DER is coded here (``der.py``).
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    NoDigestInfo,
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from ipsecd.crypto import der
from ipsecd.crypto.errors import CryptoError, MalformedInputError
from ipsecd.wire.enums import AuthMethod

PrivateKey = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
)
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
KeyKind = Literal["rsa", "ecdsa", "ed25519", "ed448"]

__all__ = [
    "SUPPORTED_HASHES",
    "PrivateKey",
    "PublicKey",
    "Scheme",
    "SignatureError",
    "SignatureHash",
    "choose_auth",
    "decode_hash_algorithms",
    "encode_hash_algorithms",
    "ikev1_sign",
    "ikev1_verify",
    "ikev2_sign",
    "ikev2_verify",
    "key_kind",
    "parse_algorithm_identifier",
]


class SignatureError(CryptoError):
    """A signature that does not verify, or one we cannot or may not check; the message says which."""


class SignatureHash(IntEnum):
    """IANA "IKEv2 Hash Algorithms" (RFC 7427 §4, RFC 8420 §2 for identity)."""

    SHA1 = 1
    SHA2_256 = 2
    SHA2_384 = 3
    SHA2_512 = 4
    IDENTITY = 5


SUPPORTED_HASHES: tuple[SignatureHash, ...] = (
    SignatureHash.SHA2_256,
    SignatureHash.SHA2_384,
    SignatureHash.SHA2_512,
    SignatureHash.IDENTITY,
)

_HASH_ALG: dict[SignatureHash, type[hashes.HashAlgorithm]] = {
    SignatureHash.SHA1: hashes.SHA1,
    SignatureHash.SHA2_256: hashes.SHA256,
    SignatureHash.SHA2_384: hashes.SHA384,
    SignatureHash.SHA2_512: hashes.SHA512,
}
_HASH_OID = {
    SignatureHash.SHA1: "1.3.14.3.2.26",
    SignatureHash.SHA2_256: "2.16.840.1.101.3.4.2.1",
    SignatureHash.SHA2_384: "2.16.840.1.101.3.4.2.2",
    SignatureHash.SHA2_512: "2.16.840.1.101.3.4.2.3",
}
_OID_HASH = {oid: h for h, oid in _HASH_OID.items()}
_HASH_SIZE = {
    SignatureHash.SHA1: 20,
    SignatureHash.SHA2_256: 32,
    SignatureHash.SHA2_384: 48,
    SignatureHash.SHA2_512: 64,
}
_RSASSA_PSS = "1.2.840.113549.1.1.10"
_MGF1 = "1.2.840.113549.1.1.8"
# OID -> (key kind, hash) of the schemes without parameters (RFC 7427 Appendix A, RFC 8420 §2)
_PLAIN: dict[str, tuple[KeyKind, SignatureHash]] = {
    "1.2.840.113549.1.1.5": ("rsa", SignatureHash.SHA1),
    "1.2.840.113549.1.1.11": ("rsa", SignatureHash.SHA2_256),
    "1.2.840.113549.1.1.12": ("rsa", SignatureHash.SHA2_384),
    "1.2.840.113549.1.1.13": ("rsa", SignatureHash.SHA2_512),
    "1.2.840.10045.4.1": ("ecdsa", SignatureHash.SHA1),
    "1.2.840.10045.4.3.2": ("ecdsa", SignatureHash.SHA2_256),
    "1.2.840.10045.4.3.3": ("ecdsa", SignatureHash.SHA2_384),
    "1.2.840.10045.4.3.4": ("ecdsa", SignatureHash.SHA2_512),
    "1.3.101.112": ("ed25519", SignatureHash.IDENTITY),
    "1.3.101.113": ("ed448", SignatureHash.IDENTITY),
}
_PLAIN_OID = {v: k for k, v in _PLAIN.items()}


@dataclass(frozen=True, slots=True)
class Scheme:
    """One signature scheme: key type, hash and, for RSASSA-PSS, the MGF1 hash and salt length."""

    key: KeyKind
    hash: SignatureHash
    pss_salt: int | None = None
    mgf1_hash: SignatureHash | None = None

    @property
    def name(self) -> str:
        """A name for logs, e.g. ``rsassa-pss-sha256`` or ``ecdsa-with-sha384``."""
        if self.key in ("ed25519", "ed448"):
            return self.key
        bits = {1: "sha1", 2: "sha256", 3: "sha384", 4: "sha512"}[int(self.hash)]
        if self.pss_salt is not None:
            return f"rsassa-pss-{bits}"
        return f"{bits}WithRSAEncryption" if self.key == "rsa" else f"ecdsa-with-{bits}"

    def algorithm_identifier(self) -> bytes:
        """The DER AlgorithmIdentifier naming this scheme (RFC 7427 Appendix A; PSS without the
        default trailer field, as DER and RFC 7427's errata want)."""
        if self.pss_salt is None:
            oid = der.encode_oid(_PLAIN_OID[(self.key, self.hash)])
            null = der.encode(der.NULL, b"") if self.key == "rsa" else b""
            return der.encode(der.SEQUENCE, oid + null)
        mgf1 = self.mgf1_hash or self.hash
        params = (
            der.encode(0xA0, _hash_algid(self.hash))
            + der.encode(0xA1, der.encode(der.SEQUENCE, der.encode_oid(_MGF1) + _hash_algid(mgf1)))
            + der.encode(0xA2, der.encode_uint(self.pss_salt))
        )
        return der.encode(der.SEQUENCE, der.encode_oid(_RSASSA_PSS) + der.encode(der.SEQUENCE, params))

    def sign(self, key: PrivateKey, data: bytes) -> bytes:
        """The signature of ``data`` (DER Ecdsa-Sig-Value for ECDSA)."""
        _require_kind(self, key_kind(key))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, self._rsa_padding(), _HASH_ALG[self.hash]())
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(_HASH_ALG[self.hash]()))
        return key.sign(data)

    def verify(self, key: PublicKey, data: bytes, signature: bytes) -> None:
        """SignatureError unless ``signature`` is this scheme's signature of ``data`` under ``key``."""
        _require_kind(self, key_kind(key))
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, data, self._rsa_padding(), _HASH_ALG[self.hash]())
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, data, ec.ECDSA(_HASH_ALG[self.hash]()))
            else:
                key.verify(signature, data)
        except InvalidSignature:
            raise SignatureError(f"{self.name} signature does not verify with the peer's key") from None

    def _rsa_padding(self) -> padding.AsymmetricPadding:
        if self.pss_salt is None:
            return padding.PKCS1v15()
        return padding.PSS(padding.MGF1(_HASH_ALG[self.mgf1_hash or self.hash]()), self.pss_salt)


def _hash_algid(h: SignatureHash) -> bytes:
    return der.encode(der.SEQUENCE, der.encode_oid(_HASH_OID[h]) + der.encode(der.NULL, b""))


def _require_kind(scheme: Scheme, kind: KeyKind) -> None:
    if scheme.key != kind:
        raise SignatureError(f"signature scheme {scheme.name} does not fit a {kind} key")


def key_kind(key: PrivateKey | PublicKey) -> KeyKind:
    """Which family a key belongs to."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ecdsa"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return "ed448"
    raise SignatureError(f"{type(key).__name__} keys cannot sign IKE messages")


# -- RFC 7427 AlgorithmIdentifier ----------------------------------------------------------------


def parse_algorithm_identifier(blob: bytes) -> Scheme:
    """The scheme a peer's AlgorithmIdentifier names; SignatureError for one we do not know."""
    try:
        seq = der.read_one(blob, der.SEQUENCE)
        items = der.read_all(seq.value)
        if not items or len(items) > 2:
            raise MalformedInputError("AlgorithmIdentifier must hold an OID and optional parameters")
        oid = der.decode_oid(items[0])
        params = items[1] if len(items) == 2 else None
        if oid == _RSASSA_PSS:
            return _parse_pss(params)
    except MalformedInputError as exc:
        raise SignatureError(f"malformed signature AlgorithmIdentifier: {exc}") from None
    known = _PLAIN.get(oid)
    if known is None:
        raise SignatureError(f"unknown signature algorithm {oid}")
    kind, h = known
    # RSA schemes carry NULL parameters (RFC 4055 §5: absent is accepted too); ECDSA and EdDSA none
    if params is not None and not (kind == "rsa" and params.tag == der.NULL and not params.value):
        raise SignatureError(f"unexpected parameters for signature algorithm {oid}")
    return Scheme(kind, h)


def _parse_pss(params: der.Tlv | None) -> Scheme:
    """RSASSA-PSS-params (RFC 4055 §3.1) with their defaults: SHA-1, MGF1-SHA-1, salt 20, trailer 1."""
    h = mgf = SignatureHash.SHA1
    salt = 20
    if params is None or params.tag != der.SEQUENCE:
        raise MalformedInputError("RSASSA-PSS without its parameter SEQUENCE")
    last = -1
    for item in der.read_all(params.value):
        field = item.tag - 0xA0
        if not 0 <= field <= 3 or field <= last:
            raise MalformedInputError(f"RSASSA-PSS: unexpected field tag 0x{item.tag:02x}")
        last = field
        inner = der.read_one(item.value, der.SEQUENCE if field < 2 else der.INTEGER)
        if field == 0:
            h = _parse_hash_algid(inner)
        elif field == 1:
            mgf_items = der.read_all(inner.value)
            if len(mgf_items) != 2 or der.decode_oid(mgf_items[0]) != _MGF1:
                raise SignatureError("RSASSA-PSS: mask generation function is not MGF1")
            mgf = _parse_hash_algid(mgf_items[1])
        elif field == 2:
            salt = der.read_uint(inner)
        elif der.read_uint(inner) != 1:
            raise MalformedInputError("RSASSA-PSS: trailer field other than 1")
    if salt > 512:
        raise MalformedInputError(f"RSASSA-PSS: salt length {salt}")
    return Scheme("rsa", h, pss_salt=salt, mgf1_hash=mgf)


def _parse_hash_algid(item: der.Tlv) -> SignatureHash:
    if item.tag != der.SEQUENCE:
        raise MalformedInputError("hash AlgorithmIdentifier is not a SEQUENCE")
    parts = der.read_all(item.value)
    oid = der.decode_oid(parts[0]) if parts else ""
    h = _OID_HASH.get(oid)
    if h is None or len(parts) > 2 or (len(parts) == 2 and parts[1].raw != b"\x05\x00"):
        raise SignatureError(f"RSASSA-PSS: unknown hash algorithm {oid or '(none)'}")
    return h


# -- SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4) -----------------------------------------------------


def encode_hash_algorithms(algorithms: Iterable[int] = SUPPORTED_HASHES) -> bytes:
    """Notification data: the 2-octet hash identifiers."""
    return b"".join(struct.pack("!H", int(a)) for a in algorithms)


def decode_hash_algorithms(data: bytes) -> tuple[int, ...]:
    """The peer's hash identifiers, unknown ones included (they are simply never chosen)."""
    if len(data) % 2:
        raise MalformedInputError(f"SIGNATURE_HASH_ALGORITHMS of odd length {len(data)}")
    return tuple(v for (v,) in struct.iter_unpack("!H", data))


# -- IKEv2 AUTH ----------------------------------------------------------------------------------

_ECDSA_METHOD: dict[AuthMethod, tuple[str, SignatureHash, int]] = {
    AuthMethod.ECDSA_256: ("secp256r1", SignatureHash.SHA2_256, 32),
    AuthMethod.ECDSA_384: ("secp384r1", SignatureHash.SHA2_384, 48),
    AuthMethod.ECDSA_521: ("secp521r1", SignatureHash.SHA2_512, 66),
}
_CURVE_METHOD = {curve: m for m, (curve, _, _) in _ECDSA_METHOD.items()}
_CURVE_HASH = {curve: h for _, (curve, h, _) in _ECDSA_METHOD.items()}


def choose_auth(
    key: PrivateKey, peer_hashes: Collection[int] | None, *, rsa_pss: bool = False
) -> tuple[AuthMethod, Scheme]:
    """The auth method and scheme to sign with.

    With the peer's SIGNATURE_HASH_ALGORITHMS (``peer_hashes``; None when it sent none) method 14
    with a hash both sides support: the curve's own hash first for ECDSA, then the shortest; else
    the key's classic method (1 for RSA, 9–11 by curve). Ed25519/Ed448 need method 14 and the
    peer's "identity" hash (RFC 8420 §2).
    """
    kind = key_kind(key)
    if peer_hashes:
        common = [h for h in SUPPORTED_HASHES if int(h) in set(peer_hashes)]
        if kind in ("ed25519", "ed448"):
            if SignatureHash.IDENTITY in common:
                return AuthMethod.DIGITAL_SIGNATURE, Scheme(kind, SignatureHash.IDENTITY)
        else:
            usable: list[SignatureHash] = [h for h in common if h is not SignatureHash.IDENTITY]
            if isinstance(key, ec.EllipticCurvePrivateKey) and _CURVE_HASH.get(key.curve.name) in usable:
                usable.insert(0, _CURVE_HASH[key.curve.name])
            if usable:
                h = usable[0]
                salt = _HASH_SIZE[h] if rsa_pss and kind == "rsa" else None
                return AuthMethod.DIGITAL_SIGNATURE, Scheme(kind, h, salt, h if salt else None)
    if isinstance(key, rsa.RSAPrivateKey):
        return AuthMethod.RSA_SIG, Scheme("rsa", SignatureHash.SHA1)
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVE_METHOD:
        method = _CURVE_METHOD[key.curve.name]
        return method, Scheme("ecdsa", _ECDSA_METHOD[method][1])
    raise SignatureError(f"no signature method both sides support for a {kind} key")


def ikev2_sign(key: PrivateKey, method: AuthMethod, scheme: Scheme, signed_octets: bytes) -> bytes:
    """The AUTH payload's data for ``method`` (from :func:`choose_auth`)."""
    signature = scheme.sign(key, signed_octets)
    if method is AuthMethod.DIGITAL_SIGNATURE:
        algid = scheme.algorithm_identifier()
        return bytes((len(algid),)) + algid + signature
    if method in _ECDSA_METHOD:
        _, _, size = _ECDSA_METHOD[method]
        r, s = decode_dss_signature(signature)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if method is AuthMethod.RSA_SIG:
        return signature
    raise SignatureError(f"auth method {method.name} is not a signature method")


def ikev2_verify(
    key: PublicKey,
    method: AuthMethod,
    auth_data: bytes,
    signed_octets: bytes,
    accepted: Collection[SignatureHash] = SUPPORTED_HASHES,
) -> Scheme:
    """Check a peer's AUTH data against its public key; the scheme it used, or SignatureError."""
    if method is AuthMethod.DIGITAL_SIGNATURE:
        if not auth_data or len(auth_data) < 1 + auth_data[0]:
            raise SignatureError("Digital Signature AUTH data shorter than its AlgorithmIdentifier")
        scheme = parse_algorithm_identifier(auth_data[1 : 1 + auth_data[0]])
        if scheme.hash not in accepted or (scheme.mgf1_hash or scheme.hash) not in accepted:
            raise SignatureError(f"peer signed with {scheme.name}, a hash we did not announce")
        scheme.verify(key, signed_octets, auth_data[1 + auth_data[0] :])
        return scheme
    if method in _ECDSA_METHOD:
        curve, h, size = _ECDSA_METHOD[method]
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != curve:
            raise SignatureError(
                f"auth method {method.name} needs a {curve} key, the peer's is {_describe(key)}"
            )
        if len(auth_data) != 2 * size:
            raise SignatureError(f"{method.name} signature of {len(auth_data)} bytes, expected {2 * size}")
        r, s = int.from_bytes(auth_data[:size], "big"), int.from_bytes(auth_data[size:], "big")
        scheme = Scheme("ecdsa", h)
        scheme.verify(key, signed_octets, encode_dss_signature(r, s))
        return scheme
    if method is AuthMethod.RSA_SIG:
        scheme = Scheme("rsa", SignatureHash.SHA1)
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureError(f"auth method RSA_SIG needs an RSA key, the peer's is {_describe(key)}")
        scheme.verify(key, signed_octets, auth_data)
        return scheme
    raise SignatureError(f"auth method {method.name} is not a signature method")


def _describe(key: PublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ecdsa {key.curve.name}"
    return key_kind(key)


# -- IKEv1 (RFC 2409 §5.1, RFC 4754) ---------------------------------------------------------------

# HASH_I/HASH_R is the negotiated PRF's output; ECDSA signs it as a digest of that length
_PREHASHED: dict[int, type[hashes.HashAlgorithm]] = {
    16: hashes.MD5,
    20: hashes.SHA1,
    28: hashes.SHA224,
    32: hashes.SHA256,
    48: hashes.SHA384,
    64: hashes.SHA512,
}


def ikev1_sign(key: PrivateKey, hash_value: bytes) -> bytes:
    """SIG_I / SIG_R over HASH_I or HASH_R: RSA PKCS#1-padded without DigestInfo; ECDSA over the
    hash as its digest, r | s each as long as the curve's field (as strongSwan signs them)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(hash_value, padding.PKCS1v15(), NoDigestInfo())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(hash_value, ec.ECDSA(Prehashed(_prehash(hash_value)))))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise SignatureError(f"IKEv1 signatures are RSA or ECDSA, not {key_kind(key)}")


def ikev1_verify(key: PublicKey, hash_value: bytes, signature: bytes) -> None:
    """SignatureError unless ``signature`` is the peer's SIG over ``hash_value``."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        size = (key.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            raise SignatureError(f"IKEv1 ECDSA signature of {len(signature)} bytes, expected {2 * size}")
        der_sig = encode_dss_signature(
            int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        )
        try:
            key.verify(der_sig, hash_value, ec.ECDSA(Prehashed(_prehash(hash_value))))
        except InvalidSignature:
            raise SignatureError("IKEv1 ECDSA signature does not verify with the peer's key") from None
        return
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError(f"IKEv1 signatures are RSA or ECDSA, not {key_kind(key)}")
    try:
        recovered = key.recover_data_from_signature(signature, padding.PKCS1v15(), NoDigestInfo())
    except InvalidSignature:
        raise SignatureError("IKEv1 RSA signature does not verify with the peer's key") from None
    if not hmac.compare_digest(recovered, hash_value):
        raise SignatureError("IKEv1 RSA signature carries a different HASH")


def _prehash(hash_value: bytes) -> hashes.HashAlgorithm:
    alg = _PREHASHED.get(len(hash_value))
    if alg is None:
        raise SignatureError(f"IKEv1 HASH of {len(hash_value)} bytes fits no hash function")
    return alg()
