"""RouterOS configuration rows → what the daemon runs: peers, their IKE and CHILD_SA configurations.

Pure functions over the rows of a configuration snapshot (menu path → rows). Values are the typed
values of the schema (:mod:`ipsecd.mgmt.schema`, defaults filled in): nothing is parsed here, so
what the configuration accepts the daemon runs (a plain mapping of text, as tests write, is parsed
by the same schema types). The mapping follows the manual:

* ``/ip ipsec peer`` (address, local-address, port, exchange-mode, passive, profile,
  send-initial-contact) + its ``/ip ipsec identity`` (secret, my-id, remote-id, mode-config,
  generate-policy, policy-template-group) + the ``/ip ipsec profile`` (enc × hash × dh-group, prf,
  lifetime, dpd-interval, nat-traversal) → one :class:`ipsecd.ike.v2.config.IkeConfig` per IKE SA;
* each ``/ip ipsec policy`` with ``peer=`` that peer (or, without ``peer=``, SA addresses that are
  the peer's, as RouterOS 6 exports have), ``action=encrypt`` and not a template → one
  ``ChildConfig`` (``src-address`` is our side) with the proposal's enc-algorithms × auth-algorithms,
  pfs-group and lifetime;
* IKEv2 has no DPD failure counter (RFC 7296 §2.4: a liveness check is an INFORMATIONAL request
  retransmitted like any other), so ``dpd-maximum-failures`` sets how many retransmissions the
  schedule has before the peer is declared dead — 5 by default, as strongSwan's;
* ``/ip ipsec settings ddos-cookie-threshold``: half-open IKE SAs before COOKIEs are demanded
  (RFC 7296 §2.6);
* secrets written ``0x…`` are hex (the manual's convention, the schema's Secret type), anything
  else is the text's bytes.

IKEv1 (``exchange-mode`` main — the default —, aggressive or base) runs on the same ``IkeConfig`` plus
the peer's :class:`ipsecd.ike.v1.config.Ikev1Options` (``PeerPlan.v1``): the mode, the profile's
``lifebytes``, ``proposal-check`` and ``dpd-maximum-failures``, and the policies negotiated with
``ipsec-protocols=ah``. IKEv1 authenticates with pre-shared keys, and with
``pre-shared-key-xauth`` (issue 11): a ``passive=yes`` peer is the XAuth gateway checking the users of
RouterOS 6's ``/ip ipsec user`` (``name``, ``password``, ``address`` — the address that user always
gets instead of one of the pool's), a ``passive=no`` one the client answering with the identity's
``username``/``password``. With XAuth or mode-config, IKEv1 sends no INITIAL-CONTACT (the manual).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ipsecd.ike.auth import CertificateUse, StaticCredentials
from ipsecd.ike.v1.config import ExchangeMode, Ikev1Options, ProposalCheck, Xauth, XauthUser
from ipsecd.ike.v2.config import ChildConfig, ChildProposal, IkeConfig, IkeProposal, Retransmit
from ipsecd.mgmt.schema import MENUS
from ipsecd.mgmt.values import PROTOCOL_NUMBERS, Identity
from ipsecd.pki.store import CertificateStore
from ipsecd.policy.types import Level, Mode, Selector

from .peersel import PeerEndpoint
from .radius import RadiusServer

Row = Any  # mgmt's snapshot Row (``.id``, ``row[name]`` typed) or a plain mapping of property -> value
Rows = Any  # mgmt's Snapshot (``.rows(path)``) or a mapping of menu path -> rows

PEER, IDENTITY, PROFILE, PROPOSAL, POLICY = (
    f"/ip ipsec {m}" for m in ("peer", "identity", "profile", "proposal", "policy")
)
MODE_CONFIG, POOL, SETTINGS = "/ip ipsec mode-config", "/ip pool", "/ip ipsec settings"
RADIUS, USERS = "/radius", "/ip ipsec user"
EAP_TYPES = {"eap-mschapv2": 26, "eap-peap": 25, "eap-tls": 13, "eap-ttls": 21}  # RFC 3748 method types
XAUTH, HYBRID = "pre-shared-key-xauth", "rsa-signature-hybrid"  # IKEv1 only (the manual)
AEAD = ("gcm", "chacha20poly1305")
TEMPLATE = "template:"  # policy_id prefix of the CHILD_SAs generate-policy admits


class PlanError(ValueError):
    """A configuration that cannot run; the message is one line naming the object and property."""


# -- typed values --------------------------------------------------------------------------------------


def get(row: Row, path: str, name: str) -> Any:
    """The schema's typed value of a property of a ``path`` row, its default filled in (None when
    unset). A plain mapping is read as the store reads text: parsed by the property's type."""
    if not isinstance(row, Mapping):
        return row[name]
    value = row.get(name)
    prop = MENUS[path].prop(name)
    if prop is None:
        raise KeyError(name)
    if value is None or value == "":
        value = prop.default
    if isinstance(value, str):
        return prop.type.parse(value)
    return tuple(value) if isinstance(value, list) else value


