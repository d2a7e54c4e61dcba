"""The glue: configuration plan → IKE SAs → data plane, and back into the runtime views.

The concerns live in their own modules; this one wires them and routes events:

* :mod:`.peers` — the IKE SAs by peer and CHILD_SA, DNS-named peers resolved off the loop;
* :mod:`.sas` — configured, narrowed and generated policies in the SPD;
* :mod:`.leases` — mode-config leases we give and virtual IPs we are given (RFC 7296 §2.19);
* :mod:`.natt` — NAT-keepalives and IKE from the data plane's NAT-T socket;
* :mod:`.logs` — IKE events as operator lines, peer strings escaped, floods limited by reason.

IKEv1 peers (``exchange-mode`` main, the default, aggressive or base) run as :class:`Ikev1Sa` beside
the IKEv2 ones: the same events, the same views; their responders come from the router's version-1
factory (:meth:`Glue.new_v1_responder`: by address and exchange mode). Phase-1 re-keys, collisions
and IPsec SAs that outlive their ISAKMP SA are :mod:`.ikev1`'s.

Here: start and live changes (:meth:`Glue.apply`: removed or changed peers are torn down with a
DELETE, RFC 7296 §1.4.1, before the new version starts; non-passive peers with one address are
initiated, as RouterOS brings phase 1 and 2 up by itself); responders (:meth:`Glue.new_responder`: an
IKE_SA_INIT is matched to a peer by source address, most specific prefix first, :mod:`.peersel`);
IKE events (:meth:`Glue.on_event`); data-plane events (a soft expiry rekeys the CHILD_SA, a hard
expiry deletes it, an acquire brings the policy's peer up, ESP counters tell DPD the peer is alive);
dead peers and lost IKE SAs of non-passive peers are re-initiated after a short back-off.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ipsecd.dataplane.base import DataPlane
from ipsecd.dataplane.errors import BackendFailed
from ipsecd.ike import events as ev
from ipsecd.ike.eap.server import ACCEPT, UNAVAILABLE, RelayAnswer, RelayQuestion
from ipsecd.ike.errors import ConfigError as IkeConfigError
from ipsecd.ike.router import COOKIE_THRESHOLD
from ipsecd.ike.sa import Addr
from ipsecd.ike.v1.aggressive import identifies, initiator_id
from ipsecd.ike.v1.sa import Ikev1Sa
from ipsecd.ike.v1.xauth import XauthQuestion
from ipsecd.ike.v2.config import ModeConfigLease, validate
from ipsecd.ike.v2.sa import IkeSa
from ipsecd.pki.store import CertificateStore, store_directory
from ipsecd.policy.events import Acquire, EndpointChanged, HardExpire, SadEvent, SoftExpire
from ipsecd.policy.types import Direction, Level
from ipsecd.util.bounded import BoundedCache
from ipsecd.util.text import escape

from . import accounting, logs, radius
from .control import Reply
from .host import Host
from .ikev1 import INITIATOR_REKEY, RESPONDER_REKEY, Ikev1Succession
from .leases import Leases, VirtualIps
from .natt import DataplaneIke, Keepalives
from .peers import IPAddress, Lookup, PeerIndex, Resolver, Tracked, getaddrinfo_lookup, route_source
from .peersel import candidates, select_peer
from .plan import PeerPlan, Plan, PlanError, build_plan
from .runtime import ChildRecord, Runtime
from .sas import Policies

log = logging.getLogger("ipsecd")

REINITIATE_DELAY = 2.0  # seconds before a lost non-passive peer is tried again
SELECTION_CACHE = 4096  # (remote, local) addresses whose peer selection is remembered until the plan changes
LIVENESS_SWEEP = 2.0  # seconds before a DPD check that the data plane's counters are read
LIVENESS_EVERY = 1.0  # seconds between two looks at which SAs are near their DPD check
V1_MODES = {2: "main", 4: "aggressive", 1: "base"}  # IKEv1 exchange type of a first message -> exchange-mode


class GlueError(Exception):
    """The daemon cannot start with this configuration or data plane (one line)."""


class Glue:
    def __init__(self, plan: Plan, dataplane: DataPlane, *, force_encap: bool = True,
                 rng: Callable[[int], bytes] = os.urandom, lookup: Lookup = getaddrinfo_lookup) -> None:
        self.configured = plan  # as configured; ``plan`` has the DNS-named peers' addresses filled in
        self.plan = plan
        self.dataplane = dataplane
        self.force_encap = force_encap
        self.rng = rng
        self.lookup = lookup
        self.index = PeerIndex()
        self.tracked = self.index.tracked
        self.spd = Policies(dataplane)
        self.leases = Leases()
        self.virtual_ips = VirtualIps(dataplane, self.spd)
        self.notes = logs.Notes()
        self.limiter = logs.ReasonLimiter()
        self._selected: BoundedCache[tuple[str, str, str], PeerPlan | None] = BoundedCache(SELECTION_CACHE)
        self.host: Host | None = None
        self.runtime: Runtime | None = None
        self.certificates: CertificateStore | None = None  # /certificate, for digital-signature identities
        self.stopping = False
        self._swept = float("-inf")  # daemon clock of the last liveness sweep
        self.radius: radius.RadiusClient | None = None  # /radius service=ipsec, for eap-radius identities
        # eap-radius IKE SAs the server accepted: (the EAP identity, its Access-Accept's answer)
        self._accepted: dict[Any, tuple[str, RelayAnswer]] = {}
        self._asking: set[asyncio.Task[None]] = set()  # RADIUS rounds under way (a reference keeps each)

    # -- wiring --------------------------------------------------------------------------------

    def attach(self, host: Host) -> None:
        self.host = host
        self.runtime = Runtime(self.dataplane, host.now, self.kill_connections, self.flush,
                               self.peer_rows)
        self.runtime.certificates = self.certificates  # /certificate of mgmt's sessions
        self.keepalives = Keepalives(host)
        self.accounting = accounting.Accounting(host.timers, self._counters)
        self.dp_ike = DataplaneIke(host, self.dataplane)
        self.resolver = Resolver(host, self._resolved, self.lookup)
        self.index.sa_of_spi = host.engine.router.by_spi
        host.engine.router.spi_listener = self.dp_ike.spi_changed
        self.v1 = Ikev1Succession(self.index, self.runtime, self.spd,
                                  lambda peer: self._maybe_initiate(peer, rekey=True), host.now)
        host.transport.observer = self.index.count

    @property
    def _d(self) -> Host:
        assert self.host is not None, "glue used before attach()"
        return self.host

    @property
    def _rt(self) -> Runtime:
        assert self.runtime is not None, "glue used before attach()"
        return self.runtime

    # -- configuration -------------------------------------------------------------------------

    def _limits(self, plan: Plan) -> None:
        threshold = plan.cookie_threshold
        self._d.engine.router.cookie_threshold = COOKIE_THRESHOLD if threshold is None else threshold

    def start(self) -> None:
        self._d.engine.router.register(1, self.new_v1_responder)
        self.dp_ike.attach(self.on_dataplane_events)
        self.apply(self.configured, first=True)

    def apply(self, plan: Plan, *, first: bool = False) -> None:
        """A committed configuration change: tear down what changed or went, start what is new."""
        self.configured = plan
        plan = self._with_addresses(plan)
        old = {} if first else {p.endpoint.name: p for p in self.plan.peers}
        new = {p.endpoint.name: p for p in plan.peers}
        for line in plan.skipped:
            self.notes.once(line, "%s", line)
        for name, peer in old.items():
            if new.get(name) != peer:
                self.v1.drop_peer(name, f"peer {'removed' if name not in new else 'changed'}")
                for t in self.index.of(name):
                    change = "removed" if name not in new else "changed"
                    log.info("peer %s: %s, deleting its IKE SA", name, change)
                    self._delete(t)
        self.plan = plan
        self._selected.clear()
        self._limits(plan)
        self._radius(plan)
        self.spd.install(plan)
        self.resolver.follow({p.endpoint.hostname for p in plan.peers if p.endpoint.hostname})
        for name, peer in new.items():
            if old.get(name) != peer:
                self._maybe_initiate(peer)

    def _radius(self, plan: Plan) -> None:
        """A RADIUS client for the plan's ``/radius`` servers (a new one when they changed)."""
        if self.radius is not None and self.radius.servers == plan.radius:
            return
        if self.radius is not None:
            self.radius.close()
        self.radius = radius.RadiusClient(plan.radius) if plan.radius else None
        acct = self.accounting
        acct.client, acct.enabled, acct.interim = self.radius, plan.accounting, plan.interim_update

    def _counters(self, sa: Any) -> accounting.Counters:
        """Octets and packets of an IKE SA's live CHILD_SAs (input: from the peer)."""
        t = self.tracked.get(sa)
        total: accounting.Counters = (0, 0, 0, 0)
        for child in t.record.children.values() if t is not None else ():
            total = accounting.add(total, self._child_counters(child))
        return total

    def _child_counters(self, child: ChildRecord) -> accounting.Counters:
        query = self.dataplane.query_sa
        i = query(child.inbound.spi, child.inbound.direction)
        o = query(child.outbound.spi, child.outbound.direction)
        return (i.current_bytes if i else 0, o.current_bytes if o else 0,
                i.current_packets if i else 0, o.current_packets if o else 0)

    def _session_timeout(self, key: object) -> None:
        """RADIUS Session-Timeout: the client must authenticate again; its IKE SA is deleted."""
        assert isinstance(key, tuple)
        t = self.tracked.get(key[1])
        if t is not None:
            log.info("peer %s: RADIUS Session-Timeout for %s: deleting its IKE SA", t.plan.endpoint.name,
                     escape(self._accepted.get(t.sa, ("?",))[0]))
            self.accounting.ending(t.sa, accounting.SESSION_TIMEOUT)
            self._delete(t)

    def _ask(self, t: Tracked, sa: Any, event: ev.VerdictRequested) -> None:
        """An eap-radius round: the RADIUS server is asked off the event loop's critical path; the
        answer goes back to the waiting IKE SA (every other SA is served meanwhile)."""
        question = event.question
        client = self.radius
        if client is not None and isinstance(question, XauthQuestion):
            self._ask_xauth(client, sa, event.token, question)
            return
        if client is None or not isinstance(question, RelayQuestion):
            reason = "no /radius entry with service=ipsec: add one for auth-method=eap-radius"
            sa.provide_verdict(event.token, RelayAnswer(UNAVAILABLE, reason=reason))
            self._d.engine.pump(sa)
            return
        local = ipaddress.ip_address(sa.addr[0][0])
        nas_ip = local.packed if local.version == 4 else None

        async def ask() -> None:
            answer = await radius.relay(client, question, nas_ip)
            if answer.kind == ACCEPT and answer.msk:
                self._accepted[sa] = (question.user.decode("utf-8", "replace"), answer)
            if not sa.closed:
                sa.provide_verdict(event.token, answer)
                self._d.engine.pump(sa)

        task = asyncio.get_running_loop().create_task(ask())
        self._asking.add(task)
        task.add_done_callback(self._asking.discard)

    def _ask_xauth(self, client: radius.RadiusClient, sa: Any, token: object, question: XauthQuestion
                   ) -> None:
        """An XAuth user with ``xauth-use-radius=yes``: one Access-Request with the user's name and
        password (User-Password, RFC 2865 §5.2), the verdict back to the waiting ISAKMP SA."""
        local = ipaddress.ip_address(sa.addr[0][0])
        nas_ip = local.packed if local.version == 4 else None

        async def ask() -> None:
            answer = await radius.pap(client, question.user, question.password, question.calling_station_id,
                                      nas_ip)
            if answer.kind == ACCEPT:
                self._accepted[sa] = (question.user.decode("utf-8", "replace"), answer)
            if not sa.closed:
                sa.provide_verdict(token, answer)
                self._d.engine.pump(sa)

        task = asyncio.get_running_loop().create_task(ask())
        self._asking.add(task)
        task.add_done_callback(self._asking.discard)

    def _framed_lease(
        self, made: list[Any], pool: Callable[[str], ModeConfigLease | None] | None, peer: PeerPlan
    ) -> Callable[[str], ModeConfigLease | None]:
        """An eap-radius client's mode-config address: the Access-Accept's Framed-IP-Address (RFC
        2865 §5.8) instead of the pool's, with the mode-config's DNS and split-include."""
        src = peer.lease_source
        dns = tuple(ipaddress.ip_address(d) for d in src.dns) if src is not None else ()
        split = src.split_include if src is not None else ()

        def lease(identity: str) -> ModeConfigLease | None:
            accepted = self._accepted.get(made[0]) if made else None
            framed = accepted[1].framed_ip if accepted is not None else None
            if framed is not None:
                return ModeConfigLease(framed, 32, dns, split)
            return pool(identity) if pool is not None else None

        return lease

    def _with_addresses(self, plan: Plan) -> Plan:
        """The plan with each DNS-named peer's current address as its ``address``."""
        if not any(p.endpoint.hostname for p in plan.peers):
            return plan
        known = self.resolver.addresses
        peers = tuple(
            replace(p, endpoint=replace(p.endpoint, address=ipaddress.ip_network(known[p.endpoint.hostname])))
            if p.endpoint.hostname in known
            else p
            for p in plan.peers
        )
        return replace(plan, peers=peers)

    def _resolved(self, name: str, address: IPAddress | None) -> None:
        """A DNS-named peer has a (new) address: its IKE SA to the old one goes, a new one starts."""
        if not self.stopping:
            self.apply(self.configured)

    def peer_rows(self) -> list[dict[str, object]]:
        """``/ip ipsec peer``'s ``current-address``: where the peer is now — the address its DNS name
        resolved to, else the remote address of its established IKE SA, else its one configured host."""
        rows: list[dict[str, object]] = []
        for peer in self.plan.peers:
            ep = peer.endpoint
            where = ep.host.compressed if ep.host is not None else None
            if ep.hostname is None:
                sas = [t for t in self.index.of(ep.name) if t.state == "established"]
                where = sas[0].remote[0] if sas else where
            if where is not None:
                rows.append({".id": peer.item_id, "name": ep.name, "current-address": where})
        return rows

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

    # -- initiating and responding ------------------------------------------------------------------

    def _maybe_initiate(self, peer: PeerPlan, *, rekey: bool = False) -> None:
        """Start the peer's IKE SA (``rekey``: a new IKEv1 phase 1 beside the current one, which
        sends no INITIAL-CONTACT — the peer must keep the IPsec SAs that carry traffic meanwhile)."""
        if (
            self.stopping
            or peer.endpoint.passive
            or (self.index.of_peer.get(peer.endpoint.name) and not rekey)
        ):
            return
        name, host = peer.endpoint.name, peer.endpoint.host
        if host is None:
            if peer.endpoint.hostname is None:  # a DNS name starts when it resolves
                self.notes.once(
                    f"noinit:{name}",
                    "peer %s: address is not a single host, waiting for the peer to initiate",
                    name,
                    level=logging.INFO,
                )
            return
        d = self._d
        remote = (host.compressed, peer.endpoint.port)
        local = peer.endpoint.local_address
        local_host = local.compressed if local else route_source(remote[0])
        config = peer.ike_config(
            (local_host, d.transport.ike_port),
            remote,
            natt_port=d.transport.natt_port,
            force_encap=self.force_encap,
            store=self.certificates,
        )
        if rekey:
            config = replace(config, send_initial_contact=False)
        try:
            validate(config)
        except IkeConfigError as exc:
            self.notes.once(f"invalid:{name}", "peer %s: not started: %s", name, exc)
            return
        sa: IkeSa | Ikev1Sa
        if peer.v1 is not None:
            sa = Ikev1Sa.initiate(  # quick modes: started or adopted once phase 1 is up (.ikev1)
                config, peer.v1, rng=self.rng, spi_alloc=self.dataplane.get_spi, now=d.now(),
                auto_children=False,
            )
            version = f"IKEv1 ({peer.v1.exchange_mode.value} mode{', re-keying phase 1' if rekey else ''})"
        else:
            sa = IkeSa.initiator(config, rng=self.rng, spi_alloc=self.dataplane.get_spi, now=d.now())
            version = "IKEv2"
        self._track(sa, peer, "initiator")
        log.info("peer %s: initiating %s to %s:%d from %s", name, version, remote[0], remote[1], local_host)
        d.engine.add(sa)

    def _track(self, sa: IkeSa | Ikev1Sa, peer: PeerPlan, side: str) -> None:
        local, remote = sa.addr
        now = self._d.now()
        t = self._rt.peers[id(sa)] = Tracked(
            id(sa), peer.endpoint.name, local, remote, side, last_seen=now, sa=sa, plan=peer, started=now
        )
        self.index.add(t)

    def _select(self, remote: str, local: str, mode: str = "ike2") -> PeerPlan | None:
        key = (remote, local, mode)
        if key in self._selected:
            return self._selected.get(key)
        peer_ep = select_peer(self.plan.endpoints(), remote, local, mode)
        peer = self.plan.by_name(peer_ep.name) if peer_ep is not None else None
        self._selected[key] = peer
        return peer

    def _lease(self, peer: PeerPlan, remote: str, made: list[Any]) -> dict[str, Any]:
        """An IKEv1 responder's lease call (its mode-config gives addresses), as ``ike_config``
        extras; with XAuth users from RADIUS, an Access-Accept's Framed-IP-Address comes first."""
        if peer.lease_source is None:
            return {}
        pool = self.leases.lease_fn(peer, remote)
        if peer.v1 is not None and peer.v1.xauth is not None and peer.v1.xauth.radius:
            return {"lease": self._framed_lease(made, pool, peer)}
        return {"lease": pool}

    def new_responder(self, data: bytes, addr: Addr, now: float) -> IkeSa | None:
        """The router's IKEv2 responder factory: the peer whose address matches ``addr``."""
        if self.stopping:
            return None
        local, remote = addr
        peer = self._select(remote[0], local[0])
        if peer is None:  # limited by reason: the source is not authenticated, spoofing has many
            self.limiter.log(
                "IKE_SA_INIT from no configured peer",
                remote[0],
                logging.WARNING,
                "IKE_SA_INIT from %s:%d: no enabled ike2 peer's address matches it; add "
                "/ip ipsec peer address=%s/32 exchange-mode=ike2",
                remote[0],
                remote[1],
                remote[0],
            )
            return None
        pool = self.leases.lease_fn(peer, remote[0]) if peer.lease_source is not None else None
        made: list[IkeSa] = []  # the SA, once made: a Framed-IP-Address is looked up by it
        if peer.auth_method == "eap-radius":
            extra: dict[str, Any] = {"lease": self._framed_lease(made, pool, peer)}
        else:
            extra = {"lease": pool} if pool is not None else {}
        config = peer.ike_config(
            local, remote, natt_port=self._d.transport.natt_port, force_encap=self.force_encap,
            store=self.certificates, **extra
        )
        sa = IkeSa.responder(config, rng=self.rng, spi_alloc=self.dataplane.get_spi, now=now, addr=addr)
        made.append(sa)
        self._track(sa, peer, "responder")
        t = self.tracked[sa]  # its first message came before it had an SPI of ours to be counted by
        t.ike_rx_bytes, t.ike_rx_packets = len(data), 1
        return sa

    def new_v1_responder(self, data: bytes, addr: Addr, now: float) -> Ikev1Sa | None:
        """The router's IKEv1 responder factory: the peer whose address matches ``addr`` and whose
        exchange-mode is the first message's (RouterOS selects IKEv1 peers by both)."""
        mode = V1_MODES.get(data[18]) if len(data) > 18 else None
        if self.stopping or mode is None:
            return None
        local, remote = addr
        peer = self._select(remote[0], local[0], mode)
        if mode == "aggressive" and peer is not None:
            peer = self._by_aggressive_id(data, remote[0], local[0])
        if peer is None or peer.v1 is None:
            self.limiter.log(
                "IKEv1 from no configured peer",
                remote[0],
                logging.WARNING,
                "IKEv1 %s mode from %s:%d: no enabled peer with exchange-mode=%s has an address matching "
                "it; add /ip ipsec peer address=%s/32 exchange-mode=%s",
                mode, remote[0], remote[1], mode, remote[0], mode,
            )
            return None
        made: list[Any] = []
        extra = self._lease(peer, remote[0], made)
        config = peer.ike_config(
            local,
            remote,
            natt_port=self._d.transport.natt_port,
            force_encap=self.force_encap,
            store=self.certificates,
            **extra,
        )
        sa = Ikev1Sa.respond(
            config, peer.v1, data, addr, rng=self.rng, spi_alloc=self.dataplane.get_spi, now=now
        )
        if sa is None:
            return None
        made.append(sa)
        self._track(sa, peer, "responder")
        t = self.tracked[sa]
        t.ike_rx_bytes, t.ike_rx_packets = len(data), 1
        return sa

    def _by_aggressive_id(self, data: bytes, remote: str, local: str) -> PeerPlan | None:
        """Aggressive mode shows the initiator's ID in its first message: of the aggressive peers whose
        address holds the sender, the first whose ``remote-id`` is that ID, else the first that takes
        any ID (``remote-id`` auto), as RouterOS tells road warriors behind one address apart."""
        shown = initiator_id(data)
        if shown is None:
            return None
        found = [p for ep in candidates(self.plan.endpoints(), remote, local, "aggressive")
                 if (p := self.plan.by_name(ep.name)) is not None]
        exact = [p for p in found if p.remote_id not in ("auto", "ignore")]
        return next((p for p in exact if identifies(p.remote_id, shown, remote)), None) or next(
            (p for p in found if p.remote_id in ("auto", "ignore")), None)

    # -- IKE events ----------------------------------------------------------------------------------

    def on_event(self, sa: Any, event: object) -> None:
        t = self.tracked.get(sa)
        if t is None:
            return
        name, rec = t.plan.endpoint.name, t.record
        rec.last_seen = self._d.now()
        if isinstance(event, ev.IkeSaEstablished):
            self._established(t, event)
        elif isinstance(event, ev.IkeSaRekeyed):
            rec.spi_i, rec.spi_r = sa.spi_i, sa.spi_r
            log.info("peer %s: IKE SA rekeyed (%s -> %s)", name, event.old_spi.hex(), event.new_spi.hex())
        elif isinstance(event, ev.ChildSaInstalled):
            self._child_installed(t, event)
        elif isinstance(event, ev.ChildSaRekeyed):
            log.info(
                "peer %s: CHILD_SA 0x%08x replaced by 0x%08x",
                name,
                event.old_inbound_spi,
                event.new_inbound_spi,
            )
        elif isinstance(event, ev.ChildSaDeleted):
            child = rec.children.get(event.inbound_spi)
            if child is not None and sa in self.accounting.sessions:
                self.accounting.child_gone(sa, self._child_counters(child))
            self.spd.drop_dynamic(event.inbound_spi)
            self.index.of_child.pop(event.inbound_spi, None)
            if self._rt.remove_child(rec, event.inbound_spi) is not None:
                log.info(
                    "peer %s: CHILD_SA 0x%08x/0x%08x deleted: %s",
                    name,
                    event.inbound_spi,
                    event.outbound_spi,
                    escape(event.reason),
                )
        elif isinstance(event, ev.IkeSaDeleted):
            self._forget(t, event.reason)
        elif isinstance(event, ev.AuthenticationFailed | ev.NegotiationFailed | ev.PeerDead):
            logs.failure(name, event)
            if isinstance(event, ev.PeerDead):
                self._unreachable(t)
        elif isinstance(event, ev.AddressLeased):
            self.leases.leased(t, event)
        elif isinstance(event, ev.VirtualIpAssigned):
            self.virtual_ips.install(t)
            logs.virtual_ip(name, rec.dynamic_address, event)
        elif isinstance(event, ev.VerdictRequested):
            self._ask(t, sa, event)

    def _established(self, t: Tracked, event: ev.IkeSaEstablished) -> None:
        d, rec = self._d, t.record
        rec.state, rec.established_at = "established", rec.last_seen
        self._rt.established(rec, t.started)
        rec.local, rec.remote = event.local, event.remote
        rec.natt = event.nat_local or event.nat_remote or event.local[1] == d.transport.natt_port
        rec.spi_i, rec.spi_r = (
            (event.local_spi, event.remote_spi) if event.initiator else (event.remote_spi, event.local_spi)
        )
        if event.initial_contact:
            self._initial_contact(t, event.remote_id)
        if event.nat_local:
            self.keepalives.add(t.sa)
        logs.established(t.plan.endpoint.name, rec.side, rec.natt, event)
        accepted = self._accepted.get(t.sa)
        if accepted is not None:
            user, answer = accepted
            log.info("peer %s: %s is %s user %s (RADIUS accepted)", t.plan.endpoint.name,
                     escape(event.remote_id), "XAuth" if isinstance(t.sa, Ikev1Sa) else "EAP", escape(user))
            self.accounting.start(t.sa, f"{rec.spi_i.hex()}{rec.spi_r.hex()}", user, answer)
            if answer.session_timeout:
                d.timers.arm(("session", t.sa), d.now() + answer.session_timeout, self._session_timeout)
        if isinstance(t.sa, Ikev1Sa):
            self.v1.established(t, initial_contact=event.initial_contact)
            if t.plan.dpd_interval and event.lifetime:  # the manual: no phase-1 re-key without DPD
                share = INITIATOR_REKEY if t.sa.initiator else RESPONDER_REKEY
                self._d.timers.arm(("phase1", t.sa), d.now() + share * event.lifetime, self._rekey_phase1)
        vendors = t.sa.peer_vendors if isinstance(t.sa, Ikev1Sa) else ()
        if vendors:  # IKEv1: the peer's product and features, once per ISAKMP SA (peer-controlled: escaped)
            log.info("peer %s: %s says it is %s", t.plan.endpoint.name, rec.remote[0],
                     ", ".join(escape(v) for v in vendors))

    def _rekey_phase1(self, key: object) -> None:
        """IKEv1 re-keys phase 1 by negotiating a new ISAKMP SA before the old one's lifetime ends
        (only with DPD enabled, as the manual says), unless the peer already started one; the new one
        adopts the IPsec SAs, and the old one DELETEs itself alone at its lifetime (:mod:`.ikev1`)."""
        assert isinstance(key, tuple)
        t = self.tracked.get(key[1])
        if (t is not None and t.record.state == "established" and t.sa is key[1] and not self.stopping
                and not self.v1.superseded(t)):
            self._maybe_initiate(t.plan, rekey=True)

    def _child_installed(self, t: Tracked, event: ev.ChildSaInstalled) -> None:
        name, rec = t.plan.endpoint.name, t.record
        event = self.spd.dynamic_for(name, event)
        if t.sa.virtual_ips:
            self.virtual_ips.narrow(t, event, self.plan)
        self.dataplane.add_sa(event.inbound)
        self.dataplane.add_sa(event.outbound)
        soft = event.inbound.lifetime.soft_seconds
        self.index.of_child[event.inbound.spi] = t
        now = self._d.now()
        rec.children[event.inbound.spi] = ChildRecord(
            event.inbound,
            event.outbound,
            t.plan.policy_of(event.child, event.outbound.policy_id),
            now,
            time.time(),
            now + soft if soft else None,
        )
        logs.child_installed(name, event)
        if event.left_out:  # once per peer and ranges: a road-warrior peer would repeat it per client
            sel = event.outbound.selector
            self.notes.once(
                f"leftout:{name}:{event.left_out}",
                "peer %s: CHILD_SA carries %s -> %s only, not "
                "%s: an SA has one selector pair, give each range a policy of its own",
                name,
                sel.src if sel else "?",
                sel.dst if sel else "?",
                ", ".join(event.left_out),
            )

    def _initial_contact(self, t: Tracked, remote_id: str) -> None:
        """RFC 7296 §2.4: the peer says this is its only IKE SA with us — it restarted, so the older
        IKE SAs of that identity are gone at its end. Ours go now, without a DELETE (it would not know
        their SPIs), instead of waiting for DPD or their lifetime. Only those of the same XAuth user
        (IKEv1 road warriors share one group identity), and only those from the same address
        (another client sending the same identity, road warriors sharing a PSK, is not the one that
        restarted), and only those established before this one began: when both sides initiate at
        once, the IKE SAs cross, and the one we initiated is no leftover of a restart."""
        remote = t.sa.addr[1][0]
        stale = [
            o
            for o in self.index.of(t.peer)
            if o is not t
            and o.sa.remote_id == remote_id
            and _xauth_user(o.sa) == _xauth_user(t.sa)
            and o.sa.addr[1][0] == remote
            and o.established_at is not None
            and o.established_at < t.started
        ]
        self.v1.drop_peer(t.peer, "replaced after the peer's INITIAL_CONTACT", remote, remote_id)
        for o in stale:
            log.info(
                "peer %s: INITIAL_CONTACT from %s: dropping the IKE SA it replaces (%s)",
                t.peer,
                escape(remote_id),
                (o.spi_i or b"").hex() or "not established",
            )
            self._forget(o, "replaced after the peer's INITIAL_CONTACT")

    def _unreachable(self, t: Tracked) -> None:
        """DPD gave up or an initiation timed out: a DNS-named peer may have moved."""
        hostname = t.plan.endpoint.hostname
        if hostname is not None:
            self.resolver.resolve(hostname)

    def _forget(self, t: Tracked, reason: str) -> None:
        rec = t.record
        self.accounting.stop(t.sa, reason)  # its live CHILD_SAs' counters are read first
        self._accepted.pop(t.sa, None)
        self._d.timers.cancel(("session", t.sa))
        # IKEv1 IPsec SAs outlive a closed ISAKMP SA (not one dropped here after INITIAL_CONTACT)
        outlived = self.v1.hand_on(t) if t.sa.closed else 0
        for spi in list(rec.children):
            self.spd.drop_dynamic(spi)
            self.index.of_child.pop(spi, None)
            self._rt.remove_child(rec, spi)
        self.virtual_ips.drop(t, self.plan)
        self.leases.release(t)  # the lease goes with its last IKE SA (a reconnect shares it)
        self.index.remove(t)
        self.keepalives.remove(t.sa)
        self._d.timers.cancel(("phase1", t.sa))
        self._rt.peers.pop(id(t.sa), None)
        self._d.engine.remove(t.sa)
        if rec.state == "established" or rec.side == "initiator":
            log.info("peer %s: IKE SA with %s:%d gone: %s", t.plan.endpoint.name, *rec.remote, escape(reason))
        if rec.state != "established" and rec.side == "initiator":
            self._unreachable(t)
        current = self.plan.by_name(t.plan.endpoint.name)
        # a phase 1 whose IPsec SAs live on is negotiated again on demand (their re-key, an acquire)
        if current is not None and not current.endpoint.passive and not self.stopping and not outlived:
            timers = self._d.timers
            timers.arm(("reinit", current.endpoint.name), timers.now() + REINITIATE_DELAY, self._reinitiate)

    def _reinitiate(self, key: object) -> None:
        assert isinstance(key, tuple)
        peer = self.plan.by_name(key[1])
        if peer is not None:
            self._maybe_initiate(peer)

    # -- data plane ----------------------------------------------------------------------------

    def on_dataplane_events(self) -> None:
        """Everything the data plane has for us: events, and IKE messages from UDP/4500. Both arrive
        on the same pipes and either call drains both, so this repeats until a drain finds nothing —
        an IKE message read off the pipe by the periodic event poll would otherwise wait for the pipe's
        next readiness (seen in CI: a CREATE_CHILD_SA response processed 2 s late)."""
        while True:
            try:
                events = self.dataplane.poll_events()
            except BackendFailed as exc:  # a dead worker could not be replaced (issue 17, finding 2)
                self._d.fail(str(exc))
                return
            ike = self.dp_ike.drain()
            if not events and not ike:
                break
            self._on_dataplane_events(events)
        self._liveness()
        self.limiter.flush()

    def _on_dataplane_events(self, events: list[SadEvent]) -> None:
        for event in events:
            if isinstance(event, SoftExpire) and event.direction is Direction.IN:
                t = self.index.of_child.get(event.spi)
                if t is not None:
                    t.sa.rekey_child(event.spi)
                    self._d.engine.pump(t.sa)
                elif (d := self._rt.detached.get(event.spi)) is not None:
                    self.v1.soft_expire(event.spi, self.plan.by_name(d.peer))
                    self._d.engine.pump()
            elif isinstance(event, HardExpire):
                self._hard_expire(event)
            elif isinstance(event, Acquire) and event.level is not Level.USE:
                self._acquire(event.policy_id)
            elif isinstance(event, EndpointChanged):
                self._endpoint_changed(event)

    def _hard_expire(self, event: HardExpire) -> None:
        """RFC 4301 §4.4.2.1: an SA past its hard lifetime is gone; the CHILD_SA goes with it and the
        peer is told (RFC 7296 §1.4.1), so neither side keeps using half of it. Traffic brings up a
        new one (acquire)."""
        if event.direction is Direction.IN:
            t, spi = self.index.of_child.get(event.spi), event.spi
        else:
            t, spi = next(
                (
                    (o, s)
                    for o in self.tracked.values()
                    for s, c in o.record.children.items()
                    if c.outbound.spi == event.spi
                ),
                (None, event.spi),
            )
        if t is None and event.direction is Direction.OUT:
            spi = self.v1.detached_of(event.spi) or spi
        if t is None and self.v1.drop(spi, "hard lifetime expired"):
            return
        if t is None or spi not in t.record.children:
            return
        log.info("peer %s: CHILD_SA 0x%08x reached its hard lifetime, deleting it", t.plan.endpoint.name, spi)
        self.spd.drop_dynamic(spi)
        self.index.of_child.pop(spi, None)
        self._rt.remove_child(t.record, spi)
        t.sa.delete_child(spi, "hard lifetime expired")
        self._d.engine.pump(t.sa)

    def _liveness(self) -> None:
        """RFC 7296 §2.4: liveness checks are for idle SAs. ESP from the peer proves it alive, so an
        IKE SA whose DPD check is due soon reads its CHILD_SAs' inbound packet counters and, if they
        moved, tells the SA (``traffic_seen``). Only SAs near their check are read: one query per SA
        and DPD interval at most."""
        now = self._d.now()
        if now - self._swept < LIVENESS_EVERY:  # the TUN backend wakes us per batch
            return
        self._swept = now
        query = self.dataplane.query_sa
        for t in self.tracked.values():
            dpd = t.plan.dpd_interval
            if not dpd or t.record.state != "established" or now - t.sa.last_rx < dpd - LIVENESS_SWEEP:
                continue
            seen = False
            for child in t.record.children.values():
                st = query(child.inbound.spi, Direction.IN)
                if st is not None and st.current_packets != child.seen_packets:
                    child.seen_packets, seen = st.current_packets, True
            if seen:
                t.sa.traffic_seen(now)

    def _endpoint_changed(self, event: EndpointChanged) -> None:
        owner = self.index.of_child.get(event.spi)
        name = owner.plan.endpoint.name if owner is not None else "?"
        if event.out_spi is not None:
            log.info(
                "peer %s: NAT mapping moved from %s:%d to %s:%d (authenticated ESP, SPI %#x); ESP "
                "follows, IKE on its next authenticated message",
                name,
                *event.old,
                *event.new,
                event.spi,
            )
        else:
            log.warning(
                "peer %s: NAT mapping moved from %s:%d to %s:%d (authenticated ESP, SPI %#x); the "
                "data plane could not move the outbound SA, ESP to the peer still goes to %s:%d until "
                "the CHILD_SA is negotiated again",
                name,
                *event.old,
                *event.new,
                event.spi,
                *event.old,
            )

    def _acquire(self, policy_id: str) -> None:
        """Traffic hit a policy without SA: a CHILD_SA on the peer's IKE SA, or the IKE SA first."""
        spec = self.spd.installed.get(policy_id)
        peer = self.plan.by_name(spec.peer) if spec and spec.peer else None
        if peer is None:
            return
        child = next((c for c in peer.children if c.policy_id == policy_id), None)
        for t in self.index.of(peer.endpoint.name):
            if t.record.state == "established":
                if (
                    child is not None
                    and not t.sa.creating_child(policy_id)
                    and not any(c.policy_id == policy_id for c in t.record.children.values())
                ):
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
            self.accounting.ending(t.sa, accounting.ADMIN_RESET)
            self._delete(t)
        return len(tracked)

    def flush(self) -> int:
        """``installed-sa flush``: every SA leaves the data plane now, and the peers are told with a
        DELETE per CHILD_SA so they stop using them; traffic then brings new ones up (acquire)."""
        n = sum(2 * len(t.record.children) for t in self.tracked.values()) + 2 * len(self._rt.detached)
        self.dataplane.flush()
        for spi in list(self._rt.detached):
            self.spd.drop_dynamic(spi)
        self._rt.detached.clear()
        for t in self.tracked.values():
            for spi in list(t.record.children):
                self.spd.drop_dynamic(spi)
                self.index.of_child.pop(spi, None)
                t.sa.delete_child(spi, "installed-sa flush")
            t.record.children.clear()
            self._d.engine.pump(t.sa)
        return n

    def shutdown(self) -> None:
        self.stopping = True
        for t in list(self.tracked.values()):
            self._delete(t)

    def close(self) -> None:
        """After the DELETEs left: stop the data plane's workers and readers, and the resolver."""
        self.dp_ike.detach()
        self.resolver.close()
        for task in self._asking:
            task.cancel()
        self.accounting.close()
        if self.radius is not None:
            self.radius.close()
        self.limiter.flush(everything=True)
        self.dataplane.close()


