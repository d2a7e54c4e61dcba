"""RouterOS configuration rows → what the daemon runs: peers, their IKE and CHILD_SA configurations.

Pure functions over the rows of a configuration snapshot (menu path → rows of property → value;
values may be the parsed objects or their canonical text, both are accepted). The mapping follows
the manual:

* ``/ip ipsec peer`` (address, local-address, port, exchange-mode, passive, profile,
  send-initial-contact) + its ``/ip ipsec identity`` (secret, my-id, remote-id, mode-config,
  generate-policy, policy-template-group) + the ``/ip ipsec profile`` (enc × hash × dh-group, prf,
  lifetime, dpd-interval, nat-traversal) → one :class:`ipsecd.ike.v2.config.IkeConfig` per IKE SA;
* each ``/ip ipsec policy`` with ``peer=`` that peer, ``action=encrypt`` and not a template → one
  ``ChildConfig`` (``src-address`` is our side) with the proposal's enc-algorithms × auth-algorithms,
  pfs-group and lifetime;
* IKEv2 has no DPD failure counter (RFC 7296 §2.4: a liveness check is an INFORMATIONAL request
  retransmitted like any other), so ``dpd-maximum-failures`` sets how many retransmissions the
  schedule has before the peer is declared dead — 5 by default, as strongSwan's;
* ``/ip ipsec settings ddos-cookie-threshold``: half-open IKE SAs before COOKIEs are demanded
  (RFC 7296 §2.6);
* secrets written ``0x…`` are hex (the manual's convention), anything else is the text's bytes.

IKEv1 ``exchange-mode``s are reported (not started) rather than refused: the one gap issue 5 permits.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ipsecd.ike.auth import StaticCredentials
from ipsecd.ike.v2.config import ChildConfig, ChildProposal, IkeConfig, IkeProposal, Retransmit
from ipsecd.mgmt.values import PROTOCOL_NUMBERS
from ipsecd.policy.types import Level, Mode, Selector

from .peersel import PeerEndpoint

Row = Any  # mgmt's snapshot Row (``.id``, ``.text(name)``) or a plain mapping of property -> value
Rows = Any  # mgmt's Snapshot (``.rows(path)``) or a mapping of menu path -> rows

PEER, IDENTITY, PROFILE, PROPOSAL, POLICY = (f"/ip ipsec {m}" for m in ("peer", "identity", "profile", "proposal",
                                                                          "policy"))
MODE_CONFIG, POOL, SETTINGS = "/ip ipsec mode-config", "/ip pool", "/ip ipsec settings"
AEAD = ("gcm", "chacha20poly1305")


class PlanError(ValueError):
    """A configuration that cannot run; the message is one line naming the object and property."""


# -- value normalisation (parsed objects or canonical text) -------------------------------------------


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(text(v) for v in value)
    return str(value)


def words(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(text(v) for v in value)
    return tuple(w for w in str(value).split(",") if w)


def flag(value: Any) -> bool:
    return value is True or text(value) in ("yes", "true")


def seconds(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return float(value)
    from ipsecd.mgmt.values import parse_seconds

    return float(parse_seconds(str(value)))


def network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if value is None or value == "":
        return None
    return ipaddress.ip_network(text(value), strict=False)


def address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if value is None or text(value) in ("", "::"):
        return None
    return ipaddress.ip_address(text(value))


def port(value: Any) -> int:
    t = text(value)
    return 0 if t in ("", "any") else int(t)


def protocol(value: Any) -> int:
    """The schema's protocol value (a RouterOS name or a number) as the IP protocol number; the
    host's protocol database is not asked: it lacks names RouterOS has (``ipsec-esp``, ``icmpv6``)."""
    t = text(value)
    if t == "":
        return 0
    if t.isdigit():
        return int(t)
    number = PROTOCOL_NUMBERS.get(t)
    if number is None:
        raise PlanError(f"unknown protocol {t}")
    return number


def secret_bytes(value: Any) -> bytes:
    t = text(value)
    if t[:2].lower() == "0x" and len(t) > 2:
        try:
            return bytes.fromhex(t[2:])
        except ValueError:
            pass  # not hex after all: the text itself is the key
    return t.encode()


