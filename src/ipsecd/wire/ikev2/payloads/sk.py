"""Encrypted and Authenticated payload SK (RFC 7296 §3.14), as framing only.

    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Next Payload  |C|  RESERVED   |         Payload Length        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                     Initialization Vector                     |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                    Encrypted IKE Payloads                     ~
    +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |               |             Padding (0-255 octets)            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                                               |  Pad Length   |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                    Integrity Checksum Data                    ~

The Next Payload field names the first *inner* payload. Keys live in the IKE SA, so encryption and
integrity happen in ``ipsecd.ike.v2.protect``; this codec only records where the body starts in the
datagram (``offset``): the integrity check covers everything before the checksum, and for AEAD
(RFC 5282 §5.1) the IKE header plus this generic header are the associated data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...enums import PayloadType
from .base import Payload


@dataclass(slots=True)
class SkPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.SK
    first_inner: int
    body: bytes
    offset: int = 0

    def encode_body(self) -> bytes:
        return self.body
