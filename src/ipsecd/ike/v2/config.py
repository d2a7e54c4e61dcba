"""Configuration of one IKE SA as plain dataclasses; the daemon maps RouterOS rows into these.

Names are the registry's RouterOS names (``ipsecd.crypto.registry``): profile ``enc-algorithm``
(``aes-128`` …, or proposal names such as ``aes-256-gcm``), ``hash-algorithm``/``prf-algorithm``
(``sha1`` …), ``dh-group`` (``modp2048``, ``ecp256``, ``x25519`` …); proposal ``enc-algorithms``
and ``auth-algorithms``. Identities are written as RouterOS writes them: ``auto``, ``address``,
``address:192.0.2.1``, ``fqdn:gw.example``, ``user-fqdn:u@example``, ``key-id:…`` (RFC 7296 §3.5).
:func:`validate` refuses a configuration that cannot work with one clear line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address

from ipsecd.crypto import registry
from ipsecd.crypto.errors import UnknownAlgorithmError
from ipsecd.pki.identity import Identity, IdentityError
from ipsecd.policy.selectors import parse_address
from ipsecd.policy.types import Level, Mode, Selector
from ipsecd.wire.enums import IdType

from ..auth import NO_CREDENTIALS, CredentialProvider, authenticator_for, pubkey
from ..errors import ConfigError

Endpoint = tuple[str, int]
IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True, slots=True)
class IkeProposal:
    """One IKE proposal: every combination of the lists is acceptable (profile enc × hash × dh)."""

    encr: tuple[str, ...] = ("aes-128",)
    integ: tuple[str, ...] = ("sha1",)  # hash-algorithm names; ignored for AEAD ciphers
    prf: tuple[str, ...] = ("sha1",)
    dh: tuple[str, ...] = ("modp2048", "modp1024")


@dataclass(frozen=True, slots=True)
class ChildProposal:
    """``/ip ipsec proposal``: enc-algorithms × auth-algorithms, pfs-group (``none`` for no PFS)."""

    encr: tuple[str, ...] = ("aes-256-cbc", "aes-192-cbc", "aes-128-cbc")
    integ: tuple[str, ...] = ("sha1",)
    pfs: str = "modp1024"


@dataclass(frozen=True, slots=True)
class ChildConfig:
    """One CHILD_SA template (a policy bound to the peer): ``selector.src`` is our side."""

    name: str
    selector: Selector
    proposals: tuple[ChildProposal, ...] = (ChildProposal(),)
    lifetime: float = 1800.0
    mode: Mode = Mode.TUNNEL
    level: Level = Level.REQUIRE
    policy_id: str | None = None
    reqid: int = 0


@dataclass(frozen=True, slots=True)
class Retransmit:
    """strongSwan's defaults: 4 s × 1.8^n, 5 retransmissions, then the peer is given up."""

    timeout: float = 4.0
    base: float = 1.8
    tries: int = 5

    def total(self) -> float:
        """Seconds from the first transmission until the exchange is given up."""
        return sum(self.timeout * self.base ** n for n in range(self.tries + 1))


@dataclass(frozen=True, slots=True)
class ModeConfigLease:
    """What a mode-config responder hands out (RouterOS ``mode-config`` with ``address-pool``)."""

    address: IPAddress
    prefix_length: int = 32
    dns: tuple[IPAddress, ...] = ()
    split_include: tuple[str, ...] = ()  # prefixes, e.g. "10.0.0.0/24"


@dataclass(frozen=True, slots=True)
class IkeConfig:
    local: Endpoint
    remote: Endpoint
    # the daemon's provider of secrets (the core never reads configuration rows) and the identity's
    # auth-method, which picks the Authenticator (ipsecd.ike.auth)
    credentials: CredentialProvider = field(repr=False, default=NO_CREDENTIALS)
    my_id: str = "auto"
    remote_id: str = "auto"
    proposals: tuple[IkeProposal, ...] = (IkeProposal(),)
    children: tuple[ChildConfig, ...] = ()
    lifetime: float = 86400.0
    dpd_interval: float | None = 120.0
    send_initial_contact: bool = True
    nat_traversal: bool = True
    force_encap: bool = False  # pretend to be behind a NAT (strongSwan encap=yes) for UDP-only data planes
    natt_port: int = 4500
    retransmit: Retransmit = Retransmit()
    mode_config_request: bool = False  # mode-config=request-only (initiator)
    lease: Callable[[str], ModeConfigLease | None] | None = None  # responder: remote id -> lease
    # responder with several identities for one peer (road warriors): the peer's ID, as
    # format_identity writes it, picks the configuration (secret, my-id, policies); None refuses it
    identity_for: Callable[[str], IkeConfig | None] | None = field(default=None, repr=False)
    # responder: the peer's other digital-signature identities, in configuration order; the first of
    # this one and these whose rules accept the peer's certificate and ID is used (pick_by_certificate)
    identities: tuple[IkeConfig, ...] = field(default=(), repr=False)
    name: str = ""
    auth_method: str = "pre-shared-key"
    window_size: int = 1  # requests of the peer processed at once (RFC 7296 §2.3; 1 as strongSwan's default)
    # auth-method=eap (we are the EAP client): the identity's username= (its password is the provider's
    # eap_secret) and eap-methods as EAP method types, in the configured order
    eap_user: str = ""
    eap_methods: tuple[int, ...] = (26,)
    # auth-method=eap-radius: judge EAP-MSCHAPv2 here against the provider's EAP users instead of
    # relaying to RADIUS (beyond RouterOS; off by default)
    eap_local: bool = False
    # IKE fragmentation (RFC 7383): offered in IKE_SA_INIT; when both support it, encrypted messages
    # go out as fragments of at most ``fragment_size`` bytes of IP datagram (strongSwan's default 1280)
    fragmentation: bool = True
    fragment_size: int = 1280