def val(row: Row, name: str) -> str:
    """Canonical text of a property, defaults filled in ('' when unset); ``.id`` is the item id."""
    if name == ".id":
        return text(getattr(row, "id", None) or (row.get(".id") if isinstance(row, Mapping) else None))
    if isinstance(row, Mapping):
        return text(row.get(name))
    try:
        return text(row.text(name))
    except KeyError:
        return ""


def rows_of(src: Rows, path: str) -> Sequence[Row]:
    if isinstance(src, Mapping):
        return tuple(src.get(path, ()))
    return tuple(src.rows(path))


def enabled(row: Row) -> bool:
    return not flag(val(row, "disabled"))


# -- plans ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaseSource:
    """A responder mode-config: which ``/ip pool`` leases come from and what goes with them."""

    mode_config: str
    pool: str
    ranges: str  # the pool's ranges as RouterOS writes them
    prefix_length: int
    dns: tuple[str, ...]
    split_include: tuple[str, ...]


@functools.lru_cache(maxsize=32)
def _retransmit(tries: int) -> Retransmit:
    """One shared (immutable) schedule per retransmission count, not one per IKE SA."""
    return Retransmit(tries=tries)


@dataclass(frozen=True)
class PeerPlan:
    """Everything needed to run one configured peer."""

    endpoint: PeerEndpoint
    ike_proposals: tuple[IkeProposal, ...]
    children: tuple[ChildConfig, ...]
    psk: bytes = field(repr=False)
    my_id: str
    remote_id: str
    lifetime: float
    dpd_interval: float | None
    nat_traversal: bool
    send_initial_contact: bool
    retransmit_tries: int  # profile dpd-maximum-failures: retransmissions before the peer is dead
    mode_config: str  # "none", "request-only" or a responder mode-config name
    generate_policy: str
    template_group: str
    lease_source: LeaseSource | None = None  # mode-config responder with an address pool
    request_address: bool = False  # mode-config client: request-only, or a mode-config with responder=no

    def ike_config(self, local: tuple[str, int], remote: tuple[str, int], *, natt_port: int,
                   force_encap: bool, **extra: Any) -> IkeConfig:
        return IkeConfig(local=local, remote=remote, credentials=StaticCredentials(self.psk), my_id=self.my_id,
                         remote_id=self.remote_id,
                         proposals=self.ike_proposals, children=self.children, lifetime=self.lifetime,
                         dpd_interval=self.dpd_interval, send_initial_contact=self.send_initial_contact,
                         nat_traversal=self.nat_traversal, force_encap=force_encap, natt_port=natt_port,
                         mode_config_request=self.request_address, name=self.endpoint.name,
                         retransmit=_retransmit(self.retransmit_tries), **extra)

    def policy_of(self, child: str, default: str | None) -> str | None:
        """The policy id of this peer's CHILD_SA configuration named ``child`` (``default`` if none)."""
        for c in self.children:
            if c.name == child:
                return c.policy_id
        return default


@dataclass(frozen=True)
class Plan:
    peers: tuple[PeerPlan, ...]
    skipped: tuple[str, ...]  # one operator line per peer that is not run, and why
    cookie_threshold: int | None = None  # /ip ipsec settings ddos-cookie-threshold (None: the daemon's default)

    def endpoints(self) -> list[PeerEndpoint]:
        return [p.endpoint for p in self.peers]

    def by_name(self, name: str) -> PeerPlan | None:
        return next((p for p in self.peers if p.endpoint.name == name), None)


def _by_name(rows: Iterable[Row]) -> dict[str, Row]:
    return {val(r, "name"): r for r in rows if val(r, "name")}


def ike_proposal(profile: Row) -> IkeProposal:
    hash_alg = text(val(profile, "hash-algorithm")) or "sha1"
    prf = text(val(profile, "prf-algorithm")) or "auto"
    return IkeProposal(encr=words(val(profile, "enc-algorithm")) or ("aes-128",), integ=(hash_alg,),
                       prf=(hash_alg if prf == "auto" else prf,),
                       dh=words(val(profile, "dh-group")) or ("modp1024", "modp2048"))


