"""AUTH payload values: IKEv2 shared-key AUTH and signed octets (RFC 7296 §2.15, RFC 9242 §3.3.2),
IKEv1 HASH_I/HASH_R and quick-mode hashes (RFC 2409 §5, §5.5).

No published IKEv2 AUTH or IKEv1 HASH vector was available; each test restates the RFC formula
with Python's hmac module, field by field, so an order or padding mistake fails.
test_keymat_strongswan.py checks IKEv2 PSK AUTH, HASH_I and Hash(3) against strongSwan.
"""

from __future__ import annotations

import hmac
import struct

import pytest

from ipsecd.crypto import auth
from ipsecd.crypto.errors import MalformedInputError

MSG1 = bytes(range(200))
NR = b"\x5a" * 32
SK_PI = b"\x13" * 32
ID_BODY = b"\x01\x00\x00\x00\xc0\x00\x02\x01"  # ID_IPV4_ADDR 192.0.2.1


def test_ikev2_signed_octets_and_psk_auth() -> None:
    octets = auth.ikev2_signed_octets("sha256", MSG1, NR, SK_PI, ID_BODY)
    assert octets == MSG1 + NR + hmac.digest(SK_PI, ID_BODY, "sha256")
    psk = b"test-psk"
    expected = hmac.digest(hmac.digest(psk, b"Key Pad for IKEv2", "sha256"), octets, "sha256")
    value = auth.ikev2_psk_auth("sha256", psk, octets)
    assert value == expected and len(value) == 32
    assert auth.ikev2_psk_verify("sha256", psk, octets, value)
    assert not auth.ikev2_psk_verify("sha256", b"other", octets, value)
    assert not auth.ikev2_psk_verify("sha256", psk, octets, value[:-1] + bytes([value[-1] ^ 1]))


def test_ikev2_intermediate_auth_block() -> None:
    a1, p1 = b"A" * 40, b"P" * 30
    i1 = auth.ikev2_intauth("sha1", SK_PI, b"", a1, p1)
    assert i1 == hmac.digest(SK_PI, a1 + p1, "sha1")
    i2 = auth.ikev2_intauth("sha1", SK_PI, i1, a1, b"")
    assert i2 == hmac.digest(SK_PI, i1 + a1, "sha1")
    block = auth.ikev2_intauth_block(i2, b"R" * 20, 3)
    assert block == i2 + b"R" * 20 + b"\x00\x00\x00\x03"
    octets = auth.ikev2_signed_octets("sha1", MSG1, NR, SK_PI, ID_BODY, int_auth=block)
    assert octets.endswith(block)


def test_ikev2_bad_input() -> None:
    with pytest.raises(MalformedInputError, match="empty shared secret"):
        auth.ikev2_psk_auth("sha256", b"", b"octets")
    with pytest.raises(MalformedInputError, match="ID payload body"):
        auth.ikev2_maced_id("sha256", SK_PI, b"\x01\x00")


def test_ikev1_hash_i_and_hash_r() -> None:
    skeyid = b"\x77" * 20
    gxi, gxr, ci, cr = b"\x01" * 128, b"\x02" * 128, b"I" * 8, b"R" * 8
    sa, idii, idir = b"SA-body", b"\x01\x11\x01\xf4\xc0\x00\x02\x01", b"\x01\x11\x01\xf4\xc0\x00\x02\x02"
    hash_i = auth.ikev1_hash_i("sha1", skeyid, gxi, gxr, ci, cr, sa, idii)
    hash_r = auth.ikev1_hash_r("sha1", skeyid, gxi, gxr, ci, cr, sa, idir)
    assert hash_i == hmac.digest(skeyid, gxi + gxr + ci + cr + sa + idii, "sha1")
    assert hash_r == hmac.digest(skeyid, gxr + gxi + cr + ci + sa + idir, "sha1")


def test_ikev1_quick_mode_hashes() -> None:
    a, mid, ni, nr, rest = b"\x99" * 32, 0xDEADBEEF, b"n" * 16, b"m" * 16, b"SA|Ni|IDci|IDcr"
    m = struct.pack("!I", mid)
    assert auth.ikev1_qm_hash1("sha256", a, mid, rest) == hmac.digest(a, m + rest, "sha256")
    assert auth.ikev1_qm_hash2("sha256", a, mid, ni, rest) == hmac.digest(a, m + ni + rest, "sha256")
    assert auth.ikev1_qm_hash3("sha256", a, mid, ni, nr) == hmac.digest(a, b"\x00" + m + ni + nr, "sha256")
