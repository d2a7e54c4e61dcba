"""AhSa (RFC 4302): round trips, ICV coverage of mutable/immutable fields, IPv6 64-bit alignment, ESN,
and error → counter for every failure."""

from __future__ import annotations

import itertools
import os
from ipaddress import ip_address

import pytest

from ipsecd.crypto import registry
from ipsecd.dataplane.ah import AhSa
from ipsecd.dataplane.errors import ConfigError, DataplaneError
from ipsecd.dataplane.stats import Statistics
from ipsecd.policy.types import Direction, IpsecProto, Mode, SaSpec, UdpEncap
from ipsecd.wire import ah as wah
from ipsecd.wire import ip as wip
from tests.dataplane.test_esp import ADDRS, inner_packet
from tests.dataplane.test_esp_errors import provoke

INTEGS = [a for a in registry.INTEG_ALGS if a.icv_size]


def ah_spec(
    direction: Direction,
    integ: str = "sha256",
    key: bytes | None = None,
    *,
    mode: Mode = Mode.TUNNEL,
    family: int = 4,
    esn: bool = False,
    spi: int = 0x5000,
    window: int = 64,
) -> SaSpec:
    src, dst = ADDRS[family]
    if key is None:
        key = bytes(range(registry.integ(integ).key_size))
    return SaSpec(
        spi,
        direction,
        IpsecProto.AH,
        mode,
        ip_address(src),
        ip_address(dst),
        "null",
        b"",
        integ,
        key,
        esn=esn,
        replay_window=window,
    )


