"""Linux XFRM netlink messages (``NETLINK_XFRM``): the sans-I/O codec of the kernel backend.

Builds the requests the ``xfrm`` backend (:mod:`.backend`) sends and parses what the kernel answers
or multicasts, as bytes in and plain data out:

- SAs: ``XFRM_MSG_ALLOCSPI`` (reserve an SPI), ``NEWSA``/``UPDSA`` from a
  :class:`~ipsecd.policy.types.SaSpec` (algorithms, ESN/replay state, RFC 3948 UDP encapsulation,
  soft/hard lifetimes by time and bytes, reqid), ``DELSA``, ``GETSA`` and SA dumps parsed into
  :class:`SaInfo` (current bytes/packets, add/use time, replay window, integrity/replay failures);
- policies: ``NEWPOLICY``/``DELPOLICY`` per direction (out as written, in and fwd reversed) with an
  ``xfrm_user_tmpl``, and policy dumps parsed into :class:`PolicyInfo`;
- events: ``XFRM_MSG_ACQUIRE`` (:class:`AcquireInfo`) and ``XFRM_MSG_EXPIRE`` (:func:`expire_info`)
  from the ``XFRMNLGRP_ACQUIRE``/``XFRMNLGRP_EXPIRE`` multicast groups (:func:`groups`);
- ``NLMSG_ERROR`` acks, with the extended-ack text (``NLMSGERR_ATTR_MSG``) when the kernel gives one.

Layouts are ``include/uapi/linux/xfrm.h`` on x86-64/arm64 (64-bit alignment of the lifetime
counters). Algorithm names are the kernel crypto API's (``rfc4106(gcm(aes))``, ``cbc(aes)``,
``hmac(sha256)``, ``rfc7539esp(chacha20,poly1305)`` …) with the ICV lengths of RFC 4106 §8, RFC 4868
§2.3, RFC 2404 and RFC 7634 §4 as truncation/ICV sizes. The SPI, ports and addresses are in network
order, everything else in host order, as the kernel expects.

Anti-replay (RFC 4303 §3.4.3): the legacy ``xfrm_replay_state`` bitmap holds 32 packets, so any
larger window, and every ESN SA (RFC 4303 §2.2.1), goes in ``XFRMA_REPLAY_ESN_VAL`` with the
``replay_window`` field of ``xfrm_usersa_info`` left 0, as the kernel requires.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from ipaddress import ip_address, ip_network

from ipsecd.crypto import registry
from ipsecd.crypto.errors import UnknownAlgorithmError
from ipsecd.policy.types import (
    Action,
    Direction,
    IPAddress,
    IpsecProto,
    Level,
    Mode,
    PolicySpec,
    SaSpec,
    Selector,
)

NETLINK_XFRM = 6
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200  # on an NLMSG_ERROR: request echoed capped / ext-ack TLVs follow
NLMSGERR_ATTR_MSG = 1
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 270, 10, 11

XFRM_MSG_NEWSA, XFRM_MSG_DELSA, XFRM_MSG_GETSA = 0x10, 0x11, 0x12
XFRM_MSG_NEWPOLICY, XFRM_MSG_DELPOLICY, XFRM_MSG_GETPOLICY = 0x13, 0x14, 0x15
XFRM_MSG_ALLOCSPI, XFRM_MSG_ACQUIRE, XFRM_MSG_EXPIRE = 0x16, 0x17, 0x18
XFRM_MSG_UPDSA, XFRM_MSG_MAPPING = 0x1A, 0x26
XFRMNLGRP_ACQUIRE, XFRMNLGRP_EXPIRE, XFRMNLGRP_MAPPING = 1, 2, 8

XFRMA_ALG_AUTH, XFRMA_ALG_CRYPT, XFRMA_ENCAP, XFRMA_TMPL = 1, 2, 4, 5
XFRMA_REPLAY_VAL, XFRMA_LASTUSED = 10, 15
XFRMA_ALG_AEAD, XFRMA_ALG_AUTH_TRUNC, XFRMA_REPLAY_ESN_VAL = 18, 20, 23
XFRM_STATE_AF_UNSPEC, XFRM_STATE_ESN = 32, 128
UDP_ENCAP_ESPINUDP = 2
XFRM_POLICY_ALLOW, XFRM_POLICY_BLOCK = 0, 1
XFRM_POLICY_IN, XFRM_POLICY_OUT, XFRM_POLICY_FWD = 0, 1, 2
XFRM_MODE_TRANSPORT, XFRM_MODE_TUNNEL = 0, 1
_DIR = {Direction.IN: XFRM_POLICY_IN, Direction.OUT: XFRM_POLICY_OUT}
#: Packets the legacy ``xfrm_replay_state`` bitmap (one u32) can hold.
LEGACY_REPLAY_MAX = 32

NLMSGHDR = struct.Struct("=IHHII")
NLATTR = struct.Struct("=HH")
#: daddr, saddr, dport, dport_mask, sport, sport_mask, family, prefixlen_d, prefixlen_s, proto, ifindex, user
SELECTOR = struct.Struct("=16s16sHHHHHBBB3xiI")
XFRM_ID = struct.Struct("=16sIB3x")
LIFETIME_CFG = struct.Struct("=8Q")
LIFETIME_CUR = struct.Struct("=4Q")
STATS = struct.Struct("=III")  # replay_window, replay, integrity_failed
#: sel, id, saddr, lft, curlft, stats(3I), seq, reqid, family, mode, replay_window, flags
USERSA_INFO = struct.Struct("=56s24s16s64s32s12sIIHBBB7x")
#: sel, lft, curlft, priority, index, dir, action, flags, share
USERPOLICY_INFO = struct.Struct("=56s64s32sIIBBBB4x")
#: id, family, saddr, reqid, mode, share, optional, aalgos, ealgos, calgos
USER_TMPL = struct.Struct("=24sH2x16sIBBBxIII")
USERSA_ID = struct.Struct("=16sIHB1x")
USERPOLICY_ID = struct.Struct("=56sIB3x")
USERSPI_INFO = struct.Struct("=224sII")  # info, min, max
#: id, saddr, sel (the packet's flow), policy, aalgos, ealgos, calgos, seq
USER_ACQUIRE = struct.Struct("=24s16s56s168sIIII")
USER_EXPIRE = struct.Struct("=224sB7x")  # state, hard
# usersa_id, reqid, old/new saddr, old/new sport (network order)
USER_MAPPING = struct.Struct("=24sI16s16s2s2s")
ENCAP_TMPL = struct.Struct("=HHH2x16s")
ALGO = struct.Struct("=64sI")
ALGO_EXT = struct.Struct("=64sII")  # xfrm_algo_auth (trunc len) / xfrm_algo_aead (icv len)
REPLAY_ESN = struct.Struct("=6I")  # bmp_len, oseq, seq, oseq_hi, seq_hi, replay_window (+ bmp_len u32)

_NO_LIMIT = (1 << 64) - 1


class XfrmError(Exception):
    """An SA/policy the kernel cannot express, or a netlink answer that is malformed or an error."""


_CRYPT = {
    "des": "cbc(des)",
    "3des": "cbc(des3_ede)",
    "aes-cbc": "cbc(aes)",
    "aes-ctr": "rfc3686(ctr(aes))",
    "aes-gcm": "rfc4106(gcm(aes))",
    "blowfish": "cbc(blowfish)",
    "camellia": "cbc(camellia)",
    "twofish": "cbc(twofish)",
    "chacha20poly1305": "rfc7539esp(chacha20,poly1305)",
    "null": "ecb(cipher_null)",
}
_AUTH = {
    "md5": "hmac(md5)",
    "sha1": "hmac(sha1)",
    "sha256": "hmac(sha256)",
    "sha384": "hmac(sha384)",
    "sha512": "hmac(sha512)",
}


def groups(*nlgroups: int) -> int:
    """The ``bind`` group mask of ``XFRMNLGRP_*`` numbers (group n is bit n-1)."""
    mask = 0
    for g in nlgroups:
        mask |= 1 << (g - 1)
    return mask


def _family(addr: IPAddress) -> int:
    return socket.AF_INET if addr.version == 4 else socket.AF_INET6


def _addr(addr: IPAddress) -> bytes:
    return addr.packed.ljust(16, b"\0")


def _ip(raw: bytes, family: int) -> IPAddress:
    return ip_address(raw[:4] if family == socket.AF_INET else raw)


def _attr(kind: int, payload: bytes) -> bytes:
    n = NLATTR.size + len(payload)
    return NLATTR.pack(n, kind) + payload + bytes((-n) % 4)


def attributes(buf: bytes, off: int = 0) -> dict[int, bytes]:
    """Netlink attributes from ``off`` on, by type (the nested-flag bits masked off)."""
    out: dict[int, bytes] = {}
    while off + NLATTR.size <= len(buf):
        n, kind = NLATTR.unpack_from(buf, off)
        if n < NLATTR.size or off + n > len(buf):
            raise XfrmError(f"netlink attribute of length {n} at {off} overruns {len(buf)} bytes")
        out[kind & 0x3FFF] = buf[off + NLATTR.size : off + n]
        off += (n + 3) & ~3
    return out


def message(kind: int, flags: int, body: bytes, seq: int = 0) -> bytes:
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), kind, flags | NLM_F_REQUEST, seq, 0) + body


def with_seq(msg: bytes, seq: int) -> bytes:
    """``msg`` with its header's sequence number set to ``seq`` (the socket owner numbers requests)."""
    return msg[:8] + struct.pack("=I", seq) + msg[12:]


