"""Signature AUTH: RFC 7427 AlgorithmIdentifiers byte for byte, OpenSSL's signatures verified by us and
ours by OpenSSL, every IKEv2 method round trip, refusals, and IKEv1's DigestInfo-less RSA."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.crypto import sig
from ipsecd.crypto.sig import Scheme, SignatureError, SignatureHash
from ipsecd.wire.enums import AuthMethod

VECTORS = Path(__file__).parent.parent / "vectors"
OSSL = VECTORS / "openssl-sig"
H = {
    "sha1": SignatureHash.SHA1,
    "sha256": SignatureHash.SHA2_256,
    "sha384": SignatureHash.SHA2_384,
    "sha512": SignatureHash.SHA2_512,
    "identity": SignatureHash.IDENTITY,
}


def _lines(path: Path) -> list[list[str]]:
    return [
        [p.strip() for p in line.split("=")]
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


ALGIDS = _lines(VECTORS / "rfc7427" / "algorithm-identifiers.txt")
SIGS = {name: bytes.fromhex(value) for name, value in _lines(OSSL / "signatures.txt")}
DATA = (OSSL / "data.bin").read_bytes()


@functools.cache
def _key(name: str) -> sig.PrivateKey:
    key = serialization.load_pem_private_key((OSSL / f"{name}.pem").read_bytes(), None)
    assert isinstance(
        key,
        rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey,
    )
    return key


def _scheme(spec: str) -> Scheme:
    kind, h, salt = spec.split()
    pss = None if salt == "-" else int(salt)
    return Scheme(kind, H[h], pss, H[h] if pss is not None else None)  # type: ignore[arg-type]


# -- RFC 7427 Appendix A -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "spec", "blob"), ALGIDS, ids=[a[0] for a in ALGIDS])
def test_rfc7427_algorithm_identifiers_parse(name: str, spec: str, blob: str) -> None:
    assert sig.parse_algorithm_identifier(bytes.fromhex(blob)) == _scheme(spec)


@pytest.mark.parametrize(
    ("name", "spec", "blob"),
    [a for a in ALGIDS if not a[0].endswith("-rfc")],
    ids=[a[0] for a in ALGIDS if not a[0].endswith("-rfc")],
)
def test_rfc7427_algorithm_identifiers_encode_byte_for_byte(name: str, spec: str, blob: str) -> None:
    assert _scheme(spec).algorithm_identifier().hex() == blob


@pytest.mark.parametrize(
    "blob",
    [
        "300b06092a864886f70d01010b",  # sha256WithRSA without NULL: accepted (RFC 4055)
    ],
)
def test_rsa_without_null_parameters_is_accepted(blob: str) -> None:
    assert sig.parse_algorithm_identifier(bytes.fromhex(blob)) == Scheme("rsa", SignatureHash.SHA2_256)


@pytest.mark.parametrize(
    "blob",
    [
        "300a06082a8648ce3d040305",  # unknown ecdsa-with-OID
        "300c06082a8648ce3d0403020500",  # ECDSA with parameters
        "300b06092a864886f70d01010a",  # PSS without parameters
        "301206092a864886f70d01010a3005a303020102",  # trailer 2
        "301e06092a864886f70d01010a3011a00f300d06096086480165030402000500",  # unknown hash
        "302b06092a864886f70d01010a301ea11c301a06092a864886f70d010100300d06096086480165030402010500",
        "30460609"
        "2a864886f70d01010a"
        "3039a00f300d06096086480165030402010500a2030201"
        "20a11c301a06092a864886f70d010108300d06096086480165030402010500",  # fields out of order
        "300d06092a864886f70d01010b050000",  # trailing garbage
        "30810b06092a864886f70d01010b",  # long form for a short length
        "",
    ],
)
def test_unknown_or_malformed_algorithm_identifiers_are_refused(blob: str) -> None:
    with pytest.raises(SignatureError):
        sig.parse_algorithm_identifier(bytes.fromhex(blob))


@given(st.binary(max_size=80))
def test_parse_algorithm_identifier_never_raises_anything_else(blob: bytes) -> None:
    try:
        sig.parse_algorithm_identifier(blob)
    except SignatureError:
        pass


# -- OpenSSL's signatures verified by us -----------------------------------------------------------

OPENSSL_CASES = [
    ("rsa-pkcs1-sha1", "rsa2048", Scheme("rsa", SignatureHash.SHA1)),
    ("rsa-pkcs1-sha256", "rsa2048", Scheme("rsa", SignatureHash.SHA2_256)),
    ("rsa-pkcs1-sha384", "rsa2048", Scheme("rsa", SignatureHash.SHA2_384)),
    ("rsa-pkcs1-sha512", "rsa2048", Scheme("rsa", SignatureHash.SHA2_512)),
    ("rsa-pss-sha256", "rsa2048", Scheme("rsa", SignatureHash.SHA2_256, 32, SignatureHash.SHA2_256)),
    ("rsa-pss-sha384", "rsa2048", Scheme("rsa", SignatureHash.SHA2_384, 48, SignatureHash.SHA2_384)),
    ("rsa-pss-sha512", "rsa2048", Scheme("rsa", SignatureHash.SHA2_512, 64, SignatureHash.SHA2_512)),
    ("ecdsa-p256-sha256", "p256", Scheme("ecdsa", SignatureHash.SHA2_256)),
    ("ecdsa-p384-sha384", "p384", Scheme("ecdsa", SignatureHash.SHA2_384)),
    ("ecdsa-p521-sha512", "p521", Scheme("ecdsa", SignatureHash.SHA2_512)),
    ("ecdsa-p256-sha384", "p256", Scheme("ecdsa", SignatureHash.SHA2_384)),
    ("ed25519", "ed25519", Scheme("ed25519", SignatureHash.IDENTITY)),
    ("ed448", "ed448", Scheme("ed448", SignatureHash.IDENTITY)),
]


@pytest.mark.parametrize(("name", "key", "scheme"), OPENSSL_CASES, ids=[c[0] for c in OPENSSL_CASES])
def test_openssl_signatures_verify_through_method_14(name: str, key: str, scheme: Scheme) -> None:
    algid = scheme.algorithm_identifier()
    auth = bytes((len(algid),)) + algid + SIGS[name]
    accepted = (*sig.SUPPORTED_HASHES, SignatureHash.SHA1)
    public = _key(key).public_key()
    assert sig.ikev2_verify(public, AuthMethod.DIGITAL_SIGNATURE, auth, DATA, accepted) == scheme
    with pytest.raises(SignatureError, match="does not verify"):
        sig.ikev2_verify(public, AuthMethod.DIGITAL_SIGNATURE, auth, DATA + b"x", accepted)


def test_openssl_signatures_verify_through_the_classic_methods() -> None:
    assert sig.ikev2_verify(_key("rsa2048").public_key(), AuthMethod.RSA_SIG, SIGS["rsa-pkcs1-sha1"], DATA)
    for name, key, method, size in [
        ("ecdsa-p256-sha256", "p256", AuthMethod.ECDSA_256, 32),
        ("ecdsa-p384-sha384", "p384", AuthMethod.ECDSA_384, 48),
        ("ecdsa-p521-sha512", "p521", AuthMethod.ECDSA_521, 66),
    ]:
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(SIGS[name])
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        sig.ikev2_verify(_key(key).public_key(), method, raw, DATA)


def test_sha1_is_refused_under_method_14_unless_announced() -> None:
    scheme = Scheme("rsa", SignatureHash.SHA1)
    algid = scheme.algorithm_identifier()
    auth = bytes((len(algid),)) + algid + SIGS["rsa-pkcs1-sha1"]
    with pytest.raises(SignatureError, match="did not announce"):
        sig.ikev2_verify(_key("rsa2048").public_key(), AuthMethod.DIGITAL_SIGNATURE, auth, DATA)


def test_ikev1_openssl_signature_without_digestinfo() -> None:
    key = _key("rsa2048")
    hash_i = (OSSL / "hash-sha1.bin").read_bytes()
    sig.ikev1_verify(key.public_key(), hash_i, SIGS["ikev1-rsa-sha1-hash"])
    assert sig.ikev1_sign(key, hash_i) == SIGS["ikev1-rsa-sha1-hash"]  # PKCS#1 v1.5 is deterministic
    with pytest.raises(SignatureError, match="different HASH"):
        sig.ikev1_verify(key.public_key(), bytes(20), SIGS["ikev1-rsa-sha1-hash"])
    with pytest.raises(SignatureError):
        sig.ikev1_verify(key.public_key(), hash_i, bytes(256))
    with pytest.raises(SignatureError, match="RSA or ECDSA"):
        sig.ikev1_sign(_key("ed25519"), hash_i)
    with pytest.raises(SignatureError, match="RSA or ECDSA"):
        sig.ikev1_verify(_key("ed25519").public_key(), hash_i, b"")


@pytest.mark.parametrize(
    ("name", "key", "hash_file", "size"),
    [
        ("ikev1-ecdsa-p256-sha1-hash", "p256", "hash-sha1.bin", 32),
        ("ikev1-ecdsa-p384-sha256-hash", "p384", "hash-sha256.bin", 48),
    ],
)
def test_ikev1_ecdsa_against_openssl(name: str, key: str, hash_file: str, size: int) -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    private = _key(key)
    hash_value = (OSSL / hash_file).read_bytes()
    r, s = decode_dss_signature(SIGS[name])
    sig.ikev1_verify(private.public_key(), hash_value, r.to_bytes(size, "big") + s.to_bytes(size, "big"))
    ours = sig.ikev1_sign(private, hash_value)
    assert len(ours) == 2 * size
    sig.ikev1_verify(private.public_key(), hash_value, ours)
    with pytest.raises(SignatureError, match="does not verify"):
        sig.ikev1_verify(private.public_key(), bytes(len(hash_value)), ours)
    with pytest.raises(SignatureError, match="expected"):
        sig.ikev1_verify(private.public_key(), hash_value, ours[:-1])
    with pytest.raises(SignatureError, match="fits no hash"):
        sig.ikev1_sign(private, b"x" * 21)


# -- ours verified by OpenSSL ----------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
@pytest.mark.parametrize(("name", "key", "scheme"), OPENSSL_CASES, ids=[c[0] for c in OPENSSL_CASES])
def test_our_signatures_verify_with_openssl(tmp_path: Path, name: str, key: str, scheme: Scheme) -> None:
    private = _key(key)
    (tmp_path / "sig").write_bytes(scheme.sign(private, DATA))
    (tmp_path / "pub.pem").write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    if scheme.key in ("ed25519", "ed448"):
        cmd = [
            "openssl",
            "pkeyutl",
            "-verify",
            "-rawin",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-in",
            str(OSSL / "data.bin"),
            "-sigfile",
            "sig",
        ]
    else:
        md = {
            SignatureHash.SHA1: "-sha1",
            SignatureHash.SHA2_256: "-sha256",
            SignatureHash.SHA2_384: "-sha384",
            SignatureHash.SHA2_512: "-sha512",
        }[scheme.hash]
        cmd = ["openssl", "dgst", md, "-verify", "pub.pem", "-signature", "sig"]
        if scheme.pss_salt is not None:
            cmd += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", f"rsa_pss_saltlen:{scheme.pss_salt}"]
        cmd.append(str(OSSL / "data.bin"))
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Verified" in done.stdout, done.stderr


# -- IKEv2 method choice and round trips -----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "peer", "pss", "method", "scheme"),
    [
        ("rsa2048", None, False, AuthMethod.RSA_SIG, Scheme("rsa", SignatureHash.SHA1)),
        ("rsa2048", [2, 3, 4], False, AuthMethod.DIGITAL_SIGNATURE, Scheme("rsa", SignatureHash.SHA2_256)),
        (
            "rsa2048",
            [4, 3],
            True,
            AuthMethod.DIGITAL_SIGNATURE,
            Scheme("rsa", SignatureHash.SHA2_384, 48, SignatureHash.SHA2_384),
        ),
        ("rsa2048", [1, 999], False, AuthMethod.RSA_SIG, Scheme("rsa", SignatureHash.SHA1)),
        ("p256", None, False, AuthMethod.ECDSA_256, Scheme("ecdsa", SignatureHash.SHA2_256)),
        ("p384", [2, 3, 4], False, AuthMethod.DIGITAL_SIGNATURE, Scheme("ecdsa", SignatureHash.SHA2_384)),
        ("p521", None, False, AuthMethod.ECDSA_521, Scheme("ecdsa", SignatureHash.SHA2_512)),
        ("p521", [2], False, AuthMethod.DIGITAL_SIGNATURE, Scheme("ecdsa", SignatureHash.SHA2_256)),
        ("ed25519", [2, 5], False, AuthMethod.DIGITAL_SIGNATURE, Scheme("ed25519", SignatureHash.IDENTITY)),
        ("ed448", [5], False, AuthMethod.DIGITAL_SIGNATURE, Scheme("ed448", SignatureHash.IDENTITY)),
    ],
)
def test_choose_auth_and_round_trip(
    key: str, peer: list[int] | None, pss: bool, method: AuthMethod, scheme: Scheme
) -> None:
    private = _key(key)
    assert sig.choose_auth(private, peer, rsa_pss=pss) == (method, scheme)
    auth = sig.ikev2_sign(private, method, scheme, DATA)
    assert sig.ikev2_verify(private.public_key(), method, auth, DATA) == scheme


def test_eddsa_without_the_identity_hash_has_no_method() -> None:
    with pytest.raises(SignatureError, match="no signature method"):
        sig.choose_auth(_key("ed25519"), [2, 3, 4])
    with pytest.raises(SignatureError, match="no signature method"):
        sig.choose_auth(_key("ed25519"), None)


def test_mismatching_key_and_method_are_refused() -> None:
    p256, rsa_key, p384 = _key("p256"), _key("rsa2048"), _key("p384")
    auth = sig.ikev2_sign(p256, AuthMethod.ECDSA_256, Scheme("ecdsa", SignatureHash.SHA2_256), DATA)
    with pytest.raises(SignatureError, match="needs a secp256r1 key, the peer's is ecdsa secp384r1"):
        sig.ikev2_verify(p384.public_key(), AuthMethod.ECDSA_256, auth, DATA)
    with pytest.raises(SignatureError, match="expected 64"):
        sig.ikev2_verify(p256.public_key(), AuthMethod.ECDSA_256, auth[:-1], DATA)
    with pytest.raises(SignatureError, match="needs an RSA key"):
        sig.ikev2_verify(p256.public_key(), AuthMethod.RSA_SIG, bytes(256), DATA)
    # an RSA AlgorithmIdentifier checked with an ECDSA key
    rsa_auth = sig.ikev2_sign(
        rsa_key, AuthMethod.DIGITAL_SIGNATURE, Scheme("rsa", SignatureHash.SHA2_256), DATA
    )
    with pytest.raises(SignatureError, match="does not fit a ecdsa key"):
        sig.ikev2_verify(p256.public_key(), AuthMethod.DIGITAL_SIGNATURE, rsa_auth, DATA)
    with pytest.raises(SignatureError, match="shorter than"):
        sig.ikev2_verify(p256.public_key(), AuthMethod.DIGITAL_SIGNATURE, b"\x20abc", DATA)
    with pytest.raises(SignatureError, match="not a signature method"):
        sig.ikev2_verify(p256.public_key(), AuthMethod.SHARED_KEY_MIC, b"", DATA)
    with pytest.raises(SignatureError, match="not a signature method"):
        sig.ikev2_sign(p256, AuthMethod.SHARED_KEY_MIC, Scheme("ecdsa", SignatureHash.SHA2_256), DATA)


def test_ecdsa_r_s_are_padded_to_the_field_size() -> None:
    key = _key("p521")
    for _ in range(8):  # r or s shorter than 66 bytes happens often on P-521
        auth = sig.ikev2_sign(key, AuthMethod.ECDSA_521, Scheme("ecdsa", SignatureHash.SHA2_512), DATA)
        assert len(auth) == 132
        sig.ikev2_verify(key.public_key(), AuthMethod.ECDSA_521, auth, DATA)


def test_hash_algorithms_notify() -> None:
    assert sig.encode_hash_algorithms() == bytes.fromhex("0002000300040005")
    assert sig.decode_hash_algorithms(bytes.fromhex("00020005ffff")) == (2, 5, 0xFFFF)
    with pytest.raises(Exception, match="odd length"):
        sig.decode_hash_algorithms(b"\x00\x02\x00")


def test_scheme_names() -> None:
    assert Scheme("rsa", SignatureHash.SHA2_256, 32).name == "rsassa-pss-sha256"
    assert Scheme("ecdsa", SignatureHash.SHA2_384).name == "ecdsa-with-sha384"
    assert Scheme("rsa", SignatureHash.SHA2_512).name == "sha512WithRSAEncryption"
    assert Scheme("ed448", SignatureHash.IDENTITY).name == "ed448"


def test_unsupported_key_types_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import dsa, x25519

    with pytest.raises(SignatureError, match="cannot sign"):
        sig.key_kind(x25519.X25519PrivateKey.generate())  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="cannot sign"):
        sig.choose_auth(dsa.generate_private_key(1024), None)  # type: ignore[arg-type]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_our_ikev1_signatures_verify_with_openssl(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    hash_i = (OSSL / "hash-sha1.bin").read_bytes()
    ecdsa = sig.ikev1_sign(_key("p256"), hash_i)
    (tmp_path / "ec.sig").write_bytes(
        encode_dss_signature(int.from_bytes(ecdsa[:32], "big"), int.from_bytes(ecdsa[32:], "big"))
    )
    (tmp_path / "rsa.sig").write_bytes(sig.ikev1_sign(_key("rsa2048"), hash_i))
    for key, sigfile in (("p256", "ec.sig"), ("rsa2048", "rsa.sig")):
        cmd = [
            "openssl",
            "pkeyutl",
            "-verify",
            "-inkey",
            str(OSSL / f"{key}.pem"),
            "-in",
            str(OSSL / "hash-sha1.bin"),
            "-sigfile",
            sigfile,
        ]
        if key == "rsa2048":
            cmd += ["-pkeyopt", "rsa_padding_mode:pkcs1"]
        done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "Verified" in done.stdout, done.stdout + done.stderr


@settings(deadline=None, max_examples=60)
@given(
    st.sampled_from(list(AuthMethod)),
    st.binary(max_size=300),
    st.sampled_from(["rsa2048", "p256", "ed25519"]),
)
def test_verify_raises_only_signature_errors_on_arbitrary_auth_data(
    method: AuthMethod, data: bytes, key: str
) -> None:
    try:
        sig.ikev2_verify(_key(key).public_key(), method, data, DATA)
    except SignatureError:
        pass


@settings(deadline=None, max_examples=60)
@given(
    st.integers(0, 600),
    st.sampled_from([SignatureHash.SHA2_256, SignatureHash.SHA2_512]),
    st.binary(max_size=8),
)
def test_pss_with_any_salt_raises_only_signature_errors(salt: int, h: SignatureHash, junk: bytes) -> None:
    algid = Scheme("rsa", h, salt, h).algorithm_identifier()
    try:
        sig.ikev2_verify(
            _key("rsa2048").public_key(),
            AuthMethod.DIGITAL_SIGNATURE,
            bytes((len(algid),)) + algid + junk,
            DATA,
        )
    except SignatureError:
        pass
