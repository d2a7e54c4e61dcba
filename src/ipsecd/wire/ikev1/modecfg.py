"""Attributes of the transaction exchange: mode-config (draft-dukes-ike-mode-cfg-02 §3.3, §4), XAuth
(draft-beaulieu-ike-xauth-02 §4) and the Cisco Unity extensions road-warrior clients ask for.

The transaction exchange (exchange type 6) carries one attribute payload (REQUEST/REPLY or SET/ACK,
``payloads.AttributePayload``) after a HASH, as informational messages do:

    HDR*, HASH, ATTR        HASH = prf(SKEYID_a, M-ID | ATTR)

A REQUEST names what it wants with empty (zero-length TLV) attributes; a REPLY or SET carries values.
Addresses are 4 bytes (IPv4); ``INTERNAL_IP4_NETMASK`` is a mask, not a prefix length;
``UNITY_SPLIT_INCLUDE`` is a list of 14-byte entries: network, mask and 6 bytes (protocol and ports,
zero), as Cisco and strongSwan's unity plugin write them. ``XAUTH_TYPE`` and ``XAUTH_STATUS`` are
basic (TV) attributes; user name and password are variable (TLV) ones.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv4Network

from ..enums import OpenIntEnum
from ..errors import MalformedMessageError
from .attributes import Attribute

_SPLIT = struct.Struct("!4s4s6x")


class CfgAttr(OpenIntEnum):
    INTERNAL_IP4_ADDRESS = 1
    INTERNAL_IP4_NETMASK = 2
    INTERNAL_IP4_DNS = 3
    INTERNAL_IP4_NBNS = 4
    INTERNAL_ADDRESS_EXPIRY = 5
    INTERNAL_IP4_DHCP = 6
    APPLICATION_VERSION = 7
    INTERNAL_IP6_ADDRESS = 8
    INTERNAL_IP6_NETMASK = 9
    INTERNAL_IP6_DNS = 10
    INTERNAL_IP6_NBNS = 11
    INTERNAL_IP6_DHCP = 12
    INTERNAL_IP4_SUBNET = 13
    SUPPORTED_ATTRIBUTES = 14
    INTERNAL_IP6_SUBNET = 15
    XAUTH_TYPE = 16520
    XAUTH_USER_NAME = 16521
    XAUTH_USER_PASSWORD = 16522
    XAUTH_PASSCODE = 16523
    XAUTH_MESSAGE = 16524
    XAUTH_CHALLENGE = 16525
    XAUTH_DOMAIN = 16526
    XAUTH_STATUS = 16527
    XAUTH_NEXT_PIN = 16528
    XAUTH_ANSWER = 16529
    UNITY_BANNER = 28672
    UNITY_SAVE_PASSWD = 28673
    UNITY_DEF_DOMAIN = 28674
    UNITY_SPLITDNS_NAME = 28675
    UNITY_SPLIT_INCLUDE = 28676
    UNITY_NATT_PORT = 28677
    UNITY_LOCAL_LAN = 28678
    UNITY_PFS = 28679
    UNITY_FW_TYPE = 28680
    UNITY_BACKUP_SERVERS = 28681
    UNITY_DDNS_HOSTNAME = 28682


XAUTH_GENERIC = 0  # XAUTH_TYPE: user name and password (draft-beaulieu §4.2)
XAUTH_FAIL, XAUTH_OK = 0, 1  # XAUTH_STATUS
#: the basic (TV) attributes among these; every other one is variable (TLV)
BASIC = frozenset({CfgAttr.XAUTH_TYPE, CfgAttr.XAUTH_STATUS})


def empty(kind: CfgAttr) -> Attribute:
    """What a REQUEST asks for: a TV zero for the basic types, a zero-length TLV for the others."""
    return Attribute(int(kind), 0) if kind in BASIC else Attribute(int(kind), b"")


def ip4(kind: CfgAttr, address: IPv4Address) -> Attribute:
    return Attribute(int(kind), address.packed)


def netmask(prefix_length: int) -> Attribute:
    return ip4(CfgAttr.INTERNAL_IP4_NETMASK, IPv4Network(f"0.0.0.0/{prefix_length}").netmask)


def read_ip4(a: Attribute) -> IPv4Address:
    if not isinstance(a.value, bytes) or len(a.value) != 4:
        raise MalformedMessageError(f"attribute {a.type}: not an IPv4 address")
    return IPv4Address(a.value)


def prefix_of(mask: IPv4Address) -> int:
    """The prefix length of a contiguous netmask (255.255.255.0 -> 24)."""
    bits = int(mask)
    length = bin(bits).count("1")
    if bits != (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF:
        raise MalformedMessageError(f"netmask {mask} is not contiguous")
    return length


def split_include(networks: list[IPv4Network]) -> Attribute:
    return Attribute(
        int(CfgAttr.UNITY_SPLIT_INCLUDE),
        b"".join(_SPLIT.pack(n.network_address.packed, n.netmask.packed) for n in networks),
    )


def read_split_include(a: Attribute) -> list[IPv4Network]:
    value = a.value
    if not isinstance(value, bytes) or len(value) % _SPLIT.size:
        raise MalformedMessageError("UNITY_SPLIT_INCLUDE: not a list of 14-byte entries")
    out = []
    for pos in range(0, len(value), _SPLIT.size):
        net, mask = _SPLIT.unpack_from(value, pos)
        out.append(IPv4Network((IPv4Address(net), prefix_of(IPv4Address(mask))), strict=False))
    return out


def text(a: Attribute) -> bytes:
    """A variable attribute's bytes (user name, password, banner); a TV one is refused."""
    if not isinstance(a.value, bytes):
        raise MalformedMessageError(f"attribute {a.type}: expected a variable-length value")
    return a.value
