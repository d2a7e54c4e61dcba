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

from dataclasses import dataclass, field
from typing import ClassVar

from ...buffer import Reader, Writer
from ...enums import NotifyType, PayloadType, ProtocolId
from ...errors import MalformedMessageError
from .base import Payload


@dataclass(slots=True)
class NotifyPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.NOTIFY
    type: NotifyType
    data: bytes = b""
    protocol: ProtocolId = ProtocolId.NONE
    spi: bytes = b""

    def encode_body(self, w: Writer) -> None:
        w.push_uint8(int(self.protocol))
        w.push_uint8(len(self.spi))
        w.push_uint16(int(self.type))
        w.push_bytes(self.spi)
        w.push_bytes(self.data)

    @classmethod
    def decode_body(cls, r: Reader) -> NotifyPayload:
        protocol = ProtocolId(r.pull_uint8())
        spi_size = r.pull_uint8()
        ntype = NotifyType(r.pull_uint16())
        spi = r.pull_bytes(spi_size)
        return cls(ntype, r.pull_rest(), protocol, spi)


@dataclass(slots=True)
class DeletePayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.DELETE
    protocol: ProtocolId
    spis: list[bytes] = field(default_factory=list)

    def encode_body(self, w: Writer) -> None:
        size = len(self.spis[0]) if self.spis else 0
        w.push_uint8(int(self.protocol))
        w.push_uint8(size)
        w.push_uint16(len(self.spis))
        for spi in self.spis:
            w.push_bytes(spi)

    @classmethod
    def decode_body(cls, r: Reader) -> DeletePayload:
        protocol = ProtocolId(r.pull_uint8())
        size = r.pull_uint8()
        count = r.pull_uint16()
        expected = {ProtocolId.IKE: 0, ProtocolId.ESP: 4, ProtocolId.AH: 4}.get(protocol)
        if expected is None or size != expected:
            raise MalformedMessageError(f"delete for protocol {protocol.name} with {size}-byte SPIs")
        spis = [r.pull_bytes(size) for _ in range(count)]
        if not r.eof():
            raise MalformedMessageError("bytes after the SPIs of a delete payload")
        return cls(protocol, spis)
