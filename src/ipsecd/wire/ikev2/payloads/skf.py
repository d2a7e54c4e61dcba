"""Encrypted Fragment payload SKF (RFC 7383 §2.5), as framing only.

    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Next Payload  |C|  RESERVED   |         Payload Length        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |        Fragment Number        |        Total Fragments        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                     Initialization Vector                     |
    ~                      Encrypted content                        ~
    |                 Padding, Pad Length, Integrity Checksum Data  ~
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Each fragment is protected on its own, like an SK payload whose plaintext is one slice of the
message's payload chain. Next Payload names the first inner payload in fragment 1 and is 0 in the
others. Fragment numbers run from 1 to Total Fragments; anything else is malformed. ``body`` is the
part from the IV on, ``offset`` where it starts in the datagram: for AEAD the IKE header, the generic
header and the two numbers before it are the associated data (as strongSwan computes them).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from ...enums import PayloadType
from ...errors import MalformedMessageError
from .base import Payload, need

NUMBERS = struct.Struct("!HH")  # Fragment Number, Total Fragments


@dataclass(slots=True)
class SkfPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.SKF
    first_inner: int
    number: int
    total: int
    body: bytes
    offset: int = 0

    def encode_body(self) -> bytes:
        return NUMBERS.pack(self.number, self.total) + self.body

    @classmethod
    def decode_at(cls, first_inner: int, body: bytes, offset: int) -> SkfPayload:
        """The SKF payload whose body (from the Fragment Number on) starts at ``offset`` in the datagram."""
        need(body, NUMBERS.size, "SKF")
        number, total = NUMBERS.unpack_from(body)
        if not 1 <= number <= total:
            raise MalformedMessageError(f"SKF fragment {number} of {total}")
        return cls(first_inner, number, total, body[NUMBERS.size :], offset + NUMBERS.size)
