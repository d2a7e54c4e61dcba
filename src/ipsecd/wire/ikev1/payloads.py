"""ISAKMP payloads other than SA (RFC 2408 §3.2, §3.7–3.16; RFC 2407 §4.6.2; RFC 3947 §3.2, §5.2).

Generic payload header (every payload, §3.2; IKEv1 has no critical bit):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ! Next Payload  !   RESERVED    !         Payload Length        !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Opaque bodies: Key Exchange (§3.7), Hash (§3.11), Signature (§3.12), Nonce (§3.13), Vendor ID
(§3.16), NAT-D (RFC 3947 §3.2: HASH(CKY-I | CKY-R | IP | Port)).

Identification, IPsec DOI (RFC 2407 §4.6.2):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !   ID Type     !  Protocol ID  !             Port              !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                     Identification Data                       ~

Certificate (§3.9) / Certificate Request (§3.10):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ! Cert Encoding !   Certificate Data / Certificate Authority    ~
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Notification (§3.14):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !              Domain of Interpretation  (DOI)                  !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !  Protocol-ID  !   SPI Size    !      Notify Message Type      !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                Security Parameter Index (SPI)                 ~
    ~                       Notification Data                       ~

Delete (§3.15):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !              Domain of Interpretation  (DOI)                  !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !  Protocol-Id  !   SPI Size    !           # of SPIs           !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~               Security Parameter Index(es) (SPI)              ~

NAT-OA (RFC 3947 §5.2):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !   ID Type     !   RESERVED    !            RESERVED           !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~           IPv4 (4 octets) or IPv6 address (16 octets)         ~

Attribute (draft-dukes-ike-mode-cfg §3.2):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !     Type      !   RESERVED    !           Identifier          !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                           Attributes                          ~
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import BufferReadError, BufferWriteError, MalformedMessageError
from .attributes import Attribute, decode_attributes, encode_attributes
from .enums import CertEncoding, CfgType, IdType, NotifyType, PayloadType, ProtocolId

_ID = struct.Struct("!BBH")
_NOTIFY = struct.Struct("!IBBH")
_DELETE = struct.Struct("!IBBH")
_ATTR = struct.Struct("!BBH")


def need(body: bytes, size: int, what: str) -> None:
    """Refuse a body shorter than its fixed fields."""
    if len(body) < size:
        raise BufferReadError(f"{what} body of {len(body)} bytes is shorter than its {size}-byte fixed part")


class Payload:
    """Base of every payload: ``ptype()`` names it in the chain; bodies exclude the generic header."""

    __slots__ = ()
    payload_type: ClassVar[PayloadType]

    def ptype(self) -> int:
        return int(self.payload_type)

    def encode_body(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def decode_body(cls, body: bytes) -> Payload:
        raise NotImplementedError


@dataclass(slots=True)
class RawPayload(Payload):
    """A payload type we do not interpret (RFC 2408 §5.1: the message is refused by whoever needs it)."""

    type_value: int
    body: bytes

    def ptype(self) -> int:
        return self.type_value

    def encode_body(self) -> bytes:
        return self.body


@dataclass(slots=True)
class _Opaque(Payload):
    data: bytes

    def encode_body(self) -> bytes:
        return self.data

    @classmethod
    def decode_body(cls, body: bytes) -> _Opaque:
        return cls(body)


class KePayload(_Opaque):
    __slots__ = ()
    payload_type = PayloadType.KE


class HashPayload(_Opaque):
    __slots__ = ()
    payload_type = PayloadType.HASH


class SigPayload(_Opaque):
    __slots__ = ()
    payload_type = PayloadType.SIG


class NoncePayload(_Opaque):
    __slots__ = ()
    payload_type = PayloadType.NONCE


class VendorPayload(_Opaque):
    __slots__ = ()
    payload_type = PayloadType.VENDOR


@dataclass(slots=True)
class NatDPayload(Payload):
    """NAT-D: type 20 (RFC 3947) or 130 (the drafts), chosen by what the peer announced."""

    payload_type: ClassVar[PayloadType] = PayloadType.NAT_D
    data: bytes
    draft: bool = False

    def ptype(self) -> int:
        return int(PayloadType.NAT_D_DRAFT if self.draft else PayloadType.NAT_D)

    def encode_body(self) -> bytes:
        return self.data


@dataclass(slots=True)
class IdPayload(Payload):
    """Phase 1: the peer's identity (protocol/port 0 or UDP/500); quick mode: a proxy ID (selector)."""

    payload_type: ClassVar[PayloadType] = PayloadType.ID
    id_type: IdType
    data: bytes
    protocol: int = 0
    port: int = 0

    def encode_body(self) -> bytes:
        return _ID.pack(int(self.id_type), self.protocol, self.port) + self.data

    def body(self) -> bytes:
        """IDii_b / IDir_b: the body without the generic header, as RFC 2409 §5 hashes it."""
        return self.encode_body()

    @classmethod
    def decode_body(cls, body: bytes) -> IdPayload:
        need(body, _ID.size, "ID")
        kind, proto, port = _ID.unpack_from(body)
        return cls(IdType(kind), body[_ID.size:], proto, port)


