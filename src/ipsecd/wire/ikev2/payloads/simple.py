"""Payloads whose body is a small fixed header and opaque data: KE, ID, AUTH, Nonce, Vendor ID.

Key Exchange (RFC 7296 §3.4):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   Diffie-Hellman Group Num    |           RESERVED            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                       Key Exchange Data                       ~

Identification IDi/IDr (§3.5):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   ID Type     |                 RESERVED                      |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                   Identification Data                         ~

Authentication (§3.8):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Auth Method   |                RESERVED                       |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                      Authentication Data                      ~

Nonce (§3.9, 16–256 bytes) and Vendor ID (§3.12): the body is the data.

For AUTH (§2.15) the ID payload's body without its generic header is signed: ``IdPayload.body()``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from ...enums import AuthMethod, DhGroup, IdType, PayloadType
from ...errors import MalformedMessageError
from .base import Payload, member_of, need

_KE = struct.Struct("!HH")  # group, reserved
_dh_group = member_of(DhGroup)
_id_type = member_of(IdType)
_auth_method = member_of(AuthMethod)


@dataclass(slots=True)
class KePayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.KE
    group: DhGroup
    data: bytes

    def encode_body(self) -> bytes:
        return _KE.pack(int(self.group), 0) + self.data

    @classmethod
    def decode_body(cls, body: bytes) -> KePayload:
        need(body, 4, "KE")
        return cls(_dh_group(_KE.unpack_from(body)[0]), body[4:])


@dataclass(slots=True)
class IdPayload(Payload):
    """IDi or IDr; ``initiator`` picks the payload type."""

    payload_type: ClassVar[PayloadType] = PayloadType.IDI
    id_type: IdType
    data: bytes
    initiator: bool = True

    def ptype(self) -> int:
        return int(PayloadType.IDI if self.initiator else PayloadType.IDR)

    def body(self) -> bytes:
        return bytes((int(self.id_type), 0, 0, 0)) + self.data

    def encode_body(self) -> bytes:
        return self.body()

    @classmethod
    def decode_body(cls, body: bytes) -> IdPayload:
        need(body, 4, "ID")
        return cls(_id_type(body[0]), body[4:])


@dataclass(slots=True)
class AuthPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.AUTH
    method: AuthMethod
    data: bytes

    def encode_body(self) -> bytes:
        return bytes((int(self.method), 0, 0, 0)) + self.data

    @classmethod
    def decode_body(cls, body: bytes) -> AuthPayload:
        need(body, 4, "AUTH")
        return cls(_auth_method(body[0]), body[4:])


@dataclass(slots=True)
class NoncePayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.NONCE
    data: bytes

    def encode_body(self) -> bytes:
        return self.data

    @classmethod
    def decode_body(cls, body: bytes) -> NoncePayload:
        if not 16 <= len(body) <= 256:
            raise MalformedMessageError(f"nonce of {len(body)} bytes (16..256 allowed)")
        return cls(body)


@dataclass(slots=True)
class VendorPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.VENDOR
    data: bytes

    def encode_body(self) -> bytes:
        return self.data

    @classmethod
    def decode_body(cls, body: bytes) -> VendorPayload:
        return cls(body)
