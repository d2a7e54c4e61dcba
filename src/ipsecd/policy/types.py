"""The vocabulary of RFC 4301 that the SPD, the SAD, IKE and every data plane share.

It lives here, below ``ike/`` and ``dataplane/`` (DESIGN.md §1), so that IKE can describe the SAs and
policies it negotiates without depending on a data plane, and a data plane can install them without
depending on IKE.

Algorithm names are the registry's RouterOS names (``ipsecd.crypto.registry``): ESP encryption as in
``/ip ipsec proposal enc-algorithms`` (``aes-128-gcm``, ``aes-256-cbc``, ``chacha20poly1305``,
``null`` …) and integrity as in ``auth-algorithms`` (``sha1``, ``sha256``, ``sha512``, ``md5``,
``null``). Encryption keys include the salt/nonce tail where the algorithm has one (RFC 4106 §8.1,
RFC 3686 §5.1, RFC 7634 §2), exactly as the CHILD_SA KEYMAT yields them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


class Direction(enum.Enum):
    IN = "in"
    OUT = "out"


class IpsecProto(enum.Enum):
    """``ipsec-protocols`` of a policy; IANA IP protocol numbers as values."""

    ESP = 50
    AH = 51


class Mode(enum.Enum):
    TUNNEL = "tunnel"
    TRANSPORT = "transport"


class Action(enum.Enum):
    """Policy ``action``."""

    ENCRYPT = "encrypt"
    DISCARD = "discard"
    NONE = "none"


class Level(enum.Enum):
    """Policy ``level``: require drops and acquires, use passes and does not acquire, unique drops and
    acquires an SA used by this policy alone."""

    REQUIRE = "require"
    USE = "use"
    UNIQUE = "unique"


@dataclass(frozen=True, slots=True)
class Selector:
    """Traffic selector: prefixes, IP protocol (0 = any) and ports (0 = any) as in the manual."""

    src: IPNetwork
    dst: IPNetwork
    protocol: int = 0
    src_port: int = 0
    dst_port: int = 0


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """One ``/ip ipsec policy`` as the SPD needs it (static or dynamic/generated).

    ``policy_id`` is stable for the policy's life (the configuration ``.id`` or a dynamic id);
    ``order`` is its position (first match wins, lowest first).
    """

    policy_id: str
    order: int
    selector: Selector
    action: Action = Action.ENCRYPT
    level: Level = Level.REQUIRE
    proto: IpsecProto = IpsecProto.ESP
    tunnel: bool = False
    sa_src: IPAddress | None = None
    sa_dst: IPAddress | None = None
    template: bool = False
    disabled: bool = False
    dynamic: bool = False
    peer: str | None = None


@dataclass(frozen=True, slots=True)
class Lifetime:
    """Soft/hard limits; 0 means unlimited."""

    soft_seconds: float = 0.0
    hard_seconds: float = 0.0
    soft_bytes: int = 0
    hard_bytes: int = 0


@dataclass(frozen=True, slots=True)
class UdpEncap:
    """RFC 3948 UDP encapsulation: outer UDP ports (ours, theirs)."""

    sport: int = 4500
    dport: int = 4500


@dataclass(frozen=True, slots=True)
class SaSpec:
    """One unidirectional SA as negotiated: everything a backend needs to install it."""

    spi: int
    direction: Direction
    proto: IpsecProto
    mode: Mode
    src: IPAddress  # outer source (tunnel endpoints / the hosts in transport mode)
    dst: IPAddress
    encr: str  # registry name; "null" for AH / ESP-NULL
    encr_key: bytes
    integ: str  # registry name; "null" for AEAD
    integ_key: bytes
    policy_id: str | None = None  # the policy this SA serves (outbound lookup, inbound policy check)
    selector: Selector | None = None  # the negotiated traffic selector (local → remote for OUT)
    encap: UdpEncap | None = None
    esn: bool = False
    replay_window: int = 128  # packets; 0 disables anti-replay
    lifetime: Lifetime = field(default_factory=Lifetime)
    reqid: int = 0


Endpoint = tuple[str, int]
"""(address, UDP port) of a peer's ESP-in-UDP endpoint."""


@dataclass(frozen=True, slots=True)
class SaState:
    """What ``query_sa`` reports (``/ip ipsec installed-sa`` runtime fields)."""

    spi: int
    direction: Direction
    current_bytes: int
    current_packets: int
    invalid_packets: int
    add_time: float  # clock value when installed
    last_used: float | None  # clock value of the last packet (dead-peer detection)
    state: str  # larval | mature | dying | dead
    replay_window: int
