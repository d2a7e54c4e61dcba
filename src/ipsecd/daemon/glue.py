"""The glue: configuration plan → IKE SAs → data plane, and back into the runtime views.

* Start and live changes (:meth:`Glue.apply`): static policies go into the data plane's SPD;
  non-passive peers with one address are initiated (RouterOS brings phase 1 and 2 up by itself);
  removed or changed peers are torn down with a DELETE (RFC 7296 §1.4.1) before the new version starts.
* Responders (:meth:`Glue.new_responder`): an IKE_SA_INIT is matched to a peer by source address,
  most specific prefix first (:mod:`.peersel`); no match is logged once per address, nothing is kept.
* Events (:meth:`Glue.on_event`): CHILD_SAs are installed/removed in the data plane exactly as the
  IKE SA reports them; failures are logged verbatim (the IKE core writes them for operators).
* Mode-config initiator (``mode-config=request-only``, RFC 7296 §2.19): the virtual IP the responder
  gives is added to the TUN device (a data plane with ``add_address``) and becomes the local side of
  the peer's policies — the responder narrowed TSi to it (§2.9), so the outbound policy is narrowed
  to exactly the negotiated selector and matches traffic sourced from the virtual IP, nothing else.
  When the IKE SA goes, the address is removed and the configured policies are restored.
* Dead peers and lost IKE SAs of non-passive peers are re-initiated after a short back-off.
* Data-plane events: a soft expiry rekeys the CHILD_SA, an acquire brings the policy's peer up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ipsecd.dataplane.base import DataPlane
from ipsecd.ike import events as ev
from ipsecd.ike.errors import ConfigError as IkeConfigError
from ipsecd.ike.router import COOKIE_THRESHOLD
from ipsecd.ike.sa import Addr
from ipsecd.ike.v2.config import ModeConfigLease, validate
from ipsecd.ike.v2.sa import IkeSa
from ipsecd.policy.errors import PoolError
from ipsecd.policy.events import Acquire, EndpointChanged, SadEvent, SoftExpire
from ipsecd.policy.pools import AddressPool, parse_ranges
from ipsecd.policy.types import Action, Direction, IpsecProto, Level, PolicySpec, Selector

from .control import Reply
from .peersel import select_peer
from .plan import PeerPlan, Plan, PlanError, build_plan
from .runtime import DYNAMIC_PREFIX, ChildRecord, PeerRecord, Runtime

if TYPE_CHECKING:
    from .app import Daemon

log = logging.getLogger("ipsecd")

REINITIATE_DELAY = 2.0
#: Seconds between NAT-keepalives while we are behind a NAT (RFC 3948 §4 suggests 20; strongSwan's default).
NATT_KEEPALIVE = 20.0
TEMPLATE = "template:"  # plan's policy_id prefix of CHILD_SAs that generate-policy admits
SELECTION_CACHE = 4096  # (remote, local) addresses whose peer selection is remembered until the plan changes
DYNAMIC_ORDER = 1_000_000  # dynamic policies come after every configured one  # seconds before a lost non-passive peer is tried again


class GlueError(Exception):
    """The daemon cannot start with this configuration or data plane (one line)."""


@dataclass(slots=True)
class _Lease:
    """A mode-config lease's holder. Its key in the pool is the remote identity, or
    "<identity> from <address>" when another client with that identity holds the identity's lease."""

    address: str  # the client's (outer) address
    refs: int = 0  # IKE SAs holding it: a reconnecting client's new SA shares its old one's


@dataclass(slots=True, kw_only=True)
class Tracked(PeerRecord):
    """What the glue keeps per IKE SA: its runtime record (one object per SA, not two) plus the SA,
    its peer's plan and what to undo (tuples: almost every SA has neither leases nor virtual IPs)."""

    sa: IkeSa
    plan: PeerPlan
    started: float  # daemon clock when its first message went or came
    leases: tuple[tuple[str, str], ...] = ()  # (pool, lease key) to release
    virtual_ips: tuple[str, ...] = ()  # mode-config initiator: addresses we installed

    @property
    def record(self) -> PeerRecord:
        return self


