"""IKEv2 key derivation and PSK AUTH cross-checked against a real strongSwan handshake.

No published vector covers the IKEv2 AUTH computation, the AEAD key split or CHILD KEYMAT with
PFS, so two charons (strongSwan 5.9.8) negotiate in network namespaces with their log at level 4,
which prints g^ir, SKEYSEED, every SK_*, IDx', the signed octets, AUTH and the CHILD SA keys. The
nonces and SPIs are recovered from the signed octets (message | nonce | prf(SK_p, IDx')); everything
else is recomputed with ipsecd.crypto.keymat/auth and must match byte for byte.
"""

from __future__ import annotations

import re
import struct
import time
from pathlib import Path

import pytest

from ipsecd.crypto import auth, keymat

pytestmark = [pytest.mark.interop, pytest.mark.root]

PSK = "keymat-crosscheck-psk-0123"
PRF = "sha256"


def dumps(log: str, label: str) -> list[bytes]:
    """Every ``<label> => N bytes @ 0x…`` chunk strongSwan printed, in order."""
    lines = log.splitlines()
    found: list[bytes] = []
    head = re.compile(re.escape(label) + r" => (\d+) bytes @ ")
    row = re.compile(r"\s+\d+: ((?:[0-9A-F]{2} ?)+)")
    for i, line in enumerate(lines):
        m = head.search(line)
        if not m:
            continue
        size = int(m.group(1))
        data = bytearray()
        j = i + 1
        while len(data) < size:
            r = row.search(lines[j].split("> ", 1)[-1])
            assert r, f"unexpected dump line {lines[j]!r}"
            data += bytes.fromhex(r.group(1)[: 3 * min(16, size - len(data))].replace(" ", ""))
            j += 1
        found.append(bytes(data))
    return found


def split_octets(octets: bytes, mac_len: int) -> tuple[bytes, bytes]:
    """(IKE_SA_INIT message, peer nonce) from signed octets; the IKE header carries the length."""
    (length,) = struct.unpack_from("!I", octets, 24)
    return octets[:length], octets[length:-mac_len]


@pytest.fixture(scope="module")
def handshake(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.interop.sswan import charon_pair, connect_charons

    workdir: Path = tmp_path_factory.mktemp("kx-sswan")
    with charon_pair("ipdkx", workdir, loglevel=4) as (topo, left, right):
        connect_charons(
            left, right, topo, psk=PSK, proposals="aes128gcm16-prfsha256-ecp256", esp="aes128gcm16-modp2048"
        )
        left.swanctl("--rekey", "--child", "net")  # CREATE_CHILD_SA with a PFS key exchange
        for _ in range(100):
            if len(dumps(left.log_text(), "encryption initiator key")) >= 2:
                break
            time.sleep(0.1)
        return left.log_text()  # the initiator's view


def test_ike_sa_keys_and_auth_match_strongswan(handshake: str) -> None:
    log = handshake
    octets_i, octets_r = dumps(log, "octets = message + nonce + prf(Sk_px, IDx')")[:2]
    msg1, nr = split_octets(octets_i, 32)
    msg2, ni = split_octets(octets_r, 32)
    spi_i, spi_r = msg1[:8], msg2[8:16]
    (g_ir,) = dumps(log, "shared Diffie Hellman secret")[:1]

    skeyseed = keymat.ikev2_skeyseed(PRF, ni, nr, g_ir)
    assert skeyseed == dumps(log, "SKEYSEED")[0]
    # AES-128-GCM: SK_e = 16-byte key + 4-byte salt, no SK_a; SK_d/SK_p as long as the PRF key
    keys = keymat.ikev2_ike_sa_keys(PRF, skeyseed, ni, nr, spi_i, spi_r, 0, 20, 32)
    assert keys.sk_d == dumps(log, "Sk_d secret")[0]
    assert keys.sk_ei == dumps(log, "Sk_ei secret")[0]
    assert keys.sk_er == dumps(log, "Sk_er secret")[0]
    assert keys.sk_pi == dumps(log, "Sk_pi secret")[0]
    assert keys.sk_pr == dumps(log, "Sk_pr secret")[0]

    id_i, id_r = dumps(log, "IDx'")[:2]
    assert auth.ikev2_signed_octets(PRF, msg1, nr, keys.sk_pi, id_i) == octets_i
    assert auth.ikev2_signed_octets(PRF, msg2, ni, keys.sk_pr, id_r) == octets_r
    auth_i, auth_r = dumps(log, "AUTH = prf(prf(secret, keypad), octets)")[:2]
    assert auth.ikev2_psk_auth(PRF, PSK.encode(), octets_i) == auth_i
    assert auth.ikev2_psk_verify(PRF, PSK.encode(), octets_r, auth_r)

    # the first CHILD SA (IKE_AUTH, no PFS): KEYMAT = prf+(SK_d, Ni | Nr), encr_i | encr_r
    child = keymat.ikev2_child_keymat(PRF, keys.sk_d, ni, nr, 40)
    assert child[:20] == dumps(log, "encryption initiator key")[0]
    assert child[20:] == dumps(log, "encryption responder key")[0]


def test_child_rekey_with_pfs_matches_strongswan(handshake: str) -> None:
    log = handshake
    sk_d = dumps(log, "Sk_d secret")[0]
    (g_ir_new,) = dumps(log, "DH secret")[:1]
    assert len(g_ir_new) == 256  # MODP-2048 g^ir, zero-padded to the prime's length
    seeds = dumps(log, "seed")
    seed = next(s for s in seeds if s.startswith(g_ir_new))
    ni, nr = seed[256:288], seed[288:]  # strongSwan's nonces are 32 bytes
    child = keymat.ikev2_child_keymat(PRF, sk_d, ni, nr, 40, g_ir=g_ir_new)
    assert child[:20] == dumps(log, "encryption initiator key")[1]
    assert child[20:] == dumps(log, "encryption responder key")[1]
