"""IKE header (RFC 7296 §3.1).

                         1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                       IKE SA Initiator's SPI                  |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                       IKE SA Responder's SPI                  |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                          Message ID                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                            Length                             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Flags: R (0x20) response, V (0x10) higher version possible, I (0x08) sent by the original initiator.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..enums import ExchangeType
from ..errors import MalformedMessageError
from .payloads.base import member_of

HEADER = struct.Struct("!8s8sBBBBII")
HEADER_SIZE = HEADER.size  # 28
FLAG_INITIATOR = 0x08
FLAG_VERSION = 0x10
FLAG_RESPONSE = 0x20
MAX_MESSAGE = 65535


@dataclass(slots=True)
class Header:
    spi_i: bytes
    spi_r: bytes
    next_payload: int
    exchange: ExchangeType
    flags: int
    message_id: int
    length: int = 0
    major: int = 2
    minor: int = 0

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_RESPONSE)

    @property
    def from_initiator(self) -> bool:
        return bool(self.flags & FLAG_INITIATOR)

    def encode(self, length: int) -> bytes:
        return HEADER.pack(self.spi_i, self.spi_r, self.next_payload, (self.major << 4) | self.minor,
                           int(self.exchange), self.flags, self.message_id, length)

    @classmethod
    def decode(cls, data: bytes) -> Header:
        """Parse and check the header against the datagram it came in (lengths, version)."""
        if len(data) < HEADER_SIZE:
            raise MalformedMessageError(f"message of {len(data)} bytes is shorter than the IKE header")
        spi_i, spi_r, np, ver, exch, flags, mid, length = HEADER.unpack_from(data)
        if length != len(data):
            raise MalformedMessageError(f"header length {length} but datagram has {len(data)} bytes")
        major = ver >> 4
        if major != 2:
            raise MalformedMessageError(f"IKE major version {major} is not 2")
        return cls(spi_i, spi_r, np, _exchange_type(exch), flags, mid, length, major, ver & 0x0F)


_exchange_type = member_of(ExchangeType)