def item_id(row: Row) -> str:
    return str(row.get(".id") or "") if isinstance(row, Mapping) else str(row.id)


def enabled(row: Row, path: str) -> bool:
    return not get(row, path, "disabled")


def rows_of(src: Rows, path: str) -> Sequence[Row]:
    if isinstance(src, Mapping):
        return tuple(src.get(path, ()))
    return tuple(src.rows(path))


def protocol_number(value: str | None) -> int:
    """The schema's protocol (a RouterOS name or a number as text) as the IP protocol number; the
    host's protocol database is not asked: it lacks names RouterOS has (``ipsec-esp``, ``icmpv6``)."""
    if value is None:
        return 0
    return int(value) if value.isdigit() else PROTOCOL_NUMBERS[value]


def identity_text(path: str, name: str, value: Identity) -> str:
    """An identity as the IKE core takes it (``auto``, ``fqdn:gw.example``): the schema's text of it."""
    return MENUS[path].by_name[name].type.format(value)


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


@functools.lru_cache(maxsize=1024)
def _credentials(psk: bytes, auth_method: str, certificate: str, remote_certificate: str, match_by: str,
                 store: CertificateStore | None, eap_users: tuple[tuple[str, bytes], ...] = ()
                 ) -> StaticCredentials:
    certs = None
    if store is not None and auth_method in ("digital-signature", "eap-radius", "eap", HYBRID):
        certs = CertificateUse(store, certificate, remote_certificate, match_by)
    return StaticCredentials(psk, certs=certs, eap_users=eap_users)


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
    item_id: str = ""  # the /ip ipsec peer item (.id) this plan runs
    auth_method: str = "pre-shared-key"
    # digital-signature: the identity's certificate=, remote-certificate= and match-by= (store names)
    certificate: str = ""
    remote_certificate: str = ""
    match_by: str = "remote-id"
    v1: Ikev1Options | None = None  # an IKEv1 peer (exchange-mode main, aggressive or base)
    # auth-method=eap: the identity's username=, password= and eap-methods (as EAP method types)
    eap_user: str = ""
    eap_password: bytes = field(default=b"", repr=False)
    eap_methods: tuple[int, ...] = ()
    # eap-radius with /ip ipsec settings eap-local-users=yes: EAP-MSCHAPv2 judged here, against these
    eap_local_users: tuple[tuple[str, bytes], ...] | None = field(default=None, repr=False)
    # the peer's further digital-signature identities (IKEv2): a responder picks the first of this
    # one and these whose remote-id or remote-certificate takes the peer's certificate
    identities: tuple[PeerPlan, ...] = ()

    def ike_config(
        self,
        local: tuple[str, int],
        remote: tuple[str, int],
        *,
        natt_port: int,
        force_encap: bool,
        store: CertificateStore | None = None,
        **extra: Any,
    ) -> IkeConfig:
        """The IKE SA's configuration; ``store`` is the daemon's certificate store (``/certificate``),
        which a digital-signature identity signs and judges its peer with."""
        return IkeConfig(
            local=local,
            remote=remote,
            credentials=self._credentials(store),
            # XAuth follows a PSK or (hybrid) a signed phase 1, which the IKEv1 core runs by
            # Ikev1Options.xauth; the credentials are those of the same IKEv2 methods
            auth_method={XAUTH: "pre-shared-key", HYBRID: "digital-signature"}.get(self.auth_method,
                                                                                  self.auth_method),
            my_id=self.my_id,
            remote_id=self.remote_id,
            proposals=self.ike_proposals,
            children=self.children,
            lifetime=self.lifetime,
            dpd_interval=self.dpd_interval,
            send_initial_contact=self.send_initial_contact,
            nat_traversal=self.nat_traversal,
            force_encap=force_encap,
            natt_port=natt_port,
            mode_config_request=self.request_address,
            name=self.endpoint.name,
            retransmit=_retransmit(self.retransmit_tries),
            eap_user=self.eap_user,
            eap_methods=self.eap_methods,
            eap_local=self.eap_local_users is not None,
            identities=tuple(
                alt.ike_config(local, remote, natt_port=natt_port, force_encap=force_encap, store=store,
                               **extra)
                for alt in self.identities
            ),
            **extra,
        )

    def _credentials(self, store: CertificateStore | None) -> StaticCredentials:
        """One provider per plan and store, shared by all of the plan's IKE SAs (a road-warrior
        server has thousands; the values never differ between them)."""
        users = ((self.eap_user, self.eap_password),) if self.eap_user else self.eap_local_users or ()
        return _credentials(self.psk, self.auth_method, self.certificate, self.remote_certificate,
                            self.match_by, store, users)

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
    cookie_threshold: int | None = None
    radius: tuple[RadiusServer, ...] = ()  # /radius entries with service=ipsec, enabled, in order
    accounting: bool = True  # /ip ipsec settings accounting (RouterOS's default: yes)
    interim_update: float = 0.0  # seconds between Interim-Updates; 0: none

    def endpoints(self) -> list[PeerEndpoint]:
        return [p.endpoint for p in self.peers]

    def by_name(self, name: str) -> PeerPlan | None:
        return next((p for p in self.peers if p.endpoint.name == name), None)


