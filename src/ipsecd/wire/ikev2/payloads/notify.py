"""Notify and Delete payloads (RFC 7296 §3.10, §3.11).

Notify:
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Protocol ID  |   SPI Size    |      Notify Message Type      |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                Security Parameter Index (SPI)                 ~
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                       Notification Data                       ~

Delete:
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Protocol ID   |   SPI Size    |          Num of SPIs          |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~               Security Parameter Index(es) (SPI)              ~
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from ...enums import NotifyType, PayloadType, ProtocolId
from ...errors import BufferWriteError, MalformedMessageError
from .base import Payload, member_of, need

_HEAD = struct.Struct("!BBH")  # protocol, SPI size, notify type / number of SPIs
_notify_type = member_of(NotifyType)
_protocol = member_of(ProtocolId)
_DELETE_SPI_SIZE = {ProtocolId.IKE: 0, ProtocolId.ESP: 4, ProtocolId.AH: 4}


@dataclass(slots=True)
class NotifyPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.NOTIFY
    type: NotifyType
    data: bytes = b""
    protocol: ProtocolId = ProtocolId.NONE
    spi: bytes = b""

    def encode_body(self) -> bytes:
        if len(self.spi) > 0xFF:
            raise BufferWriteError(f"notify SPI of {len(self.spi)} bytes")
        return _HEAD.pack(int(self.protocol), len(self.spi), int(self.type)) + self.spi + self.data

    @classmethod
    def decode_body(cls, body: bytes) -> NotifyPayload:
        need(body, 4, "notify")
        protocol, spi_size, ntype = _HEAD.unpack_from(body)
        need(body, 4 + spi_size, "notify")
        return cls(_notify_type(ntype), body[4 + spi_size:], _protocol(protocol), body[4:4 + spi_size])


@dataclass(slots=True)
class DeletePayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.DELETE
    protocol: ProtocolId
    spis: list[bytes] = field(default_factory=list)

    def encode_body(self) -> bytes:
        size = len(self.spis[0]) if self.spis else 0
        if size > 0xFF or len(self.spis) > 0xFFFF:
            raise BufferWriteError(f"delete payload of {len(self.spis)} {size}-byte SPIs")
        return _HEAD.pack(int(self.protocol), size, len(self.spis)) + b"".join(self.spis)

    @classmethod
    def decode_body(cls, body: bytes) -> DeletePayload:
        need(body, 4, "delete")
        raw_protocol, size, count = _HEAD.unpack_from(body)
        protocol = _protocol(raw_protocol)
        expected = _DELETE_SPI_SIZE.get(protocol)
        if expected is None or size != expected:
            raise MalformedMessageError(f"delete for protocol {protocol.name} with {size}-byte SPIs")
        if len(body) != 4 + count * size:
            raise MalformedMessageError(
                f"delete payload for {count} {size}-byte SPIs has {len(body) - 4} bytes"
            )
        return cls(
            protocol,
            [body[i : i + size] for i in range(4, 4 + count * size, size)] if size else [b""] * count,
        )
