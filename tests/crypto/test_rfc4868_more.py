"""RFC 4868 vectors for the SHA-384 and SHA-512 members: the §2.7.1 PRF test cases (full HMAC output,
PRF_HMAC_SHA2_384/512 for IKEv2) and the §2.7.2.2/§2.7.2.3 authenticator cases, whose keys have the
hash's length and whose ICV is the leading half of the HMAC (HMAC-SHA-384-192, HMAC-SHA-512-256)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ipsecd.crypto.errors import IntegrityError
from ipsecd.crypto.integ import esp_integ
from ipsecd.crypto.prf import new_prf

DATA = json.loads((Path(__file__).parent.parent / "vectors" / "rfc4868" / "auth384-512.json").read_text())
PRF = DATA["prf_cases"]
AUTH = DATA["auth_cases"]


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def test_source_and_coverage() -> None:
    assert DATA["source"].startswith("RFC 4868")
    assert {c["prf"] for c in PRF} == {"sha384", "sha512"} and len(PRF) == 12
    assert {c["integ"] for c in AUTH} == {"sha384", "sha512"} and len(AUTH) == 8


@pytest.mark.parametrize("case", PRF, ids=[c["name"] for c in PRF])
def test_prf_cases(case: dict[str, Any]) -> None:
    assert new_prf(case["prf"], h(case["key"])).compute(h(case["data"])) == h(case["out"])


@pytest.mark.parametrize("case", AUTH, ids=[c["name"] for c in AUTH])
def test_auth_cases_prf_output(case: dict[str, Any]) -> None:
    """§2.7.2 also publishes the untruncated HMAC with the hash-length key (the PRF use)."""
    assert new_prf(case["integ"], h(case["key"])).compute(h(case["data"])) == h(case["prf_out"])


@pytest.mark.parametrize("case", AUTH, ids=[c["name"] for c in AUTH])
def test_auth_cases_truncated_icv(case: dict[str, Any]) -> None:
    integ = esp_integ(case["integ"], h(case["key"]))
    icv = integ.compute(h(case["data"]))
    assert icv == h(case["icv"])
    assert len(icv) * 2 == len(h(case["prf_out"]))  # half the HMAC (§2.3)
    integ.verify(h(case["data"]), icv)
    bad = bytes([icv[0] ^ 0x80]) + icv[1:]
    with pytest.raises(IntegrityError, match=case["integ"]):
        integ.verify(h(case["data"]), bad)