def _by_name(rows: Iterable[Row], path: str) -> dict[str, Row]:
    return {get(r, path, "name"): r for r in rows if get(r, path, "name")}


def ike_proposal(profile: Row) -> IkeProposal:
    hash_alg = get(profile, PROFILE, "hash-algorithm")
    prf = get(profile, PROFILE, "prf-algorithm")
    return IkeProposal(
        encr=get(profile, PROFILE, "enc-algorithm"),
        integ=(hash_alg,),
        prf=(hash_alg if prf == "auto" else prf,),
        dh=get(profile, PROFILE, "dh-group"),
    )


def child_proposal(proposal: Row) -> ChildProposal:
    encr = get(proposal, PROPOSAL, "enc-algorithms")
    integ = tuple(a for a in get(proposal, PROPOSAL, "auth-algorithms") if a != "null")
    if not integ and not all(any(k in e for k in AEAD) for e in encr):
        integ = ("sha1",)
    return ChildProposal(encr=encr, integ=integ, pfs=get(proposal, PROPOSAL, "pfs-group"))


def policy_selector(policy: Row) -> Selector:
    return Selector(
        get(policy, POLICY, "src-address"),
        get(policy, POLICY, "dst-address"),
        protocol_number(get(policy, POLICY, "protocol")),
        get(policy, POLICY, "src-port") or 0,
        get(policy, POLICY, "dst-port") or 0,
    )


def _child(peer: str, pol: Row, proposal: Row, pid: str, reqid: int, *, template: bool) -> ChildConfig:
    tunnel = template or get(pol, POLICY, "tunnel")
    return ChildConfig(
        name=f"{peer}/{pid}",
        selector=policy_selector(pol),
        proposals=(child_proposal(proposal),),
        lifetime=float(get(proposal, PROPOSAL, "lifetime")),
        mode=Mode.TUNNEL if tunnel else Mode.TRANSPORT,
        level=Level(get(pol, POLICY, "level")),
        policy_id=f"{TEMPLATE}{pid}" if template else pid,
        reqid=reqid,
    )


