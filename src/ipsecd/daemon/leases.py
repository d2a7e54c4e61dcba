"""Mode-config (RFC 7296 §2.19) both ways: address leases we give, virtual IPs we are given.

* Responder (an identity whose ``mode-config`` has ``responder=yes`` and an ``address-pool``): a
  client's identity (an IKEv1 XAuth gateway: the user name) gets an address of the pool, or the
  ``/ip ipsec user``'s own ``address``; a client reconnecting from the same address gets its
  lease again; another client sending the same identity (one shared PSK and ``remote-id=auto``, or
  clients behind different NATs whose ID is the same private address) gets a lease of its own. A lease
  goes with the last IKE SA holding it (a reconnecting client's new SA shares its old one's).
* Initiator (``request-only``, or a client's own mode-config with ``responder=no``): the virtual IP
  the responder gives is added to the TUN device (a data plane with ``add_address``) and becomes the
  local side of the peer's policies — the responder narrowed TSi to it (§2.9), so the outbound
  policy is narrowed to exactly the negotiated selector. When the IKE SA goes, the address is removed
  and the configured policies are restored.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ipsecd.dataplane.base import DataPlane
from ipsecd.ike import events as ev
from ipsecd.ike.v2.config import ModeConfigLease
from ipsecd.policy.errors import PoolError
from ipsecd.policy.pools import AddressPool, parse_ranges
from ipsecd.util.text import escape

from .peers import Tracked
from .plan import PeerPlan, Plan
from .sas import Policies

log = logging.getLogger("ipsecd")


@dataclass(slots=True)
class _Lease:
    """A lease's holder. Its key in the pool is the remote identity, or "<identity> from <address>"
    when another client with that identity holds the identity's lease."""

    address: str  # the client's (outer) address
    refs: int = 0  # IKE SAs holding it


class Leases:
    """The address pools of responder mode-configs and who holds which lease."""

    def __init__(self) -> None:
        self.pools: dict[str, AddressPool] = {}
        self._leased: dict[tuple[str, str], _Lease] = {}  # (pool, lease key) -> who holds it

    def lease_fn(self, peer: PeerPlan, remote: str) -> Callable[[str], ModeConfigLease | None]:
        """The IKE SA's lease call for a client at ``remote``."""
        src = peer.lease_source
        assert src is not None
        pool = self.pools.get(src.pool)
        if pool is None or pool.ranges != parse_ranges(src.ranges)[1]:
            pool = self.pools[src.pool] = AddressPool(src.pool, src.ranges)
        dns = tuple(ipaddress.ip_address(d) for d in src.dns)
        xauth = peer.v1.xauth if peer.v1 is not None else None
        # RouterOS 6's /ip ipsec user address=: that XAuth user always gets this address
        fixed = {u.name: u.address for u in xauth.users if u.address is not None} if xauth is not None else {}

        def lease(identity: str) -> ModeConfigLease | None:
            if identity in fixed:
                return ModeConfigLease(fixed[identity], 32, dns, src.split_include)
            holder = self._leased.get((src.pool, identity))
            key = identity if holder is None or holder.address == remote else f"{identity} from {remote}"
            try:
                address = pool.allocate(key)
            except PoolError as exc:
                log.warning("peer %s: no address for %s: %s", peer.endpoint.name, escape(identity), exc)
                return None
            return ModeConfigLease(address, src.prefix_length, dns, src.split_include)

        return lease

    def leased(self, t: Tracked, event: ev.AddressLeased) -> None:
        t.record.dynamic_address = event.address.compressed
        if t.plan.lease_source is not None:
            pool_name = t.plan.lease_source.pool
            pool = self.pools.get(pool_name)
            key = (pool.owner(event.address) if pool is not None else None) or event.remote_id
            t.leases += ((pool_name, key),)
            self._leased.setdefault((pool_name, key), _Lease(t.sa.addr[1][0])).refs += 1
        log.info("peer %s: leased %s to %s", t.plan.endpoint.name, t.record.dynamic_address,
                 escape(event.remote_id))

    def release(self, t: Tracked) -> None:
        for pool_name, key in t.leases:
            holder = self._leased.get((pool_name, key))
            if holder is not None:
                holder.refs -= 1
                if holder.refs > 0:
                    continue
                del self._leased[(pool_name, key)]
            pool = self.pools.get(pool_name)
            if pool is not None:
                pool.release(key)
        t.leases = ()


class VirtualIps:
    """Mode-config initiator: the addresses we were given, on the TUN device and in our policies."""

    def __init__(self, dataplane: DataPlane, policies: Policies) -> None:
        self.dataplane = dataplane
        self.policies = policies

    def install(self, t: Tracked) -> None:
        """The addresses we were given go on the TUN device (once)."""
        t.record.dynamic_address = ", ".join(a.compressed for a in t.sa.virtual_ips)
        addresses = self.dataplane.virtual_addresses
        for a in t.sa.virtual_ips:
            if a.compressed not in t.virtual_ips:
                t.virtual_ips += (a.compressed,)
                if addresses is not None:
                    addresses.add_address(a.compressed)

    def narrow(self, t: Tracked, event: ev.ChildSaInstalled, plan: Plan) -> None:
        """Our policy's local side becomes the virtual IP the responder narrowed TSi to. The address
        is installed first so the data plane routes the policy's traffic from it."""
        out = event.outbound
        pid = out.policy_id
        spec = self.policies.installed.get(pid or "")
        if pid is None or spec is None or out.selector is None or spec.selector == out.selector:
            return
        self.install(t)
        self.policies.narrow(pid, id(t.sa), out.selector, plan)
        log.info("peer %s: policy %s narrowed to %s -> %s (virtual IP)", t.plan.endpoint.name, pid,
                 out.selector.src, out.selector.dst)

    def drop(self, t: Tracked, plan: Plan) -> None:
        """The IKE SA went: its virtual IP leaves the TUN device, the configured policies come back."""
        self.policies.unnarrow(id(t.sa), plan)
        addresses = self.dataplane.virtual_addresses
        for a in t.virtual_ips:
            if addresses is not None:
                addresses.del_address(a)
        t.virtual_ips = ()
