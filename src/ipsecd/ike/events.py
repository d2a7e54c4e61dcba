"""Events an IKE SA hands to the daemon (DESIGN.md §3): past-tense, plain data, no callbacks.

The daemon installs SAs in the data plane from :class:`ChildSaInstalled` (both directions as
``SaSpec`` ready for ``DataPlane.add_sa``), removes them on :class:`ChildSaDeleted`, and logs the
failures verbatim: :class:`NegotiationFailed` spells out what was offered and what is accepted,
transform by transform, and which RouterOS property to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from ipsecd.policy.types import SaSpec

Endpoint = tuple[str, int]


@dataclass(frozen=True, slots=True)
class IkeSaEstablished:
    local_spi: bytes
    remote_spi: bytes
    initiator: bool
    local: Endpoint
    remote: Endpoint
    local_id: str
    remote_id: str
    encr: str
    integ: str
    prf: str
    dh: str
    nat_local: bool  # we are behind a NAT
    nat_remote: bool  # the peer is behind a NAT
    lifetime: float
    initial_contact: bool = False  # the peer said it has no other SA with us: drop older ones (§2.4)
    xauth_user: str = ""  # IKEv1: the user XAuth accepted (the peer's text; escape it to log it)


@dataclass(frozen=True, slots=True)
class IkeSaRekeyed:
    """The IKE SA now lives under ``new_spi`` (our side); ``old_spi`` goes once its DELETE is done."""

    old_spi: bytes
    new_spi: bytes


@dataclass(frozen=True, slots=True)
class IkeSaDeleted:
    local_spi: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class ChildSaInstalled:
    child: str  # ChildConfig.name
    inbound: SaSpec
    outbound: SaSpec
    rekey_of: int | None = None  # inbound SPI of the CHILD_SA this one replaces
    # negotiated address ranges ("start-end") the SA does not carry: it has one selector pair (the
    # widest range holding the first TS, ike.v2.ts.covering), disjoint ones need CHILD_SAs of their own
    left_out: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChildSaRekeyed:
    child: str
    old_inbound_spi: int
    new_inbound_spi: int


@dataclass(frozen=True, slots=True)
class ChildSaDeleted:
    child: str
    inbound_spi: int
    outbound_spi: int
    reason: str


@dataclass(frozen=True, slots=True)
class AuthenticationFailed:
    remote: Endpoint
    detail: str


@dataclass(frozen=True, slots=True)
class NegotiationFailed:
    """An exchange failed; ``detail`` is operator-grade (offered vs accepted, property to change)."""

    exchange: str
    notify: str
    detail: str
    fatal: bool  # the IKE SA is gone


@dataclass(frozen=True, slots=True)
class PeerDead:
    remote: Endpoint
    detail: str


@dataclass(frozen=True, slots=True)
class AddressLeased:
    """Mode-config responder: ``address`` went to the peer (return it on IkeSaDeleted)."""

    address: IPv4Address | IPv6Address
    remote_id: str


@dataclass(frozen=True, slots=True)
class VirtualIpAssigned:
    """Mode-config initiator: the responder gave us these (install on the TUN, use as selector)."""

    addresses: tuple[IPv4Address | IPv6Address, ...]
    dns: tuple[IPv4Address | IPv6Address, ...] = field(default_factory=tuple)
    subnets: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class MessageDropped:
    """The router dropped (or statelessly answered) a datagram from ``remote``; ``reason`` is its
    counter's name (``unknown-spi``, ``unsupported-version``, ``cookies-sent`` …). The daemon logs
    these once per source and reason: the source address is not authenticated."""

    remote: Endpoint
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class VerdictRequested:
    """A task waits for an outside verdict (an EAP round relayed to RADIUS, ``question`` a
    :class:`ipsecd.ike.eap.server.RelayQuestion`): the daemon asks without blocking and calls
    ``sa.provide_verdict(token, answer)``; the SA answers everything else meanwhile."""

    token: object
    question: object


Event = (IkeSaEstablished | IkeSaRekeyed | IkeSaDeleted | ChildSaInstalled | ChildSaRekeyed | ChildSaDeleted
         | AuthenticationFailed | NegotiationFailed | PeerDead | AddressLeased | VirtualIpAssigned
         | MessageDropped | VerdictRequested)
