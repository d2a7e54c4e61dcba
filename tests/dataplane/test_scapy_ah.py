"""scapy as the independent AH oracle (RFC 4302): every integrity algorithm both know, tunnel and
transport, IPv4 and IPv6, IPv4 options and IPv6 Hop-by-Hop options in the ICV, and ESN."""

from __future__ import annotations

import itertools

import pytest

scapy_ipsec = pytest.importorskip("scapy.layers.ipsec")
from scapy.layers.inet import IP, UDP, IPOption_Router_Alert  # noqa: E402
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop, RouterAlert  # noqa: E402
from scapy.packet import Raw  # noqa: E402

from ipsecd.policy.types import Mode  # noqa: E402
from tests.dataplane.test_ah import ah_pair  # noqa: E402
from tests.dataplane.test_esp import ADDRS, INNER_ADDRS  # noqa: E402
from tests.dataplane.test_scapy_esp import SCAPY_INTEG  # noqa: E402

INTEGS = [i for i in SCAPY_INTEG if i != "null"]
LAYOUTS = [(m, o, i) for m, o, i in itertools.product((Mode.TUNNEL, Mode.TRANSPORT), (4, 6), (4, 6))
           if m is Mode.TUNNEL or o == i]


def _inner(family: int, mode: Mode, options: bool) -> bytes:
    src, dst = (INNER_ADDRS if mode is Mode.TUNNEL else ADDRS)[family]
    payload = UDP(sport=7, dport=9) / Raw(b"ah" * 20)
    if family == 4:
        return bytes(
            IP(src=src, dst=dst, ttl=17, tos=0x10, options=[IPOption_Router_Alert()] if options else [])
            / payload
        )
    if options:
        return bytes(IPv6(src=src, dst=dst, hlim=9) / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / payload)
    return bytes(IPv6(src=src, dst=dst, hlim=9) / payload)


def _l3(family: int) -> type:
    return IP if family == 4 else IPv6


@pytest.mark.parametrize("integ", INTEGS)
@pytest.mark.parametrize(
    ("mode", "outer", "inner"), LAYOUTS, ids=[f"{m.value}-v{o}-in-v{i}" for m, o, i in LAYOUTS]
)
@pytest.mark.parametrize("options", [False, True])
def test_scapy_interop(integ: str, mode: Mode, outer: int, inner: int, options: bool) -> None:
    out, inn = ah_pair(integ=integ, mode=mode, family=outer)
    key = out.spec.integ_key
    kw: dict[str, object] = {"auth_algo": SCAPY_INTEG[integ], "auth_key": key}
    if mode is Mode.TUNNEL:
        kw["tunnel_header"] = _l3(outer)(src=ADDRS[outer][0], dst=ADDRS[outer][1])
    sa = scapy_ipsec.SecurityAssociation(scapy_ipsec.AH, spi=0x5000, **kw)
    pkt = _inner(inner, mode, options)
    wire = out.seal(pkt)
    assert bytes(sa.decrypt(_l3(outer)(wire))) == pkt
    theirs = bytes(sa.encrypt(_l3(inner)(pkt)))
    assert inn.open(theirs) == pkt


@pytest.mark.parametrize("mode", [Mode.TUNNEL, Mode.TRANSPORT])
@pytest.mark.parametrize("family", [4, 6])
def test_scapy_interop_esn(mode: Mode, family: int) -> None:
    out, inn = ah_pair(integ="sha256", mode=mode, family=family, esn=True)
    kw: dict[str, object] = {
        "auth_algo": "SHA2-256-128",
        "auth_key": out.spec.integ_key,
        "esn_en": True,
        "esn": 3,
    }
    if mode is Mode.TUNNEL:
        kw["tunnel_header"] = _l3(family)(src=ADDRS[family][0], dst=ADDRS[family][1])
    sa = scapy_ipsec.SecurityAssociation(scapy_ipsec.AH, spi=0x5000, **kw)
    pkt = _inner(family, mode, False)
    out.seq = (3 << 32) + 41
    assert bytes(sa.decrypt(_l3(family)(out.seal(pkt)))) == pkt
    inn.replay.top = (3 << 32) + 1  # type: ignore[union-attr]
    assert inn.open(bytes(sa.encrypt(_l3(family)(pkt), seq_num=2))) == pkt
