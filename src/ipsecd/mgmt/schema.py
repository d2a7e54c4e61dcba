"""Every ``/ip ipsec`` menu, property, type, default, enum, reference and read-only flag (DESIGN.md §3).

The single source of truth of the management layer: parsing, validation, defaults, ``print``,
``export``, completion and JSON output are all derived from these tables. The floor is RouterOS's
IPsec manual (``shared/reference/routeros-ipsec-manual.txt`` with the defaults restored by NOTES.md);
on top sits every menu, property and value of the RouterOS 7.22 command tree, so a RouterOS 7 export
imports unchanged. Where the two disagree on a value set we take the union (the manual's EC2N groups
and phase-1 blowfish/camellia stay).

Properties whose behaviour the daemon does not implement yet carry ``implemented=False`` (or list
the enum words in ``unimplemented``): they are stored, printed and exported, and ``import``/``set``
warn once that they have no effect yet.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ipsecd.crypto import registry

from .passwords import FACTORY_GROUPS, POLICIES, SERVICES, PasswordHash
from .values import (
    DNS_NAME,
    Address,
    AddressRange,
    Bool,
    Enum,
    EnumList,
    Hex,
    HostOrPrefix,
    IdentityType,
    Int,
    ListOf,
    Millis,
    Port,
    Prefix,
    Protocol,
    Ref,
    Secret,
    Str,
    Time,
    ValueType,
)


@dataclass(frozen=True, slots=True)
class Prop:
    name: str
    type: ValueType
    default: str | None = None  # canonical text; None = unset
    read_only: bool = False
    secret: bool = False
    implemented: bool = True
    unimplemented: tuple[str, ...] = ()  # enum words that are accepted but have no effect yet
    unset_text: str = ""  # what print shows for an unset value (e.g. "::")
    required: bool = False
    runtime: bool = False  # read-only value supplied by the daemon (RuntimeProvider)


@dataclass(frozen=True, slots=True)
class Menu:
    path: str  # "/ip ipsec peer"
    kind: str  # "list" | "single" | "runtime" | "runtime-single"
    props: tuple[Prop, ...]
    key: str | None = "name"  # unique name property that references use
    factory: tuple[dict[str, str], ...] = ()  # default objects (flag *), beyond schema defaults
    columns: tuple[str, ...] = ()  # table print columns
    ordered: bool = False  # supports move/place-before (policy)
    auto_name: str = ""  # prefix of generated names ("peer" -> peer1)
    commands: tuple[str, ...] = ()  # menu-specific commands beyond add/set/remove/print/export
    flags: tuple[tuple[str, str], ...] = ()  # (letter, property) flag legend beyond X/D/*
    conflicts: tuple[tuple[str, str], ...] = ()  # properties that cannot both be set (to other than "no")
    # (property, other, value): property may be set (to other than "no") only while other=value
    requires: tuple[tuple[str, str, str], ...] = ()
    verbs: tuple[str, ...] = ()  # replaces the derived command list when set (keys are generated, not added)
    # ``print detail``: RouterOS's own property order (tests/vectors/routeros/ holds the captures it
    # comes from); properties missing here follow in schema order. ``quiet`` ones print only when set
    # to other than their default, as on the routers (a peer's passive=no, port=500 never show).
    detail: tuple[str, ...] = ()
    quiet: tuple[str, ...] = ()
    detail_template: tuple[str, ...] = ()  # what a template policy prints instead (its own fields)
    # the order of an item bound to no peer, where it differs (a RouterOS 6 policy that names only
    # sa-src-address/sa-dst-address prints tunnel after ipsec-protocols; RouterOS 7's peer-bound
    # policies print it after peer)
    detail_unbound: tuple[str, ...] = ()
    # RouterOS 7's flag columns, where a capture shows them: one column per group, a group's letters
    # alternatives in priority order (a policy's "XDIA": disabled, dynamic, invalid, active share one).
    # Without it every flag is a column of its own.
    flag_groups: tuple[str, ...] = ()
    # the daemon's (runtime) values RouterOS prints in quotes in ``print detail``, as it quotes
    # configured strings: an active peer's id and SPIs, an installed SA's keys (captured)
    quoted: tuple[str, ...] = ()
    # ``print detail`` quirks of RouterOS 7's active-peers (captured): a property printed under
    # another name (the local port as a first ``port=``), and properties printed twice (the SPIs)
    detail_labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    detail_echo: tuple[str, ...] = ()
    # (property, value) the API's print leaves out, as RouterOS's API does: a policy's group=default
    # and template=no (community.routeros's model of that menu: both "can be disabled", so an
    # api_modify entry naming group: default matches only a policy that omits it)
    api_omit: tuple[tuple[str, str], ...] = ()
    by_name: dict[str, Prop] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        self.by_name.update({p.name: p for p in self.props})

    def prop(self, name: str) -> Prop | None:
        return self.by_name.get(name)

    @property
    def writable(self) -> tuple[Prop, ...]:
        return tuple(p for p in self.props if not p.read_only)

    @property
    def has_disabled(self) -> bool:
        return "disabled" in self.by_name

    @property
    def has_comment(self) -> bool:
        return "comment" in self.by_name


# -- value sets ---------------------------------------------------------------------------------

# Algorithm and group names come from the crypto registry, the one table negotiation and
# `ipsecd algorithms` also read: the rows RouterOS lists (``routeros``), plus ``none`` for PFS.
# pfs-group also takes x25519: RouterOS 7.22 lists it for dh-group only, ipsecd negotiates it in both.
DH_GROUPS = tuple(g.name for g in registry.GROUPS if g.routeros)
PFS_GROUPS = (*DH_GROUPS, "none")
PH1_ENC = tuple(a.profile_name for a in registry.ENCR_ALGS if a.profile_name)
PH2_ENC = tuple(a.name for a in registry.ENCR_ALGS if a.routeros)
PH2_AUTH = tuple(a.name for a in registry.INTEG_ALGS if a.routeros)
HASH_ALGS = tuple(a.name for a in registry.HASH_ALGS if a.routeros)
PRF_ALGS = ("auto", *(a.name for a in registry.PRF_ALGS if a.routeros))
AUTH_METHODS = ("digital-signature", "eap", "eap-radius", "pre-shared-key", "pre-shared-key-xauth", "rsa-key",
                "rsa-signature-hybrid")
RUNNING_AUTH_METHODS = ("pre-shared-key", "digital-signature", "eap", "eap-radius", "pre-shared-key-xauth",
                        "rsa-signature-hybrid")
EAP_METHODS = ("eap-mschapv2", "eap-peap", "eap-tls", "eap-ttls")
IKEV1_MODES = ("aggressive", "base", "main")

YES, NO = "yes", "no"
B = Bool()


def _common(*, disabled: bool = True) -> tuple[Prop, ...]:
    props = [Prop("comment", Str(0, 4096), None)]
    if disabled:
        props.append(Prop("disabled", B, NO))
    return tuple(props)


def _ro(name: str, vtype: ValueType | None = None, *, runtime: bool = True) -> Prop:
    return Prop(name, vtype or Str(), None, read_only=True, runtime=runtime)


def _ro_secret(name: str, *, secret: bool) -> Prop:
    return Prop(name, Str(), None, read_only=True, runtime=True, secret=secret)


POLICY = Menu(
    "/ip ipsec policy", "list", (
        Prop("action", Enum("discard", "encrypt", "none"), "encrypt"),
        *_common(),
        Prop("dst-address", Prefix(), "0.0.0.0/32"),
        Prop("dst-port", Port(), "any"),
        Prop("group", Ref("/ip ipsec policy group"), "default"),
        Prop("ipsec-protocols", Enum("ah", "esp"), "esp"),
        Prop("level", Enum("require", "unique", "use"), "require"),
        Prop("peer", Ref("/ip ipsec peer"), None),
        Prop("proposal", Ref("/ip ipsec proposal"), "default"),
        Prop("protocol", Protocol(), "all"),
        Prop("sa-dst-address", Address(), None, unset_text="::"),
        Prop("sa-src-address", Address(), None, unset_text="::"),
        Prop("src-address", Prefix(), "0.0.0.0/32"),
        Prop("src-port", Port(), "any"),
        Prop("template", B, NO),
        Prop("tunnel", B, NO),
        Prop("active", B, NO, read_only=True, runtime=True),
        Prop("backup", B, NO, read_only=True, runtime=True),
        _ro("default", B, runtime=False),
        _ro("dynamic", B, runtime=False),
        Prop("invalid", B, NO, read_only=True, runtime=True),
        Prop("ph2-count", Int(0, 2**32), "0", read_only=True, runtime=True),
        Prop("ph2-state", Enum("expired", "no-phase2", "established"), "no-phase2", read_only=True,
             runtime=True),
    ),
    key=None,
    factory=({"group": "default", "src-address": "::/0", "dst-address": "::/0", "protocol": "all",
              "proposal": "default", "template": YES},),
    detail=("peer", "tunnel", "group", "src-address", "src-port", "dst-address", "dst-port", "protocol",
            "action", "level", "ipsec-protocols", "sa-src-address", "sa-dst-address", "proposal", "template",
            "ph2-count", "ph2-state"),
    detail_unbound=("group", "src-address", "src-port", "dst-address", "dst-port", "protocol", "action",
                    "level", "ipsec-protocols", "tunnel", "sa-src-address", "sa-dst-address", "proposal",
                    "template", "ph2-count", "ph2-state"),
    quiet=("group", "template", "ph2-state"),
    detail_template=("group", "src-address", "dst-address", "protocol", "proposal", "template"),
    columns=("peer", "tunnel", "src-address", "src-port", "dst-address", "dst-port", "protocol", "action",
             "level", "ph2-count"),
    ordered=True,
    commands=("move",),
    flags=(("T", "template"), ("B", "backup"), ("A", "active"), ("I", "invalid")),
    flag_groups=("T", "B", "XDIA", "*"),
    api_omit=(("group", "default"), ("template", "no")),
)

POLICY_GROUP = Menu(
    "/ip ipsec policy group", "list", (
        Prop("name", Str(1), required=True),
        *_common(disabled=False),
        _ro("default", B, runtime=False),
    ),
    factory=({"name": "default"},),
    auto_name="group",
    columns=("name",),
)

PROPOSAL = Menu(
    "/ip ipsec proposal", "list", (
        Prop("auth-algorithms", EnumList(*PH2_AUTH, allow_empty=True), "sha1"),
        *_common(),
        Prop("enc-algorithms", EnumList(*PH2_ENC), "aes-256-cbc,aes-192-cbc,aes-128-cbc"),
        Prop("lifetime", Time(), "30m"),
        Prop("name", Str(1), required=True),
        Prop("pfs-group", Enum(*PFS_GROUPS), "modp1024"),
        _ro("default", B, runtime=False),
    ),
    factory=({"name": "default"},),
    auto_name="proposal",
    detail=("name", "auth-algorithms", "enc-algorithms", "lifetime", "pfs-group"),
    columns=("name", "auth-algorithms", "enc-algorithms", "pfs-group"),
)

PEER = Menu(
    "/ip ipsec peer", "list", (
        Prop("address", HostOrPrefix(), None),
        *_common(),
        Prop("exchange-mode", Enum(*IKEV1_MODES, "ike2"), "main"),
        Prop("local-address", Address(), None),
        Prop("name", Str(1), required=True),  # generated (peer1, peer2 …) when add leaves it out
        Prop("passive", B, NO),
        Prop("port", Int(0, 65535), "500"),
        Prop("ppk-secret", Secret(), None, secret=True, implemented=False),
        Prop("profile", Ref("/ip ipsec profile"), "default"),
        Prop("send-initial-contact", B, YES),
        _ro("dynamic", B, runtime=False),
        _ro("responder", B, runtime=False),
        _ro("current-address", Address()),
    ),
    detail=("name", "address", "local-address", "passive", "port", "profile", "exchange-mode",
            "send-initial-contact", "ppk-secret"),
    quiet=("passive", "port"),
    columns=("name", "address", "local-address", "profile", "exchange-mode", "send-initial-contact"),
    auto_name="peer",
    flags=(("R", "responder"),),
)

IDENTITY = Menu(
    "/ip ipsec identity",
    "list",
    (
        Prop(
            "auth-method",
            Enum(*AUTH_METHODS),
            "pre-shared-key",
            unimplemented=tuple(m for m in AUTH_METHODS if m not in RUNNING_AUTH_METHODS),
        ),
        Prop("certificate", Str(), None),
        *_common(),
        Prop("eap-methods", EnumList(*EAP_METHODS), "eap-tls",
             unimplemented=tuple(m for m in EAP_METHODS if m != "eap-mschapv2")),
        Prop("generate-policy", Enum("no", "port-override", "port-strict"), "no"),
        Prop("key", Ref("/ip ipsec key"), None, implemented=False),
        Prop("match-by", Enum("remote-id", "certificate"), "remote-id"),
        Prop("mode-config", Ref("/ip ipsec mode-config", ("none",)), "none"),
        Prop("my-id", IdentityType(("auto", "address"), ("address", "fqdn", "user-fqdn", "key-id", "dn")),
             "auto"),
        Prop("notrack-chain", Str(), None, implemented=False),
        Prop("password", Secret(), None, secret=True),
        Prop("peer", Ref("/ip ipsec peer"), None, required=True),
        Prop("policy-template-group", Ref("/ip ipsec policy group", ("none",)), "default"),
        Prop("remote-certificate", Str(suggest=("none",)), None),
        Prop("remote-id", IdentityType(("auto", "address", "ignore"),
                                       ("address", "fqdn", "user-fqdn", "key-id", "dn")), "auto"),
        Prop("remote-key", Ref("/ip ipsec key"), None, implemented=False),
        Prop("secret", Secret(), None, secret=True),
        Prop("username", Str(), None),
        _ro("dynamic", B, runtime=False),
    ),
    key=None,
    detail=("peer", "auth-method", "certificate", "remote-certificate", "eap-methods", "username", "password",
            "secret", "key", "remote-key", "generate-policy", "match-by", "mode-config", "my-id", "remote-id",
            "notrack-chain", "policy-template-group"),
    quiet=("eap-methods", "match-by", "mode-config", "my-id", "remote-id", "policy-template-group"),
    columns=("peer", "auth-method", "my-id", "remote-id", "generate-policy", "mode-config"),
)

PROFILE = Menu(
    "/ip ipsec profile", "list", (
        Prop("dh-group", EnumList(*DH_GROUPS), "modp1024,modp2048"),
        Prop("dpd-interval", Time(0, 3600, ("disable-dpd",)), "2m"),
        Prop("dpd-maximum-failures", Int(1, 100), "5"),
        Prop("enc-algorithm", EnumList(*PH1_ENC), "aes-128"),
        Prop("hash-algorithm", Enum(*HASH_ALGS), "sha1"),
        Prop("lifebytes", Int(0, 4294967295), "0"),
        Prop("lifetime", Time(), "1d"),
        Prop("name", Str(1), required=True),
        Prop("nat-traversal", B, YES),
        Prop("ppk", Enum("no", "psk", "psk-ike-initial", "qkd"), "no",
             unimplemented=("psk", "psk-ike-initial", "qkd")),
        Prop("prf-algorithm", Enum(*PRF_ALGS), "auto"),
        Prop("proposal-check", Enum("claim", "exact", "obey", "strict"), "obey"),
        _ro("default", B, runtime=False),
    ),
    factory=({"name": "default"},),
    auto_name="profile",
    detail=("name", "hash-algorithm", "prf-algorithm", "enc-algorithm", "dh-group", "lifetime", "lifebytes",
            "proposal-check", "nat-traversal", "dpd-interval", "dpd-maximum-failures", "ppk"),
    quiet=("prf-algorithm", "lifebytes", "ppk"),
    # no columns: RouterOS prints profiles detail-style even without ``detail``
)

MODE_CONFIG = Menu(
    "/ip ipsec mode-config", "list", (
        Prop("address", Address(v4_only=True), None),  # 7.22 tree: A.B.C.D (so split-include, static-dns)
        Prop("address-pool", Ref("/ip pool", ("none",)), None),
        Prop("address-prefix-length", Int(1, 32), None),  # manual: integer [1..32] (IPv4 mode-config)
        *_common(disabled=False),
        Prop("connection-mark", Str(suggest=("no-mark",)), None, implemented=False),
        Prop("name", Str(1), required=True),
        # RouterOS: a new entry is a responder unless told otherwise (its own road-warrior server
        # examples add one with address-pool= only); the manual's "Default: no" holds for the
        # built-in request-only entry alone. README: where real routers and the manual differ.
        Prop("responder", B, YES),
        Prop("split-dns", ListOf(DNS_NAME), None),
        Prop("split-include", ListOf(Prefix(v4_only=True)), None),
        Prop("src-address-list", Str(), None, implemented=False),
        Prop("static-dns", ListOf(Address(v4_only=True)), None),
        Prop("system-dns", B, None, implemented=False),  # manual: "Default: " (unset); "no" is exported
        Prop("use-responder-dns", Enum("exclusively", "no", "yes"), None),
        _ro("default", B, runtime=False),
    ),
    factory=({"name": "request-only", "responder": NO},),
    auto_name="cfg",
    detail=("name", "responder", "address-pool", "address", "address-prefix-length", "split-include",
            "split-dns", "static-dns", "system-dns", "use-responder-dns", "src-address-list",
            "connection-mark"),
    columns=("name", "responder", "address-pool", "split-include", "static-dns"),
    # the manual: not system-dns and static-dns at the same time; RouterOS 7: address is a single
    # address given "instead of" an address-pool
    conflicts=(("system-dns", "static-dns"), ("address", "address-pool")),
    # the addresses a responder assigns; the client's source NAT list ("only available with responder=no")
    requires=(*((p, "responder", YES) for p in ("address", "address-pool", "address-prefix-length")),
              ("src-address-list", "responder", NO)),
)

KEY = Menu(
    "/ip ipsec key", "list", (
        Prop("name", Str(1), required=True),
        _ro("key-size", Int(0, 16384), runtime=False),
        _ro("private-key", B, runtime=False),
        _ro("rsa", B, runtime=False),
        Prop("key-data", Str(0, 65536), None, read_only=True, secret=True),  # PEM; never printed
    ),
    columns=("name", "key-size", "private-key", "rsa"),
    commands=("generate-key", "import", "export-pub-key"),
    verbs=("print", "set", "remove", "find", "generate-key", "import", "export-pub-key"),
    flags=(("P", "private-key"), ("R", "rsa")),
)

KEY_PSK = Menu(
    "/ip ipsec key psk", "list", (
        Prop("id", Str(16), required=True, implemented=False),  # PPK (RFC 8784) keys: not used yet
        # optional: exports without secrets omit it
        Prop("key", Hex(128), None, secret=True, implemented=False),
        Prop("peer", Ref("/ip ipsec peer"), None, implemented=False),
    ),
    key="id",
    columns=("id", "peer"),
    commands=("generate",),
)

KEY_QKD = Menu(
    "/ip ipsec key qkd", "single", (
        Prop("address", Str(), None, implemented=False),
        Prop("cache-size", Int(0, 2**32), None, implemented=False),
        Prop("certificate", Str(suggest=("none",)), "none", implemented=False),
        Prop("enabled", B, NO, implemented=False),
        Prop("key-size", Int(0, 2**32), None, implemented=False),
        Prop("kme-id", Str(), None, implemented=False),
        Prop("peer-sae-id", Str(), None, implemented=False),
    ),
    key=None,
)

SETTINGS = Menu(
    "/ip ipsec settings", "single", (
        Prop("accounting", B, YES),
        Prop("ddos-cookie-threshold", Int(0, 2**32), None),
        Prop("interim-update", Time(), "0s"),
        Prop("xauth-use-radius", B, NO),
        # beyond RouterOS: eap-radius identities judge EAP-MSCHAPv2 against /ip ipsec user themselves
        # instead of asking a RADIUS server (off by default, so a RouterOS export never carries it)
        Prop("eap-local-users", B, NO),
    ),
    key=None,
    quiet=("eap-local-users",),
)

ACTIVE_PEERS = Menu(
    "/ip ipsec active-peers", "runtime", tuple(_ro(n) for n in (
        "id", "local-address", "local-port", "remote-address", "port", "state", "side", "responder",
        "natt-peer", "ph2-total",
        "uptime", "last-seen", "dynamic-address", "rx-bytes", "rx-packets", "tx-bytes", "tx-packets", "spii",
        "spir", "ppk", "comment")),
    key=None,
    columns=("id", "state", "uptime", "ph2-total", "remote-address", "dynamic-address"),  # captured (7.20.4)
    commands=("kill-connections", "wireshark-keys"),
    flags=(("R", "responder"), ("N", "natt-peer")),
    quoted=("id", "spii", "spir"),
    detail=("id", "local-address", "local-port", "remote-address", "port", "state", "side", "dynamic-address",
            "uptime", "last-seen", "ph2-total", "spii", "spir"),
    detail_labels={"local-port": "port"},
    detail_echo=("spii", "spir"),
)

INSTALLED_SA = Menu(
    "/ip ipsec installed-sa", "runtime", tuple(_ro_secret(n, secret=n in ("auth-key", "enc-key")) for n in (
        "spi", "src-address", "dst-address", "state", "AH", "ESP", "auth-algorithm", "enc-algorithm",
        "enc-key-size", "auth-key", "enc-key", "current-bytes", "current-packets", "replay", "add-lifetime",
        "addtime", "expires-in", "hw-aead", "invalid-packets", "seen-traffic")),
    key=None,
    detail=("spi", "src-address", "dst-address", "state", "auth-algorithm", "enc-algorithm", "enc-key-size",
            "auth-key", "enc-key", "addtime", "expires-in", "add-lifetime", "current-bytes",
            "current-packets",
            "replay", "invalid-packets"),
    quiet=("auth-algorithm", "auth-key"),  # an AEAD SA (aes-gcm) prints neither (see the capture)
    columns=("spi", "state", "src-address", "dst-address", "auth-algorithm", "enc-algorithm", "enc-key-size"),
    commands=("flush", "wireshark-keys"),
    flags=(("S", "seen-traffic"), ("H", "hw-aead"), ("A", "AH"), ("E", "ESP")),
    flag_groups=("S", "H", "AE"),
    quoted=("auth-key", "enc-key"),
)

#: Linux XFRM MIB counters under their RouterOS names (NOTES.md), in print order.
STATISTICS_COUNTERS = (
    "in-errors", "in-buffer-errors", "in-header-errors", "in-no-states", "in-state-protocol-errors",
    "in-state-mode-errors", "in-state-sequence-errors", "in-state-expired", "in-state-mismatches",
    "in-state-invalid", "in-template-mismatches", "in-no-policies", "in-policy-blocked", "in-policy-errors",
    "out-errors", "out-bundle-errors", "out-bundle-check-errors", "out-no-states",
    "out-state-protocol-errors",
    "out-state-mode-errors", "out-state-sequence-errors", "out-state-expired", "out-policy-blocked",
    "out-policy-dead", "out-policy-errors",
)

STATISTICS = Menu(
    "/ip ipsec statistics", "runtime-single",
    tuple(Prop(n, Int(0, 2**64), "0", read_only=True, runtime=True) for n in STATISTICS_COUNTERS),
    key=None,
)

POOL = Menu(
    "/ip pool", "list", (
        Prop("name", Str(1), required=True),
        Prop("ranges", ListOf(AddressRange()), None),
        Prop("next-pool", Ref("/ip pool", ("none",)), None),
        *_common(disabled=False),
    ),
    columns=("name", "ranges"),
)


#: RouterOS 6's XAuth users (gone from the 7.22 tree): accepted so RouterOS 6 exports import (NOTES.md).
USER = Menu(
    "/ip ipsec user", "list", (
        Prop("address", Address(), None),  # the address this user always gets (else the pool's)
        *_common(),
        Prop("name", Str(1), required=True),
        Prop("password", Secret(), None, secret=True),
    ),
    columns=("name", "address"),
)

#: RouterOS's RADIUS client (``/radius``): the servers an ``eap-radius`` identity relays EAP to
#: (RFC 3579), those with ``service`` ipsec, in order; ``timeout`` is per try (milliseconds).
RADIUS_SERVICES = ("dhcp", "dot1x", "hotspot", "ipsec", "login", "ppp", "wireless")
RADIUS = Menu(
    "/radius", "list", (
        Prop("accounting-backup", B, NO, implemented=False),
        Prop("accounting-port", Int(1, 65535), "1813"),
        Prop("address", Address(), "0.0.0.0"),
        Prop("authentication-port", Int(1, 65535), "1812"),
        Prop("called-id", Str(), None, implemented=False),
        *_common(),
        Prop("domain", Str(), None, implemented=False),
        Prop("realm", Str(), None, implemented=False),
        Prop("secret", Secret(), None, secret=True),
        Prop("service", EnumList(*RADIUS_SERVICES), None,
             unimplemented=tuple(s for s in RADIUS_SERVICES if s != "ipsec")),
        Prop("src-address", Address(), "0.0.0.0"),
        Prop("timeout", Millis(1, 60000), "300ms"),
    ),
    key=None,
    columns=("service", "address", "secret"),
    quiet=("accounting-backup", "accounting-port", "authentication-port", "src-address", "timeout"),
)

# -- who drives ipsecd: services, users, groups (issue 14; vocabulary and hashing in .passwords) ----

SERVICE = Menu(
    "/ip service", "list", (
        Prop("name", Enum(*(n for n, _ in SERVICES)), required=True, read_only=True),
        Prop("port", Int(1, 65535), None),
        Prop("address", ListOf(Prefix()), None),
        Prop("certificate", Str(suggest=("none",)), "none"),
        Prop("tls-version", Enum("any", "only-1.2", "only-1.3"), "any"),
        Prop("max-sessions", Int(1, 1000), "20"),
        Prop("vrf", Str(), "main", implemented=False),
        *_common(),
        _ro("default", B, runtime=False),
    ),
    factory=tuple({"name": n, "port": str(p), "disabled": YES} for n, p in SERVICES),
    columns=("name", "port", "address", "certificate", "tls-version", "max-sessions"),
    verbs=("print", "set", "unset", "enable", "disable", "comment", "export", "find"),
)

USER_GROUP = Menu(
    "/user group", "list", (
        Prop("name", Str(1, 64), required=True),
        Prop("policy", EnumList(*POLICIES), None),
        Prop("skin", Str(), "default", implemented=False),
        *_common(disabled=False),
        _ro("default", B, runtime=False),
    ),
    factory=tuple({"name": n, "policy": ",".join(p)} for n, p in FACTORY_GROUPS),
    columns=("name", "policy", "skin"),
)

ROUTER_USER = Menu(
    "/user", "list", (
        Prop("name", Str(1, 64, r"[^\s/\\\"]+", "name without spaces, slashes or quotes"), required=True),
        Prop("group", Ref("/user group"), None, required=True),
        Prop("password", PasswordHash(), None, secret=True),
        Prop("address", ListOf(Prefix()), None),
        *_common(),
        _ro("default", B, runtime=False),
    ),
    factory=({"name": "admin", "group": "full"},),
    columns=("name", "group", "address"),
)



MENUS: dict[str, Menu] = {m.path: m for m in (
    POLICY, POLICY_GROUP, PROPOSAL, PEER, IDENTITY, PROFILE, MODE_CONFIG, KEY, KEY_PSK, KEY_QKD, SETTINGS,
    ACTIVE_PEERS, INSTALLED_SA, STATISTICS, POOL, USER, RADIUS, SERVICE, USER_GROUP, ROUTER_USER)}

#: ``/ip ipsec key rsa`` (RouterOS 7) is the manual's ``/ip ipsec key``.
ALIASES = {"/ip ipsec key rsa": "/ip ipsec key"}

#: Intermediate path nodes (no items of their own) for navigation and completion.
DIRECTORIES = ("/ip", "/ip ipsec")

#: ``/certificate`` and its sub-menus: not configuration (the daemon's certificate store answers
#: them, :mod:`.certificate`), but paths a command line may name.
CERTIFICATE_PATHS = ("/certificate", "/certificate crl", "/certificate settings")

#: Menus whose objects are written by ``export`` (order = RouterOS export order: referenced first).
EXPORT_ORDER = ("/ip pool", "/ip ipsec mode-config", "/ip ipsec policy group", "/ip ipsec profile",
                "/ip ipsec peer", "/ip ipsec proposal", "/ip ipsec identity", "/ip ipsec key psk",
                "/ip ipsec policy", "/ip ipsec settings", "/ip ipsec key qkd", "/ip ipsec user", "/radius",
                "/user group", "/user", "/ip service")

#: Defaults of real routers where they differ from the manual (ipsecd's defaults), chosen with
#: ``ipsecd import --defaults routeros7`` (``/import … defaults=routeros7``): a compact RouterOS 7
#: export leaves these out, so it must be read with them to behave as on the router. They are plain
#: RouterOS values: an ipsecd export then writes them explicitly, which a RouterOS router accepts.
DIALECTS: dict[str, dict[str, dict[str, str]]] = {
    "routeros7": {"/ip ipsec profile": {"dh-group": "modp2048,modp1024", "dpd-interval": "8s",
                                        "dpd-maximum-failures": "4", "enc-algorithm": "aes-128,3des"}},
}

BASE_COMMANDS = ("add", "set", "unset", "remove", "print", "export", "enable", "disable", "comment", "find")


def commands_of(menu: Menu) -> tuple[str, ...]:
    """The commands a menu accepts (console completion and dispatch)."""
    if menu.verbs:
        return menu.verbs
    if menu.kind == "runtime":
        return ("print", *menu.commands)
    if menu.kind in ("single", "runtime-single"):
        return ("print", "set", "unset", "export") if menu.kind == "single" else ("print",)
    base = [c for c in BASE_COMMANDS if c not in ("enable", "disable") or menu.has_disabled]
    if not menu.has_comment:
        base.remove("comment")
    return (*base, *menu.commands)


def referrers(target: str) -> list[tuple[Menu, Prop]]:
    """Every (menu, property) that refers by name to items of ``target``."""
    return [(m, p) for m in MENUS.values() for p in m.props
            if isinstance(p.type, Ref) and p.type.menu == target]


def resolve_path(words: list[str]) -> str | None:
    """``["ip", "ipsec", "peer"]`` → ``"/ip ipsec peer"`` if that is a menu or directory."""
    path = "/" + " ".join(words)
    path = ALIASES.get(path, path)
    if path in MENUS or path in DIRECTORIES or path in CERTIFICATE_PATHS or path == "/":
        return path
    return None


def children(path: str) -> list[str]:
    """Sub-menu words below ``path`` (for relative paths and completion)."""
    return list(_children(path))


@functools.cache
def _children(path: str) -> tuple[str, ...]:
    """The tables are fixed at import, so each path's answer is computed once: a script resolves
    every line's menu words through here (an import of 30,000 lines asked 30,000 times)."""
    prefix = "/" if path == "/" else path + " "
    out: list[str] = []
    for p in (*MENUS, *ALIASES, *DIRECTORIES, *CERTIFICATE_PATHS):
        if p.startswith(prefix) and p != path:
            word = p[len(prefix):].split(" ")[0]
            if word not in out:
                out.append(word)
    return tuple(out)