@dataclass(slots=True)
class CertPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.CERT
    encoding: CertEncoding
    data: bytes

    def encode_body(self) -> bytes:
        return bytes([int(self.encoding)]) + self.data

    @classmethod
    def decode_body(cls, body: bytes) -> CertPayload:
        need(body, 1, "CERT")
        return cls(CertEncoding(body[0]), body[1:])


@dataclass(slots=True)
class CertReqPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.CERTREQ
    cert_type: CertEncoding
    authority: bytes = b""

    def encode_body(self) -> bytes:
        return bytes([int(self.cert_type)]) + self.authority

    @classmethod
    def decode_body(cls, body: bytes) -> CertReqPayload:
        need(body, 1, "CERTREQ")
        return cls(CertEncoding(body[0]), body[1:])


@dataclass(slots=True)
class NotifyPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.NOTIFY
    notify_type: NotifyType
    spi: bytes = b""
    data: bytes = b""
    protocol: ProtocolId = ProtocolId.ISAKMP
    doi: int = 1

    def encode_body(self) -> bytes:
        if len(self.spi) > 255:
            raise BufferWriteError("notify SPI longer than 255 bytes")
        head = _NOTIFY.pack(self.doi, int(self.protocol), len(self.spi), int(self.notify_type))
        return head + self.spi + self.data

    @classmethod
    def decode_body(cls, body: bytes) -> NotifyPayload:
        need(body, _NOTIFY.size, "N")
        doi, proto, spi_size, kind = _NOTIFY.unpack_from(body)
        end = _NOTIFY.size + spi_size
        if end > len(body):
            raise BufferReadError(f"notify SPI of {spi_size} bytes overruns the payload")
        return cls(NotifyType(kind), body[_NOTIFY.size:end], body[end:], ProtocolId(proto), doi)


@dataclass(slots=True)
class DeletePayload(Payload):
    """DELETE of ISAKMP SAs (SPI = CKY-I | CKY-R, 16 bytes) or of IPsec SAs (4-byte SPIs)."""

    payload_type: ClassVar[PayloadType] = PayloadType.DELETE
    protocol: ProtocolId
    spis: list[bytes]
    doi: int = 1

    def encode_body(self) -> bytes:
        size = len(self.spis[0]) if self.spis else 0
        if any(len(s) != size for s in self.spis) or size > 255 or len(self.spis) > 0xFFFF:
            raise BufferWriteError("DELETE SPIs must share one size of at most 255 bytes")
        return _DELETE.pack(self.doi, int(self.protocol), size, len(self.spis)) + b"".join(self.spis)

    @classmethod
    def decode_body(cls, body: bytes) -> DeletePayload:
        need(body, _DELETE.size, "D")
        doi, proto, size, count = _DELETE.unpack_from(body)
        if len(body) != _DELETE.size + size * count:
            raise MalformedMessageError(f"DELETE of {count} SPIs of {size} bytes in a {len(body)}-byte body")
        spis = [body[_DELETE.size + i * size:_DELETE.size + (i + 1) * size] for i in range(count)]
        return cls(ProtocolId(proto), spis, doi)


@dataclass(slots=True)
class NatOaPayload(Payload):
    """NAT-OA: type 21 (RFC 3947) or 131 (drafts); ``id_type`` is IPV4_ADDR or IPV6_ADDR."""

    payload_type: ClassVar[PayloadType] = PayloadType.NAT_OA
    id_type: IdType
    address: bytes
    draft: bool = False

    def ptype(self) -> int:
        return int(PayloadType.NAT_OA_DRAFT if self.draft else PayloadType.NAT_OA)

    def encode_body(self) -> bytes:
        return _ID.pack(int(self.id_type), 0, 0) + self.address

    @classmethod
    def decode_body(cls, body: bytes) -> NatOaPayload:
        need(body, _ID.size, "NAT-OA")
        return cls(IdType(body[0]), body[_ID.size:])


@dataclass(slots=True)
class AttributePayload(Payload):
    """Mode-config / XAuth attributes (transaction exchange); the attribute types live with those tasks."""

    payload_type: ClassVar[PayloadType] = PayloadType.ATTRIBUTE
    cfg_type: CfgType
    identifier: int = 0
    attributes: list[Attribute] = field(default_factory=list)

    def encode_body(self) -> bytes:
        return _ATTR.pack(int(self.cfg_type), 0, self.identifier) + encode_attributes(self.attributes)

    @classmethod
    def decode_body(cls, body: bytes) -> AttributePayload:
        need(body, _ATTR.size, "ATTR")
        kind, _, ident = _ATTR.unpack_from(body)
        return cls(CfgType(kind), ident, decode_attributes(body[_ATTR.size:]))
