"""Fuzz: random and mutated bytes into EspSa/AhSa ``open`` for every algorithm, both modes, with and
without UDP encapsulation; only the project's DataplaneError may come out, and the SA still opens a
genuine packet afterwards (bad input never disturbs it)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipsecd.dataplane.errors import DataplaneError
from ipsecd.policy.types import Mode, UdpEncap
from tests.dataplane.test_ah import ah_pair
from tests.dataplane.test_esp import ALG_IDS, ALGS, alg_pair, inner_packet

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _feed(sa: object, data: bytes) -> None:
    """Every entry point, with the buffer types a receive loop hands over."""
    for fn in ("open", "open_payload", "open_esp"):
        if hasattr(sa, fn):
            for buf in (data, bytearray(data), memoryview(data)):
                try:
                    getattr(sa, fn)(buf)
                except DataplaneError:
                    pass


def _mutations(draw_bytes: bytes, wire: bytes, cut: int, pos: int, val: int) -> list[bytes]:
    flipped = bytearray(wire)
    flipped[pos % len(wire)] ^= val or 1
    return [draw_bytes, wire[: cut % (len(wire) + 1)], bytes(flipped), wire + draw_bytes,
            wire[:20] + draw_bytes, wire[:28] + draw_bytes]


@pytest.mark.parametrize("alg", ALGS, ids=ALG_IDS)
@pytest.mark.parametrize("mode", [Mode.TUNNEL, Mode.TRANSPORT])
@pytest.mark.parametrize("encap", [None, UdpEncap()], ids=["raw", "udp"])
def test_esp_open_raises_only_project_errors(alg: tuple[str, int, str, int], mode: Mode,
                                             encap: UdpEncap | None) -> None:
    out, inn = alg_pair(alg, mode=mode, encap=encap)
    pkt = inner_packet(4, mode, 30)
    good = out.seal(pkt)
    wire = out.seal(inner_packet(4, mode, 30))

    @FUZZ
    @given(st.binary(max_size=300), st.integers(0, 2000), st.integers(0, 2000), st.integers(0, 255))
    def run(data: bytes, cut: int, pos: int, val: int) -> None:
        for m in _mutations(data, wire, cut, pos, val):
            _feed(inn, m)

    run()
    assert inn.open(good) == pkt


@pytest.mark.parametrize("integ", ["md5", "sha1", "sha256", "sha384", "sha512"])
@pytest.mark.parametrize("family", [4, 6])
def test_ah_open_raises_only_project_errors(integ: str, family: int) -> None:
    out, inn = ah_pair(integ=integ, family=family)
    pkt = inner_packet(family, Mode.TUNNEL, 30)
    good = out.seal(pkt)
    wire = out.seal(inner_packet(family, Mode.TUNNEL, 30))

    @FUZZ
    @given(st.binary(max_size=300), st.integers(0, 2000), st.integers(0, 2000), st.integers(0, 255))
    def run(data: bytes, cut: int, pos: int, val: int) -> None:
        for m in _mutations(data, wire, cut, pos, val):
            _feed(inn, m)

    run()
    assert inn.open(good) == pkt