def _policy_peer(pol: Row, peers: Sequence[Row]) -> str | None:
    """The peer a policy belongs to: its ``peer=``; without one (a RouterOS 6 export, which names
    only the SA's ends, and on which real routers still bring the tunnel up) the first peer whose
    ``address`` holds the policy's ``sa-dst-address`` and whose ``local-address``, when set, is its
    ``sa-src-address``."""
    named: str | None = get(pol, POLICY, "peer")
    dst = get(pol, POLICY, "sa-dst-address")
    if named is not None or dst is None:
        return named
    src = get(pol, POLICY, "sa-src-address")
    for peer in peers:
        address, local = get(peer, PEER, "address"), get(peer, PEER, "local-address")
        if isinstance(address, str) or address is None or address.version != dst.version:
            continue
        if dst in address and (local is None or src is None or local == src):
            return str(get(peer, PEER, "name") or item_id(peer))
    return None


def _children(rows: Rows, proposals: dict[str, Row], name: str) -> list[ChildConfig]:
    """Each enabled encrypt policy of the peer (not a template) is a CHILD_SA to bring up."""
    children: list[ChildConfig] = []
    peers = rows_of(rows, PEER)
    for i, pol in enumerate(rows_of(rows, POLICY)):
        if not enabled(pol, POLICY) or get(pol, POLICY, "template") or _policy_peer(pol, peers) != name:
            continue
        if get(pol, POLICY, "action") != "encrypt":
            continue
        prop_name = get(pol, POLICY, "proposal")
        prop = proposals.get(prop_name)
        if prop is None:
            raise PlanError(f"policy {item_id(pol) or i}: proposal {prop_name} does not exist")
        children.append(
            _child(name, pol, prop, item_id(pol) or f"policy{i}", len(children) + 1, template=False)
        )
    return children


def build_plan(rows: Rows) -> Plan:
    """The daemon's plan for a snapshot; raises PlanError naming the first unusable object."""
    profiles = _by_name(rows_of(rows, PROFILE), PROFILE)
    proposals = _by_name(rows_of(rows, PROPOSAL), PROPOSAL)
    identities: dict[str, list[Row]] = {}
    for ident in rows_of(rows, IDENTITY):
        if enabled(ident, IDENTITY):
            identities.setdefault(get(ident, IDENTITY, "peer"), []).append(ident)
    peers: list[PeerPlan] = []
    skipped: list[str] = []
    for peer in rows_of(rows, PEER):
        if not enabled(peer, PEER):
            continue
        name = get(peer, PEER, "name") or item_id(peer)
        mode = get(peer, PEER, "exchange-mode")
        ident, *others = identities.get(name) or [None]
        auth = get(ident, IDENTITY, "auth-method") if ident is not None else ""
        if ident is None:
            skipped.append(f"peer {name}: no enabled /ip ipsec identity; not started")
        elif auth not in ("pre-shared-key", "digital-signature", "eap", "eap-radius", XAUTH, HYBRID):
            skipped.append(f"peer {name}: identity auth-method={auth} is not supported yet; not started")
        elif mode == "ike2" and auth in (XAUTH, HYBRID):
            skipped.append(f"peer {name}: auth-method={auth} is IKEv1 only (the manual); set exchange-mode="
                           "main or aggressive; not started")
        elif mode != "ike2" and auth not in ("pre-shared-key", XAUTH, HYBRID, "digital-signature"):
            skipped.append(f"peer {name}: exchange-mode={mode} (IKEv1) with auth-method={auth} is not "
                           f"supported yet (IKEv1 takes pre-shared-key, digital-signature, {XAUTH} or"
                           f" {HYBRID}); not started")
        elif mode == "base" and auth == "digital-signature":
            skipped.append(f"peer {name}: exchange-mode=base with auth-method=digital-signature is not "
                           "supported; set exchange-mode=main or aggressive; not started")
        else:
            plan = _peer_plan(rows, peer, ident, name, profiles, proposals)
            # an IKEv2 responder picks among the peer's digital-signature identities by certificate
            signing = [o for o in others if get(o, IDENTITY, "auth-method") == "digital-signature"]
            if mode == "ike2" and signing:
                alts = tuple(_peer_plan(rows, peer, o, name, profiles, proposals) for o in signing)
                plan = replace(plan, identities=alts)
            peers.append(plan)
    settings = rows_of(rows, SETTINGS)
    threshold = get(settings[0], SETTINGS, "ddos-cookie-threshold") if settings else None
    radius = radius_servers(rows)
    if settings and get(settings[0], SETTINGS, "eap-local-users"):
        users = local_users(rows)
        peers = [replace(p, eap_local_users=users) if p.auth_method == "eap-radius" else p for p in peers]
    for p in peers:
        if p.auth_method == "eap-radius" and not radius and p.eap_local_users is None:
            raise PlanError(f"identity for peer {p.endpoint.name}: auth-method=eap-radius needs a RADIUS"
                            " server: /radius add service=ipsec address=… secret=…")
    accounting = get(settings[0], SETTINGS, "accounting") if settings else True
    interim = get(settings[0], SETTINGS, "interim-update") if settings else 0
    return Plan(tuple(peers), tuple(skipped), threshold, radius, bool(accounting), float(interim or 0))


