"""Key-exchange API: published DH vectors (RFC 5903, RFC 7748), peer-value validation, the KEM flow.

Group-specific arithmetic has its own files: test_modp.py, test_ec2n.py, test_mlkem.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ipsecd.crypto import ke
from ipsecd.crypto.errors import (
    InvalidPublicValueError,
    MalformedInputError,
    SelfTestError,
    UnknownAlgorithmError,
)
from ipsecd.crypto.ke import GROUPS, deterministic_rng, known_answer_test, new_ke

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def load_blocks(path: Path) -> list[dict[str, str]]:
    """``key = value`` records separated by blank lines; ``#`` lines are comments."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _, value = line.partition(" = ")
        current[key] = value
    if current:
        blocks.append(current)
    return blocks


def fixed_rng(*chunks: bytes) -> Callable[[int], bytes]:
    """An rng handing out exactly these byte strings, in order (each request must match its size)."""
    queue = list(chunks)

    def rng(n: int) -> bytes:
        chunk = queue.pop(0)
        assert len(chunk) == n, f"rng asked for {n} bytes, vector has {len(chunk)}"
        return chunk

    return rng


def ecp_rng(group: int, scalar: int) -> Callable[[int], bytes]:
    """rng bytes that make ke.py's ECP scalar derivation (value mod (n-1) + 1) yield ``scalar``."""
    order = ke._ECP_CURVES[group][2]
    nbytes = (order.bit_length() + 7) // 8 + 8
    return fixed_rng((scalar - 1).to_bytes(nbytes, "big"))


# -- RFC 5903 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", load_blocks(VECTORS / "rfc5903" / "ecp_dh.txt"), ids=lambda v: v["group"])
def test_rfc5903_ecp_vectors(vector: dict[str, str]) -> None:
    group = int(vector["group"])
    initiator = new_ke(group, ecp_rng(group, int(vector["i"], 16)))
    responder = new_ke(group, ecp_rng(group, int(vector["r"], 16)))
    gi = bytes.fromhex(vector["gix"] + vector["giy"])
    gr = bytes.fromhex(vector["grx"] + vector["gry"])
    assert initiator.public_value() == gi  # x || y, no 0x04 (RFC 5903 §7)
    assert responder.public_value() == gr
    assert initiator.compute_shared(gr).hex() == vector["girx"]
    assert responder.compute_shared(gi).hex() == vector["girx"]


@pytest.mark.parametrize("group", [19, 20, 21])
def test_ecp_rejects_bad_points(group: int) -> None:
    size = GROUPS[group].public_size
    good = new_ke(group).public_value()
    me = new_ke(group)
    off_curve = good[:-1] + bytes([good[-1] ^ 1])
    for bad in (off_curve, bytes(size), good[:-1], good + b"\x00", b""):
        with pytest.raises(InvalidPublicValueError, match=f"ECP group {group}"):
            me.compute_shared(bad)


def test_ecp_rejects_non_canonical_coordinates() -> None:
    # P-521 coordinates take 66 bytes, so x + p still fits: the same point, encoded out of range
    p = 2**521 - 1
    value = new_ke(21).public_value()
    x, y = int.from_bytes(value[:66], "big"), int.from_bytes(value[66:], "big")
    me = new_ke(21)
    me.compute_shared(value)
    for bad_x, bad_y in ((x + p, y), (x, y + p)):
        with pytest.raises(InvalidPublicValueError, match="not on the curve"):
            me.compute_shared(bad_x.to_bytes(66, "big") + bad_y.to_bytes(66, "big"))


# -- RFC 7748 / RFC 8031 -------------------------------------------------------------------------


@pytest.mark.parametrize("vector", load_blocks(VECTORS / "rfc7748" / "dh.txt"), ids=lambda v: v["group"])
def test_rfc7748_dh_vectors(vector: dict[str, str]) -> None:
    group = int(vector["group"])
    alice = new_ke(group, fixed_rng(bytes.fromhex(vector["a"])))
    bob = new_ke(group, fixed_rng(bytes.fromhex(vector["b"])))
    assert alice.public_value().hex() == vector["pub_a"]
    assert bob.public_value().hex() == vector["pub_b"]
    assert alice.compute_shared(bytes.fromhex(vector["pub_b"])).hex() == vector["k"]
    assert bob.compute_shared(bytes.fromhex(vector["pub_a"])).hex() == vector["k"]


@pytest.mark.parametrize("vector", load_blocks(VECTORS / "rfc7748" / "scalarmult.txt"))
def test_rfc7748_function_vectors(vector: dict[str, str]) -> None:
    me = new_ke(int(vector["group"]), fixed_rng(bytes.fromhex(vector["scalar"])))
    assert me.compute_shared(bytes.fromhex(vector["u"])).hex() == vector["out"]


@pytest.mark.parametrize("group", [31, 32])
def test_montgomery_rejects_low_order_and_bad_lengths(group: int) -> None:
    size = GROUPS[group].public_size
    me = new_ke(group)
    one = (1).to_bytes(size, "little")
    for low_order in (bytes(size), one):
        with pytest.raises(InvalidPublicValueError, match="low-order"):
            me.compute_shared(low_order)
    for bad in (b"", b"\x09" * (size - 1), b"\x09" * (size + 1)):
        with pytest.raises(InvalidPublicValueError, match=f"group {group}"):
            me.compute_shared(bad)


# -- every group: agreement, the respond() path, laziness ---------------------------------------


