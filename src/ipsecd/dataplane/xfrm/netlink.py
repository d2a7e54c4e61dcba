"""Linux XFRM netlink messages (``NETLINK_XFRM``): a sans-I/O codec for the kernel backend.

Builds the requests a kernel-ESP backend sends — ``XFRM_MSG_NEWSA``/``DELSA`` from a
:class:`~ipsecd.dataplane.base.SaSpec`, ``XFRM_MSG_NEWPOLICY``/``DELPOLICY`` (one per direction, with
its ``xfrm_user_tmpl``) from a :class:`~ipsecd.dataplane.base.PolicySpec` — and parses the kernel's
answers (``NLMSG_ERROR`` acks) and SA/policy dumps back into the fields that matter. Layouts are
``include/uapi/linux/xfrm.h`` on x86-64/arm64 (64-bit alignment of the lifetime counters);
algorithm names are the kernel crypto API's (``rfc4106(gcm(aes))``, ``cbc(aes)``, ``hmac(sha256)``
…, with the truncation lengths of RFC 4868/2404/4106 as ICV sizes).

This is the transport-independent half of the ``xfrm`` backend: on the machines here the kernel has
no ESP/AH transforms (``NEWSA`` answers ``EPROTONOSUPPORT``), while policies install and dump.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from ipsecd.crypto import registry
from ipsecd.crypto.errors import UnknownAlgorithmError
from ipsecd.dataplane.base import Action, Direction, IPAddress, IpsecProto, Mode, PolicySpec, SaSpec, Selector

NETLINK_XFRM = 6
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300

XFRM_MSG_NEWSA, XFRM_MSG_DELSA, XFRM_MSG_GETSA = 0x10, 0x11, 0x12
XFRM_MSG_NEWPOLICY, XFRM_MSG_DELPOLICY, XFRM_MSG_GETPOLICY = 0x13, 0x14, 0x15

XFRMA_ALG_AUTH, XFRMA_ALG_CRYPT, XFRMA_ENCAP, XFRMA_TMPL = 1, 2, 4, 5
XFRMA_ALG_AEAD, XFRMA_ALG_AUTH_TRUNC, XFRMA_REPLAY_ESN_VAL = 18, 20, 23
XFRM_STATE_ESN = 128
UDP_ENCAP_ESPINUDP = 2
XFRM_POLICY_ALLOW, XFRM_POLICY_BLOCK = 0, 1
_DIR = {Direction.IN: 0, Direction.OUT: 1}
XFRM_POLICY_FWD = 2

NLMSGHDR = struct.Struct("=IHHII")
NLATTR = struct.Struct("=HH")
#: daddr, saddr, dport, dport_mask, sport, sport_mask, family, prefixlen_d, prefixlen_s, proto, ifindex, user
SELECTOR = struct.Struct("=16s16sHHHHHBBB3xiI")
XFRM_ID = struct.Struct("=16sIB3x")
LIFETIME_CFG = struct.Struct("=8Q")
LIFETIME_CUR = struct.Struct("=4Q")
#: sel, id, saddr, lft, curlft, stats(3I), seq, reqid, family, mode, replay_window, flags
USERSA_INFO = struct.Struct("=56s24s16s64s32s12sIIHBBB7x")
#: sel, lft, curlft, priority, index, dir, action, flags, share
USERPOLICY_INFO = struct.Struct("=56s64s32sIIBBBB4x")
#: id, family, saddr, reqid, mode, share, optional, aalgos, ealgos, calgos
USER_TMPL = struct.Struct("=24sH2x16sIBBBxIII")
USERSA_ID = struct.Struct("=16sIHB1x")
USERPOLICY_ID = struct.Struct("=56sIB3x")
ENCAP_TMPL = struct.Struct("=HHH2x16s")
ALGO = struct.Struct("=64sI")
ALGO_EXT = struct.Struct("=64sII")  # xfrm_algo_auth (trunc len) / xfrm_algo_aead (icv len)

_NO_LIMIT = (1 << 64) - 1


class XfrmError(Exception):
    """An SA/policy the kernel cannot express, or a netlink answer that is malformed or an error."""


_CRYPT = {"des": "cbc(des)", "3des": "cbc(des3_ede)", "aes-cbc": "cbc(aes)", "aes-ctr": "rfc3686(ctr(aes))",
          "aes-gcm": "rfc4106(gcm(aes))", "blowfish": "cbc(blowfish)", "camellia": "cbc(camellia)",
          "twofish": "cbc(twofish)", "chacha20poly1305": "rfc7539esp(chacha20,poly1305)", "null": "ecb(cipher_null)"}
_AUTH = {"md5": "hmac(md5)", "sha1": "hmac(sha1)", "sha256": "hmac(sha256)", "sha384": "hmac(sha384)",
         "sha512": "hmac(sha512)"}


def _family(addr: IPAddress) -> int:
    return socket.AF_INET if addr.version == 4 else socket.AF_INET6


def _addr(addr: IPAddress) -> bytes:
    return addr.packed.ljust(16, b"\0")


def _attr(kind: int, payload: bytes) -> bytes:
    n = NLATTR.size + len(payload)
    return NLATTR.pack(n, kind) + payload + bytes((-n) % 4)


def message(kind: int, flags: int, body: bytes, seq: int = 0) -> bytes:
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), kind, flags | NLM_F_REQUEST, seq, 0) + body


def selector(sel: Selector | None, family: int) -> bytes:
    if sel is None:
        return SELECTOR.pack(bytes(16), bytes(16), 0, 0, 0, 0, family, 0, 0, 0, 0, 0)
    return SELECTOR.pack(_addr(sel.dst.network_address), _addr(sel.src.network_address),
                         socket.htons(sel.dst_port), 0xFFFF if sel.dst_port else 0,
                         socket.htons(sel.src_port), 0xFFFF if sel.src_port else 0, _family(sel.src.network_address),
                         sel.dst.prefixlen, sel.src.prefixlen, sel.protocol, 0, 0)


def _lifetime(soft_bytes: int = 0, hard_bytes: int = 0, soft_s: float = 0, hard_s: float = 0) -> bytes:
    return LIFETIME_CFG.pack(soft_bytes or _NO_LIMIT, hard_bytes or _NO_LIMIT, _NO_LIMIT, _NO_LIMIT,
                             int(soft_s), int(hard_s), 0, 0)


def algorithms(sa: SaSpec) -> list[bytes]:
    """XFRMA_ALG_AEAD, or XFRMA_ALG_CRYPT (+ XFRMA_ALG_AUTH_TRUNC) attributes of an SA."""
    try:
        enc = registry.encr(sa.encr)
        integ = registry.integ(sa.integ)
    except UnknownAlgorithmError as e:
        raise XfrmError(f"SA {sa.spi:#x}: {e}") from None
    family = f"{enc.cipher}-{enc.mode}" if enc.cipher == "aes" else \
        "chacha20poly1305" if enc.mode == "chacha20poly1305" else enc.cipher
    name = _CRYPT.get(family)
    if name is None:
        raise XfrmError(f"SA {sa.spi:#x}: no kernel name for {sa.encr}")
    if sa.proto is IpsecProto.AH:
        out = []
    elif enc.aead:
        return [_attr(XFRMA_ALG_AEAD, ALGO_EXT.pack(name.encode(), len(sa.encr_key) * 8, enc.icv_size * 8)
                      + sa.encr_key)]
    else:
        out = [_attr(XFRMA_ALG_CRYPT, ALGO.pack(name.encode(), len(sa.encr_key) * 8) + sa.encr_key)]
    if integ.icv_size:
        out.append(_attr(XFRMA_ALG_AUTH_TRUNC, ALGO_EXT.pack(_AUTH[integ.name].encode(), len(sa.integ_key) * 8,
                                                             integ.icv_size * 8) + sa.integ_key))
    return out


def new_sa(sa: SaSpec, seq: int = 0) -> bytes:
    """``XFRM_MSG_NEWSA`` for ``sa`` (ESN, UDP encapsulation and lifetimes included)."""
    fam = _family(sa.src)
    xid = XFRM_ID.pack(_addr(sa.dst), socket.htonl(sa.spi), sa.proto.value)
    lft = _lifetime(sa.lifetime.soft_bytes, sa.lifetime.hard_bytes, sa.lifetime.soft_seconds,
                    sa.lifetime.hard_seconds)
    window = min(sa.replay_window, 255) if not sa.esn else 0
    body = USERSA_INFO.pack(selector(sa.selector, fam), xid, _addr(sa.src), lft, bytes(LIFETIME_CUR.size), bytes(12),
                            0, sa.reqid, fam, 1 if sa.mode is Mode.TUNNEL else 0, window,
                            XFRM_STATE_ESN if sa.esn else 0)
    attrs = algorithms(sa)
    if sa.encap is not None:
        attrs.append(_attr(XFRMA_ENCAP, ENCAP_TMPL.pack(UDP_ENCAP_ESPINUDP, socket.htons(sa.encap.sport),
                                                        socket.htons(sa.encap.dport), bytes(16))))
    if sa.esn:  # xfrm_replay_state_esn: bmp_len, oseq, seq, oseq_hi, seq_hi, replay_window, bitmap
        words = (sa.replay_window + 31) // 32
        attrs.append(_attr(XFRMA_REPLAY_ESN_VAL, struct.pack(f"=6I{words}I", words, 0, 0, 0, 0, sa.replay_window,
                                                             *([0] * words))))
    return message(XFRM_MSG_NEWSA, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body + b"".join(attrs), seq)


def del_sa(sa: SaSpec, seq: int = 0) -> bytes:
    body = USERSA_ID.pack(_addr(sa.dst), socket.htonl(sa.spi), _family(sa.dst), sa.proto.value)
    return message(XFRM_MSG_DELSA, NLM_F_ACK, body, seq)


def policy_dirs(policy: PolicySpec) -> list[tuple[int, Selector]]:
    """(xfrm direction, selector) pairs of one RouterOS policy: out as written; in and fwd reversed."""
    s = policy.selector
    rev = Selector(s.dst, s.src, s.protocol, s.dst_port, s.src_port)
    return [(_DIR[Direction.OUT], s), (_DIR[Direction.IN], rev), (XFRM_POLICY_FWD, rev)]


def new_policy(policy: PolicySpec, direction: int, sel: Selector, seq: int = 0, reqid: int = 0) -> bytes:
    """``XFRM_MSG_NEWPOLICY`` for one direction; encrypt policies carry one template (``level use``
    → optional), discard policies block, ``none`` allows without a template."""
    fam = _family(sel.src.network_address)
    action = XFRM_POLICY_BLOCK if policy.action is Action.DISCARD else XFRM_POLICY_ALLOW
    body = USERPOLICY_INFO.pack(selector(sel, fam), _lifetime(), bytes(LIFETIME_CUR.size),
                                max(0, policy.order) + 1000, 0, direction, action, 0, 0)
    if policy.action is Action.ENCRYPT:
        if policy.tunnel and (policy.sa_src is None or policy.sa_dst is None):
            raise XfrmError(f"policy {policy.policy_id}: tunnel mode needs sa-src-address and sa-dst-address")
        out = direction == _DIR[Direction.OUT]
        src, dst = (policy.sa_src, policy.sa_dst) if out else (policy.sa_dst, policy.sa_src)
        tmpl_fam = _family(src) if src is not None else fam
        tmpl = USER_TMPL.pack(XFRM_ID.pack(_addr(dst) if dst is not None else bytes(16), 0, policy.proto.value),
                              tmpl_fam, _addr(src) if src is not None else bytes(16), reqid,
                              1 if policy.tunnel else 0, 0, 1 if policy.level.value == "use" else 0,
                              0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
        body += _attr(XFRMA_TMPL, tmpl)
    return message(XFRM_MSG_NEWPOLICY, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, seq)


def del_policy(direction: int, sel: Selector, seq: int = 0) -> bytes:
    body = USERPOLICY_ID.pack(selector(sel, _family(sel.src.network_address)), 0, direction)
    return message(XFRM_MSG_DELPOLICY, NLM_F_ACK, body, seq)


@dataclass(frozen=True, slots=True)
class Reply:
    kind: int
    seq: int
    error: int  # 0 for an ack or data; a positive errno for NLMSG_ERROR
    body: bytes


def parse(buf: bytes) -> list[Reply]:
    """Split a netlink read into messages; ``NLMSG_ERROR`` gets its errno decoded."""
    out: list[Reply] = []
    off = 0
    while off + NLMSGHDR.size <= len(buf):
        n, kind, _flags, seq, _pid = NLMSGHDR.unpack_from(buf, off)
        if n < NLMSGHDR.size or off + n > len(buf):
            raise XfrmError(f"netlink message of length {n} at {off} overruns {len(buf)} bytes")
        body = buf[off + NLMSGHDR.size : off + n]
        err = -struct.unpack_from("=i", body)[0] if kind == NLMSG_ERROR and len(body) >= 4 else 0
        out.append(Reply(kind, seq, err, body))
        off += (n + 3) & ~3
    return out


def policy_info(body: bytes) -> tuple[Selector, int, int]:
    """(selector, direction, action) of an ``XFRM_MSG_NEWPOLICY`` dump entry."""
    from ipaddress import ip_network

    sel_b, _lft, _cur, _prio, _idx, direction, action, _flags, _share = USERPOLICY_INFO.unpack_from(body)
    daddr, saddr, dport, _dm, sport, _sm, family, pd, ps, proto, _if, _u = SELECTOR.unpack(sel_b)
    size = 4 if family == socket.AF_INET else 16
    src = ip_network((saddr[:size], ps))
    dst = ip_network((daddr[:size], pd))
    return Selector(src, dst, proto, socket.ntohs(sport), socket.ntohs(dport)), direction, action
