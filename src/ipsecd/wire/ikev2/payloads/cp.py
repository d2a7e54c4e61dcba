"""Configuration payload for mode-config (RFC 7296 §3.15).

    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   CFG Type    |                    RESERVED                   |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                   Configuration Attributes                    ~

Configuration attribute (§3.15.1):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |R|         Attribute Type      |            Length             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                             Value                             ~
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from ...enums import CfgAttr, CfgType, PayloadType
from ...errors import BufferReadError, BufferWriteError, MalformedMessageError
from .base import Payload, member_of, need

_ATTR = struct.Struct("!HH")  # R bit + attribute type, length
_cfg_attr = member_of(CfgAttr)
_cfg_type = member_of(CfgType)


@dataclass(slots=True)
class CpPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.CP
    cfg_type: CfgType
    attributes: list[tuple[CfgAttr, bytes]] = field(default_factory=list)

    def values(self, attr: CfgAttr) -> list[bytes]:
        return [v for a, v in self.attributes if a == attr]

    def encode_body(self) -> bytes:
        parts = [bytes((int(self.cfg_type), 0, 0, 0))]
        for attr, value in self.attributes:
            if len(value) > 0xFFFF:
                raise BufferWriteError(f"configuration attribute of {len(value)} bytes")
            parts += [_ATTR.pack(int(attr) & 0x7FFF, len(value)), value]
        return b"".join(parts)

    @classmethod
    def decode_body(cls, body: bytes) -> CpPayload:
        need(body, 4, "configuration")
        cfg_type = _cfg_type(body[0])
        attributes = []
        pos, end = 4, len(body)
        while pos < end:
            if pos + 4 > end:
                raise BufferReadError(f"configuration attribute header at offset {pos} overruns the payload")
            attr, length = _ATTR.unpack_from(body, pos)
            pos += 4
            if pos + length > end:
                raise BufferReadError(f"configuration attribute of {length} bytes overruns the payload")
            attributes.append((_cfg_attr(attr & 0x7FFF), body[pos:pos + length]))
            pos += length
        if cfg_type not in (CfgType.CFG_REQUEST, CfgType.CFG_REPLY, CfgType.CFG_SET, CfgType.CFG_ACK):
            raise MalformedMessageError(f"configuration payload of type {int(cfg_type)}")
        return cls(cfg_type, attributes)
