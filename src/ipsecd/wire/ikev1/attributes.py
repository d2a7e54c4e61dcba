"""Data attributes of transforms and of the attribute payload (RFC 2408 §3.3).

                         1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !A!       Attribute Type        !    AF=0  Attribute Length     !
    !F!                             !    AF=1  Attribute Value      !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    .                   AF=0  Attribute Value                       .
    .                   AF=1  Not Transmitted                       .
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

AF=1 is the TV (basic, 16-bit value) form, AF=0 the TLV (variable) form. Values are kept as
``int`` when they arrived as TV or as a TLV of at most 4 bytes the caller asked to read as a number
(``Attribute.number``); the encoder picks TV for numbers below 2^16 and TLV above, as RFC 2408
§3.3 and RFC 2409 App. A do for life durations, unless ``tlv`` forces it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import BufferReadError, BufferWriteError, MalformedMessageError

_TV = struct.Struct("!HH")
AF_TV = 0x8000


@dataclass(frozen=True, slots=True)
class Attribute:
    """One data attribute: ``value`` is an int (TV, or a TLV number) or bytes (TLV)."""

    type: int
    value: int | bytes
    tlv: bool = False  # force the variable form for a number (mode-config attributes)

    @property
    def number(self) -> int:
        """The value as an integer; a TLV of 1–4 bytes counts as one (RFC 2409 life duration)."""
        if isinstance(self.value, int):
            return self.value
        if not 0 < len(self.value) <= 4:
            raise MalformedMessageError(
                f"attribute {self.type}: {len(self.value)}-byte value is not a number"
            )
        return int.from_bytes(self.value, "big")

    def encode(self) -> bytes:
        if not 0 <= self.type < 0x8000:
            raise BufferWriteError(f"attribute type {self.type} does not fit 15 bits")
        value = self.value
        if isinstance(value, int):
            if value < 0:
                raise BufferWriteError(f"attribute {self.type}: negative value")
            if value <= 0xFFFF and not self.tlv:
                return _TV.pack(AF_TV | self.type, value)
            value = value.to_bytes(max(4, (value.bit_length() + 7) // 8), "big")
        if len(value) > 0xFFFF:
            raise BufferWriteError(f"attribute {self.type}: value of {len(value)} bytes")
        return _TV.pack(self.type, len(value)) + value


def decode_attributes(data: bytes) -> list[Attribute]:
    """Every attribute in ``data``; TLV values stay bytes."""
    out: list[Attribute] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 4 > end:
            raise BufferReadError(f"attribute header at offset {pos} overruns {end} bytes")
        kind, word = _TV.unpack_from(data, pos)
        pos += 4
        if kind & AF_TV:
            out.append(Attribute(kind & 0x7FFF, word))
            continue
        if pos + word > end:
            raise BufferReadError(f"attribute {kind} of {word} bytes overruns the payload")
        out.append(Attribute(kind, data[pos:pos + word]))
        pos += word
    return out


def encode_attributes(attrs: list[Attribute] | tuple[Attribute, ...]) -> bytes:
    return b"".join(a.encode() for a in attrs)
