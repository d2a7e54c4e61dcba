"""XFRM netlink codec: struct layouts of include/uapi/linux/xfrm.h, SA messages field by field for the
algorithms a kernel with ESP would be handed, and the parsers against messages built independently
here with ``struct`` (the kernel-produced ones are in test_kernel.py)."""

from __future__ import annotations

import socket
import struct
from ipaddress import ip_address, ip_network

import pytest

from ipsecd.dataplane.xfrm import netlink as nl
from ipsecd.policy.types import (
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

SEL = Selector(ip_network("10.1.0.0/24"), ip_network("10.2.0.0/16"), 6, 1234, 443)


def sa(encr: str = "aes-128-gcm", ekey: bytes = bytes(20), integ: str = "null", ikey: bytes = b"",
       **kw: object) -> SaSpec:
    return SaSpec(kw.pop("spi", 0x1234), kw.pop("direction", Direction.OUT),  # type: ignore[arg-type]
                  kw.pop("proto", IpsecProto.ESP), kw.pop("mode", Mode.TUNNEL),  # type: ignore[arg-type]
                  # type: ignore[arg-type]
                  ip_address("192.0.2.1"), ip_address("192.0.2.2"), encr, ekey, integ, ikey, **kw)


def attrs(msg: bytes, fixed: int) -> dict[int, bytes]:
    return nl.attributes(msg, nl.NLMSGHDR.size + fixed)


def test_struct_sizes_match_the_kernel_abi() -> None:
    sizes = (
        nl.SELECTOR.size,
        nl.XFRM_ID.size,
        nl.USERSA_INFO.size,
        nl.USERPOLICY_INFO.size,
        nl.USER_TMPL.size,
        nl.USERSA_ID.size,
        nl.USERPOLICY_ID.size,
        nl.ENCAP_TMPL.size,
        nl.USERSPI_INFO.size,
        nl.USER_ACQUIRE.size,
        nl.USER_EXPIRE.size,
        nl.REPLAY_ESN.size,
    )
    assert sizes == (56, 24, 224, 168, 64, 24, 64, 24, 232, 280, 232, 24)


def test_new_sa_header_info_lifetimes_and_outbound_encap() -> None:
    msg = nl.new_sa(
        sa(
            selector=SEL,
            encap=UdpEncap(4500, 4501),
            reqid=7,
            replay_window=32,
            lifetime=Lifetime(soft_bytes=100, hard_bytes=200, soft_seconds=54.9, hard_seconds=60),
        ),
        seq=9,
    )
    n, kind, flags, seq, pid = nl.NLMSGHDR.unpack_from(msg)
    assert (n, kind, seq, pid) == (len(msg), nl.XFRM_MSG_NEWSA, 9, 0)
    assert flags == nl.NLM_F_REQUEST | nl.NLM_F_ACK | nl.NLM_F_CREATE | nl.NLM_F_EXCL
    sel, xid, saddr, lft, cur, stats, kseq, reqid, fam, mode, window, sflags = nl.USERSA_INFO.unpack_from(
        msg, nl.NLMSGHDR.size)
    daddr, spi, proto = nl.XFRM_ID.unpack(xid)
    assert (daddr, proto) == (ip_address("192.0.2.2").packed + bytes(12), 50)
    assert struct.pack("=I", spi) == b"\x00\x00\x12\x34"  # network order in the struct
    assert saddr == ip_address("192.0.2.1").packed + bytes(12)
    assert (kseq, reqid, fam, mode, window, sflags) == (0, 7, socket.AF_INET, nl.XFRM_MODE_TUNNEL, 32, 0)
    assert cur == bytes(32) and stats == bytes(12)
    assert nl.LIFETIME_CFG.unpack(lft) == (100, 200, (1 << 64) - 1, (1 << 64) - 1, 54, 60, 0, 0)
    d, s, dport, dmask, sport, smask, sfam, pd, ps, sproto, ifindex, user = nl.SELECTOR.unpack(sel)
    assert (d[:4], s[:4], pd, ps, sproto, sfam) == (bytes([10, 2, 0, 0]), bytes([10, 1, 0, 0]), 16, 24, 6,
                                                     socket.AF_INET)
    assert (ifindex, user) == (0, 0)
    assert (dport, dmask, sport, smask) == (socket.htons(443), 0xFFFF, socket.htons(1234), 0xFFFF)
    a = attrs(msg, nl.USERSA_INFO.size)
    assert set(a) == {nl.XFRMA_ALG_AEAD, nl.XFRMA_ENCAP}  # window 32 fits the legacy bitmap
    etype, esport, edport, oa = nl.ENCAP_TMPL.unpack(a[nl.XFRMA_ENCAP])
    assert (etype, esport, edport, oa) == (
        nl.UDP_ENCAP_ESPINUDP,
        socket.htons(4500),
        socket.htons(4501),
        bytes(16),
    )


def test_inbound_encap_has_the_peers_port_as_source() -> None:
    a = attrs(nl.new_sa(sa(direction=Direction.IN, encap=UdpEncap(4500, 31000))), nl.USERSA_INFO.size)
    assert nl.ENCAP_TMPL.unpack(a[nl.XFRMA_ENCAP])[1:3] == (socket.htons(31000), socket.htons(4500))


@pytest.mark.parametrize(("encr", "ekey", "name", "icv"), [
    ("aes-128-gcm", 20, b"rfc4106(gcm(aes))", 128),  # RFC 4106: 16-byte key + 4-byte salt, 16-byte ICV
    ("aes-256-gcm-8", 36, b"rfc4106(gcm(aes))", 64),
    ("chacha20poly1305", 36, b"rfc7539esp(chacha20,poly1305)", 128),  # RFC 7634: 32-byte key + 4 salt
])
def test_aead_attribute(encr: str, ekey: int, name: bytes, icv: int) -> None:
    key = bytes(range(ekey))
    a = attrs(nl.new_sa(sa(encr, key)), nl.USERSA_INFO.size)
    assert set(a) == {nl.XFRMA_REPLAY_ESN_VAL, nl.XFRMA_ALG_AEAD}  # default window 128 > 32
    raw = a[nl.XFRMA_ALG_AEAD]
    alg, bits, icv_bits = nl.ALGO_EXT.unpack_from(raw)
    assert alg == name.ljust(64, b"\0") and bits == ekey * 8 and icv_bits == icv
    assert raw[nl.ALGO_EXT.size:] == key and len(raw) == 72 + ekey


@pytest.mark.parametrize(("encr", "elen", "integ", "ilen", "crypt", "auth", "trunc"), [
    ("aes-256-cbc", 32, "sha256", 32, b"cbc(aes)", b"hmac(sha256)", 128),  # RFC 4868 §2.3: 128-bit ICV
    ("aes-128-ctr", 20, "sha1", 20, b"rfc3686(ctr(aes))", b"hmac(sha1)", 96),
    ("3des", 24, "sha512", 64, b"cbc(des3_ede)", b"hmac(sha512)", 256),
    ("null", 0, "md5", 16, b"ecb(cipher_null)", b"hmac(md5)", 96),
])
def test_crypt_and_auth_trunc(encr: str, elen: int, integ: str, ilen: int, crypt: bytes, auth: bytes,
                              trunc: int) -> None:
    ekey, ikey = bytes(range(1, elen + 1)), bytes(range(100, 100 + ilen))
    a = attrs(nl.new_sa(sa(encr, ekey, integ, ikey)), nl.USERSA_INFO.size)
    assert nl.XFRMA_ALG_AEAD not in a
    name, bits = nl.ALGO.unpack_from(a[nl.XFRMA_ALG_CRYPT])
    assert name.rstrip(b"\0") == crypt and bits == elen * 8 and a[nl.XFRMA_ALG_CRYPT][nl.ALGO.size:] == ekey
    name, bits, t = nl.ALGO_EXT.unpack_from(a[nl.XFRMA_ALG_AUTH_TRUNC])
    assert name.rstrip(b"\0") == auth and bits == ilen * 8 and t == trunc
    assert a[nl.XFRMA_ALG_AUTH_TRUNC][nl.ALGO_EXT.size:] == ikey


def test_ah_has_only_auth_and_esn_has_its_replay_state() -> None:
    msg = nl.new_sa(sa("null", b"", "sha256", bytes(32), proto=IpsecProto.AH, esn=True, replay_window=64))
    a = attrs(msg, nl.USERSA_INFO.size)
    assert set(a) == {nl.XFRMA_ALG_AUTH_TRUNC, nl.XFRMA_REPLAY_ESN_VAL}
    esn = a[nl.XFRMA_REPLAY_ESN_VAL]
    assert nl.REPLAY_ESN.unpack_from(esn) == (2, 0, 0, 0, 0, 64) and esn[nl.REPLAY_ESN.size:] == bytes(8)
    info = nl.USERSA_INFO.unpack_from(msg, nl.NLMSGHDR.size)
    # legacy window 0 with ESN_VAL
    assert info[10] == 0 and info[11] == nl.XFRM_STATE_ESN | nl.XFRM_STATE_AF_UNSPEC


def test_esn_without_window_only_outbound() -> None:
    a = attrs(nl.new_sa(sa(esn=True, replay_window=0)), nl.USERSA_INFO.size)
    assert nl.REPLAY_ESN.unpack_from(a[nl.XFRMA_REPLAY_ESN_VAL])[5] == nl.LEGACY_REPLAY_MAX
    with pytest.raises(nl.XfrmError, match="replay window"):
        nl.new_sa(sa(esn=True, replay_window=0, direction=Direction.IN))


def test_selectorless_sa_any_family_in_tunnel_mode_only() -> None:
    tunnel = nl.USERSA_INFO.unpack_from(nl.new_sa(sa()), nl.NLMSGHDR.size)
    transport = nl.USERSA_INFO.unpack_from(nl.new_sa(sa(mode=Mode.TRANSPORT)), nl.NLMSGHDR.size)
    assert (
        tunnel[11] == nl.XFRM_STATE_AF_UNSPEC
        and transport[11] == 0
        and transport[9] == nl.XFRM_MODE_TRANSPORT
    )
    assert nl.SELECTOR.unpack(tunnel[0])[6] == 0


def test_update_is_updsa_without_excl() -> None:
    _n, kind, flags, _, _ = nl.NLMSGHDR.unpack_from(nl.new_sa(sa(), update=True))
    assert kind == nl.XFRM_MSG_UPDSA and flags == nl.NLM_F_REQUEST | nl.NLM_F_ACK


def test_refusals() -> None:
    with pytest.raises(nl.XfrmError, match="0x1234"):
        nl.new_sa(sa("rot13", b""))
    with pytest.raises(nl.XfrmError, match="AH needs"):
        nl.new_sa(sa("null", b"", proto=IpsecProto.AH))


def test_alloc_spi_and_sa_id() -> None:
    msg = nl.alloc_spi(IpsecProto.ESP, ip_address("2001:db8::1"), ip_address("2001:db8::2"), 99, 0x100, 0x200)
    assert nl.NLMSGHDR.unpack_from(msg)[1] == nl.XFRM_MSG_ALLOCSPI
    info, low, high = nl.USERSPI_INFO.unpack_from(msg, nl.NLMSGHDR.size)
    assert (low, high) == (0x100, 0x200)
    parsed = nl.sa_info(info)
    assert (parsed.dst, parsed.src, parsed.spi, parsed.proto, parsed.reqid) == (
        ip_address("2001:db8::1"),
        ip_address("2001:db8::2"),
        0,
        50,
        99,
    )
    assert (
        nl.sa_id(ip_address("192.0.2.9"), 0xABCD, IpsecProto.AH)
        == bytes([192, 0, 2, 9])
        + bytes(12)
        + b"\x00\x00\xab\xcd"
        + struct.pack("=HB", socket.AF_INET, 51)
        + b"\0"
    )


def test_sa_info_reads_back_what_new_sa_wrote_plus_kernel_counters() -> None:
    msg = bytearray(nl.new_sa(sa(selector=SEL, reqid=5, replay_window=256, lifetime=Lifetime(soft_bytes=10))))
    body = bytearray(msg[nl.NLMSGHDR.size:])
    # what the kernel fills in a GETSA answer: current lifetime and stats
    struct.pack_into("=4Q", body, 56 + 24 + 16 + 64, 1500, 3, 1700000000, 1700000005)
    struct.pack_into("=3I", body, 56 + 24 + 16 + 64 + 32, 0, 2, 4)
    info = nl.sa_info(bytes(body))
    assert (info.selector, info.dst, info.spi, info.proto, info.reqid) == (
        SEL,
        ip_address("192.0.2.2"),
        0x1234,
        50,
        5,
    )
    assert (info.replay_window, info.soft_bytes, info.hard_bytes) == (256, 10, 0)
    assert (info.bytes, info.packets, info.add_time, info.use_time) == (1500, 3, 1700000000, 1700000005)
    assert (info.replay_errors, info.integrity_failed) == (2, 4)
    with pytest.raises(nl.XfrmError):
        nl.sa_info(bytes(body[:100]))


def test_expire_info() -> None:
    body = nl.new_sa(sa(lifetime=Lifetime(hard_bytes=1000)))[nl.NLMSGHDR.size:nl.NLMSGHDR.size + 224]
    info, hard = nl.expire_info(body + b"\x01" + bytes(7))
    assert hard and info.spi == 0x1234 and info.hard_bytes == 1000
    assert nl.expire_info(body + bytes(8))[1] is False


def pol(action: Action = Action.ENCRYPT, level: Level = Level.REQUIRE, tunnel: bool = True) -> PolicySpec:
    return PolicySpec(
        "p",
        3,
        SEL,
        action,
        level,
        IpsecProto.ESP,
        tunnel=tunnel,
        sa_src=ip_address("192.0.2.1"),
        sa_dst=ip_address("192.0.2.2"),
    )


def test_policy_directions_templates_and_round_trip() -> None:
    p = pol(level=Level.USE)
    dirs = nl.policy_dirs(p)
    assert [d for d, _ in dirs] == [nl.XFRM_POLICY_OUT, nl.XFRM_POLICY_IN, nl.XFRM_POLICY_FWD]
    assert dirs[1][1] == Selector(SEL.dst, SEL.src, 6, 443, 1234)
    for direction, sel in dirs:
        msg = nl.new_policy(p, direction, sel, reqid=77, priority=1234)
        info = nl.policy_info(msg[nl.NLMSGHDR.size :])
        assert (info.selector, info.direction, info.action, info.priority) == (
            sel,
            direction,
            nl.XFRM_POLICY_ALLOW,
            1234,
        )
        [t] = info.templates
        out = direction == nl.XFRM_POLICY_OUT
        assert (t.src, t.dst) == ((ip_address("192.0.2.1"), ip_address("192.0.2.2")) if out else
                                  (ip_address("192.0.2.2"), ip_address("192.0.2.1")))
        assert (t.proto, t.reqid, t.mode, t.optional) == (50, 77, nl.XFRM_MODE_TUNNEL, not out)
    transport = nl.new_policy(pol(level=Level.USE, tunnel=False), nl.XFRM_POLICY_OUT, SEL)
    assert nl.policy_info(transport[nl.NLMSGHDR.size:]).templates[0].optional


def test_discard_blocks_and_none_allows_without_template() -> None:
    block = nl.policy_info(nl.new_policy(pol(Action.DISCARD), 1, SEL)[nl.NLMSGHDR.size:])
    allow = nl.policy_info(nl.new_policy(pol(Action.NONE), 1, SEL)[nl.NLMSGHDR.size:])
    assert (block.action, block.templates) == (nl.XFRM_POLICY_BLOCK, ())
    assert (allow.action, allow.templates) == (nl.XFRM_POLICY_ALLOW, ())
    with pytest.raises(nl.XfrmError, match="sa-src-address"):
        nl.new_policy(PolicySpec("q", 0, SEL, tunnel=True), 1, SEL)


def test_acquire_info_from_struct_layout() -> None:
    flow = Selector(ip_network("10.1.0.7/32"), ip_network("10.2.3.4/32"), 17, 5000, 53)
    policy = nl.new_policy(pol(), nl.XFRM_POLICY_OUT, SEL, reqid=42)[nl.NLMSGHDR.size :]
    pinfo, tmpl = policy[: nl.USERPOLICY_INFO.size], policy[nl.USERPOLICY_INFO.size :]
    body = (
        nl.USER_ACQUIRE.pack(
            nl.XFRM_ID.pack(ip_address("192.0.2.2").packed + bytes(12), 0, 50),
            ip_address("192.0.2.1").packed + bytes(12),
            nl.selector(flow, socket.AF_INET),
            pinfo,
            0,
            0,
            0,
            1,
        )
        + tmpl
    )
    acq = nl.acquire_info(body)
    assert acq.flow == flow and acq.proto == 50 and acq.policy.selector == SEL
    assert [t.reqid for t in acq.policy.templates] == [42]
    with pytest.raises(nl.XfrmError):
        nl.acquire_info(body[:200])


def test_parse_selector_any_family_and_host_bits() -> None:
    assert nl.parse_selector(nl.selector(None, 0)) is None
    raw = nl.SELECTOR.pack(bytes([10, 2, 3, 4]) + bytes(12), bytes([10, 1, 0, 5]) + bytes(12), 0, 0, 0, 0,
                           socket.AF_INET, 16, 24, 0, 0, 0)
    assert nl.parse_selector(raw) == Selector(ip_network("10.1.0.0/24"), ip_network("10.2.0.0/16"))
    bad = nl.SELECTOR.pack(bytes(16), bytes(16), 0, 0, 0, 0, socket.AF_INET, 40, 0, 0, 0, 0)
    with pytest.raises(nl.XfrmError):
        nl.parse_selector(bad)


def test_parse_acks_errors_with_text_and_truncation() -> None:
    with pytest.raises(nl.XfrmError):
        nl.parse(struct.pack("=IHHII", 100, 2, 0, 0, 0))
    [r] = nl.parse(struct.pack("=IHHIIi", 20, nl.NLMSG_ERROR, 0, 5, 0, -93))
    assert (r.kind, r.seq, r.error, r.text) == (nl.NLMSG_ERROR, 5, 93, "")
    text = b"Requested type not found\0"
    tlv = struct.pack("=HH", 4 + len(text), nl.NLMSGERR_ATTR_MSG) + text + bytes(-len(text) % 4)
    body = struct.pack("=i", -93) + struct.pack("=IHHII", 300, nl.XFRM_MSG_NEWSA, 5, 8, 0) + tlv
    msg = struct.pack("=IHHII", 16 + len(body), nl.NLMSG_ERROR, 0x100 | nl.NLM_F_ACK_TLVS, 8, 0) + body
    [r] = nl.parse(msg + struct.pack("=IHHII", 16, nl.NLMSG_DONE, 0, 9, 0))[:1]
    assert (r.error, r.seq, r.text) == (93, 8, "Requested type not found")
    with pytest.raises(nl.XfrmError):
        nl.attributes(struct.pack("=HH", 40, 1) + bytes(4))


def test_groups_and_seq() -> None:
    assert nl.groups(nl.XFRMNLGRP_ACQUIRE, nl.XFRMNLGRP_EXPIRE) == 3
    msg = nl.with_seq(nl.dump(nl.XFRM_MSG_GETPOLICY), 77)
    assert nl.NLMSGHDR.unpack_from(msg) == (
        16,
        nl.XFRM_MSG_GETPOLICY,
        nl.NLM_F_REQUEST | nl.NLM_F_DUMP,
        77,
        0,
    )
