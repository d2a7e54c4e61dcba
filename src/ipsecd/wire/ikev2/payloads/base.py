"""Generic payload header and the payload base class (RFC 7296 §3.2).

                         1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Next Payload  |C|  RESERVED   |         Payload Length        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

A payload class encodes and decodes only its body; the chain (``message.py``) owns the generic
header, so the critical-bit rule lives in one place.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from ...buffer import Reader, Writer
from ...enums import PayloadType

GENERIC_HEADER_SIZE = 4
CRITICAL = 0x80
INTERN_LIMIT = 4096

V = TypeVar("V")


def intern(table: dict[bytes, V], raw: bytes, value: V) -> V:
    """Remember the immutable ``value`` decoded from ``raw``, so the next identical bytes decode by
    one look-up: every IKE SA of a peer carries the same transforms and traffic selectors. The
    table is emptied when full, so junk from a peer can cost it hits but never unbounded memory."""
    if len(table) >= INTERN_LIMIT:
        table.clear()
    table[raw] = value
    return value


class Payload:
    """Base of every payload: ``payload_type`` names it in the chain."""

    __slots__ = ()
    payload_type: ClassVar[PayloadType]

    def ptype(self) -> int:
        """The type this payload carries in the chain."""
        return int(self.payload_type)

    def flags(self) -> int:
        """The generic header's flags byte: the critical bit is only ever set on raw payloads."""
        return 0

    def encode_body(self, w: Writer) -> None:
        raise NotImplementedError

    @classmethod
    def decode_body(cls, r: Reader) -> Payload:
        raise NotImplementedError


class RawPayload(Payload):
    """A payload we carry but do not interpret (CERT, CERTREQ, EAP, unknown non-critical types);
    ``critical`` keeps the header's C bit so it re-encodes as received."""

    __slots__ = ("body", "critical", "raw_type")

    def __init__(self, raw_type: int, body: bytes, critical: bool = False) -> None:
        self.raw_type = raw_type
        self.body = body
        self.critical = critical

    def ptype(self) -> int:
        return self.raw_type

    def flags(self) -> int:
        return CRITICAL if self.critical else 0

    def encode_body(self, w: Writer) -> None:
        w.push_bytes(self.body)

    def __repr__(self) -> str:
        return f"RawPayload({self.raw_type}, {len(self.body)} bytes)"
