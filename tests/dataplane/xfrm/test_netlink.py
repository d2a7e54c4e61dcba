"""XFRM netlink codec: struct layouts of include/uapi/linux/xfrm.h, SA attributes per algorithm, and
(root) policies the kernel accepts and dumps back identical; NEWSA answered with an errno here (the
kernel has no ESP), never a crash."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from ipaddress import ip_address, ip_network

import pytest

from ipsecd.dataplane.base import (
    Action,
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
from ipsecd.dataplane.xfrm import netlink as nl
from tests.netns import InNetns, Pair


def sa(encr: str = "aes-128-gcm", ekey: bytes = bytes(20), integ: str = "null", ikey: bytes = b"", **kw: object) -> SaSpec:
    return SaSpec(0x1234, Direction.OUT, kw.pop("proto", IpsecProto.ESP), Mode.TUNNEL,  # type: ignore[arg-type]
                  ip_address("192.0.2.1"), ip_address("192.0.2.2"), encr, ekey, integ, ikey, **kw)  # type: ignore[arg-type]


def attrs(msg: bytes, fixed: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    off = nl.NLMSGHDR.size + fixed
    while off < len(msg):
        n, kind = nl.NLATTR.unpack_from(msg, off)
        out[kind] = msg[off + 4 : off + n]
        off += (n + 3) & ~3
    return out


def test_struct_sizes_match_the_kernel_abi() -> None:
    sizes = (nl.SELECTOR.size, nl.XFRM_ID.size, nl.USERSA_INFO.size, nl.USERPOLICY_INFO.size, nl.USER_TMPL.size,
             nl.USERSA_ID.size, nl.USERPOLICY_ID.size, nl.ENCAP_TMPL.size)
    assert sizes == (56, 24, 224, 168, 64, 24, 64, 24)


def test_new_sa_aead_encap_and_lifetimes() -> None:
    msg = nl.new_sa(sa(encap=UdpEncap(4500, 4501), lifetime=Lifetime(soft_bytes=100, hard_seconds=60), reqid=7))
    n, kind, flags, _, _ = nl.NLMSGHDR.unpack_from(msg)
    assert n == len(msg) and kind == nl.XFRM_MSG_NEWSA and flags & nl.NLM_F_ACK
    info = nl.USERSA_INFO.unpack_from(msg, nl.NLMSGHDR.size)
    daddr, spi, proto = nl.XFRM_ID.unpack(info[1])
    assert (daddr[:4], socket.ntohl(spi), proto) == (ip_address("192.0.2.2").packed, 0x1234, 50)
    assert info[7] == 7 and info[8] == socket.AF_INET and info[9] == 1  # reqid, family, tunnel
    lft = nl.LIFETIME_CFG.unpack(info[3])
    assert lft[0] == 100 and lft[1] == (1 << 64) - 1 and lft[5] == 60
    a = attrs(msg, nl.USERSA_INFO.size)
    name, bits, icv = nl.ALGO_EXT.unpack_from(a[nl.XFRMA_ALG_AEAD])
    assert name.rstrip(b"\0") == b"rfc4106(gcm(aes))" and bits == 160 and icv == 128
    assert nl.ENCAP_TMPL.unpack(a[nl.XFRMA_ENCAP])[:3] == (nl.UDP_ENCAP_ESPINUDP, socket.htons(4500), socket.htons(4501))


@pytest.mark.parametrize(("encr", "elen", "integ", "ilen", "crypt", "auth", "trunc"), [
    ("aes-256-cbc", 32, "sha256", 32, b"cbc(aes)", b"hmac(sha256)", 128),
    ("aes-128-ctr", 20, "sha1", 20, b"rfc3686(ctr(aes))", b"hmac(sha1)", 96),
    ("3des", 24, "sha512", 64, b"cbc(des3_ede)", b"hmac(sha512)", 256),
    ("null", 0, "md5", 16, b"ecb(cipher_null)", b"hmac(md5)", 96),
])
def test_new_sa_crypt_and_auth(encr: str, elen: int, integ: str, ilen: int, crypt: bytes, auth: bytes,
                               trunc: int) -> None:
    a = attrs(nl.new_sa(sa(encr, bytes(elen), integ, bytes(ilen))), nl.USERSA_INFO.size)
    name, bits = nl.ALGO.unpack_from(a[nl.XFRMA_ALG_CRYPT])
    assert name.rstrip(b"\0") == crypt and bits == elen * 8
    name, bits, t = nl.ALGO_EXT.unpack_from(a[nl.XFRMA_ALG_AUTH_TRUNC])
    assert name.rstrip(b"\0") == auth and bits == ilen * 8 and t == trunc


def test_ah_has_only_auth_and_esn_has_its_replay_state() -> None:
    a = attrs(nl.new_sa(sa("null", b"", "sha256", bytes(32), proto=IpsecProto.AH, esn=True, replay_window=64)),
              nl.USERSA_INFO.size)
    assert set(a) == {nl.XFRMA_ALG_AUTH_TRUNC, nl.XFRMA_REPLAY_ESN_VAL}
    assert struct.unpack_from("=6I", a[nl.XFRMA_REPLAY_ESN_VAL])[5] == 64


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(nl.XfrmError, match="0x1234"):
        nl.new_sa(sa("rot13", b""))


def test_parse_rejects_truncated_messages() -> None:
    with pytest.raises(nl.XfrmError):
        nl.parse(struct.pack("=IHHII", 100, 2, 0, 0, 0))
    [r] = nl.parse(struct.pack("=IHHIIi", 20, nl.NLMSG_ERROR, 0, 5, 0, -93))
    assert (r.kind, r.seq, r.error) == (nl.NLMSG_ERROR, 5, 93)


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair()
    try:
        yield p
    finally:
        p.close()


@pytest.mark.root
def test_kernel_accepts_policies_and_dumps_them_back(pair: Pair) -> None:
    pol = PolicySpec("p", 3, Selector(ip_network("10.1.0.0/24"), ip_network("10.2.0.0/24"), 6, 0, 80),
                     Action.ENCRYPT, Level.REQUIRE, IpsecProto.ESP, tunnel=True, sa_src=ip_address("192.0.2.1"),
                     sa_dst=ip_address("192.0.2.2"))
    with InNetns(pair.a):
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, nl.NETLINK_XFRM)
    try:
        s.settimeout(5)
        expected = set()
        for seq, (d, sel) in enumerate(nl.policy_dirs(pol)):
            s.send(nl.new_policy(pol, d, sel, seq=seq))
            [ack] = nl.parse(s.recv(65536))
            assert (ack.kind, ack.seq, ack.error) == (nl.NLMSG_ERROR, seq, 0)
            expected.add((sel, d, nl.XFRM_POLICY_ALLOW))
        s.send(nl.message(nl.XFRM_MSG_GETPOLICY, nl.NLM_F_DUMP, b"", 50))
        replies: list[nl.Reply] = []
        while not any(r.kind == 3 for r in replies):  # NLMSG_DONE ends a dump
            replies += nl.parse(s.recv(65536))
        got = {nl.policy_info(r.body) for r in replies if r.kind == nl.XFRM_MSG_NEWPOLICY}
        assert got == expected
        out = pair.run(pair.a, "ip", "xfrm", "policy")
        assert "tmpl src 192.0.2.1 dst 192.0.2.2" in out and "dport 80" in out
        s.send(nl.del_policy(*nl.policy_dirs(pol)[0], seq=60))
        assert nl.parse(s.recv(65536))[0].error == 0
        # no ESP transform in this kernel: an errno comes back, as data
        s.send(nl.new_sa(sa(), seq=70))
        [r] = nl.parse(s.recv(65536))
        assert r.kind == nl.NLMSG_ERROR and r.seq == 70 and r.error in (0, 38, 93)
    finally:
        s.close()
