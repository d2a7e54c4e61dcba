"""IKEv2 and IKEv1 key derivation and authentication cross-checked against real strongSwan handshakes.

No published vector covers IKEv2 AUTH, the AEAD key split, CHILD KEYMAT with PFS, the IKEv1
pre-shared-key SKEYID, the Appendix B key expansion, the IKEv1 IVs, HASH_I or quick-mode KEYMAT.
So two charons (strongSwan 5.9.8) negotiate in network namespaces with their log at level 4, which
prints the inputs (g^ir, nonces in the payload dumps, signed octets, HASH_I data, SA seeds) and
the outputs (SKEYSEED, SK_*, SKEYID*, Ka, IVs, AUTH, HASH_I, Hash(3), CHILD SA keys); every output
is recomputed with ipsecd.crypto.keymat/auth from the inputs and must match byte for byte.
"""

from __future__ import annotations

import re
import struct
import time
from pathlib import Path

import pytest

from ipsecd.crypto import auth, keymat
from tests.interop.sswan import Charon

pytestmark = [pytest.mark.interop, pytest.mark.root]

PSK = "keymat-crosscheck-psk-0123"
PRF = "sha256"
AUTH_LABEL = "AUTH = prf(prf(secret, keypad), octets)"


LINE = re.compile(r"^\S+ (\d+)\[\w+\] (?:<[^>]*> )?(.*)$")  # time, thread[group], <ike-sa>, text
ROW = re.compile(r"^\s+\d+: ((?:[0-9A-F]{2} ?)+)")


def read_dump(lines: list[str], i: int, size: int, thread: str) -> bytes | None:
    """The ``size`` bytes of the hex dump following line ``i``, taking only ``thread``'s lines
    (charon's threads log concurrently); None while the dump is not completely written."""
    data = bytearray()
    for line in lines[i + 1 :]:
        if len(data) >= size:
            break
        m = LINE.match(line)
        if not m or m.group(1) != thread:
            continue
        r = ROW.match(m.group(2))
        if not r:
            return None
        data += bytes.fromhex(r.group(1)[: 3 * min(16, size - len(data))].replace(" ", ""))
    return bytes(data) if len(data) == size else None


def dumps(log: str, label: str) -> list[bytes]:
    """Every complete ``<label> => N bytes @ 0x…`` chunk strongSwan printed, in order."""
    lines = log.splitlines()
    head = re.compile(re.escape(label) + r" => (\d+) bytes @ ")
    found = []
    for i, line in enumerate(lines):
        m, h = LINE.match(line), head.search(line)
        if m and h and (data := read_dump(lines, i, int(h.group(1)), m.group(1))) is not None:
            found.append(data)
    return found


def payload_data(log: str, marker: str) -> bytes:
    """The CHUNK_DATA of the first payload whose generation/parsing starts with ``marker``."""
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith(marker))
    m = LINE.match(lines[start])
    assert m
    thread = m.group(1)
    rule = next(i for i in range(start, len(lines)) if "CHUNK_DATA" in lines[i] and f" {thread}[" in lines[i])
    head = next(i for i in range(rule + 1, len(lines)) if f" {thread}[" in lines[i])
    size = re.search(r"=> (\d+) bytes @ ", lines[head])
    assert size
    data = read_dump(lines, head, int(size.group(1)), thread)
    assert data is not None
    return data


