"""Policies and SAs into the data plane, exactly as the configuration and the IKE SAs say.

* Static policies (RFC 4301 §4.4.1, the SPD): one per configured ``/ip ipsec policy`` of a running
  peer, installed in configuration order; a mode-config initiator's policy is narrowed to the virtual
  IP the responder gave (RFC 7296 §2.9: it narrowed TSi to it).
* generate-policy: a CHILD_SA admitted by a template gets a dynamic policy for exactly its
  negotiated selectors, for the SA's life, numbered after every configured one.
* CHILD_SAs are added to and removed from the SAD as the IKE SA reports them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ipsecd.ike import events as ev
from ipsecd.policy.types import Action, IpsecProto, PolicySpec, Selector

from .plan import TEMPLATE, Plan
from .runtime import DYNAMIC_LEVEL, DYNAMIC_PREFIX

DYNAMIC_ORDER = 1_000_000  # dynamic policies come after every configured one


class Policies:
    """The SPD entries the daemon installed: configured, narrowed and dynamic ones."""

    def __init__(self, dataplane: Any) -> None:
        self.dataplane = dataplane
        self.installed: dict[str, PolicySpec] = {}
        self.dynamic: dict[int, str] = {}  # inbound SPI -> its generated policy id
        self.narrowed: dict[str, tuple[int, Selector]] = {}  # policy id -> (IKE SA id, virtual-IP selector)

    def install(self, plan: Plan) -> None:
        """Make the data plane's configured policies exactly the plan's (changed ones replaced)."""
        wanted = self._wanted(plan)
        for pid in [p for p in self.installed if p not in wanted or self.installed[p] != wanted[p]]:
            self.dataplane.del_policy(pid)
            del self.installed[pid]
        for pid, spec in wanted.items():
            if pid not in self.installed:
                self.dataplane.add_policy(spec)
                self.installed[pid] = spec

    def _wanted(self, plan: Plan) -> dict[str, PolicySpec]:
        wanted: dict[str, PolicySpec] = {}
        for peer in plan.peers:
            for child in peer.children:
                assert child.policy_id is not None
                if child.policy_id.startswith(TEMPLATE):
                    continue  # generate-policy: a dynamic policy per SA, not a static one
                narrowed = self.narrowed.get(child.policy_id)
                wanted[child.policy_id] = PolicySpec(
                    policy_id=child.policy_id, order=len(wanted),
                    selector=narrowed[1] if narrowed else child.selector, action=Action.ENCRYPT,
                    level=child.level, proto=IpsecProto.ESP, tunnel=child.mode.value == "tunnel",
                    sa_src=peer.endpoint.local_address, sa_dst=peer.endpoint.host, peer=peer.endpoint.name)
        return wanted

    def dynamic_for(self, peer: str, event: ev.ChildSaInstalled) -> ev.ChildSaInstalled:
        """generate-policy: a policy for exactly the negotiated selectors, for the SA's life."""
        out = event.outbound
        if not (out.policy_id or "").startswith(TEMPLATE) or out.selector is None:
            return event
        pid = f"{DYNAMIC_PREFIX}{peer}:{event.inbound.spi:08x}"
        self.dataplane.add_policy(
            PolicySpec(
                pid,
                DYNAMIC_ORDER + len(self.dynamic),
                out.selector,
                level=DYNAMIC_LEVEL,
                tunnel=out.mode.value == "tunnel",
                sa_src=out.src,
                sa_dst=out.dst,
                dynamic=True,
                peer=peer,
            )
        )
        self.dynamic[event.inbound.spi] = pid
        return replace(
            event, inbound=replace(event.inbound, policy_id=pid), outbound=replace(out, policy_id=pid)
        )

    def drop_dynamic(self, inbound_spi: int) -> None:
        pid = self.dynamic.pop(inbound_spi, None)
        if pid is not None:
            self.dataplane.del_policy(pid)

    def narrow(self, pid: str, owner: int, selector: Selector, plan: Plan) -> None:
        self.narrowed[pid] = (owner, selector)
        self.install(plan)

    def unnarrow(self, owner: int, plan: Plan) -> None:
        """The IKE SA ``owner`` went: its policies get their configured selectors back."""
        mine = [pid for pid, (o, _sel) in self.narrowed.items() if o == owner]
        for pid in mine:
            del self.narrowed[pid]
        if mine:
            self.install(plan)