def local_users(rows: Rows) -> tuple[tuple[str, bytes], ...]:
    """The enabled ``/ip ipsec user`` entries as (name, password) for ``eap-local-users=yes``."""
    users = []
    for row in rows_of(rows, USERS):
        password = get(row, USERS, "password")
        if enabled(row, USERS) and password:
            secret = password.encode() if isinstance(password, str) else password
            users.append((get(row, USERS, "name"), secret))
    return tuple(users)


def radius_servers(rows: Rows) -> tuple[RadiusServer, ...]:
    """The enabled ``/radius`` entries whose ``service`` has ipsec, in order (tried in that order)."""
    servers = []
    for row in rows_of(rows, RADIUS):
        if not enabled(row, RADIUS) or "ipsec" not in (get(row, RADIUS, "service") or ()):
            continue
        secret = get(row, RADIUS, "secret") or ""
        src = get(row, RADIUS, "src-address")
        servers.append(RadiusServer(
            address=str(get(row, RADIUS, "address")),
            secret=secret.encode() if isinstance(secret, str) else secret,
            authentication_port=get(row, RADIUS, "authentication-port"),
            accounting_port=get(row, RADIUS, "accounting-port"),
            timeout=get(row, RADIUS, "timeout") / 1000,
            src_address=None if src is None or src.is_unspecified else str(src),
        ))
    return tuple(servers)


def _peer_plan(
    rows: Rows, peer: Row, ident: Row, name: str, profiles: dict[str, Row], proposals: dict[str, Row]
) -> PeerPlan:
    secret = get(ident, IDENTITY, "secret")
    psk = (secret.encode() if isinstance(secret, str) else secret) or b""
    auth = get(ident, IDENTITY, "auth-method")
    if not psk and auth in ("pre-shared-key", XAUTH):
        raise PlanError(f"identity for peer {name}: secret is empty (auth-method={auth})")
    if auth in ("digital-signature", HYBRID) and not _store_name(get(ident, IDENTITY, "certificate")):
        raise PlanError(f"identity for peer {name}: auth-method={auth} needs certificate=")
    eap_user, eap_password, eap_methods = _eap_client(peer, ident, name) if auth == "eap" else ("", b"", ())
    profile_name = get(peer, PEER, "profile")
    profile = profiles.get(profile_name)
    if profile is None:
        raise PlanError(f"peer {name}: profile {profile_name} does not exist")
    dpd = get(profile, PROFILE, "dpd-interval")
    children = _children(rows, proposals, name)
    generate = get(ident, IDENTITY, "generate-policy")
    group = get(ident, IDENTITY, "policy-template-group")
    if generate != "no":
        children.extend(_template_children(rows, proposals, name, group, len(children)))
    mode_config = get(ident, IDENTITY, "mode-config") or "none"
    address = get(peer, PEER, "address")
    return PeerPlan(
        endpoint=PeerEndpoint(
            name=name,
            address=None if isinstance(address, str) else address,
            hostname=address if isinstance(address, str) else None,
            local_address=get(peer, PEER, "local-address"),
            port=get(peer, PEER, "port") or 500,
            exchange_mode=get(peer, PEER, "exchange-mode"),
            passive=get(peer, PEER, "passive"),
        ),
        ike_proposals=(ike_proposal(profile),),
        children=tuple(children),
        psk=psk,
        my_id=identity_text(IDENTITY, "my-id", get(ident, IDENTITY, "my-id")),
        remote_id=identity_text(IDENTITY, "remote-id", get(ident, IDENTITY, "remote-id")),
        lifetime=float(get(profile, PROFILE, "lifetime")),
        dpd_interval=None if dpd in ("disable-dpd", 0) else float(dpd),
        nat_traversal=get(profile, PROFILE, "nat-traversal"),
        # the manual: "Initial contact is not sent if modecfg or xauth is enabled for ikev1"
        send_initial_contact=get(peer, PEER, "send-initial-contact")
        and (get(peer, PEER, "exchange-mode") == "ike2"
             or (auth not in (XAUTH, HYBRID) and mode_config == "none")),
        retransmit_tries=get(profile, PROFILE, "dpd-maximum-failures"),
        mode_config=mode_config,
        generate_policy=generate,
        template_group=group,
        lease_source=_lease_source(rows, mode_config),
        request_address=_requests_address(rows, mode_config),
        item_id=item_id(peer),
        auth_method=auth,
        certificate=_store_name(get(ident, IDENTITY, "certificate")),
        remote_certificate=_store_name(get(ident, IDENTITY, "remote-certificate")),
        match_by=get(ident, IDENTITY, "match-by"),
        v1=_v1_options(rows, peer, profile, name, _xauth(rows, peer, ident, name),
                       signatures=auth == "digital-signature"),
        eap_user=eap_user,
        eap_password=eap_password,
        eap_methods=eap_methods,
    )


