"""The codec's requests byte for byte against iproute2's: ``ip xfrm`` runs under ``strace`` in a
namespace of our own and the netlink message it sends is compared with what :mod:`netlink` builds
for the same SA/policy — the fixed struct exactly, the attributes as a set (their order is free).
iproute2 is an independent encoder of include/uapi/linux/xfrm.h; the kernel here refuses the SAs
(no ESP) after reading them, which does not matter: the request is what is compared."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from ipaddress import ip_address, ip_network

import pytest

from ipsecd.dataplane.xfrm import netlink as nl
from ipsecd.policy.types import (
    Direction,
    IpsecProto,
    Level,
    Lifetime,
    Mode,
    PolicySpec,
    SaSpec,
    Selector,
    UdpEncap,
)
from tests.netns import sh

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")]

SRC, DST = ip_address("192.0.2.1"), ip_address("192.0.2.2")
SEL = Selector(ip_network("10.1.0.0/24"), ip_network("10.2.0.0/16"), 6, 1234, 443)
SEL_ARGS = [
    "sel",
    "src",
    "10.1.0.0/24",
    "dst",
    "10.2.0.0/16",
    "proto",
    "tcp",
    "sport",
    "1234",
    "dport",
    "443",
]


@pytest.fixture(scope="module")
def ns() -> Iterator[str]:
    name = f"ipsxf{os.getpid() % 100000}s"
    sh("ip", "netns", "add", name)
    try:
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)


def sent_by_iproute2(ns: str, kind: int, *args: str) -> bytes:
    """The ``kind`` netlink message ``ip xfrm ARGS`` sends (from strace's hex dump of sendmsg)."""
    r = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "strace",
            "-qq",
            "-e",
            "trace=sendmsg,sendto",
            "-e",
            "write=3,4,5,6,7,8",
            "ip",
            "xfrm",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    messages: list[bytearray] = []
    for line in r.stderr.splitlines():
        m = re.match(r"\s*\| ([0-9a-f]{5})  ((?:[0-9a-f]{2} {1,2}){1,16})", line)
        if m:
            if m[1] == "00000":
                messages.append(bytearray())
            messages[-1] += bytes.fromhex(m[2].replace(" ", ""))
    found = [bytes(m) for m in messages if len(m) >= 16 and nl.NLMSGHDR.unpack_from(m)[1] == kind]
    assert found, f"ip xfrm {' '.join(args)} sent no message of type {kind:#x}: {r.stderr[-500:]}"
    return found[-1]


def _replay_head(attrs: dict[int, bytes]) -> int:
    """Trim XFRMA_REPLAY_ESN_VAL to its header: iproute2 sends no bitmap (the kernel then allocates a
    zeroed one), ours carries the zeroed ``bmp_len`` words; returns the bytes trimmed."""
    esn = attrs.get(nl.XFRMA_REPLAY_ESN_VAL)
    if esn is None or len(esn) == nl.REPLAY_ESN.size:
        return 0
    assert len(esn) == nl.REPLAY_ESN.size + 4 * nl.REPLAY_ESN.unpack_from(esn)[0]
    assert esn[nl.REPLAY_ESN.size:] == bytes(len(esn) - nl.REPLAY_ESN.size)
    attrs[nl.XFRMA_REPLAY_ESN_VAL] = esn[:nl.REPLAY_ESN.size]
    return len(esn) - nl.REPLAY_ESN.size


def same(ours: bytes, theirs: bytes, fixed: int) -> None:
    (n, kind), (ref_n, ref_kind) = nl.NLMSGHDR.unpack_from(ours)[:2], nl.NLMSGHDR.unpack_from(theirs)[:2]
    body, ref = ours[16:], theirs[16:]
    assert body[:fixed] == ref[:fixed]
    attrs, ref_attrs = nl.attributes(body, fixed), nl.attributes(ref, fixed)
    trimmed = _replay_head(attrs) - _replay_head(ref_attrs)
    assert attrs == ref_attrs and (n - trimmed, kind) == (ref_n, ref_kind)


def sa(encr: str, ekey: bytes, integ: str = "null", ikey: bytes = b"", **kw: object) -> SaSpec:
    # type: ignore[arg-type]
    return SaSpec(0x1234, Direction.OUT, kw.pop("proto", IpsecProto.ESP), kw.pop("mode", Mode.TUNNEL),
                  kw.pop("src", SRC), kw.pop("dst", DST), encr, ekey, integ, ikey,  # type: ignore[arg-type]
                  reqid=7, **kw)  # type: ignore[arg-type]


K16, K20, K32, K36 = bytes(range(16)), bytes(range(20)), bytes(range(32, 64)), bytes(range(36))
HEAD = ["state", "add", "src", "192.0.2.1", "dst", "192.0.2.2"]
ESP = ["proto", "esp", "spi", "0x1234", "reqid", "7"]


@pytest.mark.parametrize(
    ("spec", "args"),
    [
        pytest.param(
            sa("aes-128-gcm", K20, selector=SEL, replay_window=32, encap=UdpEncap(4500, 4501)),
            [
                *HEAD,
                *ESP,
                "mode",
                "tunnel",
                "replay-window",
                "32",
                "aead",
                "rfc4106(gcm(aes))",
                "0x" + K20.hex(),
                "128",
                *SEL_ARGS,
                "encap",
                "espinudp",
                "4500",
                "4501",
                "0.0.0.0",
            ],
            id="aes-128-gcm+encap",
        ),
        pytest.param(
            sa("aes-256-cbc", K32, "sha256", K32, selector=SEL, replay_window=32),
            [
                *HEAD,
                *ESP,
                "mode",
                "tunnel",
                "replay-window",
                "32",
                "enc",
                "cbc(aes)",
                "0x" + K32.hex(),
                "auth-trunc",
                "hmac(sha256)",
                "0x" + K32.hex(),
                "128",
                *SEL_ARGS,
            ],
            id="aes-256-cbc+sha256",
        ),
        pytest.param(
            sa(
                "chacha20poly1305",
                K36,
                selector=SEL,
                replay_window=0,
                lifetime=Lifetime(soft_bytes=100, hard_bytes=200, soft_seconds=54, hard_seconds=60),
            ),
            [
                *HEAD,
                *ESP,
                "mode",
                "tunnel",
                "aead",
                "rfc7539esp(chacha20,poly1305)",
                "0x" + K36.hex(),
                "128",
                *SEL_ARGS,
                "limit",
                "time-soft",
                "54",
                "limit",
                "time-hard",
                "60",
                "limit",
                "byte-soft",
                "100",
                "limit",
                "byte-hard",
                "200",
            ],
            id="chacha20poly1305+lifetimes",
        ),
        pytest.param(
            sa("aes-128-gcm", K20, esn=True, replay_window=128),
            [
                *HEAD,
                *ESP,
                "mode",
                "tunnel",
                "flag",
                "esn",
                "flag",
                "af-unspec",
                "replay-window",
                "128",
                "aead",
                "rfc4106(gcm(aes))",
                "0x" + K20.hex(),
                "128",
            ],
            id="esn-128-any-family",
        ),
        pytest.param(
            sa(
                "null",
                b"",
                "sha1",
                K20,
                proto=IpsecProto.AH,
                mode=Mode.TRANSPORT,
                replay_window=16,
                src=ip_address("2001:db8::1"),
                dst=ip_address("2001:db8::2"),
                selector=Selector(ip_network("2001:db8::1/128"), ip_network("2001:db8::2/128")),
            ),
            [
                "state",
                "add",
                "src",
                "2001:db8::1",
                "dst",
                "2001:db8::2",
                "proto",
                "ah",
                "spi",
                "0x1234",
                "reqid",
                "7",
                "mode",
                "transport",
                "replay-window",
                "16",
                "auth-trunc",
                "hmac(sha1)",
                "0x" + K20.hex(),
                "96",
                "sel",
                "src",
                "2001:db8::1/128",
                "dst",
                "2001:db8::2/128",
            ],
            id="ah-sha1-ipv6-transport",
        ),
    ],
)
def test_new_sa_matches_iproute2(ns: str, spec: SaSpec, args: list[str]) -> None:
    same(nl.new_sa(spec), sent_by_iproute2(ns, nl.XFRM_MSG_NEWSA, *args), nl.USERSA_INFO.size)


def test_alloc_spi_matches_iproute2(ns: str) -> None:
    theirs = sent_by_iproute2(
        ns,
        nl.XFRM_MSG_ALLOCSPI,
        "state",
        "allocspi",
        "src",
        "0.0.0.0",
        "dst",
        "0.0.0.0",
        "proto",
        "esp",
        "reqid",
        "5",
        "min",
        "0x100",
        "max",
        "0xffffffff",
    )
    ours = nl.alloc_spi(IpsecProto.ESP, ip_address("0.0.0.0"), ip_address("0.0.0.0"), 5, 0x100, 0xFFFFFFFF)
    # iproute2 gives the any-address selector the SA's family; ours leaves it 0 (the kernel fills it in)
    assert (
        ours[16 + 56 :] == theirs[16 + 56 :]
        and nl.NLMSGHDR.unpack_from(ours)[:2] == nl.NLMSGHDR.unpack_from(theirs)[:2]
    )


def test_new_policy_matches_iproute2(ns: str) -> None:
    pol = PolicySpec("p", 0, SEL, level=Level.USE, tunnel=True, sa_src=SRC, sa_dst=DST)
    d, sel = nl.policy_dirs(pol)[1]
    theirs = sent_by_iproute2(
        ns,
        nl.XFRM_MSG_NEWPOLICY,
        "policy",
        "add",
        "src",
        "10.2.0.0/16",
        "dst",
        "10.1.0.0/24",
        "proto",
        "tcp",
        "sport",
        "443",
        "dport",
        "1234",
        "dir",
        "in",
        "priority",
        "1234",
        "tmpl",
        "src",
        "192.0.2.2",
        "dst",
        "192.0.2.1",
        "proto",
        "esp",
        "reqid",
        "9",
        "mode",
        "tunnel",
        "level",
        "use",
    )
    same(nl.new_policy(pol, d, sel, reqid=9, priority=1234), theirs, nl.USERPOLICY_INFO.size)