@lru_cache(maxsize=4096)
def parse_identity(text: str, address: str) -> tuple[IdType, bytes]:
    """RouterOS ``my-id``/``remote-id`` text to an ID payload (type, data); ``auto`` means the address.
    Cached: every IKE_AUTH parses its configuration's identities again."""
    kind, _, value = text.partition(":")
    if kind in ("auto", "address") and not value:
        value = address
        kind = "address"
    if kind == "address":
        try:
            ip = parse_address(value)  # cached: runs for every IKE_AUTH with my-id=auto
        except ValueError:
            raise ConfigError(f"identity {text!r}: {value!r} is not an IP address") from None
        return (IdType.ID_IPV4_ADDR if ip.version == 4 else IdType.ID_IPV6_ADDR), ip.packed
    if kind == "dn" and value:  # a certificate's subject (RFC 7296 §3.5 ID_DER_ASN1_DN)
        try:
            return IdType.ID_DER_ASN1_DN, Identity.parse(text).data
        except IdentityError as e:
            raise ConfigError(str(e)) from None
    types = {"fqdn": IdType.ID_FQDN, "user-fqdn": IdType.ID_RFC822_ADDR, "key-id": IdType.ID_KEY_ID}
    if kind not in types or not value:
        raise ConfigError(
            f"identity {text!r}: expected auto, address[:ip], fqdn:, user-fqdn:, key-id: or dn:"
        )
    return types[kind], value.encode()


@lru_cache(maxsize=4096)
def format_identity(id_type: IdType, data: bytes) -> str:
    """An ID payload as RouterOS writes identities (for logs and remote-id matching); cached, as
    every IKE_AUTH formats the same few identities twice."""
    if id_type in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR) and len(data) in (4, 16):
        return f"address:{ip_address(data)}"
    if id_type == IdType.ID_DER_ASN1_DN:
        return str(Identity(id_type, data))
    names = {IdType.ID_FQDN: "fqdn", IdType.ID_RFC822_ADDR: "user-fqdn", IdType.ID_KEY_ID: "key-id"}
    if id_type in names:
        return f"{names[id_type]}:{data.decode('utf-8', 'replace')}"
    return f"{id_type.name.lower()}:{data.hex()}"


def validate(config: IkeConfig) -> None:
    """Raise ConfigError naming the first thing that cannot work."""
    authenticator_for(config.auth_method, config.credentials)
    if not 1 <= config.window_size <= 0xFFFFFFFF:
        raise ConfigError(f"window size {config.window_size}: 1 or more")
    if not 576 <= config.fragment_size <= 65535:
        raise ConfigError(f"fragment size {config.fragment_size}: 576 to 65535 bytes")
    psk = config.credentials.shared_key(config.my_id, config.remote_id)
    if config.auth_method == "pre-shared-key" and not psk:
        raise ConfigError("identity has no secret: set secret= (pre-shared key)")
    if config.auth_method == pubkey.AUTH_METHOD:
        pubkey.check_credentials(config.credentials, config.my_id)
    if config.auth_method == "eap":
        if not config.eap_user or config.credentials.eap_secret(config.eap_user) is None:
            raise ConfigError("auth-method=eap needs username= and password= on the identity")
        if 26 not in config.eap_methods:
            raise ConfigError("auth-method=eap: ipsecd runs eap-methods=eap-mschapv2 only; add it to"
                              " eap-methods")
    try:
        for p in config.proposals:
            if not (p.encr and p.prf and p.dh):
                raise ConfigError("profile needs enc-algorithm, hash-algorithm and dh-group")
            for name in p.encr:
                registry.encr(name)
            for name in p.integ:
                registry.integ(name)
            for name in p.prf:
                registry.prf(name)
            for name in p.dh:
                registry.group(name)
        for child in config.children:
            for cp in child.proposals:
                for name in cp.encr:
                    registry.encr(name)
                for name in cp.integ:
                    registry.integ(name)
                if cp.pfs != "none":
                    registry.group(cp.pfs)
    except UnknownAlgorithmError as e:
        raise ConfigError(str(e)) from None
    parse_identity(config.my_id, config.local[0])
    if config.remote_id not in ("auto", "ignore"):
        parse_identity(config.remote_id, config.remote[0])
