"""ISAKMP header (RFC 2408 §3.1).

                         1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !                          Initiator                            !
    !                            Cookie                             !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !                          Responder                            !
    !                            Cookie                             !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !  Next Payload ! MjVer ! MnVer ! Exchange Type !     Flags     !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !                          Message ID                           !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    !                            Length                             !
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Flags (§3.1): E (0x01) the payloads after the header are encrypted, C (0x02) commit (§4.7.2),
A (0x04) authentication only. The cookies sit where IKEv2's SPIs sit, so one router demultiplexes
both versions by the same 16 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import MalformedMessageError
from .enums import ExchangeType

HEADER = struct.Struct("!8s8sBBBBII")
HEADER_SIZE = HEADER.size  # 28
FLAG_ENCRYPTION = 0x01
FLAG_COMMIT = 0x02
FLAG_AUTH_ONLY = 0x04
VERSION = 0x10  # major 1, minor 0


@dataclass(slots=True)
class Header:
    cookie_i: bytes
    cookie_r: bytes
    next_payload: int
    exchange: ExchangeType
    flags: int
    message_id: int
    length: int = 0
    version: int = VERSION

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & FLAG_ENCRYPTION)

    @property
    def commit(self) -> bool:
        return bool(self.flags & FLAG_COMMIT)

    def encode(self, length: int) -> bytes:
        return HEADER.pack(self.cookie_i, self.cookie_r, self.next_payload, self.version,
                           int(self.exchange), self.flags, self.message_id, length)

    @classmethod
    def decode(cls, data: bytes) -> Header:
        """Parse and check the header against the datagram it came in (length, major version 1)."""
        if len(data) < HEADER_SIZE:
            raise MalformedMessageError(f"message of {len(data)} bytes is shorter than the ISAKMP header")
        cky_i, cky_r, np, ver, exch, flags, mid, length = HEADER.unpack_from(data)
        if length != len(data):
            raise MalformedMessageError(f"header length {length} but datagram has {len(data)} bytes")
        if ver >> 4 != 1:
            raise MalformedMessageError(f"ISAKMP major version {ver >> 4} is not 1")
        return cls(cky_i, cky_r, np, ExchangeType(exch), flags, mid, length, ver)