def ah_pair(**kw: object) -> tuple[AhSa, AhSa]:
    return AhSa(ah_spec(Direction.OUT, **kw)), AhSa(ah_spec(Direction.IN, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("integ", [a.name for a in INTEGS])
@pytest.mark.parametrize(
    ("mode", "outer", "inner"),
    [(m, o, i) for m, o, i in itertools.product((Mode.TUNNEL, Mode.TRANSPORT), (4, 6), (4, 6))
     if m is Mode.TUNNEL or o == i],
)
@pytest.mark.parametrize("esn", [False, True])
def test_round_trip(integ: str, mode: Mode, outer: int, inner: int, esn: bool) -> None:
    out, inn = ah_pair(integ=integ, mode=mode, family=outer, esn=esn)
    for size in (0, 33, 1400):
        pkt = inner_packet(inner, mode, size)
        wire = out.seal(pkt, now=1.0)
        p = wip.parse(wire)
        assert p.proto == wip.PROTO_AH
        nh, ahlen, spi, seq = wah.parse(wire, p.l4_off, p.length)
        assert spi == 0x5000 and seq == out.seq
        assert nh == (wip.PROTO_UDP if mode is Mode.TRANSPORT else 4 if inner == 4 else 41)
        assert ahlen % (8 if outer == 6 else 4) == 0  # RFC 4302 §2.6 / §3.3.3.2.1
        assert inn.open(wire, now=2.0) == pkt
    assert inn.packets == 3 and inn.last_used == 2.0 and out.bytes == inn.bytes


def test_ipv6_icv_padding() -> None:
    out4, _ = ah_pair(integ="sha256", family=4)
    out6, _ = ah_pair(integ="sha256", family=6)
    w4 = out4.seal(inner_packet(4, Mode.TUNNEL))
    w6 = out6.seal(inner_packet(4, Mode.TUNNEL))
    assert wah.parse(w4, 20, len(w4))[1] == 28  # 12 + 16
    assert wah.parse(w6, 40, len(w6))[1] == 32  # 12 + 16 + 4 padding


def test_mutable_fields_may_change_en_route() -> None:
    out, inn = ah_pair(mode=Mode.TRANSPORT)
    wire = bytearray(out.seal(inner_packet(4, Mode.TRANSPORT)))
    wire[1] = 0xB8  # DSCP
    wire[8] -= 3  # TTL decremented by routers
    wire[6] |= 0x40  # DF set on the way
    wire[10:12] = b"\x00\x00"
    wire[10:12] = wip.checksum(wire[:20]).to_bytes(2, "big")
    assert inn.open(bytes(wire))
    out6, in6 = ah_pair(mode=Mode.TRANSPORT, family=6)
    w6 = bytearray(out6.seal(inner_packet(6, Mode.TRANSPORT)))
    w6[7] = 1  # hop limit
    w6[1] |= 0x0F  # flow label / traffic class
    assert in6.open(bytes(w6))


def test_immutable_fields_and_payload_are_covered() -> None:
    stats = Statistics()
    out, inn = ah_pair(mode=Mode.TRANSPORT)
    wire = out.seal(inner_packet(4, Mode.TRANSPORT, 40))
    for pos in (4, 12, 19, len(wire) - 1, 20 + 12):  # ident, source, destination, payload, ICV
        t = bytearray(wire)
        t[pos] ^= 1
        if pos in (12, 19):  # addresses: fix the checksum so only the ICV can catch it
            t[10:12] = b"\x00\x00"
            t[10:12] = wip.checksum(t[:20]).to_bytes(2, "big")
        counter = provoke(stats, lambda b=bytes(t): inn.open(b))
        assert counter == ("in-no-states" if pos == 19 else "in-state-protocol-errors")
    assert inn.open(wire)


def test_errors_and_counters() -> None:
    stats = Statistics()
    out, inn = ah_pair()
    _, other = ah_pair(spi=0x6000)
    wires = [out.seal(inner_packet(4, Mode.TUNNEL)) for _ in range(3)]
    assert provoke(stats, lambda: other.open(wires[0])) == "in-no-states"
    assert provoke(stats, lambda: inn.open(wires[0][:30])) == "in-header-errors"
    bad_len = bytearray(wires[0])
    bad_len[21] = 2  # AH payload length: 16 bytes, wrong for a 16-byte ICV
    assert provoke(stats, lambda: inn.open(bytes(bad_len))) == "in-state-protocol-errors"
    assert inn.open(wires[1])
    assert provoke(stats, lambda: inn.open(wires[1])) == "in-state-sequence-errors"
    esp_like = wip.splice(wires[0], 20, 9, wip.PROTO_ESP, wires[0][20:])
    assert provoke(stats, lambda: inn.open(esp_like)) == "in-no-states"
    t = bytearray(out.seal(inner_packet(4, Mode.TUNNEL)))
    assert provoke(stats, lambda: out.seal(b"junk")) == "out-state-mode-errors"
    out.dead = inn.dead = True
    assert provoke(stats, lambda: inn.open(bytes(t))) == "in-state-expired"
    assert provoke(stats, lambda: out.seal(inner_packet(4, Mode.TUNNEL))) == "out-state-expired"
    fresh, _ = ah_pair()
    fresh.seq = 0xFFFFFFFF
    assert provoke(stats, lambda: fresh.seal(inner_packet(4, Mode.TUNNEL))) == "out-state-sequence-errors"
    assert inn.invalid_packets == 2  # the bad-length and the replayed packet: the SA was found


def test_tunnel_payload_must_be_ip() -> None:
    stats = Statistics()
    out, inn = ah_pair()
    wire = bytearray(out.seal(inner_packet(4, Mode.TUNNEL)))
    # re-sign a packet whose next header claims TCP: build it with a transport SA of the same key
    tr_out, _ = ah_pair(mode=Mode.TRANSPORT)
    forged = tr_out.seal(inner_packet(4, Mode.TRANSPORT))
    assert provoke(stats, lambda: inn.open(forged)) == "in-state-mode-errors"
    assert inn.open(bytes(wire))


def test_bad_configurations_are_refused() -> None:
    s = ah_spec(Direction.OUT)
    fields = {f: getattr(s, f) for f in s.__slots__}
    for change in ({"encap": UdpEncap()}, {"encr": "aes-128-cbc"}, {"integ": "null", "integ_key": b""},
                   {"integ_key": b"short"}, {"proto": IpsecProto.ESP}):
        with pytest.raises(ConfigError):
            AhSa(SaSpec(**{**fields, **change}))  # type: ignore[arg-type]


def test_random_bytes_never_escape_as_other_errors() -> None:
    _, inn = ah_pair()
    for n in range(0, 120):
        blob = os.urandom(n)
        for pkt in (blob, b"\x45" + blob, wip.ipv4_header(inn.src, inn.dst, wip.PROTO_AH, n) + blob):
            try:
                inn.open(pkt)
            except DataplaneError:
                pass


def test_idle_sa_holds_no_integrity_object_and_shares_addresses() -> None:
    """Memory (issue 5): the HMAC object is built on the first packet; addresses are shared bytes."""
    out, inn = ah_pair()
    assert out._integ is None and inn._integ is None and out.src is inn.src and out.dst is inn.dst
    pkt = inner_packet(4, Mode.TUNNEL, 10)
    wire = out.seal(pkt)
    assert inn.open(wire) == pkt
    assert out._integ is not None and inn._integ is not None
    assert wip.IPV4.unpack_from(wire)[3] == 1  # identification: the sequence number's low bits
