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

from dataclasses import dataclass
from typing import ClassVar

from ...buffer import Reader, Writer
from ...enums import AuthMethod, DhGroup, IdType, PayloadType
from ...errors import MalformedMessageError
from .base import Payload


@dataclass(slots=True)
class KePayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.KE
    group: DhGroup
    data: bytes

    def encode_body(self, w: Writer) -> None:
        w.push_uint16(int(self.group))
        w.push_uint16(0)
        w.push_bytes(self.data)

    @classmethod
    def decode_body(cls, r: Reader) -> KePayload:
        group = DhGroup(r.pull_uint16())
        r.pull_uint16()
        return cls(group, r.pull_rest())


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
        return bytes([int(self.id_type), 0, 0, 0]) + self.data

    def encode_body(self, w: Writer) -> None:
        w.push_bytes(self.body())

    @classmethod
    def decode_body(cls, r: Reader) -> IdPayload:
        id_type = IdType(r.pull_uint8())
        r.pull_bytes(3)
        return cls(id_type, r.pull_rest())


@dataclass(slots=True)
class AuthPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.AUTH
    method: AuthMethod
    data: bytes

    def encode_body(self, w: Writer) -> None:
        w.push_uint8(int(self.method))
        w.push_bytes(bytes(3))
        w.push_bytes(self.data)

    @classmethod
    def decode_body(cls, r: Reader) -> AuthPayload:
        method = AuthMethod(r.pull_uint8())
        r.pull_bytes(3)
        return cls(method, r.pull_rest())


@dataclass(slots=True)
class NoncePayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.NONCE
    data: bytes

    def encode_body(self, w: Writer) -> None:
        w.push_bytes(self.data)

    @classmethod
    def decode_body(cls, r: Reader) -> NoncePayload:
        data = r.pull_rest()
        if not 16 <= len(data) <= 256:
            raise MalformedMessageError(f"nonce of {len(data)} bytes (16..256 allowed)")
        return cls(data)


@dataclass(slots=True)
class VendorPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.VENDOR
    data: bytes

    def encode_body(self, w: Writer) -> None:
        w.push_bytes(self.data)

    @classmethod
    def decode_body(cls, r: Reader) -> VendorPayload:
        return cls(r.pull_rest())
