"""Sequence numbers reserved before use on a page that outlives the worker (issue 17, finding 2): an
SA re-installed above the page's mark never repeats a (key, nonce) pair, however the first holder
died; without a reserve callback nothing changes (the space's end is the limit)."""

from __future__ import annotations

import os
import struct
from ipaddress import ip_address

import pytest

from ipsecd.dataplane.ah import AhSa
from ipsecd.dataplane.errors import SequenceOverflowError
from ipsecd.dataplane.esp import EspSa
from ipsecd.dataplane.seqlimit import M32
from ipsecd.dataplane.userspace.seqmap import SeqMap
from ipsecd.policy.types import Direction, IpsecProto, Mode, SaSpec, UdpEncap

INNER = bytes.fromhex("4500001c0000000040010000") + bytes(16)


def _spec(encr: str = "aes-128-gcm", proto: IpsecProto = IpsecProto.ESP) -> SaSpec:
    integ, ikey = ("sha256", bytes(32)) if proto is IpsecProto.AH else ("null", b"")
    return SaSpec(0x4242, Direction.OUT, proto, Mode.TUNNEL, ip_address("192.0.2.1"), ip_address("192.0.2.2"),
                  encr if proto is IpsecProto.ESP else "null", bytes(20), integ, ikey,
                  encap=UdpEncap() if proto is IpsecProto.ESP else None)


def _worker_sa(spec: SaSpec, seqmap: SeqMap, slot: int, block: int) -> EspSa:
    """What a worker does (worker.Worker._add_sa/_reserve): start at the page's mark, reserve ahead."""
    sa = EspSa(spec)
    sa.seq = sa.seq_limit = seqmap.get(slot)

    def reserve(spi: int, seq: int) -> int:
        seqmap.set(slot, seq + block - 1)
        return seq + block - 1

    sa.reserve = reserve
    return sa


def test_no_nonce_repeats_across_a_worker_death() -> None:
    seqmap = SeqMap()
    other = SeqMap(os.dup(seqmap.fd))  # the dead worker's mapping of the same page
    try:
        slot = seqmap.allocate()
        nonces: list[bytes] = []
        for sent in (250, 130, 7):  # three workers in turn, each killed after ``sent`` packets
            sa = _worker_sa(_spec(), other, slot, block=100)
            for _ in range(sent):
                esp = sa.seal_payload(INNER)
                nonces.append(esp[8:16])  # GCM's explicit IV: the 64-bit sequence number
                assert struct.unpack_from("!Q", esp, 8)[0] <= seqmap.get(slot)  # on the page first
        assert len(nonces) == len(set(nonces)) == 387
    finally:
        other.close()
        seqmap.close()


def test_without_reserve_the_limit_is_the_space_and_exhaustion_still_raises() -> None:
    sa = EspSa(_spec())
    assert sa.seq_limit == M32 and sa.reserve is None
    sa.seq = M32 - 1
    sa.seal_payload(INNER)
    with pytest.raises(SequenceOverflowError):
        sa.seal_payload(INNER)


def test_reserve_never_extends_past_the_space() -> None:
    ah = AhSa(_spec(proto=IpsecProto.AH))
    ah.seq = ah.seq_limit = M32 - 2
    ah.reserve = lambda spi, seq: seq + 1_000_000
    ah.seal(INNER)
    assert ah.seq_limit == M32
    ah.seal(INNER)
    with pytest.raises(SequenceOverflowError):
        ah.seal(INNER)


def test_slots_are_reused_and_zeroed() -> None:
    seqmap = SeqMap()
    try:
        a = seqmap.allocate()
        seqmap.set(a, 99)
        seqmap.release(a)
        assert seqmap.allocate() == a and seqmap.get(a) == 0
    finally:
        seqmap.close()
