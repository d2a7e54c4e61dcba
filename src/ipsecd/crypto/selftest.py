"""Known-answer self-tests of every symmetric algorithm, run on demand (like a FIPS power-on test).

Each test feeds fixed inputs (key = 00 01 02 …, IV = 10 11 …, 32 bytes of plaintext 20 21 …, an
ESP-style AAD of SPI 0x4321 and sequence 1) through the same code path the data plane and IKE use
(``new_cipher``, ``new_integ``, ``new_prf``), compares the output with the value recorded here,
decrypts it back, and for authenticated transforms checks that a flipped ICV bit is refused. The
recorded values are tied to independent computations (OpenSSL called directly, the standard library's
HMAC, and our Twofish checked against the Twofish paper's vectors) by tests/crypto/test_selftest.py,
and the primitives to published vectors by the other crypto tests.

``ipsecd algorithms`` shows the result of each; groups are tested by ``ke.known_answer_test``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ipsecd.crypto import registry
from ipsecd.crypto.encr import AeadCipher, new_cipher
from ipsecd.crypto.errors import CryptoError, IntegrityError, SelfTestError
from ipsecd.crypto.integ import new_integ
from ipsecd.crypto.prf import new_prf
from ipsecd.crypto.registry import EncrAlg, IntegAlg, PrfAlg

__all__ = ["SelfTestResult", "encr_kat", "integ_kat", "prf_kat", "run_symmetric"]

KAT_PLAINTEXT = bytes(range(0x20, 0x40))
KAT_AAD = bytes.fromhex("0000432100000001")


def kat_key(size: int) -> bytes:
    return bytes(i & 0xFF for i in range(size))


def kat_iv(size: int) -> bytes:
    return bytes(range(0x10, 0x10 + size))


def encr_output(alg: EncrAlg) -> bytes:
    """The KAT output: ciphertext (|| ICV for an AEAD) of the fixed inputs."""
    c = new_cipher(alg, kat_key(alg.keymat_size))
    iv = kat_iv(alg.iv_size)
    if isinstance(c, AeadCipher):
        return c.seal(iv, KAT_PLAINTEXT, KAT_AAD)
    return c.encrypt(iv, KAT_PLAINTEXT)


def encr_kat(alg: EncrAlg) -> None:
    out = encr_output(alg)
    if out.hex() != _EXPECTED.get(("encr", alg.name)):
        raise SelfTestError(f"{alg.name}: known-answer ciphertext mismatch")
    c = new_cipher(alg, kat_key(alg.keymat_size))
    iv = kat_iv(alg.iv_size)
    if isinstance(c, AeadCipher):
        if c.open(iv, out, KAT_AAD) != KAT_PLAINTEXT:
            raise SelfTestError(f"{alg.name}: decryption does not invert encryption")
        try:
            c.open(iv, out[:-1] + bytes([out[-1] ^ 1]), KAT_AAD)
        except IntegrityError:
            return
        raise SelfTestError(f"{alg.name}: a flipped ICV bit was accepted")
    if c.decrypt(iv, out) != KAT_PLAINTEXT:
        raise SelfTestError(f"{alg.name}: decryption does not invert encryption")


def integ_kat(alg: IntegAlg) -> None:
    integ = new_integ(alg, kat_key(alg.key_size))
    icv = integ.compute(KAT_PLAINTEXT)
    if icv.hex() != _EXPECTED.get(("integ", alg.name)):
        raise SelfTestError(f"{alg.name}: known-answer ICV mismatch")
    integ.verify(KAT_PLAINTEXT, icv)
    if alg.icv_size:
        try:
            integ.verify(KAT_PLAINTEXT, icv[:-1] + bytes([icv[-1] ^ 1]))
        except IntegrityError:
            return
        raise SelfTestError(f"{alg.name}: a flipped ICV bit was accepted")


def prf_output(alg: PrfAlg) -> bytes:
    """The preferred-size key, and for fixed-key PRFs also a 20-byte key (the RFC 4434/4615 rule)."""
    out = new_prf(alg, kat_key(alg.key_size)).compute(KAT_PLAINTEXT)
    if alg.fixed_key:
        out += new_prf(alg, kat_key(20)).compute(KAT_PLAINTEXT)
    return out


def prf_kat(alg: PrfAlg) -> None:
    if prf_output(alg).hex() != _EXPECTED.get(("prf", alg.name)):
        raise SelfTestError(f"{alg.name}: known-answer PRF output mismatch")


@dataclass(frozen=True, slots=True)
class SelfTestResult:
    kind: str  # "encr" | "integ" | "prf"
    name: str
    passed: bool
    detail: str  # the error when it failed


def _run(kind: str, name: str, test: Callable[[], None]) -> SelfTestResult:
    try:
        test()
    except CryptoError as exc:
        return SelfTestResult(kind, name, False, str(exc))
    return SelfTestResult(kind, name, True, "")


def run_symmetric() -> list[SelfTestResult]:
    """Every encryption, integrity and PRF transform of the registry, in table order."""
    results = [_run("encr", a.name, partial(encr_kat, a)) for a in registry.ENCR_ALGS]
    results += [_run("integ", i.name, partial(integ_kat, i)) for i in registry.INTEG_ALGS]
    results += [_run("prf", p.name, partial(prf_kat, p)) for p in registry.PRF_ALGS]
    return results


_EXPECTED: dict[tuple[str, str], str] = {
    ("encr", "null"): "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
    ("encr", "des"): "b4935375b8e35e19b999d25c30eb5b720cb5027d032c6b410f8f7e58aa503b2b",
    ("encr", "3des"): "7638a27f4c46e0fc854389eed737e3b74a91b553ca6dea8e22512f728c33eab6",
    ("encr", "aes-128-cbc"): "9bb5f601884fcd6f6e29b23f82cca77aed83e78428f8510691163c71b04ed6f3",
    ("encr", "aes-192-cbc"): "3e64a91765235117d6b31fd394b1f49d0f45ebfd81b570cc25210d295ad1282b",
    ("encr", "aes-256-cbc"): "5e96d71094d352682b2d69e8e87797249bf88d41b5319b2a5f78f73521a87852",
    ("encr", "aes-128-ctr"): "7ecb6e2a68cdde08f30413f4c1f136dcbb186593703af22811317a0691c929f3",
    ("encr", "aes-192-ctr"): "d1f1626ee0ed332023e3db2b6d09e24bfb5d4b780e77a4d0131db6220a825d59",
    ("encr", "aes-256-ctr"): "63dd2097107166bee8f8dbe3487f91184de0f347d0fa087123ab0c4a3424e34a",
    ("encr", "aes-128-gcm"): (
        "ab087583602ae23801216a1681d939e323a2e3321b42edac99d53282614bf4b04a712d0ca310365a8e9eb39746065b00"
    ),
    ("encr", "aes-192-gcm"): (
        "eb4d5b681e67b4c0030da6321a924d4930c195ef64a6c836f11975d9bb27bb7a5841c5e8d285aa39a391dc7ba01e16a0"
    ),
    ("encr", "aes-256-gcm"): (
        "5df0e357c0ea186133bb1c5a2434f35ae05e808cf2818e4ccfba0a46297d401354eba09ba3769daf601e6e8ee6304482"
    ),
    ("encr", "aes-128-gcm-8"): (
        "ab087583602ae23801216a1681d939e323a2e3321b42edac99d53282614bf4b04a712d0ca310365a"
    ),
    ("encr", "aes-192-gcm-8"): (
        "eb4d5b681e67b4c0030da6321a924d4930c195ef64a6c836f11975d9bb27bb7a5841c5e8d285aa39"
    ),
    ("encr", "aes-256-gcm-8"): (
        "5df0e357c0ea186133bb1c5a2434f35ae05e808cf2818e4ccfba0a46297d401354eba09ba3769daf"
    ),
    ("encr", "aes-128-gcm-12"): (
        "ab087583602ae23801216a1681d939e323a2e3321b42edac99d53282614bf4b04a712d0ca310365a8e9eb397"
    ),
    ("encr", "aes-192-gcm-12"): (
        "eb4d5b681e67b4c0030da6321a924d4930c195ef64a6c836f11975d9bb27bb7a5841c5e8d285aa39a391dc7b"
    ),
    ("encr", "aes-256-gcm-12"): (
        "5df0e357c0ea186133bb1c5a2434f35ae05e808cf2818e4ccfba0a46297d401354eba09ba3769daf601e6e8e"
    ),
    ("encr", "blowfish"): "7e0dc5b2ff23aca162f8eb3cf576e33c5958084112467d0efd050663b5f5da92",
    ("encr", "blowfish-192"): "49646632061dc48e0d0f667a9a1ac8b699c4d8fa827489efa846fe196aafb492",
    ("encr", "blowfish-256"): "ea1e7ec9694383ac0cec56c455d331d79c5fff5a0dea09542fcfcef52564fd2d",
    ("encr", "camellia-128"): "4ee306272dc33bbac2329c8959f0b519bf18b2a7de3348ecf342c562e8509251",
    ("encr", "camellia-192"): "cc7429cabd4b7e8da737e2db7e1602ef449f57e6174e3f110754c5fc25a33255",
    ("encr", "camellia-256"): "338e3ba4e79bf06ae1c23942cac32c740f2ab12485533bdb1249c9fba1e0c8e7",
    ("encr", "twofish"): "5b99b719f20e2729fb99669ab21e02ba02aaa9e2443d19d53f6bdb4ba8e08052",
    ("encr", "twofish-192"): "56286e23b32706e3c3caa783cece1dceb93cf6e1128a25aeed9e8c295dad181b",
    ("encr", "twofish-256"): "fa561569534a4001416a4a6b75fcdaf68634bf0a0433b4cee16dc762d54ef7d3",
    ("encr", "chacha20poly1305"): (
        "2ce2d5be2b77c357105fe1fd94d9a30b46481e11b6fa3e7ada2c9f9ec3a2447545af1c1f7cac0eeff58e399c59b011b7"
    ),
    ("integ", "null"): "",
    ("integ", "md5"): "4adc5d33d5422e411d11c7b5",
    ("integ", "sha1"): "f88122ed1acee7f219c45286",
    ("integ", "sha256"): "62215de7bddcea7e2c4047ff6bb94f8d",
    ("integ", "sha384"): "8bac81d0503f522c5735edba1baaac1aa43fed0da5b0d5aa",
    ("integ", "sha512"): "88b36b0446fe2dd23692a08ef66de500136b57ea39bc3c4a6967c3fecd50581b",
    ("prf", "md5"): "4adc5d33d5422e411d11c7b501a80c2f",
    ("prf", "sha1"): "f88122ed1acee7f219c45286290c1f750e2f297f",
    ("prf", "sha256"): "62215de7bddcea7e2c4047ff6bb94f8d18262fc8b3f3648134bb7d44158ff84d",
    ("prf", "sha384"): (
        "8bac81d0503f522c5735edba1baaac1aa43fed0da5b0d5aa9254babf281e845e96b57c59533c5c578aedcc10c5df858a"
    ),
    ("prf", "sha512"): (
        "88b36b0446fe2dd23692a08ef66de500136b57ea39bc3c4a6967c3fecd50581b3c5912c778cb55c53d7e5b656b6a8637"
        "a066deb28f2388c8c85f6aadfe09a77f"
    ),
    ("prf", "aes-xcbc"): "080e16258c3bc3fe17cc0a70de0de279539943878e30113cb3aea75b46de1ae6",
    ("prf", "aes-cmac"): "72d00fd9a90681666d5429cb02a005505564940d5d795efa4d154214f212c53a",
}