def settled_log(charon: Charon, needs: dict[str, int], timeout: float = 20.0) -> str:
    """The charon's log once every label in ``needs`` has that many complete dumps (or at timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        log = charon.log_text()
        if all(len(dumps(log, label)) >= n for label, n in needs.items()) or time.monotonic() > deadline:
            return log
        time.sleep(0.1)


def split_octets(octets: bytes, mac_len: int) -> tuple[bytes, bytes]:
    """(IKE_SA_INIT message, peer nonce) from signed octets; the IKE header carries the length."""
    (length,) = struct.unpack_from("!I", octets, 24)
    return octets[:length], octets[length:-mac_len]


@pytest.fixture(scope="module")
def ikev2_log(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.interop.sswan import charon_pair, connect_charons

    workdir: Path = tmp_path_factory.mktemp("kx-sswan")
    with charon_pair("ipdkx", workdir, loglevel=4) as (topo, left, right):
        connect_charons(
            left, right, topo, psk=PSK, proposals="aes128gcm16-prfsha256-ecp256", esp="aes128gcm16-modp2048"
        )
        left.swanctl("--rekey", "--child", "net")  # CREATE_CHILD_SA with a PFS key exchange
        needs = {AUTH_LABEL: 2, "encryption initiator key": 2, "encryption responder key": 2, "seed": 1}
        return settled_log(left, needs)  # the initiator's view


def test_ike_sa_keys_and_auth_match_strongswan(ikev2_log: str) -> None:
    log = ikev2_log
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
    auth_i, auth_r = dumps(log, AUTH_LABEL)[:2]
    assert auth.ikev2_psk_auth(PRF, PSK.encode(), octets_i) == auth_i
    assert auth.ikev2_psk_verify(PRF, PSK.encode(), octets_r, auth_r)

    # the first CHILD SA (IKE_AUTH, no PFS): KEYMAT = prf+(SK_d, Ni | Nr), encr_i | encr_r
    child = keymat.ikev2_child_keymat(PRF, keys.sk_d, ni, nr, 40)
    assert child[:20] == dumps(log, "encryption initiator key")[0]
    assert child[20:] == dumps(log, "encryption responder key")[0]


def test_child_rekey_with_pfs_matches_strongswan(ikev2_log: str) -> None:
    log = ikev2_log
    sk_d = dumps(log, "Sk_d secret")[0]
    (g_ir_new,) = dumps(log, "DH secret")[:1]
    assert len(g_ir_new) == 256  # MODP-2048 g^ir, zero-padded to the prime's length
    seeds = dumps(log, "seed")
    seed = next(s for s in seeds if s.startswith(g_ir_new))
    ni, nr = seed[256:288], seed[288:]  # strongSwan's nonces are 32 bytes
    child = keymat.ikev2_child_keymat(PRF, sk_d, ni, nr, 40, g_ir=g_ir_new)
    assert child[:20] == dumps(log, "encryption initiator key")[1]
    assert child[20:] == dumps(log, "encryption responder key")[1]


# -- IKEv1 main mode (PSK) + quick mode with PFS -------------------------------------------------

V1_PSK = "v1-keymat-crosscheck-psk"
HASH = "sha1"


@pytest.fixture(scope="module")
def ikev1_log(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.interop.sswan import charon_pair, swanctl_connection

    workdir: Path = tmp_path_factory.mktemp("kx-sswan-v1")
    with charon_pair("ipdky", workdir, loglevel=4) as (topo, left, right):
        for me, me_ns, peer_ns in ((left, topo.left, topo.right), (right, topo.right, topo.left)):
            conf = swanctl_connection(
                "net",
                local_addr=me_ns.wan,
                remote_addr=peer_ns.wan,
                local_id=f"{me_ns.name}.test",
                remote_id=f"{peer_ns.name}.test",
                local_ts=f"{me_ns.lan}/32",
                remote_ts=f"{peer_ns.lan}/32",
                psk=V1_PSK,
                proposals="aes256-sha1-modp2048",  # 32-byte key from a 20-byte SKEYID_e: App. B
                esp_proposals="aes256-sha1-modp2048",  # quick mode with PFS
            )
            me.load(conf.replace("version = 2", "version = 1"))
        left.initiate("net")
        needs = {"HASH_I": 1, "Hash(3)": 1, "encryption initiator key": 1, "integrity initiator key": 1}
        return settled_log(left, needs)  # the initiator's view


def test_ikev1_phase1_matches_strongswan(ikev1_log: str) -> None:
    log = ikev1_log
    ni = payload_data(log, "generating payload of type NONCE_V1")
    nr = payload_data(log, "starting parsing a NONCE_V1 payload")
    (g_xy,) = dumps(log, "shared Diffie Hellman secret")[:1]
    skeyid = keymat.skeyid_psk(HASH, V1_PSK.encode(), ni, nr)
    assert skeyid == dumps(log, "SKEYID")[0]

    hash_i_data = dumps(log, "HASH_I data")[0]  # g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b
    g_xi, g_xr = hash_i_data[:256], hash_i_data[256:512]
    cky_i, cky_r = hash_i_data[512:520], hash_i_data[520:528]
    keys = keymat.skeyid_dae(HASH, skeyid, g_xy, cky_i, cky_r)
    assert keys.skeyid_d == dumps(log, "SKEYID_d")[0]
    assert keys.skeyid_a == dumps(log, "SKEYID_a")[0]
    assert keys.skeyid_e == dumps(log, "SKEYID_e")[0]
    assert keymat.ikev1_encryption_key(HASH, keys.skeyid_e, 32) == dumps(log, "encryption key Ka")[0]
    assert keymat.ikev1_phase1_iv(HASH, g_xi, g_xr, 16) == dumps(log, "initial IV")[0]
    hash_i = auth.ikev1_hash_i(HASH, skeyid, g_xi, g_xr, cky_i, cky_r, hash_i_data[528:], b"")
    assert hash_i == dumps(log, "HASH_I")[0]


def test_ikev1_quick_mode_matches_strongswan(ikev1_log: str) -> None:
    log = ikev1_log
    skeyid_d, skeyid_a = dumps(log, "SKEYID_d")[0], dumps(log, "SKEYID_a")[0]
    m = re.search(r"generating QUICK_MODE request (\d+) ", log)
    assert m
    message_id = int(m.group(1))
    # phase-2 IV: hash(last phase-1 CBC block | M-ID); the last "next IV for MID 0" is that block
    last_phase1_block = dumps(log, "next IV for MID 0")[-1]
    first_qm_iv = dumps(log, f"next IV for MID {message_id}")[0]
    assert keymat.ikev1_phase2_iv(HASH, last_phase1_block, message_id, 16) == first_qm_iv

    (g_qm,) = dumps(log, "DH secret")[:1]
    seed = dumps(log, "initiator SA seed")[0]  # g(qm)^xy | protocol | SPI | Ni_b | Nr_b
    assert seed.startswith(g_qm)
    protocol, spi = seed[256], seed[257:261]
    ni, nr = seed[261:293], seed[293:]
    km = keymat.ikev1_quick_mode_keymat(HASH, skeyid_d, protocol, spi, ni, nr, 52, g_qm_xy=g_qm)
    assert km[:32] == dumps(log, "encryption initiator key")[0]  # AES-256
    assert km[32:] == dumps(log, "integrity initiator key")[0]  # HMAC-SHA1-96 key
    assert auth.ikev1_qm_hash3(HASH, skeyid_a, message_id, ni, nr) == dumps(log, "Hash(3)")[0]


# -- fixed-key PRFs: the 64-bit nonce rule of RFC 7296 §2.14 -------------------------------------


@pytest.fixture(scope="module", params=["aes-xcbc", "aes-cmac"])
def fixed_key_prf_log(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    from tests.interop import sswan

    prf: str = request.param
    workdir: Path = tmp_path_factory.mktemp(f"kx-sswan-{prf}")
    with pytest.MonkeyPatch.context() as mp:  # the harness's plugin list lacks the two PRF plugins
        mp.setattr(sswan, "PLUGINS", sswan.PLUGINS.replace(" hmac ", " hmac xcbc cmac "))
        with sswan.charon_pair("ipdkz", workdir, loglevel=4) as (topo, left, right):
            proposals = f"aes128gcm16-prf{prf.replace('-', '')}-ecp256"
            sswan.connect_charons(left, right, topo, psk=PSK, proposals=proposals, esp="aes128gcm16")
            return prf, settled_log(left, {AUTH_LABEL: 2, "Sk_pr secret": 1})


def test_fixed_key_prf_skeyseed_matches_strongswan(fixed_key_prf_log: tuple[str, str]) -> None:
    prf, log = fixed_key_prf_log
    octets_i, octets_r = dumps(log, "octets = message + nonce + prf(Sk_px, IDx')")[:2]
    msg1, nr = split_octets(octets_i, 16)
    msg2, ni = split_octets(octets_r, 16)
    g_ir = dumps(log, "shared Diffie Hellman secret")[0]
    skeyseed = keymat.ikev2_skeyseed(prf, ni, nr, g_ir)
    assert skeyseed == dumps(log, "SKEYSEED")[0]
    keys = keymat.ikev2_ike_sa_keys(prf, skeyseed, ni, nr, msg1[:8], msg2[8:16], 0, 20, 16)
    assert keys.sk_d == dumps(log, "Sk_d secret")[0]
    assert keys.sk_pr == dumps(log, "Sk_pr secret")[0]
    assert auth.ikev2_psk_auth(prf, PSK.encode(), octets_i) == dumps(log, AUTH_LABEL)[0]