def _eap_client(peer: Row, ident: Row, name: str) -> tuple[str, bytes, tuple[int, ...]]:
    """``auth-method=eap``: username=, password= and eap-methods (ipsecd runs eap-mschapv2), for a
    peer with a single address, as the manual says."""
    address = get(peer, PEER, "address")
    if not isinstance(address, str) and address is not None and address.prefixlen != address.max_prefixlen:
        raise PlanError(f"identity for peer {name}: auth-method=eap needs the peer's address to be one host"
                        f" (/32 or /128), not {address}")
    user = get(ident, IDENTITY, "username") or ""
    secret = get(ident, IDENTITY, "password") or ""
    if not user or not secret:
        raise PlanError(f"identity for peer {name}: auth-method=eap needs username= and password=")
    names = get(ident, IDENTITY, "eap-methods")
    methods = tuple(EAP_TYPES[m] for m in names)
    if EAP_TYPES["eap-mschapv2"] not in methods:
        raise PlanError(f"identity for peer {name}: eap-methods={','.join(names)}: ipsecd runs"
                        " eap-mschapv2 as a client; set eap-methods=eap-mschapv2")
    return user, _secret(secret), methods


def _xauth(rows: Rows, peer: Row, ident: Row, name: str) -> Xauth | None:
    """XAuth of a ``pre-shared-key-xauth`` identity: the gateway's users, or the client's login."""
    auth = get(ident, IDENTITY, "auth-method")
    if auth not in (XAUTH, HYBRID):
        return None
    if auth == HYBRID and not get(peer, PEER, "passive"):
        raise PlanError(f"identity for peer {name}: auth-method={HYBRID} with passive=no (the client) is not"
                        " implemented yet; ipsecd is a hybrid gateway (passive=yes)")
    if get(peer, PEER, "passive"):
        settings = rows_of(rows, SETTINGS)
        use_radius = bool(settings and get(settings[0], SETTINGS, "xauth-use-radius"))
        if use_radius and not radius_servers(rows):
            raise PlanError(f"peer {name}: /ip ipsec settings xauth-use-radius=yes needs a RADIUS server:"
                            " /radius add service=ipsec address=… secret=…")
        users = []
        for row in rows_of(rows, USERS):
            if not enabled(row, USERS):
                continue
            address = get(row, USERS, "address")
            users.append(XauthUser(get(row, USERS, "name"), _secret(get(row, USERS, "password")),
                                   address if address is not None and address.version == 4 else None))
        return Xauth(True, tuple(users), hybrid=auth == HYBRID, radius=use_radius)
    username, password = get(ident, IDENTITY, "username") or "", get(ident, IDENTITY, "password")
    if not username:
        raise PlanError(f"identity for peer {name}: auth-method={XAUTH} with passive=no (the XAuth client)"
                        " needs username= and password=")
    return Xauth(False, username=username, password=_secret(password))


