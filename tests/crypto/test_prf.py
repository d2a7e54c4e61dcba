"""PRFs and prf+: RFC 2202/4231 (HMAC), RFC 3566/4434 (XCBC), RFC 4493/4615 (CMAC), RFC 7296 §2.13."""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from ipsecd.crypto import registry as r
from ipsecd.crypto.errors import KeySizeError, MalformedInputError, UnknownAlgorithmError
from ipsecd.crypto.prf import aes_xcbc_mac, new_prf, prf_plus

VECTORS = Path(__file__).parent.parent / "vectors"


def cases(rel: str) -> list[dict[str, Any]]:
    data = json.loads((VECTORS / rel).read_text())
    assert data["source"]
    return list(data["cases"])


def h(s: str) -> bytes:
    return bytes.fromhex(s)


@pytest.mark.parametrize(("name", "rel"), [
    ("md5", "rfc2202/hmac-md5.json"),
    ("sha1", "rfc2202/hmac-sha1.json"),
    ("sha256", "rfc4231/hmac-sha256.json"),
    ("sha384", "rfc4231/hmac-sha384.json"),
    ("sha512", "rfc4231/hmac-sha512.json"),
])
def test_hmac_prf_vectors(name: str, rel: str) -> None:
    for case in cases(rel):
        out = new_prf(name, h(case["key"])).compute(h(case["data"]))
        # RFC 4231 case 5 publishes only the first 128 bits ("test with truncation")
        assert out.hex()[: len(case["mac"])] == case["mac"]
        assert len(out) == r.prf(name).output_size


@pytest.mark.parametrize("case", cases("rfc3566/aes-xcbc-mac.json"))
def test_rfc3566_xcbc_mac(case: dict[str, str]) -> None:
    assert aes_xcbc_mac(h(case["key"]), h(case["message"])).hex() == case["mac"]


@pytest.mark.parametrize("case", cases("rfc4434/aes-xcbc-prf-128.json"))
def test_rfc4434_xcbc_prf_key_rule(case: dict[str, str]) -> None:
    assert new_prf("aes-xcbc", h(case["key"])).compute(h(case["message"])).hex() == case["output"]


@pytest.mark.parametrize("case", cases("rfc4615/aes-cmac-prf-128.json"))
def test_rfc4615_cmac_prf_key_rule(case: dict[str, str]) -> None:
    assert new_prf("aes-cmac", h(case["key"])).compute(h(case["message"])).hex() == case["output"]


@pytest.mark.parametrize("case", cases("rfc4493/aes-cmac.json"))
def test_rfc4493_cmac(case: dict[str, str]) -> None:
    assert new_prf(r.prf("aes-cmac"), h(case["key"])).compute(h(case["message"])).hex() == case["mac"]


def _naive_prf_plus(key: bytes, seed: bytes, n: int) -> bytes:
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(key, t + seed + bytes([i]), "sha256").digest()
        out += t
        i += 1
    return out[:n]


def test_prf_plus_definition_and_both_call_forms() -> None:
    key, seed = b"k" * 32, b"seed material"
    expected = _naive_prf_plus(key, seed, 200)
    assert prf_plus(new_prf("sha256", key), seed, 200) == expected
    assert prf_plus("sha256", key, seed, 200) == expected
    assert prf_plus(r.prf("sha256"), key, seed, 33) == expected[:33]
    assert prf_plus("sha256", key, seed, 0) == b""


def test_prf_plus_limits() -> None:
    p = new_prf("sha1", b"k")
    assert len(prf_plus(p, b"s", 255 * 20)) == 255 * 20
    with pytest.raises(KeySizeError, match="255"):
        prf_plus(p, b"s", 255 * 20 + 1)
    with pytest.raises(MalformedInputError):
        prf_plus(p, b"s", -1)


def test_unknown_prf() -> None:
    with pytest.raises(UnknownAlgorithmError, match="tiger"):
        new_prf("tiger", b"k")