def selector(sel: Selector | None, family: int) -> bytes:
    """``xfrm_selector``; ``None`` is the all-zero selector of ``family`` (0: any family)."""
    if sel is None:
        return SELECTOR.pack(bytes(16), bytes(16), 0, 0, 0, 0, family, 0, 0, 0, 0, 0)
    return SELECTOR.pack(
        _addr(sel.dst.network_address),
        _addr(sel.src.network_address),
        socket.htons(sel.dst_port),
        0xFFFF if sel.dst_port else 0,
        socket.htons(sel.src_port),
        0xFFFF if sel.src_port else 0,
        _family(sel.src.network_address),
        sel.dst.prefixlen,
        sel.src.prefixlen,
        sel.protocol,
        0,
        0,
    )


def parse_selector(raw: bytes) -> Selector | None:
    """A kernel ``xfrm_selector`` as a :class:`Selector` (``None`` for family 0, "any")."""
    daddr, saddr, dport, _dm, sport, _sm, family, pd, ps, proto, _if, _u = SELECTOR.unpack(raw)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    size = 4 if family == socket.AF_INET else 16
    try:  # iproute2 keeps host bits (``src 10.1.0.5/24``): the network is what matches
        src = ip_network((saddr[:size], ps), strict=False)
        dst = ip_network((daddr[:size], pd), strict=False)
    except ValueError as e:  # prefix longer than the address
        raise XfrmError(f"kernel selector: {e}") from None
    return Selector(src, dst, proto, socket.ntohs(sport), socket.ntohs(dport))


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
        if not integ.icv_size:
            raise XfrmError(f"SA {sa.spi:#x}: AH needs an auth algorithm")
        out = []
    elif enc.aead:
        return [_attr(XFRMA_ALG_AEAD, ALGO_EXT.pack(name.encode(), len(sa.encr_key) * 8, enc.icv_size * 8)
                      + sa.encr_key)]
    else:
        out = [_attr(XFRMA_ALG_CRYPT, ALGO.pack(name.encode(), len(sa.encr_key) * 8) + sa.encr_key)]
    if integ.icv_size:
        out.append(
            _attr(
                XFRMA_ALG_AUTH_TRUNC,
                ALGO_EXT.pack(_AUTH[integ.name].encode(), len(sa.integ_key) * 8, integ.icv_size * 8)
                + sa.integ_key,
            )
        )
    return out


