"""formats.load on arbitrary and damaged input: only FormatError, never another exception (an
import names one bad file in one line)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.pki import formats

from .conftest import VECTORS

SAMPLES = [
    (VECTORS / n).read_bytes() for n in ("gw-rsa.crt", "client.key", "ca.crl", "gw-rsa.der", "gw-ecdsa.p12")
]


@settings(deadline=None, max_examples=150)
@given(st.sampled_from(SAMPLES), st.integers(0, 4000), st.binary(min_size=1, max_size=4), st.text(max_size=8))
def test_damaged_files_raise_only_format_errors(sample: bytes, at: int, junk: bytes, passphrase: str) -> None:
    at %= len(sample)
    damaged = sample[:at] + junk + sample[at + len(junk) :]
    try:
        formats.load(damaged, passphrase)
    except formats.FormatError:
        pass


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_format_errors(data: bytes) -> None:
    with pytest.raises(formats.FormatError):
        formats.load(data)


def test_non_ike_keys_are_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import x25519

    pem = x25519.X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(formats.FormatError, match="cannot authenticate IKE"):
        formats.load(pem)


def test_a_nul_in_the_passphrase_is_refused_not_a_crash() -> None:
    with pytest.raises(formats.FormatError, match="NUL"):
        formats.load((VECTORS / "gw-ecdsa.p12").read_bytes(), "a\x00b")
