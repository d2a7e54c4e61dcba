"""generate-policy: policies made for a peer's proposed traffic selectors from a group's templates.

The manual (``/ip ipsec peer generate-policy``, ``policy-template-group``, policy ``template=yes``):
when a peer proposes selectors no configured policy covers, a peer with ``generate-policy`` checks
them against the *template* policies of its group; if none matches, the phase 2 SA is not established
(TS_UNACCEPTABLE in IKEv2, RFC 7296 §2.9), otherwise a dynamic policy is generated for the SA's
lifetime. A template matches when

- the requested subnets lie inside the template's ``src-address`` (our side) *and* ``dst-address``
  (the peer's side) — "requested subnet must match in both directions";
- its ``protocol`` is ``all`` or the proposal's protocol;
- with ``port-strict``, its ports are ``any`` or exactly the proposal's ports, and the generated policy
  keeps the proposal's ports; with ``port-override`` ports are not compared and the generated policy
  matches any port (the old behaviour).

Templates are tried in policy order; the first match supplies ``action``, ``level`` and
``ipsec-protocols``. Selectors are :class:`~ipsecd.policy.selectors.TrafficSelector` ranges, as the
IKE layer decodes them; a range that is not one prefix yields one policy per covering prefix pair.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from ipsecd.policy.errors import SelectorError
from ipsecd.policy.selectors import MAX_PORT, TrafficSelector, selectors_from_ts
from ipsecd.policy.types import IPAddress, PolicySpec, Selector


class GeneratePolicy(enum.Enum):
    """Peer ``generate-policy``."""

    NO = "no"
    PORT_OVERRIDE = "port-override"
    PORT_STRICT = "port-strict"


def _port_ok(template_port: int, ts: TrafficSelector) -> bool:
    if template_port == 0:
        return True
    return ts.start_port == ts.end_port == template_port


def template_matches(template: PolicySpec, local: TrafficSelector, remote: TrafficSelector,
                     mode: GeneratePolicy) -> bool:
    """Whether one template admits traffic ``local`` ↔ ``remote`` (see the module docstring)."""
    sel = template.selector
    if not template.template or template.disabled or mode is GeneratePolicy.NO:
        return False
    if not (sel.src.version == local.version == remote.version):
        return False
    if not (TrafficSelector.from_network(sel.src).contains(_addresses_only(local))
            and TrafficSelector.from_network(sel.dst).contains(_addresses_only(remote))):
        return False
    proposed = _protocol(local, remote)
    if proposed is None or (sel.protocol and sel.protocol != proposed):
        return False
    if mode is GeneratePolicy.PORT_STRICT:
        return _port_ok(sel.src_port, local) and _port_ok(sel.dst_port, remote)
    return True


def _addresses_only(ts: TrafficSelector) -> TrafficSelector:
    return TrafficSelector(ts.version, ts.start, ts.end)


def _protocol(local: TrafficSelector, remote: TrafficSelector) -> int | None:
    """The proposal's one protocol (0 = any); None when its two selectors disagree."""
    if local.protocol and remote.protocol and local.protocol != remote.protocol:
        return None
    return local.protocol or remote.protocol


def find_template(templates: Iterable[PolicySpec], local: TrafficSelector, remote: TrafficSelector,
                  mode: GeneratePolicy) -> PolicySpec | None:
    """The first template of the group (lowest ``order``) admitting the proposal, or None."""
    for t in sorted(templates, key=lambda p: p.order):
        if template_matches(t, local, remote, mode):
            return t
    return None


def generate_policies(templates: Iterable[PolicySpec], local: TrafficSelector, remote: TrafficSelector,
                      mode: GeneratePolicy, *, policy_id: str, order: int, peer: str | None,
                      tunnel: bool, sa_src: IPAddress | None, sa_dst: IPAddress | None) -> list[PolicySpec]:
    """Dynamic policies for a proposal (``local`` = our side, ``remote`` = the peer's), or ``[]`` when
    no template admits it. Ids are ``policy_id`` (one policy) or ``policy_id/1``, ``/2`` … (a range
    needing several prefixes)."""
    template = find_template(templates, local, remote, mode)
    if template is None:
        return []
    if mode is GeneratePolicy.PORT_OVERRIDE:
        local = TrafficSelector(local.version, local.start, local.end, local.protocol, 0, MAX_PORT)
        remote = TrafficSelector(remote.version, remote.start, remote.end, remote.protocol, 0, MAX_PORT)
    try:
        selectors: list[Selector] = selectors_from_ts(local, remote)
    except SelectorError:
        return []  # e.g. a port range other than any/one port under port-strict: no policy can hold it
    many = len(selectors) > 1
    return [PolicySpec(f"{policy_id}/{n}" if many else policy_id, order, sel, action=template.action,
                       level=template.level, proto=template.proto, tunnel=tunnel, sa_src=sa_src,
                       sa_dst=sa_dst, dynamic=True, peer=peer)
            for n, sel in enumerate(selectors, 1)]