def child_proposal(proposal: Row) -> ChildProposal:
    encr = words(val(proposal, "enc-algorithms")) or ("aes-256-cbc", "aes-192-cbc", "aes-128-cbc")
    integ = tuple(a for a in words(val(proposal, "auth-algorithms")) if a != "null")
    if not integ and not all(any(k in e for k in AEAD) for e in encr):
        integ = ("sha1",)
    return ChildProposal(encr=encr, integ=integ, pfs=text(val(proposal, "pfs-group")) or "none")


def policy_selector(policy: Row) -> Selector:
    src, dst = network(val(policy, "src-address")), network(val(policy, "dst-address"))
    if src is None or dst is None:
        raise PlanError(f"policy {val(policy, '.id')}: src-address and dst-address are required")
    return Selector(src, dst, protocol(val(policy, "protocol")), port(val(policy, "src-port")),
                    port(val(policy, "dst-port")))


def build_plan(rows: Rows) -> Plan:
    """The daemon's plan for a snapshot; raises PlanError naming the first unusable object."""
    profiles = _by_name(rows_of(rows, PROFILE))
    proposals = _by_name(rows_of(rows, PROPOSAL))
    identities: dict[str, Row] = {}
    for ident in rows_of(rows, IDENTITY):
        if enabled(ident):
            identities.setdefault(text(val(ident, "peer")), ident)
    peers: list[PeerPlan] = []
    skipped: list[str] = []
    for peer in rows_of(rows, PEER):
        name = text(val(peer, "name")) or text(val(peer, ".id"))
        if not enabled(peer):
            continue
        mode = text(val(peer, "exchange-mode")) or "main"
        if mode != "ike2":
            skipped.append(f"peer {name}: exchange-mode={mode} (IKEv1) is not supported yet; not started")
            continue
        ident = identities.get(name)
        if ident is None:
            skipped.append(f"peer {name}: no enabled /ip ipsec identity; not started")
            continue
        auth = text(val(ident, "auth-method")) or "pre-shared-key"
        if auth != "pre-shared-key":
            skipped.append(f"peer {name}: identity auth-method={auth} is not supported yet; not started")
            continue
        psk = secret_bytes(val(ident, "secret"))
        if not psk:
            raise PlanError(f"identity for peer {name}: secret is empty (auth-method=pre-shared-key)")
        profile_name = text(val(peer, "profile")) or "default"
        found = profiles.get(profile_name)
        if found is None:
            raise PlanError(f"peer {name}: profile {profile_name} does not exist")
        profile = found
        dpd = text(val(profile, "dpd-interval"))
        children: list[ChildConfig] = []
        for i, pol in enumerate(rows_of(rows, POLICY)):
            if text(val(pol, "peer")) != name or not enabled(pol) or flag(val(pol, "template")):
                continue
            if (text(val(pol, "action")) or "encrypt") != "encrypt":
                continue
            prop_name = text(val(pol, "proposal")) or "default"
            prop = proposals.get(prop_name)
            if prop is None:
                raise PlanError(f"policy {val(pol, '.id') or i}: proposal {prop_name} does not exist")
            pid = text(val(pol, ".id")) or f"policy{i}"
            children.append(ChildConfig(
                name=f"{name}/{pid}", selector=policy_selector(pol), proposals=(child_proposal(prop),),
                lifetime=seconds(val(prop, "lifetime"), 1800.0),
                mode=Mode.TUNNEL if flag(val(pol, "tunnel")) else Mode.TRANSPORT,
                level=Level(text(val(pol, "level")) or "require"), policy_id=pid, reqid=len(children) + 1))
        generate = val(ident, "generate-policy") or "no"
        group = val(ident, "policy-template-group") or "default"
        if generate != "no":
            children.extend(_template_children(rows, proposals, name, group, len(children)))
        lease_source = _lease_source(rows, val(ident, "mode-config") or "none")
        peers.append(PeerPlan(
            endpoint=PeerEndpoint(name=name, address=_peer_network(val(peer, "address")),
                                  hostname=_peer_hostname(val(peer, "address")),
                                  local_address=address(val(peer, "local-address")),
                                  port=port(val(peer, "port")) or 500, exchange_mode=mode,
                                  passive=flag(val(peer, "passive"))),
            ike_proposals=(ike_proposal(profile),), children=tuple(children), psk=psk,
            my_id=text(val(ident, "my-id")) or "auto", remote_id=text(val(ident, "remote-id")) or "auto",
            lifetime=seconds(val(profile, "lifetime"), 86400.0),
            dpd_interval=None if dpd in ("disable-dpd", "0s", "0") else seconds(val(profile, "dpd-interval"), 120.0),
            nat_traversal=text(val(profile, "nat-traversal")) != "no",
            send_initial_contact=text(val(peer, "send-initial-contact")) != "no",
            retransmit_tries=int(val(profile, "dpd-maximum-failures") or 5),
            mode_config=text(val(ident, "mode-config")) or "none",
            generate_policy=generate, template_group=group, lease_source=lease_source,
            request_address=_requests_address(rows, text(val(ident, "mode-config")) or "none")))
    settings = rows_of(rows, SETTINGS)
    threshold = val(settings[0], "ddos-cookie-threshold") if settings else ""
    return Plan(tuple(peers), tuple(skipped), int(threshold) if threshold.isdigit() else None)


