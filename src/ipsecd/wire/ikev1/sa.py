"""The Security Association payload with its proposals and transforms (RFC 2408 §3.4–3.6, RFC 2407 §4.6.1).

SA payload body (IPsec DOI):
                         1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !              Domain of Interpretation  (IPsec DOI)            !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !                           Situation                           !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                 Proposal payloads (generic header each)       ~

Proposal payload (after its generic header):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !  Proposal #   !  Protocol-Id  !    SPI Size   !# of Transforms!
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                        SPI (variable)                         ~
    ~                Transform payloads (generic header each)       ~

Transform payload (after its generic header):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !  Transform #  !  Transform-Id !           RESERVED2           !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                        SA Attributes                          ~

Proposals that share a number form one bundle (AND, e.g. AH and ESP), different numbers are
alternatives (OR), §4.2. The Situation may carry labels in other situations; only
SIT_IDENTITY_ONLY (no more fields) is decoded, anything else is kept raw in ``situation_data``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import BufferReadError, MalformedMessageError
from .attributes import Attribute, decode_attributes, encode_attributes
from .enums import PayloadType, ProtocolId
from .payloads import Payload, need

_GENERIC = struct.Struct("!BBH")
_SA = struct.Struct("!II")
_PROP = struct.Struct("!BBBB")
_TRANS = struct.Struct("!BBH")


@dataclass(slots=True)
class Transform:
    number: int
    transform_id: int
    attributes: list[Attribute] = field(default_factory=list)

    def attr(self, kind: int) -> Attribute | None:
        return next((a for a in self.attributes if a.type == kind), None)

    def encode(self) -> bytes:
        return _TRANS.pack(self.number, self.transform_id, 0) + encode_attributes(self.attributes)

    @classmethod
    def decode(cls, body: bytes) -> Transform:
        need(body, _TRANS.size, "transform")
        number, tid, _ = _TRANS.unpack_from(body)
        return cls(number, tid, decode_attributes(body[_TRANS.size:]))


@dataclass(slots=True)
class Proposal:
    number: int
    protocol: ProtocolId
    spi: bytes
    transforms: list[Transform] = field(default_factory=list)

    def encode(self) -> bytes:
        head = _PROP.pack(self.number, int(self.protocol), len(self.spi), len(self.transforms)) + self.spi
        return head + _chain([t.encode() for t in self.transforms], PayloadType.TRANSFORM)

    @classmethod
    def decode(cls, body: bytes) -> Proposal:
        need(body, _PROP.size, "proposal")
        number, proto, spi_size, count = _PROP.unpack_from(body)
        start = _PROP.size + spi_size
        if start > len(body):
            raise BufferReadError(f"proposal SPI of {spi_size} bytes overruns the payload")
        bodies = _unchain(body[start:], PayloadType.TRANSFORM, "transform")
        if len(bodies) != count:
            raise MalformedMessageError(
                f"proposal {number} says {count} transforms but carries {len(bodies)}"
            )
        return cls(number, ProtocolId(proto), body[_PROP.size : start], [Transform.decode(b) for b in bodies])


@dataclass(slots=True)
class SaPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.SA
    proposals: list[Proposal]
    doi: int = 1
    situation: int = 1
    situation_data: bytes = b""

    def encode_body(self) -> bytes:
        head = _SA.pack(self.doi, self.situation) + self.situation_data
        return head + _chain([p.encode() for p in self.proposals], PayloadType.PROPOSAL)

    @classmethod
    def decode_body(cls, body: bytes) -> SaPayload:
        need(body, _SA.size, "SA")
        doi, situation = _SA.unpack_from(body)
        if doi != 1 or situation != 1:  # not the IPsec DOI's SIT_IDENTITY_ONLY: keep the rest raw
            return cls([], doi, situation, body[_SA.size:])
        return cls([Proposal.decode(b) for b in _unchain(body[_SA.size:], PayloadType.PROPOSAL, "proposal")])


def _chain(bodies: list[bytes], kind: PayloadType) -> bytes:
    out = []
    for i, body in enumerate(bodies):
        nxt = int(kind) if i + 1 < len(bodies) else 0
        out.append(_GENERIC.pack(nxt, 0, _GENERIC.size + len(body)) + body)
    return b"".join(out)


def _unchain(data: bytes, kind: PayloadType, what: str) -> list[bytes]:
    """The bodies of a nested chain whose every Next Payload is ``kind`` or 0 (the last)."""
    bodies: list[bytes] = []
    pos, end = 0, len(data)
    while True:
        if pos + _GENERIC.size > end:
            raise BufferReadError(f"{what} header at offset {pos} overruns its container")
        nxt, _, length = _GENERIC.unpack_from(data, pos)
        if length < _GENERIC.size or pos + length > end:
            raise MalformedMessageError(f"{what} length {length} at offset {pos} does not fit")
        bodies.append(data[pos + _GENERIC.size:pos + length])
        pos += length
        if nxt == 0:
            break
        if nxt != kind:
            raise MalformedMessageError(f"{what} followed by payload type {nxt} inside its container")
    if pos != end:
        raise MalformedMessageError(f"{end - pos} bytes after the last {what}")
    return bodies