def _replay(sa: SaSpec) -> tuple[int, list[bytes]]:
    """(``replay_window`` field, attributes): the legacy field up to 32 packets without ESN, else
    ``XFRMA_REPLAY_ESN_VAL`` with a bitmap of whole u32 words and the field 0."""
    window = sa.replay_window
    if sa.esn and window == 0:
        if sa.direction is Direction.IN:
            raise XfrmError(f"SA {sa.spi:#x}: the kernel cannot run an ESN SA without a replay window")
        window = LEGACY_REPLAY_MAX  # outbound: the window is never consulted, the kernel wants one
    if not sa.esn and window <= LEGACY_REPLAY_MAX:
        return window, []
    words = (window + 31) // 32
    esn = REPLAY_ESN.pack(words, 0, 0, 0, 0, window) + bytes(4 * words)
    return 0, [_attr(XFRMA_REPLAY_ESN_VAL, esn)]


def new_sa(sa: SaSpec, seq: int = 0, *, update: bool = False) -> bytes:
    """``XFRM_MSG_NEWSA`` (``UPDSA`` with ``update``) for ``sa``: algorithms, replay state, UDP
    encapsulation (our port as source outbound, the peer's inbound), lifetimes and ``sa.reqid``.

    Without a negotiated selector a tunnel-mode SA gets the any-family selector
    (``XFRM_STATE_AF_UNSPEC``, either inner family); a transport-mode one the SA's family."""
    fam = _family(sa.src)
    xid = XFRM_ID.pack(_addr(sa.dst), socket.htonl(sa.spi), sa.proto.value)
    lft = _lifetime(sa.lifetime.soft_bytes, sa.lifetime.hard_bytes, sa.lifetime.soft_seconds,
                    sa.lifetime.hard_seconds)
    window, attrs = _replay(sa)
    flags = XFRM_STATE_ESN if sa.esn else 0
    if sa.selector is None and sa.mode is Mode.TUNNEL:
        flags |= XFRM_STATE_AF_UNSPEC
    body = USERSA_INFO.pack(
        selector(sa.selector, 0),
        xid,
        _addr(sa.src),
        lft,
        bytes(LIFETIME_CUR.size),
        bytes(STATS.size),
        0,
        sa.reqid,
        fam,
        XFRM_MODE_TUNNEL if sa.mode is Mode.TUNNEL else XFRM_MODE_TRANSPORT,
        window,
        flags,
    )
    attrs = algorithms(sa) + attrs
    if sa.encap is not None:
        sport, dport = (
            (sa.encap.sport, sa.encap.dport)
            if sa.direction is Direction.OUT
            else (sa.encap.dport, sa.encap.sport)
        )
        attrs.append(
            _attr(
                XFRMA_ENCAP,
                ENCAP_TMPL.pack(UDP_ENCAP_ESPINUDP, socket.htons(sport), socket.htons(dport), bytes(16)),
            )
        )
    kind, flags_nl = (
        (XFRM_MSG_UPDSA, NLM_F_ACK) if update else (XFRM_MSG_NEWSA, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
    )
    return message(kind, flags_nl, body + b"".join(attrs), seq)


def sa_id(dst: IPAddress, spi: int, proto: IpsecProto) -> bytes:
    """``xfrm_usersa_id``: how DELSA and GETSA name an SA (destination, SPI, protocol)."""
    return USERSA_ID.pack(_addr(dst), socket.htonl(spi), _family(dst), proto.value)


def del_sa(dst: IPAddress, spi: int, proto: IpsecProto, seq: int = 0) -> bytes:
    return message(XFRM_MSG_DELSA, NLM_F_ACK, sa_id(dst, spi, proto), seq)


def get_sa(dst: IPAddress, spi: int, proto: IpsecProto, seq: int = 0) -> bytes:
    """``XFRM_MSG_GETSA``: the kernel answers with one ``NEWSA`` message (see :func:`sa_info`)."""
    return message(XFRM_MSG_GETSA, NLM_F_ACK, sa_id(dst, spi, proto), seq)


def alloc_spi(proto: IpsecProto, dst: IPAddress, src: IPAddress, reqid: int, low: int, high: int,
              seq: int = 0) -> bytes:
    """``XFRM_MSG_ALLOCSPI``: the kernel creates a larval SA holding a random free SPI in
    [low, high] and answers with it as a ``NEWSA`` message. A larval SA needs no transform, so this
    works on kernels without ESP/AH; it expires by itself (``net.core.xfrm_acq_expires``), whatever
    the lifetime fields say (left 0, as iproute2 sends them)."""
    fam = _family(dst)
    info = USERSA_INFO.pack(
        selector(None, 0),
        XFRM_ID.pack(_addr(dst), 0, proto.value),
        _addr(src),
        bytes(LIFETIME_CFG.size),
        bytes(LIFETIME_CUR.size),
        bytes(STATS.size),
        0,
        reqid,
        fam,
        XFRM_MODE_TRANSPORT,
        0,
        0,
    )
    return message(XFRM_MSG_ALLOCSPI, NLM_F_ACK, USERSPI_INFO.pack(info, low, high), seq)


def dump(kind: int, seq: int = 0) -> bytes:
    """A dump request (``XFRM_MSG_GETSA``/``GETPOLICY``), answered by messages up to ``NLMSG_DONE``."""
    return message(kind, NLM_F_DUMP, b"", seq)


def policy_dirs(policy: PolicySpec) -> list[tuple[int, Selector]]:
    """(xfrm direction, selector) pairs of one RouterOS policy: out as written; in and fwd reversed."""
    s = policy.selector
    rev = Selector(s.dst, s.src, s.protocol, s.dst_port, s.src_port)
    return [(XFRM_POLICY_OUT, s), (XFRM_POLICY_IN, rev), (XFRM_POLICY_FWD, rev)]


def new_policy(policy: PolicySpec, direction: int, sel: Selector, seq: int = 0, *, reqid: int = 0,
               priority: int = 0) -> bytes:
    """``XFRM_MSG_NEWPOLICY`` for one direction; encrypt policies carry one template, discard
    policies block, ``none`` allows without a template.

    ``level use`` makes the template optional, except outbound in tunnel mode: Linux refuses optional
    tunnel-mode templates in outbound policies ("Mode in optional template not allowed in outbound
    policy", EINVAL), so there the template is required — traffic waits for an SA rather than
    leaving in clear text, and the Acquire it raises carries ``level use`` for the daemon to ignore."""
    fam = _family(sel.src.network_address)
    action = XFRM_POLICY_BLOCK if policy.action is Action.DISCARD else XFRM_POLICY_ALLOW
    body = USERPOLICY_INFO.pack(selector(sel, fam), _lifetime(), bytes(LIFETIME_CUR.size), priority, 0,
                                direction, action, 0, 0)
    if policy.action is Action.ENCRYPT:
        if policy.tunnel and (policy.sa_src is None or policy.sa_dst is None):
            raise XfrmError(f"policy {policy.policy_id}: tunnel mode needs sa-src-address and sa-dst-address")
        out = direction == XFRM_POLICY_OUT
        src, dst = (policy.sa_src, policy.sa_dst) if out else (policy.sa_dst, policy.sa_src)
        tmpl_fam = _family(src) if src is not None else fam
        tmpl = USER_TMPL.pack(
            XFRM_ID.pack(_addr(dst) if dst is not None else bytes(16), 0, policy.proto.value),
            tmpl_fam,
            _addr(src) if src is not None else bytes(16),
            reqid,
            XFRM_MODE_TUNNEL if policy.tunnel else XFRM_MODE_TRANSPORT,
            0,
            1 if policy.level is Level.USE and not (out and policy.tunnel) else 0,
            0xFFFFFFFF,
            0xFFFFFFFF,
            0xFFFFFFFF,
        )
        body += _attr(XFRMA_TMPL, tmpl)
    return message(XFRM_MSG_NEWPOLICY, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, seq)


def socket_policy(direction: int, family: int) -> bytes:
    """The ``xfrm_userpolicy_info`` of a per-socket allow policy (``IP_XFRM_POLICY`` /
    ``IPV6_XFRM_POLICY`` value): the socket's traffic in ``direction`` bypasses the SPD. The kernel
    wants the selector's family to be the socket's."""
    return USERPOLICY_INFO.pack(
        selector(None, family),
        _lifetime(),
        bytes(LIFETIME_CUR.size),
        0,
        0,
        direction,
        XFRM_POLICY_ALLOW,
        0,
        0,
    )


def del_policy(direction: int, sel: Selector, seq: int = 0) -> bytes:
    body = USERPOLICY_ID.pack(selector(sel, _family(sel.src.network_address)), 0, direction)
    return message(XFRM_MSG_DELPOLICY, NLM_F_ACK, body, seq)


# --- parsing -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    kind: int
    seq: int
    error: int  # 0 for an ack or data; a positive errno for NLMSG_ERROR
    body: bytes
    text: str = ""  # the kernel's extended-ack message, if any


def _ack_text(flags: int, body: bytes) -> str:
    """``NLMSGERR_ATTR_MSG`` of an error carrying extended-ack TLVs (the request echoed capped, as
    ``NETLINK_CAP_ACK`` asks: only its header follows the errno)."""
    if not flags & NLM_F_ACK_TLVS or len(body) < 4 + NLMSGHDR.size:
        return ""
    echoed = NLMSGHDR.unpack_from(body, 4)[0]
    off = 4 + (NLMSGHDR.size if flags & NLM_F_CAPPED else (echoed + 3) & ~3)
    raw = attributes(body, off).get(NLMSGERR_ATTR_MSG, b"")
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def parse(buf: bytes) -> list[Reply]:
    """Split a netlink read into messages; ``NLMSG_ERROR`` gets its errno (and text) decoded."""
    out: list[Reply] = []
    off = 0
    while off + NLMSGHDR.size <= len(buf):
        n, kind, flags, seq, _pid = NLMSGHDR.unpack_from(buf, off)
        if n < NLMSGHDR.size or off + n > len(buf):
            raise XfrmError(f"netlink message of length {n} at {off} overruns {len(buf)} bytes")
        body = buf[off + NLMSGHDR.size : off + n]
        if kind == NLMSG_ERROR and len(body) >= 4:
            out.append(Reply(kind, seq, -struct.unpack_from("=i", body)[0], body, _ack_text(flags, body)))
        else:
            out.append(Reply(kind, seq, 0, body))
        off += (n + 3) & ~3
    return out


@dataclass(frozen=True, slots=True)
class SaInfo:
    """One kernel SA (a ``NEWSA`` answer, dump entry, or the state inside an EXPIRE)."""

    selector: Selector | None
    dst: IPAddress
    spi: int
    proto: int
    src: IPAddress
    reqid: int
    mode: int
    flags: int
    replay_window: int  # packets (from the ESN replay state when the SA has one)
    soft_bytes: int  # limits; 0 = none
    hard_bytes: int
    bytes: int  # current counters
    packets: int
    add_time: int  # wall-clock seconds
    use_time: int  # wall-clock seconds of first use; 0 = never used
    window_errors: int  # xfrm_stats: packets left of the replay window,
    replay_errors: int  # replayed packets,
    integrity_failed: int  # ICV failures


def _limit(v: int) -> int:
    return 0 if v == _NO_LIMIT else v


def sa_info(body: bytes) -> SaInfo:
    """Parse an ``xfrm_usersa_info`` and its attributes (``XFRMA_REPLAY_ESN_VAL``)."""
    if len(body) < USERSA_INFO.size:
        raise XfrmError(f"xfrm_usersa_info of {len(body)} bytes, expected {USERSA_INFO.size}")
    sel, xid, saddr, lft, cur, stats, _seq, reqid, family, mode, window, flags = USERSA_INFO.unpack_from(body)
    daddr, spi, proto = XFRM_ID.unpack(xid)
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise XfrmError(f"SA of address family {family}")
    soft_b, hard_b = LIFETIME_CFG.unpack(lft)[:2]
    nbytes, npackets, add_time, use_time = LIFETIME_CUR.unpack(cur)
    outside, replay, integrity = STATS.unpack(stats)
    esn = attributes(body, USERSA_INFO.size).get(XFRMA_REPLAY_ESN_VAL)
    if esn is not None and len(esn) >= REPLAY_ESN.size:
        window = REPLAY_ESN.unpack_from(esn)[5]
    return SaInfo(
        parse_selector(sel),
        _ip(daddr, family),
        socket.ntohl(spi),
        proto,
        _ip(saddr, family),
        reqid,
        mode,
        flags,
        window,
        _limit(soft_b),
        _limit(hard_b),
        nbytes,
        npackets,
        add_time,
        use_time,
        outside,
        replay,
        integrity,
    )


def expire_info(body: bytes) -> tuple[SaInfo, bool]:
    """(the SA, hard?) of an ``XFRM_MSG_EXPIRE``."""
    if len(body) < USER_EXPIRE.size:
        raise XfrmError(f"xfrm_user_expire of {len(body)} bytes, expected {USER_EXPIRE.size}")
    state, hard = USER_EXPIRE.unpack_from(body)
    return sa_info(state), bool(hard)


@dataclass(frozen=True, slots=True)
class Template:
    """One ``xfrm_user_tmpl`` of a policy."""

    src: IPAddress | None
    dst: IPAddress | None
    proto: int
    reqid: int
    mode: int
    optional: bool


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """One kernel policy (a dump entry, or the policy inside an ACQUIRE)."""

    selector: Selector | None
    direction: int
    action: int
    priority: int
    index: int
    templates: tuple[Template, ...]


def _templates(raw: bytes) -> tuple[Template, ...]:
    out = []
    for off in range(0, len(raw) - USER_TMPL.size + 1, USER_TMPL.size):
        xid, family, saddr, reqid, mode, _share, optional, _a, _e, _c = USER_TMPL.unpack_from(raw, off)
        daddr, _spi, proto = XFRM_ID.unpack(xid)
        known = family in (socket.AF_INET, socket.AF_INET6)
        src = _ip(saddr, family) if known and any(saddr) else None
        dst = _ip(daddr, family) if known and any(daddr) else None
        out.append(Template(src, dst, proto, reqid, mode, bool(optional)))
    return tuple(out)


def policy_info(body: bytes, templates: bytes | None = None) -> PolicyInfo:
    """Parse an ``xfrm_userpolicy_info`` (and its ``XFRMA_TMPL`` from the attributes after it, or
    from ``templates`` when the caller found them elsewhere, as in an ACQUIRE)."""
    if len(body) < USERPOLICY_INFO.size:
        raise XfrmError(f"xfrm_userpolicy_info of {len(body)} bytes, expected {USERPOLICY_INFO.size}")
    sel, _lft, _cur, prio, index, direction, action, _flags, _share = USERPOLICY_INFO.unpack_from(body)
    if templates is None:
        templates = attributes(body, USERPOLICY_INFO.size).get(XFRMA_TMPL, b"")
    return PolicyInfo(parse_selector(sel), direction, action, prio, index, _templates(templates))


@dataclass(frozen=True, slots=True)
class AcquireInfo:
    """An ``XFRM_MSG_ACQUIRE``: the packet's flow (full-length prefixes, its ports and protocol), the
    policy it hit (with its templates: the SA's endpoints and reqid) and the SA protocol wanted."""

    flow: Selector | None
    policy: PolicyInfo
    proto: int


def acquire_info(body: bytes) -> AcquireInfo:
    if len(body) < USER_ACQUIRE.size:
        raise XfrmError(f"xfrm_user_acquire of {len(body)} bytes, expected {USER_ACQUIRE.size}")
    xid, _saddr, sel, pol, _a, _e, _c, _seq = USER_ACQUIRE.unpack_from(body)
    tmpl = attributes(body, USER_ACQUIRE.size).get(XFRMA_TMPL, b"")
    return AcquireInfo(parse_selector(sel), policy_info(pol, tmpl), XFRM_ID.unpack(xid)[2])


@dataclass(frozen=True, slots=True)
class MappingInfo:
    """An ``XFRM_MSG_MAPPING``: ESP-in-UDP for the SA (``dst``, ``spi``, ``proto``) came from ``new``
    (address, port) instead of the SA's ``old`` — sent once the packet passed the SA's ICV and replay
    checks (``esp_input_done2`` → ``km_new_mapping``), so a forged packet cannot cause one."""

    dst: IPAddress
    spi: int
    proto: int
    reqid: int
    old: tuple[str, int]
    new: tuple[str, int]


def mapping_info(body: bytes) -> MappingInfo:
    if len(body) < USER_MAPPING.size:
        raise XfrmError(f"xfrm_user_mapping of {len(body)} bytes, expected {USER_MAPPING.size}")
    xid, reqid, old_addr, new_addr, old_port, new_port = USER_MAPPING.unpack_from(body)
    daddr, spi, family, proto = USERSA_ID.unpack(xid)
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise XfrmError(f"mapping of address family {family}")
    return MappingInfo(_ip(daddr, family), socket.ntohl(spi), proto, reqid,
                       (_ip(old_addr, family).compressed, int.from_bytes(old_port, "big")),
                       (_ip(new_addr, family).compressed, int.from_bytes(new_port, "big")))