@pytest.mark.parametrize("group", sorted(g for g in GROUPS if g not in (17, 18)))
def test_two_parties_agree(group: int) -> None:
    initiator = new_ke(group)
    responder = new_ke(group)
    value_i = initiator.public_value()
    assert len(value_i) == GROUPS[group].public_size
    value_r, shared_r = responder.respond(value_i)
    assert len(value_r) == GROUPS[group].response_size
    shared_i = initiator.compute_shared(value_r)
    assert shared_i == shared_r
    assert len(shared_i) == GROUPS[group].shared_size
    assert initiator.public_value() == value_i  # one key pair per exchange


def test_injected_rng_is_reproducible_and_distinct() -> None:
    a = new_ke(14, deterministic_rng(b"a")).public_value()
    assert a == new_ke(14, deterministic_rng(b"a")).public_value()
    assert a != new_ke(14, deterministic_rng(b"b")).public_value()


def test_unknown_group() -> None:
    for group in (0, 6, 22, 33, 1000):
        with pytest.raises(UnknownAlgorithmError, match=f"group {group}"):
            new_ke(group)


def test_groups_match_the_registry() -> None:
    from ipsecd.crypto import registry

    for row in registry.GROUPS:
        assert row.id in GROUPS, row.name
        assert GROUPS[row.id].kind == row.kind, row.name


# -- KEM flow (ML-KEM) ---------------------------------------------------------------------------


@pytest.mark.parametrize("group", [35, 36, 37])
@pytest.mark.parametrize("injected", [False, True])
def test_kem_flow(group: int, injected: bool) -> None:
    rng = deterministic_rng(b"kem-flow") if injected else None
    initiator = new_ke(group, rng)
    responder = new_ke(group, rng)
    assert initiator.is_kem and responder.is_kem
    ek = initiator.public_value()
    ciphertext, shared_r = responder.encapsulate(ek)  # type: ignore[attr-defined]
    assert initiator.compute_shared(ciphertext) == shared_r
    assert len(shared_r) == 32
    # respond() is encapsulate() for a KEM
    ct2, shared2 = new_ke(group).respond(ek)
    assert initiator.compute_shared(ct2) == shared2


@pytest.mark.parametrize("group", [36, 37])
def test_kem_without_openssl_mlkem(group: int, monkeypatch: pytest.MonkeyPatch) -> None:
    openssl_initiator = new_ke(group)
    ek = openssl_initiator.public_value()  # OpenSSL-made key pair
    monkeypatch.setattr(ke, "_ossl_mlkem", None)  # a cryptography without ML-KEM: mlkem.py does it all
    ct, shared = new_ke(group).respond(ek)
    assert openssl_initiator.compute_shared(ct) == shared
    pure = new_ke(group, deterministic_rng(b"pure"))
    ct2, shared2 = new_ke(group).respond(pure.public_value())
    assert pure.compute_shared(ct2) == shared2
    assert len(ct) == GROUPS[group].response_size and len(shared) == 32


@pytest.mark.parametrize("group", [35, 36, 37])
def test_kem_bad_input(group: int) -> None:
    initiator = new_ke(group)
    with pytest.raises(MalformedInputError, match="before public_value"):
        initiator.compute_shared(b"\x00" * GROUPS[group].response_size)
    ek = initiator.public_value()
    with pytest.raises(InvalidPublicValueError, match="ciphertext is 5 bytes"):
        initiator.compute_shared(b"\x00" * 5)
    responder = new_ke(group)
    with pytest.raises(InvalidPublicValueError, match="encapsulation key is"):
        responder.respond(ek[:-1])
    over_q = b"\xff\xff" + ek[2:]  # first coefficient 0xfff >= q
    with pytest.raises(InvalidPublicValueError, match=">= q"):
        responder.respond(over_q)
    # a forged ciphertext is not an error: implicit rejection gives an unrelated key
    ct, shared = responder.respond(ek)
    forged = bytes([ct[0] ^ 1]) + ct[1:]
    assert initiator.compute_shared(forged) != shared


# -- self-test -----------------------------------------------------------------------------------


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_known_answer_tests_pass(group: int) -> None:
    known_answer_test(group)


def test_known_answer_test_checks_the_openssl_modp_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from ipsecd.crypto import modp

    real = modp.ModpKeyPair.shared

    def broken(self: modp.ModpKeyPair, peer: bytes) -> bytes:
        out = real(self, peer)
        return out if self._key is None else bytes([out[0] ^ 1]) + out[1:]  # corrupt OpenSSL only

    monkeypatch.setattr(modp.ModpKeyPair, "shared", broken)
    with pytest.raises(SelfTestError, match="OpenSSL and pow"):
        known_answer_test(14)
    known_answer_test(2)  # pow() only: unaffected


def test_known_answer_test_detects_a_wrong_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ke._KAT_DIGESTS, 19, "00" * 32)
    with pytest.raises(SelfTestError, match="group 19"):
        known_answer_test(19)
    with pytest.raises(UnknownAlgorithmError):
        known_answer_test(99)


# -- any bytes: a clean error or a secret, never anything else ---------------------------------


@pytest.mark.parametrize("group", [2, 3, 14, 19, 21, 31, 32, 35, 37])
def test_arbitrary_peer_values_never_crash(group: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    info = GROUPS[group]
    me = new_ke(group, deterministic_rng(b"fuzz"))
    me.public_value()
    size = info.response_size
    values = st.one_of(st.binary(min_size=size, max_size=size), st.binary(max_size=size + 8))

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(values)
    def check(value: bytes) -> None:
        try:
            shared = me.compute_shared(value)
        except InvalidPublicValueError as exc:
            assert str(exc)  # names the group and the problem
        else:
            assert len(shared) == info.shared_size

    check()
