"""scapy as the independent ESP oracle: scapy decrypts what ipsecd seals and ipsecd opens what scapy
encrypts, for every algorithm scapy and the registry share, tunnel and transport mode, IPv4 and IPv6
(all four inner/outer pairs in tunnel mode), with and without RFC 3948 UDP encapsulation, and with ESN.
scapy is GPL: test-only, never imported by the package."""

from __future__ import annotations

import itertools
import os

import pytest

scapy_ipsec = pytest.importorskip("scapy.layers.ipsec")
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402

from ipsecd.crypto import registry  # noqa: E402
from ipsecd.dataplane.esp import EspSa  # noqa: E402
from ipsecd.policy.types import Mode, UdpEncap  # noqa: E402
from tests.dataplane.test_esp import ADDRS, inner_packet, pair  # noqa: E402

#: registry name → scapy crypt_algo: every ESP cipher both know.
SCAPY_ENCR = {
    "null": "NULL",
    "des": "DES",
    "3des": "3DES",
    "blowfish": "Blowfish",
    "chacha20poly1305": "CHACHA20-POLY1305",
    **{f"aes-{b}-cbc": "AES-CBC" for b in (128, 192, 256)},
    **{f"aes-{b}-ctr": "AES-CTR" for b in (128, 192, 256)},
    **{f"aes-{b}-gcm": "AES-GCM" for b in (128, 192, 256)},
}
# Not here: aes-*-gcm-8/-12 (scapy hands truncated tags to AESGCM, which only takes 16-byte tags, so it
# can verify none of them; test_esp.py round-trips them), camellia/twofish (scapy has neither).
SCAPY_INTEG = {"null": None, "md5": "HMAC-MD5-96", "sha1": "HMAC-SHA1-96", "sha256": "SHA2-256-128",
               "sha384": "SHA2-384-192", "sha512": "SHA2-512-256"}


def _transforms() -> list[tuple[str, str]]:
    integs = [i for i in SCAPY_INTEG if i != "null"]
    out = []
    k = 0
    for e in registry.ENCR_ALGS:
        if e.name not in SCAPY_ENCR:
            continue
        if e.aead:
            out.append((e.name, "null"))
        elif e.mode == "null":
            out += [("null", i) for i in integs]
        else:
            out.append((e.name, integs[k % len(integs)]))
            k += 1
    return out


TRANSFORMS = _transforms()
LAYOUTS = [
    (m, o, i, e)
    for m, o, i, e in itertools.product((Mode.TUNNEL, Mode.TRANSPORT), (4, 6), (4, 6), (False, True))
    if m is Mode.TUNNEL or o == i
]


def _l3(family: int) -> type:
    return IP if family == 4 else IPv6


def scapy_sa(encr: str, ekey: bytes, integ: str, ikey: bytes, mode: Mode, family: int, encap: bool,
             esn: bool = False, esn_high: int = 0) -> object:
    calg = SCAPY_ENCR[encr]
    src, dst = ADDRS[family]
    kw: dict[str, object] = {"crypt_algo": calg, "crypt_key": ekey or None, "auth_algo": SCAPY_INTEG[integ],
                             "auth_key": ikey or None, "esn_en": esn, "esn": esn_high}
    if mode is Mode.TUNNEL:
        kw["tunnel_header"] = _l3(family)(src=src, dst=dst)
    if encap:
        kw["nat_t_header"] = UDP(sport=4500, dport=4501)
    return scapy_ipsec.SecurityAssociation(scapy_ipsec.ESP, spi=0x1000, **kw)


def keys(encr: str, integ: str) -> tuple[bytes, bytes]:
    e = registry.encr(encr)
    return os.urandom(e.keymat_size), os.urandom(registry.integ(integ).key_size)


@pytest.mark.parametrize(("encr", "integ"), TRANSFORMS, ids=[f"{e}+{i}" for e, i in TRANSFORMS])
@pytest.mark.parametrize(("mode", "outer", "inner", "encap"), LAYOUTS,
                         ids=[f"{m.value}-v{o}-in-v{i}{'-udp' if e else ''}" for m, o, i, e in LAYOUTS])
def test_scapy_interop(encr: str, integ: str, mode: Mode, outer: int, inner: int, encap: bool) -> None:
    ekey, ikey = keys(encr, integ)
    out, inn = pair(encr=encr, ekey=ekey, integ=integ, ikey=ikey, mode=mode, family=outer,
                    encap=UdpEncap(4500, 4501) if encap else None)
    sa = scapy_sa(encr, ekey, integ, ikey, mode, outer, encap)
    for size in (1, 200):
        pkt = inner_packet(inner, mode, size)
        wire = out.seal(pkt)
        assert bytes(sa.decrypt(_l3(outer)(wire))) == pkt  # type: ignore[attr-defined]
        theirs = bytes(sa.encrypt(_l3(inner)(pkt)))  # type: ignore[attr-defined]
        assert inn.open(theirs) == pkt


@pytest.mark.parametrize("encr", ["aes-128-gcm", "aes-256-cbc", "chacha20poly1305", "aes-128-ctr"])
@pytest.mark.parametrize("mode", [Mode.TUNNEL, Mode.TRANSPORT])
def test_scapy_interop_esn(encr: str, mode: Mode) -> None:
    """ESN: the high 32 bits never travel; both sides must put them in the AAD/ICV (RFC 4303 §2.2.1)."""
    integ = "null" if registry.encr(encr).aead else "sha256"
    ekey, ikey = keys(encr, integ)
    out, inn = pair(encr=encr, ekey=ekey, integ=integ, ikey=ikey, mode=mode, esn=True)
    high = 7
    sa = scapy_sa(encr, ekey, integ, ikey, mode, 4, False, esn=True, esn_high=high)
    out.seq = (high << 32) + 99
    pkt = inner_packet(4, mode, 50)
    wire = out.seal(pkt)
    assert bytes(sa.decrypt(IP(wire))) == pkt  # type: ignore[attr-defined]
    inn.replay.top = (high << 32) + 10  # type: ignore[union-attr]
    theirs = bytes(sa.encrypt(IP(pkt), seq_num=20))  # type: ignore[attr-defined]
    assert inn.open(theirs) == pkt
    assert inn.replay.top == (high << 32) + 20  # type: ignore[union-attr]
    wrong = scapy_sa(encr, ekey, integ, ikey, mode, 4, False, esn=True, esn_high=high + 1)
    with pytest.raises(Exception):  # noqa: B017 - scapy's own error type for a bad ICV varies by algorithm
        wrong.decrypt(IP(out.seal(pkt)))  # type: ignore[attr-defined]


def test_every_shared_algorithm_is_covered() -> None:
    names = {e for e, _ in TRANSFORMS} | {i for _, i in TRANSFORMS}
    assert {n for n in SCAPY_ENCR if n in {a.name for a in registry.ENCR_ALGS}} <= names
    assert {i for i in SCAPY_INTEG if i != "null"} <= names
    assert isinstance(EspSa, type)
