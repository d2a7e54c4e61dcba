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

from dataclasses import dataclass, field
from typing import ClassVar

from ...buffer import Reader, Writer
from ...enums import CfgAttr, CfgType, PayloadType
from ...errors import MalformedMessageError
from .base import Payload


@dataclass(slots=True)
class CpPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.CP
    cfg_type: CfgType
    attributes: list[tuple[CfgAttr, bytes]] = field(default_factory=list)

    def values(self, attr: CfgAttr) -> list[bytes]:
        return [v for a, v in self.attributes if a == attr]

    def encode_body(self, w: Writer) -> None:
        w.push_uint8(int(self.cfg_type))
        w.push_bytes(bytes(3))
        for attr, value in self.attributes:
            w.push_uint16(int(attr) & 0x7FFF)
            w.push_uint16(len(value))
            w.push_bytes(value)

    @classmethod
    def decode_body(cls, r: Reader) -> CpPayload:
        cfg_type = CfgType(r.pull_uint8())
        r.pull_bytes(3)
        attributes = []
        while not r.eof():
            attr = CfgAttr(r.pull_uint16() & 0x7FFF)
            attributes.append((attr, r.pull_bytes(r.pull_uint16())))
        if cfg_type not in (CfgType.CFG_REQUEST, CfgType.CFG_REPLY, CfgType.CFG_SET, CfgType.CFG_ACK):
            raise MalformedMessageError(f"configuration payload of type {int(cfg_type)}")
        return cls(cfg_type, attributes)