def route_source(remote: str) -> str:
    """The local address the kernel would use toward ``remote`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in remote else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect((remote, 9))
            return str(s.getsockname()[0])
        except OSError:
            return "0.0.0.0" if family == socket.AF_INET else "::"


class Glue:
    def __init__(self, plan: Plan, dataplane: DataPlane, *, force_encap: bool = True,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        self.plan = plan
        self.dataplane = dataplane
        self.force_encap = force_encap
        self.rng = rng
        self.tracked: dict[IkeSa, Tracked] = {}
        # indexes of ``tracked``, so per-event work does not grow with the number of tunnels:
        self._of_peer: dict[str, dict[IkeSa, Tracked]] = {}  # peer name -> its IKE SAs
        self._of_child: dict[int, Tracked] = {}  # a CHILD_SA's inbound SPI -> its IKE SA's record
        self._behind_nat: dict[IkeSa, Tracked] = {}  # IKE SAs whose NAT-D showed a NAT in front of us
        self.natt_keepalive = NATT_KEEPALIVE
        self.policies: dict[str, PolicySpec] = {}
        self.daemon: Daemon | None = None
        self.runtime: Runtime | None = None
        self.stopping = False
        self._noted: set[str] = set()
        self._sources: dict[str, str] = {}
        self._selected: dict[tuple[str, str], PeerPlan | None] = {}  # (remote, local) -> peer of this plan
        self.pools: dict[str, AddressPool] = {}
        self._leased: dict[tuple[str, str], _Lease] = {}  # (pool, lease key) -> who holds it
        self.dynamic: dict[int, str] = {}  # inbound SPI -> its generated policy id
        self.narrowed: dict[str, tuple[int, Selector]] = {}  # policy id -> (IKE SA id, virtual-IP selector)

    # -- wiring --------------------------------------------------------------------------------

    def attach(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.runtime = Runtime(self.dataplane, daemon.now, self.kill_connections, self.flush)

    def note_once(self, key: str, msg: str, *args: object, level: int = logging.WARNING) -> None:
        if key not in self._noted:
            self._noted.add(key)
            log.log(level, msg, *args)

    @property
    def _d(self) -> Daemon:
        assert self.daemon is not None, "glue used before attach()"
        return self.daemon

    @property
    def _rt(self) -> Runtime:
        assert self.runtime is not None, "glue used before attach()"
        return self.runtime

    # -- configuration -------------------------------------------------------------------------

    def _limits(self, plan: Plan) -> None:
        self._d.engine.router.cookie_threshold = COOKIE_THRESHOLD if plan.cookie_threshold is None else plan.cookie_threshold

    def start(self) -> None:
        self._attach_dataplane_ike()
        self._limits(self.plan)
        for line in self.plan.skipped:
            self.note_once(line, "%s", line)
        self._install_policies(self.plan)
        for peer in self.plan.peers:
            self._maybe_initiate(peer)

    def apply(self, plan: Plan) -> None:
        """A committed configuration change: tear down what changed or went, start what is new."""
        old = {p.endpoint.name: p for p in self.plan.peers}
        new = {p.endpoint.name: p for p in plan.peers}
        for line in plan.skipped:
            self.note_once(line, "%s", line)
        for name, peer in old.items():
            if new.get(name) != peer:
                for t in list(self._of_peer.get(name, {}).values()):
                    log.info("peer %s: %s, deleting its IKE SA", name, "removed" if name not in new else "changed")
                    self._delete(t)
        self.plan = plan
        self._selected.clear()
        self._limits(plan)
        self._install_policies(plan)
        for name, peer in new.items():
            if old.get(name) != peer:
                self._maybe_initiate(peer)

    def _install_policies(self, plan: Plan) -> None:
        wanted: dict[str, PolicySpec] = {}
        order = 0
        for peer in plan.peers:
            host = peer.endpoint.host
            for child in peer.children:
                assert child.policy_id is not None
                if child.policy_id.startswith(TEMPLATE):
                    continue  # generate-policy: a dynamic policy per SA, not a static one
                local = peer.endpoint.local_address
                narrowed = self.narrowed.get(child.policy_id)
                wanted[child.policy_id] = PolicySpec(
                    policy_id=child.policy_id, order=order, selector=narrowed[1] if narrowed else child.selector,
                    action=Action.ENCRYPT,
                    level=child.level, proto=IpsecProto.ESP, tunnel=child.mode.value == "tunnel",
                    sa_src=local, sa_dst=host, peer=peer.endpoint.name)
                order += 1
        for pid in [p for p in self.policies if p not in wanted or self.policies[p] != wanted[p]]:
            self.dataplane.del_policy(pid)
            del self.policies[pid]
        for pid, spec in wanted.items():
            if pid not in self.policies:
                self.dataplane.add_policy(spec)
                self.policies[pid] = spec

    def follow(self, config: Any) -> Callable[[str, bool], Reply]:
        """Apply every committed change of ``config`` (mgmt ``Config``) live; returns the control
        socket's command runner, a mgmt ``Session`` with this daemon's runtime views."""
        from ipsecd.mgmt.session import Session

        self.config = config  # the REST/API servers write to this same configuration (daemon/api)

        def changed(snapshot: Any) -> None:
            try:
                self.apply(build_plan(snapshot))
            except PlanError as exc:
                log.warning("configuration change not applied: %s", exc)

        config.add_listener(changed)

        def execute(line: str, as_json: bool) -> Reply:
            result = Session(config, self.runtime).execute(line, as_json)
            return Reply(int(result.rc), result.stdout, result.stderr)

        return execute

    # -- initiating ----------------------------------------------------------------------------

    def _maybe_initiate(self, peer: PeerPlan) -> None:
        if self.stopping or peer.endpoint.passive:
            return
        host = peer.endpoint.host
        if host is None:
            self.note_once(f"noinit:{peer.endpoint.name}",
                           "peer %s: address is not a single host, waiting for the peer to initiate",
                           peer.endpoint.name, level=logging.INFO)
            return
        if self._of_peer.get(peer.endpoint.name):
            return
        d = self._d
        remote = (host.compressed, peer.endpoint.port)
        local_host = peer.endpoint.local_address.compressed if peer.endpoint.local_address else route_source(remote[0])
        config = peer.ike_config((local_host, d.transport.ike_port), remote, natt_port=d.transport.natt_port,
                                 force_encap=self.force_encap)
        try:
            validate(config)
        except IkeConfigError as exc:
            self.note_once(f"invalid:{peer.endpoint.name}", "peer %s: not started: %s", peer.endpoint.name, exc)
            return
        sa = IkeSa.initiator(config, rng=self.rng, spi_alloc=self.dataplane.get_spi, now=d.now())
        self._track(sa, peer, "initiator")
        log.info("peer %s: initiating IKEv2 to %s:%d from %s", peer.endpoint.name, remote[0], remote[1], local_host)
        d.engine.add(sa)

    def _track(self, sa: IkeSa, peer: PeerPlan, side: str) -> None:
        local, remote = sa.addr
        key = id(sa)
        now = self._d.now()
        t = self.tracked[sa] = self._rt.peers[key] = Tracked(key, peer.endpoint.name, local, remote, side,
                                                             last_seen=now, sa=sa, plan=peer, started=now)
        self._of_peer.setdefault(peer.endpoint.name, {})[sa] = t

    def new_responder(self, data: bytes, addr: Addr, now: float) -> IkeSa | None:
        """The router's IKEv2 responder factory: the peer whose address matches ``addr``."""
        if self.stopping:
            return None
        local, remote = addr
        key = (remote[0], local[0])
        if key in self._selected:
            peer = self._selected[key]
        else:
            peer_ep = select_peer(self.plan.endpoints(), *key)
            peer = self.plan.by_name(peer_ep.name) if peer_ep is not None else None
            if len(self._selected) >= SELECTION_CACHE:
                self._selected.clear()
            self._selected[key] = peer
        if peer is None:
            self.note_once(f"nopeer:{remote[0]}",
                           "IKE_SA_INIT from %s:%d: no enabled ike2 peer's address matches it; add "
                           "/ip ipsec peer address=%s/32 exchange-mode=ike2", remote[0], remote[1], remote[0])
            return None
        extra = {"lease": self._lease_fn(peer, remote[0])} if peer.lease_source is not None else {}
        config = peer.ike_config(local, remote, natt_port=self._d.transport.natt_port,
                                 force_encap=self.force_encap, **extra)
        sa = IkeSa.responder(config, rng=self.rng, spi_alloc=self.dataplane.get_spi, now=now, addr=addr)
        self._track(sa, peer, "responder")
        return sa

    def _lease_fn(self, peer: PeerPlan, remote: str) -> Callable[[str], ModeConfigLease | None]:
        """Mode-config responder: lease an address of the peer's pool to the remote identity at
        ``remote``. A client reconnecting from the same address gets its lease again; another client
        sending the same identity (one shared PSK and remote-id=auto, or clients behind different
        NATs whose ID is the same private address) gets a lease of its own."""
        src = peer.lease_source
        assert src is not None
        pool = self.pools.get(src.pool)
        if pool is None or pool.ranges != parse_ranges(src.ranges)[1]:
            pool = self.pools[src.pool] = AddressPool(src.pool, src.ranges)
        dns = tuple(ipaddress.ip_address(d) for d in src.dns)

        def lease(identity: str) -> ModeConfigLease | None:
            holder = self._leased.get((src.pool, identity))
            key = identity if holder is None or holder.address == remote else f"{identity} from {remote}"
            try:
                address = pool.allocate(key)
            except PoolError as exc:
                log.warning("peer %s: no address for %s: %s", peer.endpoint.name, identity, exc)
                return None
            return ModeConfigLease(address, src.prefix_length, dns, src.split_include)

        return lease

    # -- events --------------------------------------------------------------------------------

    def on_event(self, sa: Any, event: object) -> None:
        t = self.tracked.get(sa)
        if t is None:
            return
        name, rec = t.plan.endpoint.name, t.record
        d = self._d
        rec.last_seen = now = d.now()
        if isinstance(event, ev.IkeSaEstablished):
            rec.state, rec.established_at = "established", now
            rec.local, rec.remote = event.local, event.remote
            rec.natt = event.nat_local or event.nat_remote or event.local[1] == d.transport.natt_port
            rec.spi_i, rec.spi_r = (event.local_spi, event.remote_spi) if event.initiator else (
                event.remote_spi, event.local_spi)
            if event.initial_contact:
                self._initial_contact(t, event.remote_id)
            if event.nat_local:
                self._keep_nat_open(t)
            if log.isEnabledFor(logging.INFO):  # per SA: not even the arguments when not logged
                log.info("peer %s: IKE SA established as %s, %s:%d <-> %s:%d, local id %s, remote id %s, "
                         "%s/%s/%s/%s%s", name, rec.side, *event.local, *event.remote, event.local_id,
                         event.remote_id, event.encr, event.integ or "-", event.prf, event.dh,
                         ", NAT-T" if rec.natt else "")
        elif isinstance(event, ev.IkeSaRekeyed):
            rec.spi_i, rec.spi_r = sa.spi_i, sa.spi_r
            log.info("peer %s: IKE SA rekeyed (%s -> %s)", name, event.old_spi.hex(), event.new_spi.hex())
        elif isinstance(event, ev.ChildSaInstalled):
            event = self._dynamic_policy(t, event)
            if t.sa.virtual_ips:
                self._virtual_ip_policy(t, event)
            self.dataplane.add_sa(event.inbound)
            self.dataplane.add_sa(event.outbound)
            soft = event.inbound.lifetime.soft_seconds
            self._of_child[event.inbound.spi] = t
            rec.children[event.inbound.spi] = ChildRecord(
                event.inbound, event.outbound, t.plan.policy_of(event.child, event.outbound.policy_id),
                now, time.time(), now + soft if soft else None)
            if log.isEnabledFor(logging.INFO):
                log.info("peer %s: CHILD_SA %s, SPIs in 0x%08x out 0x%08x, %s%s%s", name,
                         "rekeyed" if event.rekey_of is not None else "established", event.inbound.spi,
                         event.outbound.spi, event.outbound.encr,
                         f"/{event.outbound.integ}" if event.outbound.integ != "null" else "",
                         ", UDP-encapsulated" if event.outbound.encap else "")
            if event.left_out:  # once per peer and ranges: a road-warrior peer would repeat it per client
                sel = event.outbound.selector
                self.note_once(f"leftout:{name}:{event.left_out}", "peer %s: CHILD_SA carries %s -> %s only, not "
                               "%s: an SA has one selector pair, give each range a policy of its own", name,
                               sel.src if sel else "?", sel.dst if sel else "?", ", ".join(event.left_out))
        elif isinstance(event, ev.ChildSaRekeyed):
            log.info("peer %s: CHILD_SA 0x%08x replaced by 0x%08x", name, event.old_inbound_spi, event.new_inbound_spi)
        elif isinstance(event, ev.ChildSaDeleted):
            self._drop_dynamic(event.inbound_spi)
            self._of_child.pop(event.inbound_spi, None)
            if self._rt.remove_child(rec, event.inbound_spi) is not None:
                log.info("peer %s: CHILD_SA 0x%08x/0x%08x deleted: %s", name, event.inbound_spi, event.outbound_spi,
                         event.reason)
        elif isinstance(event, ev.IkeSaDeleted):
            self._forget(t, event.reason)
        elif isinstance(event, ev.AuthenticationFailed):
            log.warning("peer %s: authentication failed with %s:%d: %s", name, *event.remote, event.detail)
        elif isinstance(event, ev.NegotiationFailed):
            log.warning("peer %s: %s failed (%s): %s", name, event.exchange, event.notify, event.detail)
        elif isinstance(event, ev.PeerDead):
            log.warning("peer %s: %s:%d is dead: %s", name, *event.remote, event.detail)
        elif isinstance(event, ev.AddressLeased):
            rec.dynamic_address = event.address.compressed
            if t.plan.lease_source is not None:
                pool_name = t.plan.lease_source.pool
                leased = self.pools.get(pool_name)
                key = (leased.owner(event.address) if leased is not None else None) or event.remote_id
                t.leases += ((pool_name, key),)
                self._leased.setdefault((pool_name, key), _Lease(t.sa.addr[1][0])).refs += 1
            log.info("peer %s: leased %s to %s", name, rec.dynamic_address, event.remote_id)
        elif isinstance(event, ev.VirtualIpAssigned):
            self._install_virtual_ips(t)
            log.info("peer %s: virtual IP %s assigned%s%s", name, rec.dynamic_address,
                     # ipsecd does not manage the host's resolver (RouterOS would put these in /ip dns)
                     f", DNS {', '.join(a.compressed for a in event.dns)} (not applied to the host's resolver)"
                     if event.dns else "", f", subnets {', '.join(event.subnets)}" if event.subnets else "")

    def _keep_nat_open(self, t: Tracked) -> None:
        """We are behind a NAT: its UDP mapping must outlive idle periods, or the peer can no longer
        reach us (rekeys, DPD, its traffic). RFC 3948 §4: NAT-keepalives from the NAT-T port, one
        timer for all such IKE SAs. It is armed by the first one only: arming it again would put
        it off (``Timers.arm`` moves a pending timer to the later time), and a gateway where a
        NATed SA comes up every few seconds would never send one."""
        first = not self._behind_nat
        self._behind_nat[t.sa] = t
        if first:
            timers = self._d.timers
            timers.arm(("natt-keepalive",), timers.now() + self.natt_keepalive, self._send_keepalives)

    def _send_keepalives(self, key: Hashable) -> None:
        for t in self._behind_nat.values():
            local, remote = t.sa.addr
            self._d.transport.send_keepalive(local, remote)
        if self._behind_nat:
            timers = self._d.timers
            timers.arm(key, timers.now() + self.natt_keepalive, self._send_keepalives)

    def _initial_contact(self, t: Tracked, remote_id: str) -> None:
        """RFC 7296 §2.4: the peer says this is its only IKE SA with us — it restarted, so the older
        IKE SAs of that identity are gone at its end. Ours go now, without a DELETE (it would not know
        their SPIs), instead of waiting for DPD or their lifetime. Only those from the same address
        (another client sending the same identity, road warriors sharing a PSK, is not the one that
        restarted), and only those established before this one began: when both sides initiate at
        once, the IKE SAs cross, and the one we initiated is no leftover of a restart."""
        remote = t.sa.addr[1][0]
        stale = [o for o in self._of_peer.get(t.peer, {}).values()
                 if o is not t and o.sa.remote_id == remote_id and o.sa.addr[1][0] == remote
                 and o.established_at is not None and o.established_at < t.started]
        for o in stale:
            log.info("peer %s: INITIAL_CONTACT from %s: dropping the IKE SA it replaces (%s)", t.peer, remote_id,
                     (o.spi_i or b"").hex() or "not established")
            self._forget(o, "replaced after the peer's INITIAL_CONTACT")

    def _dynamic_policy(self, t: Tracked, event: ev.ChildSaInstalled) -> ev.ChildSaInstalled:
        """generate-policy: a policy for exactly the negotiated selectors, for the SA's life."""
        out = event.outbound
        if not (out.policy_id or "").startswith(TEMPLATE) or out.selector is None:
            return event
        pid = f"{DYNAMIC_PREFIX}{t.plan.endpoint.name}:{event.inbound.spi:08x}"
        self.dataplane.add_policy(PolicySpec(pid, DYNAMIC_ORDER + len(self.dynamic), out.selector,
                                             tunnel=out.mode.value == "tunnel", sa_src=out.src, sa_dst=out.dst,
                                             dynamic=True, peer=t.plan.endpoint.name))
        self.dynamic[event.inbound.spi] = pid
        return replace(event, inbound=replace(event.inbound, policy_id=pid), outbound=replace(out, policy_id=pid))

    def _install_virtual_ips(self, t: Tracked) -> None:
        """Mode-config initiator: the addresses we were given go on the TUN device (once)."""
        t.record.dynamic_address = ", ".join(a.compressed for a in t.sa.virtual_ips)
        add = getattr(self.dataplane, "add_address", None)
        for a in t.sa.virtual_ips:
            if a.compressed not in t.virtual_ips:
                t.virtual_ips += (a.compressed,)
                if add is not None:
                    add(a.compressed)

    def _virtual_ip_policy(self, t: Tracked, event: ev.ChildSaInstalled) -> None:
        """Our policy's local side becomes the virtual IP the responder narrowed TSi to. The address
        is installed first so the data plane routes the policy's traffic from it."""
        out = event.outbound
        pid = out.policy_id
        spec = self.policies.get(pid or "")
        if pid is None or spec is None or out.selector is None or spec.selector == out.selector:
            return
        self._install_virtual_ips(t)
        self.narrowed[pid] = (id(t.sa), out.selector)
        self._install_policies(self.plan)
        log.info("peer %s: policy %s narrowed to %s -> %s (virtual IP)", t.plan.endpoint.name, pid,
                 out.selector.src, out.selector.dst)

    def _drop_virtual_ips(self, t: Tracked) -> None:
        """The IKE SA went: its virtual IP leaves the TUN device, the configured policies come back."""
        mine = [pid for pid, (owner, _sel) in self.narrowed.items() if owner == id(t.sa)]
        for pid in mine:
            del self.narrowed[pid]
        if mine:
            self._install_policies(self.plan)
        remove = getattr(self.dataplane, "del_address", None)
        for a in t.virtual_ips:
            if remove is not None:
                remove(a)
        t.virtual_ips = ()

    def _drop_dynamic(self, inbound_spi: int) -> None:
        pid = self.dynamic.pop(inbound_spi, None)
        if pid is not None:
            self.dataplane.del_policy(pid)

    def _forget(self, t: Tracked, reason: str) -> None:
        rec = t.record
        for spi in list(rec.children):
            self._drop_dynamic(spi)
            self._of_child.pop(spi, None)
            self._rt.remove_child(rec, spi)
        self._drop_virtual_ips(t)
        for pool_name, key in t.leases:  # the lease goes with its last IKE SA (a reconnect shares it)
            holder = self._leased.get((pool_name, key))
            if holder is not None:
                holder.refs -= 1
                if holder.refs > 0:
                    continue
                del self._leased[(pool_name, key)]
            pool = self.pools.get(pool_name)
            if pool is not None:
                pool.release(key)
        self.tracked.pop(t.sa, None)
        self._behind_nat.pop(t.sa, None)
        mine = self._of_peer.get(t.peer)
        if mine is not None:
            mine.pop(t.sa, None)
            if not mine:
                del self._of_peer[t.peer]
        self._rt.peers.pop(id(t.sa), None)
        self._d.engine.remove(t.sa)
        if rec.state == "established" or rec.side == "initiator":
            log.info("peer %s: IKE SA with %s:%d gone: %s", t.plan.endpoint.name, *rec.remote, reason)
        current = self.plan.by_name(t.plan.endpoint.name)
        if current is not None and not current.endpoint.passive and not self.stopping:
            timers = self._d.timers
            timers.arm(("reinit", current.endpoint.name), timers.now() + REINITIATE_DELAY, self._reinitiate)

    def _reinitiate(self, key: tuple[str, str]) -> None:
        peer = self.plan.by_name(key[1])
        if peer is not None:
            self._maybe_initiate(peer)

    # -- data plane ----------------------------------------------------------------------------

    def _attach_dataplane_ike(self) -> None:
        """A data plane that owns the NAT-T socket (TUN workers) hands IKE over and sends ours."""
        dp: Any = self.dataplane
        if not hasattr(dp, "recv_ike"):
            return
        transport = self._d.transport
        transport.natt_sender = lambda data, local, remote: dp.send_ike(data, remote)
        transport.keepalive_sender = dp.send_keepalive
        loop = asyncio.get_running_loop()
        for fd in dp.ike_fds():
            loop.add_reader(fd, self.on_dataplane_events)

    def _dataplane_ike(self) -> bool:
        """Hand the IKE messages the data plane received on UDP/4500 to the transport; whether any."""
        dp: Any = self.dataplane
        recv_ike = getattr(dp, "recv_ike", None)
        messages = recv_ike() if recv_ike is not None else []
        transport = self._d.transport
        for message, sender in messages:
            local = self._local_for(sender[0])
            transport.ike_from_dataplane(message, (local, transport.natt_port), (sender[0], sender[1]))
        return bool(messages)

    def _local_for(self, remote: str) -> str:
        cached = self._sources.get(remote)
        if cached is None:
            cached = self._sources[remote] = route_source(remote)
        return cached

    def close(self) -> None:
        """After the DELETEs left: stop the data plane's workers and readers."""
        dp: Any = self.dataplane
        if hasattr(dp, "ike_fds"):
            loop = asyncio.get_running_loop()
            for fd in dp.ike_fds():
                loop.remove_reader(fd)
        if hasattr(dp, "close"):
            dp.close()

    def on_dataplane_events(self) -> None:
        """Everything the data plane has for us: events, and IKE messages from UDP/4500. Both arrive
        on the same pipes and either call drains both, so this repeats until a drain finds nothing —
        an IKE message read off the pipe by the periodic event poll would otherwise wait for the pipe's
        next readiness (seen in CI: a CREATE_CHILD_SA response processed 2 s late)."""
        while True:
            events = self.dataplane.poll_events()
            ike = self._dataplane_ike()
            if not events and not ike:
                return
            self._on_dataplane_events(events)

    def _on_dataplane_events(self, events: list[SadEvent]) -> None:
        for event in events:
            if isinstance(event, SoftExpire) and event.direction is Direction.IN:
                t = self._of_child.get(event.spi)
                if t is not None:
                    t.sa.rekey_child(event.spi)
                    self._d.engine.pump(t.sa)
            elif isinstance(event, Acquire) and event.level is not Level.USE:
                self._acquire(event.policy_id)
            elif isinstance(event, EndpointChanged):
                owner = self._of_child.get(event.spi)
                name = owner.plan.endpoint.name if owner is not None else "?"
                if event.out_spi is not None:
                    log.info("peer %s: NAT mapping moved from %s:%d to %s:%d (authenticated ESP, SPI %#x); ESP "
                             "follows, IKE on its next authenticated message", name, *event.old, *event.new, event.spi)
                else:
                    log.warning("peer %s: NAT mapping moved from %s:%d to %s:%d (authenticated ESP, SPI %#x); the "
                                "data plane could not move the outbound SA, ESP to the peer still goes to %s:%d until "
                                "the CHILD_SA is negotiated again", name, *event.old, *event.new, event.spi, *event.old)

    def _acquire(self, policy_id: str) -> None:
        """Traffic hit a policy without SA: a CHILD_SA on the peer's IKE SA, or the IKE SA first."""
        spec = self.policies.get(policy_id)
        peer = self.plan.by_name(spec.peer) if spec and spec.peer else None
        if peer is None:
            return
        child = next((c for c in peer.children if c.policy_id == policy_id), None)
        for t in self._of_peer.get(peer.endpoint.name, {}).values():
            if t.record.state == "established":
                if child is not None and not t.sa.creating_child(policy_id) and \
                        not any(c.policy_id == policy_id for c in t.record.children.values()):
                    t.sa.create_child(child)
                    self._d.engine.pump(t.sa)
                return
        self._maybe_initiate(peer)

    # -- operator commands and shutdown ----------------------------------------------------------

    def _delete(self, t: Tracked) -> None:
        t.sa.delete()
        self._d.engine.pump(t.sa)

    def kill_connections(self) -> int:
        tracked = list(self.tracked.values())
        for t in tracked:
            self._delete(t)
        return len(tracked)

    def flush(self) -> int:
        """``installed-sa flush``: every SA leaves the data plane now, and the peers are told with a
        DELETE per CHILD_SA so they stop using them; traffic then brings new ones up (acquire)."""
        n = sum(2 * len(t.record.children) for t in self.tracked.values())
        self.dataplane.flush()
        for t in self.tracked.values():
            for spi in list(t.record.children):
                self._drop_dynamic(spi)
                self._of_child.pop(spi, None)
                t.sa.delete_child(spi, "installed-sa flush")
            t.record.children.clear()
            self._d.engine.pump(t.sa)
        return n

    def shutdown(self) -> None:
        self.stopping = True
        for t in list(self.tracked.values()):
            self._delete(t)


