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

from ...enums import PayloadType, ProtocolId, TransformAttr, TransformType
from ...errors import BufferReadError, BufferWriteError, MalformedMessageError
from .base import Payload, intern, member_of

_LAST_PROPOSAL, _MORE_PROPOSALS = 0, 2
_LAST_TRANSFORM, _MORE_TRANSFORMS = 0, 3
_AF_TV = 0x8000
_SUB = struct.Struct("!BxH")  # substructure header: last substruc, reserved, length
_TRANSFORM = struct.Struct("!HHHH")  # header, transform type + reserved, transform id
_TRANSFORM_KL = struct.Struct("!HHHHHH")  # the same with a Key Length TV attribute
_PROPOSAL = struct.Struct("!HHBBBB")  # header, number, protocol, SPI size, transform count
_ATTR = struct.Struct("!HH")  # AF + attribute type, TV value or TLV length
_TRANSFORMS: dict[bytes, Transform] = {}  # decoded transforms by their body bytes (see ``intern``)
_transform_type = member_of(TransformType)
_protocol = member_of(ProtocolId)


def _substructure(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """(last-substruc value, end offset) of the proposal or transform at ``pos``, bounds checked."""
    if pos + 8 > end:
        raise BufferReadError(f"{what} header at offset {pos} overruns its container")
    more, length = _SUB.unpack_from(data, pos)
    if length < 8:
        raise MalformedMessageError(f"{what} length {length} < 8")
    if pos + length > end:
        raise BufferReadError(f"{what} of {length} bytes at offset {pos} overruns its container")
    return more, pos + length


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

    @classmethod
    def decode(cls, data: bytes, pos: int, end: int) -> tuple[Transform, bool, int]:
        """(transform, whether more follow, end offset) of the transform at ``pos``."""
        more, stop = _substructure(data, pos, end, "transform")
        if more not in (_LAST_TRANSFORM, _MORE_TRANSFORMS):
            raise MalformedMessageError(f"transform 'last substruc' is {more}")
        body = data[pos + 4:stop]
        t = _TRANSFORMS.get(body)
        if t is None:
            t = intern(_TRANSFORMS, body, cls._parse(body))
        return t, more == _MORE_TRANSFORMS, stop

    @classmethod
    def _parse(cls, body: bytes) -> Transform:
        ttype, tid = body[0], int.from_bytes(body[2:4], "big")  # type, reserved, transform id
        key_length: int | None = None
        unknown = False
        pos, end = 4, len(body)
        while pos < end:
            if pos + 4 > end:
                raise BufferReadError(f"transform attribute at offset {pos} is truncated")
            af_type, value = _ATTR.unpack_from(body, pos)
            pos += 4
            if af_type & _AF_TV:
                if af_type & 0x7FFF == TransformAttr.KEY_LENGTH:
                    key_length = value
                else:
                    unknown = True
            else:
                if pos + value > end:
                    raise BufferReadError(f"transform attribute of {value} bytes overruns the transform")
                pos += value
                unknown = True
        return cls(_transform_type(ttype), tid, key_length, unknown)


@dataclass(slots=True)
class Proposal:
    number: int
    protocol: ProtocolId
    spi: bytes = b""
    transforms: list[Transform] = field(default_factory=list)

    def of_type(self, ttype: TransformType) -> list[Transform]:
        return [t for t in self.transforms if t.type == ttype]

    def to_bytes(self, last: bool) -> bytes:
        n = len(self.transforms)
        body = b"".join([t.to_bytes(i == n - 1) for i, t in enumerate(self.transforms)])
        length = 8 + len(self.spi) + len(body)
        if length > 0xFFFF or len(self.spi) > 0xFF or n > 0xFF:
            raise BufferWriteError(f"proposal {self.number} of {length} bytes, {n} transforms does not fit")
        return _PROPOSAL.pack((_LAST_PROPOSAL if last else _MORE_PROPOSALS) << 8, length, self.number,
                              int(self.protocol), len(self.spi), n) + self.spi + body

    @classmethod
    def decode(cls, data: bytes, pos: int, end: int) -> tuple[Proposal, bool, int]:
        """(proposal, whether more follow, end offset) of the proposal at ``pos``."""
        more, stop = _substructure(data, pos, end, "proposal")
        _, _, number, protocol, spi_size, count = _PROPOSAL.unpack_from(data, pos)
        at = pos + 8 + spi_size
        if at > stop:
            raise BufferReadError(f"proposal {number}: {spi_size}-byte SPI overruns the proposal")
        spi = data[pos + 8:at]
        transforms = []
        more_t = count > 0
        while more_t:
            t, more_t, at = Transform.decode(data, at, stop)
            transforms.append(t)
        if len(transforms) != count or at != stop:
            raise MalformedMessageError(f"proposal {number} says {count} transforms, has {len(transforms)}")
        if more not in (_LAST_PROPOSAL, _MORE_PROPOSALS):
            raise MalformedMessageError(f"proposal 'last substruc' is {more}")
        return cls(number, _protocol(protocol), spi, transforms), more == _MORE_PROPOSALS, stop


@dataclass(slots=True)
class SaPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.SA
    proposals: list[Proposal] = field(default_factory=list)

    def encode_body(self) -> bytes:
        n = len(self.proposals)
        return b"".join([p.to_bytes(i == n - 1) for i, p in enumerate(self.proposals)])

    @classmethod
    def decode_body(cls, body: bytes) -> SaPayload:
        proposals = []
        more = True
        pos, end = 0, len(body)
        while more:
            p, more, pos = Proposal.decode(body, pos, end)
            proposals.append(p)
        if pos != end:
            raise MalformedMessageError("bytes after the last proposal")
        return cls(proposals)
