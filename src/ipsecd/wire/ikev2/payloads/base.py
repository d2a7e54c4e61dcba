"""Generic payload header and the payload base class (RFC 7296 §3.2).

                         1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Next Payload  |C|  RESERVED   |         Payload Length        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

A payload class encodes and decodes only its body, as bytes (``encode_body`` / ``decode_body``);
the chain (``message.py``) owns the generic header, so the critical-bit rule lives in one place.
Bodies are plain ``bytes`` rather than a stream reader: a message carries a handful of payloads
with a few fixed fields each, which ``struct`` reads and writes in one call, and the responder
codes four messages per IKE SA it sets up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from ...enums import OpenIntEnum, PayloadType
from ...errors import BufferReadError

GENERIC_HEADER_SIZE = 4
CRITICAL = 0x80
INTERN_LIMIT = 1024

V = TypeVar("V")
E = TypeVar("E", bound=OpenIntEnum)


def intern(table: dict[bytes, V], raw: bytes, value: V) -> V:
    """Remember the immutable ``value`` decoded from ``raw``, so the next identical bytes decode by
    one look-up: every IKE SA of a peer carries the same transforms and traffic selectors. The
    table is emptied when full, so junk from a peer can cost it hits but never unbounded memory."""
    if len(table) >= INTERN_LIMIT:
        table.clear()
    table[raw] = value
    return value


def member_of(kind: type[E]) -> Callable[[int], E]:
    """``kind(value)`` by a dict look-up for the known members (the enum call costs a few times more);
    unknown values still become the enum's ``UNKNOWN_<n>`` pseudo-members."""
    known: dict[int, E] = {int(m): m for m in kind}

    def get(value: int) -> E:
        member = known.get(value)
        return member if member is not None else kind(value)

    return get


def need(body: bytes, size: int, what: str) -> None:
    """Refuse a body shorter than its fixed fields."""
    if len(body) < size:
        raise BufferReadError(f"{what} body of {len(body)} bytes is shorter than its {size}-byte fixed part")


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

    def encode_body(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def decode_body(cls, body: bytes) -> Payload:
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

    def encode_body(self) -> bytes:
        return self.body

    def __repr__(self) -> str:
        return f"RawPayload({self.raw_type}, {len(self.body)} bytes)"