# -- assembly (``ipsecd run``) ---------------------------------------------------------------------


def make_dataplane(name: str, tun: str, *, ike_port: int = 500, natt_port: int = 4500) -> Any:
    """The backend named on the command line; GlueError when this build or host cannot run it."""
    try:
        if name == "memory":
            from ipsecd.dataplane.memory import MemoryDataPlane

            return MemoryDataPlane()
        if name == "tun":
            from ipsecd.dataplane.userspace.backend import TunDataPlane

            return TunDataPlane(tun, ike_port=ike_port, natt_port=natt_port)
        from ipsecd.dataplane.xfrm.backend import XfrmDataPlane

        return XfrmDataPlane(bypass_ports=())  # the daemon's sockets carry their own bypass (prepare_ike_socket)
    except ImportError as exc:
        raise GlueError(f"data plane {name} is not available in this build ({exc.name})") from None
    except Exception as exc:  # each backend has its own errors (TunError, ConfigError, OSError)
        raise GlueError(f"data plane {name}: {exc}") from None


def build(args: Any) -> tuple[Glue, Callable[[str, bool], Any], bool, tuple[str, ...]]:
    """Configuration, data plane and glue for ``ipsecd run``: (glue, control execute, own NAT-T?, locals)."""
    from ipsecd.mgmt.errors import ConfigError
    from ipsecd.mgmt.model import open_config


    try:
        if args.config:
            config = open_config(None)
            with open(args.config, encoding="utf-8") as fh:
                script = fh.read()
            for warning in config.import_script(script, args.config):
                log.warning("%s", warning)
        else:
            config = open_config(args.db)
        plan = build_plan(config.snapshot())
    except (ConfigError, PlanError) as exc:
        raise GlueError(str(exc)) from None
    except OSError as exc:
        raise GlueError(f"{args.config or args.db}: {exc.strerror}") from None
    dataplane = make_dataplane(args.dataplane, args.tun, ike_port=args.ike_port, natt_port=args.natt_port)
    glue = Glue(plan, dataplane, force_encap=True)
    execute = glue.follow(config)

    own_natt = not hasattr(dataplane, "recv_ike")
    local_addresses = {p.endpoint.local_address.compressed for p in plan.peers if p.endpoint.local_address}
    all_bound = local_addresses and all(p.endpoint.local_address for p in plan.peers)
    return glue, execute, own_natt, tuple(sorted(local_addresses)) if all_bound else ()
