"""Identities and proxy IDs of IKEv1 (RFC 2407 §4.6.2) to and from RouterOS identities and selectors.

Phase 1 sends our ``my-id`` with protocol and port zero and accepts the peer's with zero or UDP/500
(§4.6.2). Quick mode's IDci/IDcr are the policy's selectors: a host is ID_IPV4_ADDR/ID_IPV6_ADDR,
a prefix ID_*_ADDR_SUBNET, with the IP protocol and port in the ID's header. A peer's range is
turned into the prefixes it spans; an SA has one selector, so a range that is not one prefix is
answered with INVALID-ID-INFORMATION.
"""

from __future__ import annotations

from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
    summarize_address_range,
)

from ipsecd.policy.types import IPNetwork
from ipsecd.wire.enums import IdType as V2IdType
from ipsecd.wire.ikev1.enums import IdType, NotifyType
from ipsecd.wire.ikev1.payloads import IdPayload

from ..v2.config import format_identity, parse_identity
from .config import V1ProtocolError

_SHARED = {IdType.IPV4_ADDR: V2IdType.ID_IPV4_ADDR, IdType.IPV6_ADDR: V2IdType.ID_IPV6_ADDR,
           IdType.FQDN: V2IdType.ID_FQDN, IdType.USER_FQDN: V2IdType.ID_RFC822_ADDR,
           IdType.KEY_ID: V2IdType.ID_KEY_ID, IdType.DER_ASN1_DN: V2IdType.ID_DER_ASN1_DN}
_BACK = {v: k for k, v in _SHARED.items()}


def identity_payload(text: str, address: str) -> IdPayload:
    """Our phase-1 ID from ``my-id`` (``auto`` = our address)."""
    kind, data = parse_identity(text, address)
    return IdPayload(_BACK[kind], data)


def v2_identity(p: IdPayload) -> tuple[V2IdType, bytes]:
    """The phase-1 ID as the version-neutral (IKEv2) type and data, for ``pki`` identity checks."""
    kind = _SHARED.get(p.id_type)
    if kind is None:
        raise V1ProtocolError(
            NotifyType.INVALID_ID_INFORMATION, f"ID type {p.id_type.name} with a certificate"
        )
    return kind, p.data


def id_from_v2(kind: V2IdType, data: bytes) -> IdPayload:
    """An IKEv2-typed identity (a certificate's ``my-id=auto``) as the phase-1 ID."""
    return IdPayload(_BACK[kind], data)


def identity_text(p: IdPayload) -> str:
    """The peer's phase-1 ID as RouterOS writes identities (``fqdn:gw.example``, ``address:…``)."""
    kind = _SHARED.get(p.id_type)
    if kind is None:
        return f"{p.id_type.name.lower()}:{p.data.hex()}"
    return format_identity(kind, p.data)


def proxy_id(net: IPNetwork, protocol: int, port: int) -> IdPayload:
    """A quick-mode ID for one selector side."""
    v4 = net.version == 4
    if net.prefixlen == net.max_prefixlen:
        return IdPayload(
            IdType.IPV4_ADDR if v4 else IdType.IPV6_ADDR, net.network_address.packed, protocol, port
        )
    kind = IdType.IPV4_ADDR_SUBNET if v4 else IdType.IPV6_ADDR_SUBNET
    return IdPayload(kind, net.network_address.packed + net.netmask.packed, protocol, port)


def _bad(p: IdPayload, why: str) -> V1ProtocolError:
    return V1ProtocolError(
        NotifyType.INVALID_ID_INFORMATION, f"proxy ID {p.id_type.name}: {why}", fatal=False
    )


def proxy_network(p: IdPayload) -> IPNetwork:
    """The prefix a quick-mode ID names."""
    size = {IdType.IPV4_ADDR: 4, IdType.IPV6_ADDR: 16, IdType.IPV4_ADDR_SUBNET: 8,
            IdType.IPV6_ADDR_SUBNET: 32, IdType.IPV4_ADDR_RANGE: 8, IdType.IPV6_ADDR_RANGE: 32}.get(p.id_type)
    if size is None:
        raise _bad(p, "not an address, subnet or range")
    if len(p.data) != size:
        raise _bad(p, f"{len(p.data)} bytes of data")
    if p.id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
        return ip_network(ip_address(p.data))
    half = size // 2
    first, second = ip_address(p.data[:half]), ip_address(p.data[half:])
    if p.id_type in (IdType.IPV4_ADDR_SUBNET, IdType.IPV6_ADDR_SUBNET):
        try:
            return ip_network(f"{first}/{second}", strict=False)
        except ValueError:
            raise _bad(p, f"mask {second} is not a prefix") from None
    if int(second) < int(first):
        raise _bad(p, f"range {first}-{second} runs backwards")
    assert isinstance(first, (IPv4Address, IPv6Address)) and type(first) is type(second)
    nets: list[IPv4Network | IPv6Network] = list(summarize_address_range(first, second))
    if len(nets) != 1:
        raise _bad(p, f"range {first}-{second} is not one prefix")
    return nets[0]
