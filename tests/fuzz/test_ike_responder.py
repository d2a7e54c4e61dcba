"""Fuzz: mutated valid IKE messages fed to the codecs and to a responder raise only project errors
(codecs) or nothing at all (the SA), never crash; the responder keeps working afterwards."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.ike.manager import IkeManager
from ipsecd.ike.v2.sa import IkeSa
from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev2.message import Message
from tests.ike.conftest import I_ADDR, R_ADDR, configs, det_rng, spi_allocator

ADDR = (R_ADDR, I_ADDR)


def _valid_exchange() -> tuple[bytes, bytes, IkeManager]:
    """A real IKE_SA_INIT request, the IKE_AUTH request that follows, and a fresh responder."""
    i, r = configs()
    ini = IkeSa.initiator(i, rng=det_rng(b"fi"), spi_alloc=spi_allocator(1), now=0.0)
    init = ini.datagrams_to_send(0.0)[0][0]
    mgr = IkeManager(lambda a: r, rng=det_rng(b"fr"), spi_alloc=spi_allocator(2), now=0.0)
    mgr.receive_datagram(init, ADDR, 0.0)
    resp = mgr.datagrams_to_send(0.0)[0][0]
    ini.receive_datagram(resp, (I_ADDR, R_ADDR), 0.0)
    auth = ini.datagrams_to_send(0.0)[0][0]
    return init, auth, mgr


INIT, AUTH, _ = _valid_exchange()


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        kind = rnd.randrange(5)
        pos = rnd.randrange(len(b)) if b else 0
        if kind == 0 and b:
            b[pos] ^= 1 << rnd.randrange(8)
        elif kind == 1:
            del b[pos:pos + rnd.randint(1, 16)]
        elif kind == 2:
            b[pos:pos] = rnd.randbytes(rnd.randint(1, 16))
        elif kind == 3 and len(b) > 32:  # aim at length fields, header or payload
            off = rnd.choice([24, 26, 30, 28 + 2, rnd.randrange(28, len(b) - 2)])
            b[off:off + 2] = rnd.randbytes(2)
        elif b:
            b[pos] = rnd.choice([0, 0xFF, 0x80, 33, 46])
    return bytes(b)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_codec_raises_only_wire_errors(data: bytes) -> None:
    try:
        Message.decode(data)
    except WireError:
        pass


@pytest.mark.parametrize("which", ["init", "auth"])
def test_mutated_messages_never_crash_the_responder(which: str) -> None:
    rnd = random.Random(7296)
    init, auth, mgr = _valid_exchange()
    base = init if which == "init" else auth
    for _ in range(400):
        mutant = _mutate(rnd, base)
        try:
            Message.decode(mutant)
        except WireError:
            pass
        mgr.receive_datagram(mutant, ADDR, 0.0)
        mgr.datagrams_to_send(0.0)
        mgr.events()
    # the genuine IKE_AUTH still completes the original SA afterwards (for the init run: it was never spoiled)
    if which == "auth":
        mgr.receive_datagram(auth, ADDR, 0.0)
        assert any(sa.state == "established" for sa in mgr.by_spi.values())