def _secret(value: str | bytes | None) -> bytes:
    """A Secret property's bytes (``0x…`` was hex)."""
    return (value.encode() if isinstance(value, str) else value) or b""


def _v1_options(rows: Rows, peer: Row, profile: Row, name: str, xauth: Xauth | None, *,
                signatures: bool = False) -> Ikev1Options | None:
    """The IKEv1-only settings of an IKEv1 peer (None for ``ike2``)."""
    mode = get(peer, PEER, "exchange-mode")
    if mode == "ike2":
        return None
    ah = frozenset(
        f"{name}/{item_id(pol) or f'policy{i}'}"
        for i, pol in enumerate(rows_of(rows, POLICY))
        if get(pol, POLICY, "ipsec-protocols") == "ah"
    )
    return Ikev1Options(
        exchange_mode=ExchangeMode(mode),
        lifebytes=get(profile, PROFILE, "lifebytes") or 0,
        proposal_check=ProposalCheck(get(profile, PROFILE, "proposal-check")),
        dpd_max_failures=get(profile, PROFILE, "dpd-maximum-failures"),
        ah=ah,
        xauth=xauth,
        signatures=signatures,
    )


def _store_name(value: str | None) -> str:
    """A certificate property's store name; unset and ``none`` are none."""
    return "" if value in (None, "", "none") else str(value)


def _template_children(
    rows: Rows, proposals: dict[str, Row], peer: str, group: str, first: int
) -> list[ChildConfig]:
    """generate-policy: each template policy of the group is a CHILD_SA the peer may ask for; the
    IKE responder narrows the peer's selectors to it (RFC 7296 §2.9) and the daemon installs a
    dynamic policy for the SA's life."""
    out: list[ChildConfig] = []
    for i, pol in enumerate(rows_of(rows, POLICY)):
        if not get(pol, POLICY, "template") or get(pol, POLICY, "group") != group or not enabled(pol, POLICY):
            continue
        prop = proposals.get(get(pol, POLICY, "proposal"))
        if prop is None:
            continue
        out.append(
            _child(peer, pol, prop, item_id(pol) or f"template{i}", first + len(out) + 1, template=True)
        )
    return out


def _mode_config(rows: Rows, name: str) -> Row | None:
    return next((r for r in rows_of(rows, MODE_CONFIG) if get(r, MODE_CONFIG, "name") == name), None)


def _requests_address(rows: Rows, mode_config: str) -> bool:
    """A mode-config client asks for an address (RFC 7296 §2.19, a CP request): the built-in
    ``request-only``, and a client's own mode-config with ``responder=no`` — MikroTik's road-warrior
    client recipe, which may also set the ``src-address-list``/``connection-mark`` it applies."""
    if mode_config == "request-only":
        return True
    if mode_config == "none":
        return False
    mc = _mode_config(rows, mode_config)
    return mc is not None and not get(mc, MODE_CONFIG, "responder")


def _lease_source(rows: Rows, mode_config: str) -> LeaseSource | None:
    if mode_config in ("none", "request-only"):
        return None
    mc = _mode_config(rows, mode_config)
    if mc is None or not get(mc, MODE_CONFIG, "responder"):
        return None
    pool_name = get(mc, MODE_CONFIG, "address-pool") or ""
    pool = next((r for r in rows_of(rows, POOL) if get(r, POOL, "name") == pool_name), None)
    ranges = get(pool, POOL, "ranges") if pool is not None else None
    if not ranges:
        raise PlanError(
            f"mode-config {mode_config}: address-pool {pool_name or '(unset)'} has no ranges in /ip pool"
        )
    return LeaseSource(
        mode_config,
        pool_name,
        MENUS[POOL].by_name["ranges"].type.format(ranges),
        get(mc, MODE_CONFIG, "address-prefix-length") or 32,
        tuple(str(a) for a in get(mc, MODE_CONFIG, "static-dns") or ()),
        tuple(str(n) for n in get(mc, MODE_CONFIG, "split-include") or ()),
    )