def _xauth_user(sa: IkeSa | Ikev1Sa) -> str:
    """The user XAuth accepted on an IKEv1 SA ("" without XAuth, and for IKEv2)."""
    return sa.rw.user if isinstance(sa, Ikev1Sa) and sa.rw is not None else ""


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

        return XfrmDataPlane(
            bypass_ports=()
        )  # the daemon's sockets carry their own bypass (prepare_ike_socket)
    except ImportError as exc:
        raise GlueError(f"data plane {name} is not available in this build ({exc.name})") from None
    except Exception as exc:  # each backend has its own errors (TunError, ConfigError, OSError)
        raise GlueError(f"data plane {name}: {exc}") from None


def certificate_store(db: str) -> CertificateStore:
    """The ``/certificate`` store of a daemon, beside its database (created 0700, private keys 0600:
    only the daemon's user reads them)."""
    directory = store_directory(db)
    try:
        return CertificateStore(directory)
    except (OSError, ValueError) as exc:
        raise GlueError(f"certificate store {directory}: {exc}") from None


def build(args: Any) -> tuple[Glue, Callable[[str, bool], Any], bool, tuple[str, ...]]:
    """Configuration, data plane and glue for ``ipsecd run``: (glue, control execute, own NAT-T?, locals)."""
    from ipsecd.mgmt.certificate import StoreRuntime
    from ipsecd.mgmt.errors import ConfigError
    from ipsecd.mgmt.model import open_config

    certificates = certificate_store(args.db)
    try:
        if args.config:
            config = open_config(None)
            with open(args.config, encoding="utf-8") as fh:
                script = fh.read()
            shown: list[str] = []
            for warning in config.import_script(script, args.config, getattr(args, "defaults", None),
                                                StoreRuntime(lambda: certificates), output=shown):
                log.warning("%s", warning)
            for line in "".join(shown).splitlines():  # :put and print output (the formatter escapes it)
                log.info("%s: %s", args.config, line)
        else:
            config = open_config(args.db)
        plan = build_plan(config.snapshot())
    except (ConfigError, PlanError) as exc:
        raise GlueError(str(exc)) from None
    except OSError as exc:
        raise GlueError(f"{args.config or args.db}: {exc.strerror}") from None
    dataplane = make_dataplane(args.dataplane, args.tun, ike_port=args.ike_port, natt_port=args.natt_port)
    glue = Glue(plan, dataplane, force_encap=True)
    glue.certificates = certificates
    execute = glue.follow(config)

    own_natt = dataplane.natt_socket is None
    local_addresses = {p.endpoint.local_address.compressed for p in plan.peers if p.endpoint.local_address}
    all_bound = local_addresses and all(p.endpoint.local_address for p in plan.peers)
    return glue, execute, own_natt, tuple(sorted(local_addresses)) if all_bound else ()
