"""``XfrmDataPlane``: the ``xfrm`` backend — the Linux kernel's IPsec stack driven over ``NETLINK_XFRM``.

The kernel moves the packets (ESP/AH, RFC 4303/4302, UDP encapsulation RFC 3948); this class only
installs state through the sans-I/O codec :mod:`.netlink` and turns the kernel's multicasts into
:mod:`~ipsecd.dataplane.base` events. It implements :class:`~ipsecd.dataplane.base.DataPlane`.

**What is ipsecd's** (it never touches SAs or policies it did not install):

- *reqids*: every reqid it gives the kernel comes from its own band ``REQID_BASE`` … ``+ REQID_SPAN``
  (one per encrypt policy, shared by the SAs negotiated for it so the kernel binds them to its
  template; one per SPI reservation; one per daemon reqid of SAs without a policy) and is remembered.
  :meth:`flush` dumps the SAD and deletes exactly the SAs whose reqid this instance handed out — not
  ``XFRM_MSG_FLUSHSA``, which would empty the whole protocol's SAD, other daemons' SAs included.
- *policy priorities*: its policies sit in the band ``PRIORITY_BASE`` + (``PRIORITY_FIRST`` + order)
  (lower wins in the kernel, so the RouterOS top-to-bottom order is kept), which is how an operator
  tells them apart in ``ip xfrm policy``. They are deleted by (direction, selector), which the kernel
  keeps unique: a selector some other daemon already holds is refused at install (``EEXIST``), never
  recorded, so never deleted by us.
- :meth:`close` deletes every policy and SA it installed. Only the larval SAs the kernel itself
  creates on an ACQUIRE (SPI 0, our policy's reqid) cannot be named in a DELSA; they lapse within
  ``xfrm_acq_expires``.
- ``level use`` templates are optional, except outbound in tunnel mode, which Linux refuses
  (:func:`.netlink.new_policy` says why that one is required).

**SPIs** (:meth:`get_spi`): ``XFRM_MSG_ALLOCSPI`` works without ESP/AH support (the kernel keeps a
larval SA holding the SPI; no transform is involved), so no local allocator is needed. The DataPlane
contract gives no addresses at that point, so the reservation is made for destination ``0.0.0.0``
with a fresh reqid (the kernel hands the same SPI back to a repeated request with equal addresses and
reqid). Recent Linux ("xfrm: Duplicate SPI Handling", 2025; 6.18 here, tested) checks the SPI
against every SA of the protocol whatever its destination, so the reservation keeps the SPI from
everyone; older kernels check only the reservation's own destination, and a clash with another
daemon's SA for our address then surfaces as ``EEXIST`` from :meth:`add_sa`. :meth:`add_sa` of the
inbound SA deletes the placeholder and adds the real SA; a reservation never used expires in the
kernel by itself (``net.core.xfrm_acq_expires``, 30 s).

**IKE bypass**: IKE must bypass the SPD (the manual says so; and a transport-mode policy between
the two peers would otherwise capture the very IKE messages negotiating its SA). The right place is
the daemon's sockets (:func:`prepare_ike_socket`); until the daemon calls it, ``bypass_ports``
(default 500 and 4500) installs namespace-wide allow policies for locally originated UDP from and
locally delivered UDP to those ports, IPv4 and IPv6, at the top of the band (``bypass_ports=()``
once the sockets carry their own).

**Events**: a second socket subscribed to ``XFRMNLGRP_ACQUIRE``, ``XFRMNLGRP_EXPIRE`` and
``XFRMNLGRP_MAPPING``. An ACQUIRE (traffic hit a template with no SA; the kernel sends it even without
ESP support) becomes :class:`~ipsecd.policy.events.Acquire` with the packet's flow, for the policy
whose template reqid it carries; an EXPIRE of one of our SAs becomes ``SoftExpire``/``HardExpire``
(``by_bytes`` when the byte counter reached that limit; otherwise it was time).

A MAPPING (NAT rebinding, RFC 3948 §3.3: an ESP-in-UDP packet of an inbound SA passed its ICV and
replay checks but came from another address or port) becomes ``EndpointChanged``, once per new
endpoint. The kernel moves nothing itself. A new *port* on the same address is followed here: UPDSA
gives the inbound SA and the outbound SAs of the same reqid (the pair, and its rekeyed successor) that
still send to the old endpoint the new port. A new *address* cannot be followed in place — it is part
of the kernel's SA id (and of tunnel-mode templates) — so the event carries ``out_spi=None`` and the
CHILD_SA stays on the old address until IKE re-establishes it.

**Statistics**: ``/proc/net/xfrm_stat`` of the backend's network namespace (opened at construction),
one kernel counter per RouterOS name (:data:`KERNEL_COUNTERS`). They count every XFRM packet of the
namespace, not only ipsecd's. The kernel's counters without a RouterOS name (``XfrmFwdHdrError``,
``XfrmOutStateInvalid``, ``XfrmAcquireError``, ``XfrmOutStateDirError``, ``XfrmInStateDirError``,
``XfrmInIptfsError``, ``XfrmOutNoQueueSpace``) are not reported.

**The daemon's IKE sockets** (``daemon/transport.py`` owns them; :func:`prepare_ike_socket` is what
each needs): a per-socket allow policy in both directions (``IP_XFRM_POLICY``/``IPV6_XFRM_POLICY``),
so IKE bypasses the SPD whatever policy covers the peers, and on the NAT-T port
``UDP_ENCAP_ESPINUDP``: ESP-in-UDP reaches the kernel's ESP only through such a socket (RFC 3948;
IKE behind the non-ESP marker still reaches the socket, marker included; keepalives are swallowed).

**Kernels without ESP/AH**: construction probes with one throw-away ESP SA (aes-128-cbc + sha256 on
a fresh reservation, deleted at once); ``EPROTONOSUPPORT``/``ENOENT``/``ENOSYS`` raise
:class:`NoKernelIpsecError` with one line naming ``--dataplane tun`` (``add_sa`` does the same).
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, ip_network

from ipsecd.dataplane.stats import COUNTER_NAMES
from ipsecd.dataplane.xfrm import netlink as nl
from ipsecd.policy.events import Acquire, EndpointChanged, HardExpire, SadEvent, SoftExpire
from ipsecd.policy.types import (
    Action,
    Direction,
    Endpoint,
    IPAddress,
    IpsecProto,
    Mode,
    PolicySpec,
    SaSpec,
    SaState,
    Selector,
)

REQID_BASE, REQID_SPAN = 0x49500000, 0x00100000
PRIORITY_BASE, PRIORITY_FIRST = 0x49500000, 0x100  # bypass policies below PRIORITY_FIRST
SPI_MIN, SPI_MAX = 0x00000100, 0xFFFFFFFF
#: Seconds a reservation is remembered (the kernel's larval SA lives ``xfrm_acq_expires``, 30 s).
RESERVATION_TTL = 60.0
TIMEOUT = 5.0

#: ``/ip ipsec statistics`` name → ``/proc/net/xfrm_stat`` name (``include/net/snmp.h``, LINUX_MIB_XFRM*).
KERNEL_COUNTERS: dict[str, str] = dict(zip(COUNTER_NAMES, (
    "XfrmInError", "XfrmInBufferError", "XfrmInHdrError", "XfrmInNoStates", "XfrmInStateProtoError",
    "XfrmInStateModeError", "XfrmInStateSeqError", "XfrmInStateExpired", "XfrmInStateMismatch",
    "XfrmInStateInvalid", "XfrmInTmplMismatch", "XfrmInNoPols", "XfrmInPolBlock", "XfrmInPolError",
    "XfrmOutError", "XfrmOutBundleGenError", "XfrmOutBundleCheckError", "XfrmOutNoStates",
    "XfrmOutStateProtoError", "XfrmOutStateModeError", "XfrmOutStateSeqError", "XfrmOutStateExpired",
    "XfrmOutPolBlock", "XfrmOutPolDead", "XfrmOutPolError"), strict=True))

_ANY4 = IPv4Address(0)
_DIR_NAME = {nl.XFRM_POLICY_IN: "in", nl.XFRM_POLICY_OUT: "out", nl.XFRM_POLICY_FWD: "fwd"}
_NO_IPSEC = (errno.EPROTONOSUPPORT, errno.ENOENT, errno.ENOSYS)


class KernelError(nl.XfrmError):
    """The kernel answered a request with an errno (``errno``; ``text`` is its extended ack)."""

    def __init__(self, op: str, code: int, text: str = "") -> None:
        self.errno = code
        self.text = text
        hint = " (NETLINK_XFRM needs CAP_NET_ADMIN: run as root)" if code == errno.EPERM else ""
        super().__init__(f"{op}: {os.strerror(code)}{f' ({text})' if text else ''}{hint}")


class NoKernelIpsecError(nl.XfrmError):
    """This kernel cannot run ESP/AH: its message is the one line the daemon logs and exits with."""


@dataclass(slots=True)
class _Installed:
    spec: SaSpec  # as the daemon gave it (its keys: UPDSA restates the whole SA)
    reqid: int  # the kernel's
    added: float  # clock value
    dying: bool = False

    @property
    def dst(self) -> IPAddress:
        return self.spec.dst

    @property
    def proto(self) -> IpsecProto:
        return self.spec.proto


UDP_ENCAP = 100  # <linux/udp.h> socket option (level IPPROTO_UDP)
IP_XFRM_POLICY, IPV6_XFRM_POLICY = 17, 35  # <linux/in.h>, <linux/in6.h>


def prepare_ike_socket(sock: socket.socket, *, natt: bool) -> None:
    """Make a UDP socket of the daemon's an IKE socket for the kernel data plane: its datagrams, in
    and out, bypass the SPD (per-socket allow policies), and with ``natt`` the kernel decapsulates the
    ESP-in-UDP arriving on it (``UDP_ENCAP_ESPINUDP``)."""
    level, opt = (socket.IPPROTO_IP, IP_XFRM_POLICY) if sock.family == socket.AF_INET else \
        (socket.IPPROTO_IPV6, IPV6_XFRM_POLICY)
    for direction in (nl.XFRM_POLICY_IN, nl.XFRM_POLICY_OUT):
        sock.setsockopt(level, opt, nl.socket_policy(direction, sock.family))
    if natt:
        sock.setsockopt(socket.IPPROTO_UDP, UDP_ENCAP, nl.UDP_ENCAP_ESPINUDP)


def _open(groups: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, nl.NETLINK_XFRM)
    try:
        for opt in (nl.NETLINK_EXT_ACK, nl.NETLINK_CAP_ACK):
            try:
                s.setsockopt(nl.SOL_NETLINK, opt, 1)
            except OSError:  # kernels before 4.12/4.3: plain errnos, no text
                pass
        s.bind((0, groups))
    except BaseException:
        s.close()
        raise
    return s


class XfrmDataPlane:
    """The ``xfrm`` DataPlane (see the module docstring). Use as a context manager or call :meth:`close`."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, probe: bool = True,
                 bypass_ports: tuple[int, ...] = (500, 4500)) -> None:
        self.clock = clock
        self._seq = 0
        self._next_reqid = REQID_BASE
        self._reqids: set[int] = set()
        self._policy_reqid: dict[str, int] = {}
        self._spec_reqid: dict[int, int] = {}
        self._reserved: dict[tuple[IpsecProto, int], tuple[int, float]] = {}
        self._sas: dict[tuple[int, Direction], _Installed] = {}
        self._by_id: dict[tuple[IPAddress, int, int], Direction] = {}
        self._policies: dict[str, tuple[PolicySpec, list[tuple[int, Selector]]]] = {}
        self._bypass: list[tuple[int, Selector]] = []
        self._events: list[SadEvent] = []
        self._mapped: dict[int, Endpoint] = {}  # inbound SPI -> the new endpoint last reported
        self._closed = False
        self._sock = _open()
        self._ev: socket.socket | None = None
        self._stat_fd = -1
        try:
            self._sock.settimeout(TIMEOUT)
            self._ev = _open(nl.groups(nl.XFRMNLGRP_ACQUIRE, nl.XFRMNLGRP_EXPIRE, nl.XFRMNLGRP_MAPPING))
            self._ev.setblocking(False)
            try:
                self._stat_fd = os.open("/proc/self/net/xfrm_stat", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:  # CONFIG_XFRM_STATISTICS off: every counter reads 0
                pass
            if probe:
                self._probe()
            for port in bypass_ports:
                self._install_bypass(port)
        except BaseException:
            self.close()
            raise

    # --- netlink plumbing ----------------------------------------------------------------------------

    def _exchange(self, op: str, msg: bytes) -> Iterator[nl.Reply]:
        """Send ``msg`` under a fresh sequence number; yield the answers carrying it. A socket error
        or a kernel silent for ``TIMEOUT`` seconds is an :class:`~.netlink.XfrmError`."""
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        seq = self._seq
        try:
            self._sock.send(nl.with_seq(msg, seq))
            while True:
                for r in nl.parse(self._sock.recv(1 << 18)):
                    if r.seq == seq:  # anything else: a late answer to an earlier request that timed out
                        yield r
        except OSError as e:
            raise nl.XfrmError(f"{op}: netlink: {e.strerror or 'no answer'}") from None

    def _request(self, op: str, msg: bytes) -> list[nl.Reply]:
        """The data messages answering one request; the ack (or an error, raised as
        :class:`KernelError`) ends it."""
        data: list[nl.Reply] = []
        for r in self._exchange(op, msg):
            if r.kind == nl.NLMSG_ERROR:
                if r.error:
                    raise KernelError(op, r.error, r.text)
                return data
            data.append(r)
        return data

    def _dump(self, kind: int) -> list[nl.Reply]:
        out: list[nl.Reply] = []
        for r in self._exchange("dump", nl.dump(kind)):
            if r.kind == nl.NLMSG_DONE:
                break
            if r.kind == nl.NLMSG_ERROR:
                raise KernelError("dump", r.error, r.text)
            out.append(r)
        return out

    def _new_reqid(self) -> int:
        if self._next_reqid >= REQID_BASE + REQID_SPAN:
            raise nl.XfrmError(f"reqid band {REQID_BASE:#x}+{REQID_SPAN:#x} exhausted")
        reqid = self._next_reqid
        self._next_reqid += 1
        self._reqids.add(reqid)
        return reqid

    def _delete_sa(self, dst: IPAddress, spi: int, proto: IpsecProto) -> None:
        """DELSA; an SA already gone (hard expiry, flush) is not an error."""
        try:
            self._request("XFRM_MSG_DELSA", nl.del_sa(dst, spi, proto))
        except KernelError as e:
            if e.errno not in (errno.ESRCH, errno.ENOENT):
                raise

    def _delete_policy(self, direction: int, sel: Selector) -> None:
        try:
            self._request("XFRM_MSG_DELPOLICY", nl.del_policy(direction, sel))
        except KernelError as e:
            if e.errno != errno.ENOENT:
                raise

    # --- set-up ------------------------------------------------------------------------------------

    def _probe(self) -> None:
        """One throw-away ESP SA on a fresh reservation: does this kernel have ESP at all?"""
        spi = self.get_spi(IpsecProto.ESP)
        reqid, _t = self._reserved.pop((IpsecProto.ESP, spi))
        probe = SaSpec(
            spi,
            Direction.OUT,
            IpsecProto.ESP,
            Mode.TRANSPORT,
            _ANY4,
            _ANY4,
            "aes-128-cbc",
            bytes(16),
            "sha256",
            bytes(32),
            replay_window=0,
            reqid=reqid,
        )
        try:
            self._request("XFRM_MSG_UPDSA", nl.new_sa(probe, update=True))
        except KernelError as e:
            if e.errno in _NO_IPSEC:
                raise NoKernelIpsecError(f"the kernel has no ESP/AH transforms (XFRM_MSG_NEWSA: "
                                         f"{e.text or os.strerror(e.errno)}); use --dataplane tun") from None
            # anything else says nothing about ESP support: add_sa reports the real SA's answer
        finally:
            self._delete_sa(_ANY4, spi, IpsecProto.ESP)

    def _install_bypass(self, port: int) -> None:
        for net in (ip_network("0.0.0.0/0"), ip_network("::/0")):
            for direction, sel in ((nl.XFRM_POLICY_OUT, Selector(net, net, socket.IPPROTO_UDP, port, 0)),
                                   (nl.XFRM_POLICY_IN, Selector(net, net, socket.IPPROTO_UDP, 0, port))):
                spec = PolicySpec(f"ike-bypass-{port}", 0, sel, Action.NONE)
                try:
                    self._request("XFRM_MSG_NEWPOLICY",
                                  nl.new_policy(spec, direction, sel, priority=PRIORITY_BASE))
                except KernelError as e:
                    # EEXIST: someone else's bypass already lets IKE through; EAFNOSUPPORT: no IPv6 here
                    if e.errno not in (errno.EEXIST, errno.EAFNOSUPPORT):
                        raise
                    continue
                self._bypass.append((direction, sel))

    # --- DataPlane: SAs ----------------------------------------------------------------------------

    def get_spi(self, proto: IpsecProto) -> int:
        now = self.clock()
        for key in [k for k, (_r, t) in self._reserved.items() if now - t > RESERVATION_TTL]:
            del self._reserved[key]
        reqid = self._new_reqid()
        replies = self._request("XFRM_MSG_ALLOCSPI", nl.alloc_spi(proto, _ANY4, _ANY4, reqid, SPI_MIN,
                                                                               SPI_MAX))
        info = next((nl.sa_info(r.body) for r in replies if r.kind == nl.XFRM_MSG_NEWSA), None)
        if info is None or info.spi == 0:
            raise nl.XfrmError("XFRM_MSG_ALLOCSPI: the kernel answered without an SPI")
        self._reserved[(proto, info.spi)] = (reqid, now)
        return info.spi

    def _reqid_for(self, sa: SaSpec) -> int:
        """The policy's reqid (so its template binds this SA); otherwise one per daemon reqid."""
        if sa.policy_id is not None and sa.policy_id in self._policy_reqid:
            return self._policy_reqid[sa.policy_id]
        reqid = self._spec_reqid.get(sa.reqid)
        if reqid is None:
            reqid = self._spec_reqid[sa.reqid] = self._new_reqid()
        return reqid

    def _install(self, sa: SaSpec, update: bool) -> None:
        reqid = self._reqid_for(sa)
        kernel_sa = replace(sa, reqid=reqid)
        if sa.direction is Direction.IN and self._reserved.pop((sa.proto, sa.spi), None) is not None:
            self._delete_sa(_ANY4, sa.spi, sa.proto)  # the reservation's placeholder
        op = "XFRM_MSG_UPDSA" if update else "XFRM_MSG_NEWSA"
        try:
            self._request(op, nl.new_sa(kernel_sa, update=update))
        except KernelError as e:
            if e.errno in _NO_IPSEC:
                raise NoKernelIpsecError(
                    f"SA {sa.spi:#010x}: the kernel has no {sa.proto.name} transform for "
                    f"{sa.encr}/{sa.integ} "
                    f"({op}: {e.text or os.strerror(e.errno)}); use --dataplane tun") from None
            raise nl.XfrmError(f"SA {sa.spi:#010x}: {e}") from None
        old = self._sas.get((sa.spi, sa.direction))
        self._sas[(sa.spi, sa.direction)] = _Installed(
            sa, reqid, old.added if old is not None else self.clock()
        )
        self._by_id[(sa.dst, sa.spi, sa.proto.value)] = sa.direction

    def add_sa(self, sa: SaSpec) -> None:
        self._install(sa, update=False)

    def update_sa(self, sa: SaSpec) -> None:
        """UPDSA: the kernel takes the new lifetimes and UDP encapsulation ports of a live SA."""
        self._install(sa, update=True)

    def del_sa(self, spi: int, direction: Direction) -> None:
        rec = self._sas.pop((spi, direction), None)
        if direction is Direction.IN:
            self._mapped.pop(spi, None)
        if rec is not None:
            self._by_id.pop((rec.dst, spi, rec.proto.value), None)
            self._delete_sa(rec.dst, spi, rec.proto)

    def query_sa(self, spi: int, direction: Direction) -> SaState | None:
        rec = self._sas.get((spi, direction))
        if rec is None:
            return None
        try:
            replies = self._request("XFRM_MSG_GETSA", nl.get_sa(rec.dst, spi, rec.proto))
        except KernelError as e:
            if e.errno in (errno.ESRCH, errno.ENOENT):
                return None
            raise
        info = next((nl.sa_info(r.body) for r in replies if r.kind == nl.XFRM_MSG_NEWSA), None)
        if info is None:
            return None
        now = self.clock()
        last = now - (time.time() - info.use_time) if info.use_time else None
        invalid = info.window_errors + info.replay_errors + info.integrity_failed
        return SaState(spi, direction, info.bytes, info.packets, invalid, rec.added, last,
                       "dying" if rec.dying else "mature", info.replay_window)

    def flush(self) -> None:
        """Delete every SA in the kernel whose reqid this backend handed out (dump + DELSA each)."""
        for r in self._dump(nl.XFRM_MSG_GETSA):
            if r.kind != nl.XFRM_MSG_NEWSA:
                continue
            info = nl.sa_info(r.body)
            if info.reqid in self._reqids and info.spi != 0 and info.proto in (50, 51):
                self._delete_sa(info.dst, info.spi, IpsecProto(info.proto))
        self._sas.clear()
        self._by_id.clear()
        self._mapped.clear()
        self._reserved.clear()

    # --- DataPlane: policies -----------------------------------------------------------------------

    def add_policy(self, policy: PolicySpec) -> None:
        """out, in and fwd (fwd not for transport mode, which protects the hosts' own traffic);
        templates and disabled policies match no packet, so the kernel never sees them."""
        if policy.policy_id in self._policies:
            self.del_policy(policy.policy_id)
        if policy.template or policy.disabled:
            return
        reqid = 0
        if policy.action is Action.ENCRYPT:
            reqid = self._policy_reqid.get(policy.policy_id) or self._new_reqid()
            self._policy_reqid[policy.policy_id] = reqid
        priority = PRIORITY_BASE + PRIORITY_FIRST + min(max(policy.order, 0), 0x0FFFFFFF)
        dirs = [(d, s) for d, s in nl.policy_dirs(policy)
                if not (d == nl.XFRM_POLICY_FWD and policy.action is Action.ENCRYPT and not policy.tunnel)]
        done: list[tuple[int, Selector]] = []
        try:
            for direction, sel in dirs:
                self._request("XFRM_MSG_NEWPOLICY",
                              nl.new_policy(policy, direction, sel, reqid=reqid, priority=priority))
                done.append((direction, sel))
        except KernelError as e:
            for d, s in done:
                self._delete_policy(d, s)
            why = " (a policy with this selector exists)" if e.errno == errno.EEXIST else ""
            raise nl.XfrmError(f"policy {policy.policy_id} dir {_DIR_NAME[direction]}: {e}{why}") from None
        self._policies[policy.policy_id] = (policy, done)

    def del_policy(self, policy_id: str) -> None:
        """Its kernel policies go; its reqid stays reserved so SAs still serving it keep matching if
        the policy comes back."""
        entry = self._policies.pop(policy_id, None)
        if entry is not None:
            for direction, sel in entry[1]:
                self._delete_policy(direction, sel)

    # --- DataPlane: events and counters -------------------------------------------------------------

    def poll_events(self) -> list[SadEvent]:
        while self._ev is not None:
            try:
                data = self._ev.recv(1 << 18)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.ENOBUFS:  # the kernel dropped multicasts: later ones still count
                    continue
                raise
            for r in nl.parse(data):
                if r.kind == nl.XFRM_MSG_ACQUIRE:
                    self._on_acquire(nl.acquire_info(r.body))
                elif r.kind == nl.XFRM_MSG_EXPIRE:
                    self._on_expire(*nl.expire_info(r.body))
                elif r.kind == nl.XFRM_MSG_MAPPING:
                    self._on_mapping(nl.mapping_info(r.body))
        out, self._events = self._events, []
        return out

    def _on_acquire(self, acq: nl.AcquireInfo) -> None:
        reqids = {t.reqid for t in acq.policy.templates}
        pid = next((p for p, r in self._policy_reqid.items() if r in reqids), None)
        entry = self._policies.get(pid) if pid is not None else None
        if entry is not None and acq.flow is not None:
            self._events.append(Acquire(entry[0].policy_id, acq.flow, entry[0].level))

    def _on_expire(self, info: nl.SaInfo, hard: bool) -> None:
        direction = self._by_id.get((info.dst, info.spi, info.proto))
        if direction is None:
            return  # not ours, or a reservation running out
        if hard:
            by_bytes = bool(info.hard_bytes) and info.bytes >= info.hard_bytes
            self._events.append(HardExpire(info.spi, direction, by_bytes))
            rec = self._sas.pop((info.spi, direction), None)  # the kernel deletes it itself
            if direction is Direction.IN:
                self._mapped.pop(info.spi, None)
            if rec is not None:
                del self._by_id[(info.dst, info.spi, info.proto)]
        else:
            by_bytes = bool(info.soft_bytes) and info.bytes >= info.soft_bytes
            self._events.append(SoftExpire(info.spi, direction, by_bytes))
            soft = self._sas.get((info.spi, direction))
            if soft is not None:
                soft.dying = True

    def _on_mapping(self, m: nl.MappingInfo) -> None:
        """NAT rebinding (see the module docstring). Without ``mapping_maxage`` the kernel repeats
        the MAPPING for every packet from the new endpoint while the SA still names the old one, so
        only the first is reported."""
        if self._by_id.get((m.dst, m.spi, m.proto)) is not Direction.IN or self._mapped.get(m.spi) == m.new:
            return
        inbound = self._sas.get((m.spi, Direction.IN))
        encap = inbound.spec.encap if inbound is not None else None
        if inbound is None or encap is None:
            return
        self._mapped[m.spi] = m.new
        if m.new[0] != m.old[0]:
            self._events.append(EndpointChanged(m.spi, None, m.old, m.new))
            return
        port, moved = m.new[1], None
        self._install(replace(inbound.spec, encap=replace(encap, dport=port)), update=True)
        for (spi, direction), rec in list(self._sas.items()):
            out = rec.spec
            if (direction is Direction.OUT and rec.reqid == inbound.reqid and out.encap is not None
                    and out.dst.compressed == m.old[0] and out.encap.dport == m.old[1]):
                self._install(replace(out, encap=replace(out.encap, dport=port)), update=True)
                moved = spi
        self._events.append(EndpointChanged(m.spi, moved, m.old, m.new))

    # capabilities (base.py): the daemon owns UDP/4500 (the kernel takes ESP-in-UDP off it)
    natt_socket: None = None
    virtual_addresses: None = None

    def prepare_ike_socket(self, sock: socket.socket, natt: bool) -> None:
        """The daemon's hook for each IKE socket it binds (``daemon/transport.py`` ``SocketHook``):
        :func:`prepare_ike_socket`, which is why the daemon builds this backend with ``bypass_ports=()``."""
        prepare_ike_socket(sock, natt=natt)

    def statistics(self) -> dict[str, int]:
        """The namespace's ``/proc/net/xfrm_stat`` under the manual's names (all 0 without it)."""
        kernel: dict[str, int] = {}
        if self._stat_fd >= 0:
            for line in os.pread(self._stat_fd, 1 << 14, 0).decode().splitlines():
                name, _, value = line.partition("\t")
                if value.strip().isdigit():
                    kernel[name.strip()] = int(value)
        return {name: kernel.get(k, 0) for name, k in KERNEL_COUNTERS.items()}

    # --- shutdown ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove every policy and SA this backend installed, then close its sockets."""
        if self._closed:
            return
        self._closed = True
        try:
            for pid in list(self._policies):
                self.del_policy(pid)
            for direction, sel in self._bypass:
                self._delete_policy(direction, sel)
            self._bypass.clear()
            if self._reqids:
                self.flush()
        finally:
            self._sock.close()
            if self._ev is not None:
                self._ev.close()
            if self._stat_fd >= 0:
                os.close(self._stat_fd)

    def __enter__(self) -> XfrmDataPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
