"""Security Association payload: proposals, transforms, attributes (RFC 7296 §3.3).

Proposal substructure:

                         1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Last Substruc |   RESERVED    |         Proposal Length       |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                        SPI (variable)                         ~
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                        <Transforms>                           ~
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Transform substructure (§3.3.2) and its TV attribute (§3.3.5, only Key Length is defined):

    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Last Substruc |   RESERVED    |        Transform Length       |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |Transform Type |   RESERVED    |          Transform ID         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |A|       Attribute Type        |    AF=1: Attribute Value      |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

A transform with an attribute we do not understand cannot be selected (§3.3.6), so it is kept
with ``unknown_attrs`` set rather than rejected. Transforms are immutable: a decoded one is shared
by every message carrying the same bytes (``base.intern``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from ...buffer import Reader, Writer
from ...enums import PayloadType, ProtocolId, TransformAttr, TransformType
from ...errors import BufferWriteError, MalformedMessageError
from .base import Payload, intern

_LAST_PROPOSAL, _MORE_PROPOSALS = 0, 2
_LAST_TRANSFORM, _MORE_TRANSFORMS = 0, 3
_AF_TV = 0x8000


_TRANSFORM = struct.Struct("!HHHH")  # header, transform type + reserved, transform id
_TRANSFORM_KL = struct.Struct("!HHHHHH")  # the same with a Key Length TV attribute
_PROPOSAL = struct.Struct("!HHBBBB")  # header, number, protocol, SPI size, transform count
_TRANSFORMS: dict[bytes, Transform] = {}  # decoded transforms by their body bytes (see ``intern``)


@dataclass(frozen=True, slots=True)
class Transform:
    type: TransformType
    id: int
    key_length: int | None = None
    unknown_attrs: bool = False

    def to_bytes(self, last: bool) -> bytes:
        """The whole substructure, in one pack: proposals are built and sent per IKE SA."""
        more = (_LAST_TRANSFORM if last else _MORE_TRANSFORMS) << 8
        if self.key_length is None:
            return _TRANSFORM.pack(more, 8, int(self.type) << 8, self.id)
        return _TRANSFORM_KL.pack(more, 12, int(self.type) << 8, self.id, _AF_TV | TransformAttr.KEY_LENGTH,
                                  self.key_length)

    def encode(self, w: Writer, last: bool) -> None:
        w.push_bytes(self.to_bytes(last))

    @classmethod
    def decode(cls, r: Reader) -> tuple[Transform, bool]:
        head = r.pull_uint32()  # last substruc, reserved, length: one read (this runs per transform)
        more, length = head >> 24, head & 0xFFFF
        if length < 8:
            raise MalformedMessageError(f"transform length {length} < 8")
        if more not in (_LAST_TRANSFORM, _MORE_TRANSFORMS):
            raise MalformedMessageError(f"transform 'last substruc' is {more}")
        body = r.pull_bytes(length - 4)
        t = _TRANSFORMS.get(body)
        if t is None:
            t = intern(_TRANSFORMS, body, cls._parse(Reader(body)))
        return t, more == _MORE_TRANSFORMS

    @classmethod
    def _parse(cls, r: Reader) -> Transform:
        body = r.pull_uint32()  # type, reserved, transform id
        ttype = TransformType(body >> 24)
        tid = body & 0xFFFF
        key_length: int | None = None
        unknown = False
        while not r.eof():
            af_type = r.pull_uint16()
            if af_type & _AF_TV:
                value = r.pull_uint16()
                if af_type & 0x7FFF == TransformAttr.KEY_LENGTH:
                    key_length = value
                else:
                    unknown = True
            else:
                r.pull_bytes(r.pull_uint16())
                unknown = True
        return cls(ttype, tid, key_length, unknown)


@dataclass(slots=True)
class Proposal:
    number: int
    protocol: ProtocolId
    spi: bytes = b""
    transforms: list[Transform] = field(default_factory=list)

    def of_type(self, ttype: TransformType) -> list[Transform]:
        return [t for t in self.transforms if t.type == ttype]

    def encode(self, w: Writer, last: bool) -> None:
        n = len(self.transforms)
        body = b"".join([t.to_bytes(i == n - 1) for i, t in enumerate(self.transforms)])
        length = 8 + len(self.spi) + len(body)
        if length > 0xFFFF or len(self.spi) > 0xFF or n > 0xFF:
            raise BufferWriteError(f"proposal {self.number} of {length} bytes, {n} transforms does not fit")
        w.push_bytes(_PROPOSAL.pack((_LAST_PROPOSAL if last else _MORE_PROPOSALS) << 8, length, self.number,
                                    int(self.protocol), len(self.spi), n) + self.spi + body)

    @classmethod
    def decode(cls, r: Reader) -> tuple[Proposal, bool]:
        head = r.pull_uint32()  # last substruc, reserved, length
        more, length = head >> 24, head & 0xFFFF
        if length < 8:
            raise MalformedMessageError(f"proposal length {length} < 8")
        saved_end = r.enter_block(length - 4)
        fields = r.pull_uint32()  # number, protocol, SPI size, transform count
        number, spi_size, count = fields >> 24, (fields >> 8) & 0xFF, fields & 0xFF
        protocol = ProtocolId((fields >> 16) & 0xFF)
        spi = r.pull_bytes(spi_size)
        transforms = []
        more_t = count > 0
        while more_t:
            t, more_t = Transform.decode(r)
            transforms.append(t)
        if len(transforms) != count or not r.eof():
            raise MalformedMessageError(f"proposal {number} says {count} transforms, has {len(transforms)}")
        r.leave_block(saved_end)
        if more not in (_LAST_PROPOSAL, _MORE_PROPOSALS):
            raise MalformedMessageError(f"proposal 'last substruc' is {more}")
        return cls(number, protocol, spi, transforms), more == _MORE_PROPOSALS


@dataclass(slots=True)
class SaPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.SA
    proposals: list[Proposal] = field(default_factory=list)

    def encode_body(self, w: Writer) -> None:
        for i, p in enumerate(self.proposals):
            p.encode(w, i == len(self.proposals) - 1)

    @classmethod
    def decode_body(cls, r: Reader) -> SaPayload:
        proposals = []
        more = True
        while more:
            p, more = Proposal.decode(r)
            proposals.append(p)
        if not r.eof():
            raise MalformedMessageError("bytes after the last proposal")
        return cls(proposals)