def _peer_hostname(value: str) -> str | None:
    """A peer ``address`` that is a DNS name (the schema's HostOrPrefix); the daemon resolves it."""
    return None if value == "" or _is_network(value) else value


def _peer_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    return network(value) if _is_network(value) else None


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _template_children(rows: Rows, proposals: dict[str, Row], peer: str, group: str, first: int) -> list[ChildConfig]:
    """generate-policy: each template policy of the group is a CHILD_SA the peer may ask for; the
    IKE responder narrows the peer's selectors to it (RFC 7296 §2.9) and the daemon installs a
    dynamic policy for the SA's life."""
    out: list[ChildConfig] = []
    for i, pol in enumerate(rows_of(rows, POLICY)):
        if not flag(val(pol, "template")) or (val(pol, "group") or "default") != group or not enabled(pol):
            continue
        prop = proposals.get(val(pol, "proposal") or "default")
        if prop is None:
            continue
        pid = val(pol, ".id") or f"template{i}"
        out.append(ChildConfig(name=f"{peer}/{pid}", selector=policy_selector(pol), proposals=(child_proposal(prop),),
                               lifetime=seconds(val(prop, "lifetime"), 1800.0), mode=Mode.TUNNEL,
                               level=Level(val(pol, "level") or "require"), policy_id=f"template:{pid}",
                               reqid=first + len(out) + 1))
    return out


def _requests_address(rows: Rows, mode_config: str) -> bool:
    """A mode-config client asks for an address (RFC 7296 §2.19, a CP request): the built-in
    ``request-only``, and a client's own mode-config with ``responder=no`` — MikroTik's road-warrior
    client recipe, which may also set the ``src-address-list``/``connection-mark`` it applies."""
    if mode_config == "request-only":
        return True
    if mode_config in ("none", ""):
        return False
    mc = next((r for r in rows_of(rows, MODE_CONFIG) if val(r, "name") == mode_config), None)
    return mc is not None and not flag(val(mc, "responder"))


def _lease_source(rows: Rows, mode_config: str) -> LeaseSource | None:
    if mode_config in ("none", "request-only", ""):
        return None
    mc = next((r for r in rows_of(rows, MODE_CONFIG) if val(r, "name") == mode_config), None)
    if mc is None or not flag(val(mc, "responder")):
        return None
    pool_name = val(mc, "address-pool")
    pool = next((r for r in rows_of(rows, POOL) if val(r, "name") == pool_name), None)
    if pool is None or not val(pool, "ranges"):
        raise PlanError(f"mode-config {mode_config}: address-pool {pool_name or '(unset)'} has no ranges in /ip pool")
    return LeaseSource(mode_config, pool_name, val(pool, "ranges"), int(val(mc, "address-prefix-length") or 32),
                       words(val(mc, "static-dns")), words(val(mc, "split-include")))
