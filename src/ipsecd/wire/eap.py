"""EAP packets (RFC 3748 §4) and the EAP-MSCHAPv2 framing inside them.

An EAP packet (§4.1)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Code      |  Identifier   |            Length             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Type (Request/Response only)  |  Type-Data ...
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Success and Failure (§4.2) are the bare 4-octet header. EAP-MSCHAPv2 (type 26, the framing of
draft-kamath-pppext-eap-mschapv2 that Windows, strongSwan and FreeRADIUS speak) puts an MS-CHAPv2
packet in Type-Data::

    | OpCode | MS-CHAPv2-ID | MS-Length (2) | Data ...

where MS-Length counts from OpCode to the end. Challenge and Response carry Value-Size then the value
(16-octet challenge; 49-octet response: Peer-Challenge 16, Reserved 8, NT-Response 24, Flags 1)
then the Name; Success and Failure carry a text message. Malformed input raises :class:`EapError`.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from .errors import MalformedMessageError


class EapError(MalformedMessageError):
    """An EAP packet (or an EAP-MSCHAPv2 body inside one) that is malformed."""


class EapCode(enum.IntEnum):
    REQUEST = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


class EapType(enum.IntEnum):
    """Method types (RFC 3748 §5, IANA "EAP Method Types")."""

    IDENTITY = 1
    NOTIFICATION = 2
    NAK = 3
    MD5_CHALLENGE = 4
    TLS = 13
    TTLS = 21
    PEAP = 25
    MSCHAPV2 = 26
    EXPANDED = 254


@dataclass(frozen=True)
class EapPacket:
    code: int
    identifier: int
    type: int | None = None  # Request/Response only
    data: bytes = b""

    def encode(self) -> bytes:
        if self.code in (EapCode.REQUEST, EapCode.RESPONSE):
            if self.type is None:
                raise EapError("a Request/Response needs a Type")
            body = bytes((self.type,)) + self.data
        else:
            body = b""
        if len(body) + 4 > 0xFFFF:
            raise EapError("EAP packet too long")
        return struct.pack("!BBH", self.code, self.identifier, len(body) + 4) + body


def parse(data: bytes) -> EapPacket:
    """Decode one EAP packet; octets past Length are link padding (§4.1) and ignored."""
    if len(data) < 4:
        raise EapError(f"EAP packet of {len(data)} octets")
    code, identifier, length = struct.unpack_from("!BBH", data)
    if length < 4 or length > len(data):
        raise EapError(f"EAP Length {length} for {len(data)} octets")
    if code in (EapCode.REQUEST, EapCode.RESPONSE):
        if length < 5:
            raise EapError("EAP Request/Response without a Type")
        return EapPacket(code, identifier, data[4], bytes(data[5:length]))
    if code in (EapCode.SUCCESS, EapCode.FAILURE):
        if length != 4:
            raise EapError("EAP Success/Failure with data")
        return EapPacket(code, identifier)
    raise EapError(f"unknown EAP code {code}")


class MsOp(enum.IntEnum):
    """EAP-MSCHAPv2 OpCodes."""

    CHALLENGE = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4
    CHANGE_PASSWORD = 7


@dataclass(frozen=True)
class MsChapV2:
    """One EAP-MSCHAPv2 Type-Data. ``value`` is the Value-Size-prefixed field of a Challenge or
    Response (empty otherwise), ``name`` its Name, or the message of a Success/Failure request;
    a peer's Success/Failure acknowledgement is the bare OpCode (``ms_id``/``short`` ignored)."""

    op: int
    ms_id: int = 0
    value: bytes = b""
    name: bytes = b""
    short: bool = False

    def encode(self) -> bytes:
        if self.short:
            return bytes((self.op,))
        if self.op in (MsOp.CHALLENGE, MsOp.RESPONSE):
            body = bytes((len(self.value),)) + self.value + self.name
        else:
            body = self.name
        return struct.pack("!BBH", self.op, self.ms_id, len(body) + 4) + body


_VALUE_SIZE = {MsOp.CHALLENGE: 16, MsOp.RESPONSE: 49}


def parse_mschapv2(data: bytes) -> MsChapV2:
    """Decode EAP-MSCHAPv2 Type-Data (bare OpCode for a peer's Success/Failure answer)."""
    if not data:
        raise EapError("empty EAP-MSCHAPv2 data")
    op = data[0]
    if len(data) == 1:
        if op not in (MsOp.SUCCESS, MsOp.FAILURE):
            raise EapError(f"EAP-MSCHAPv2 OpCode {op} without a body")
        return MsChapV2(op, short=True)
    if len(data) < 4:
        raise EapError("truncated EAP-MSCHAPv2 header")
    ms_id, ms_length = data[1], int.from_bytes(data[2:4], "big")
    if ms_length < 4 or ms_length > len(data):
        raise EapError(f"EAP-MSCHAPv2 MS-Length {ms_length} for {len(data)} octets")
    body = bytes(data[4:ms_length])
    if op in _VALUE_SIZE:
        size = _VALUE_SIZE[MsOp(op)]
        if not body or body[0] != size or len(body) < 1 + size:
            raise EapError(f"EAP-MSCHAPv2 OpCode {op} with a bad Value-Size")
        return MsChapV2(op, ms_id, body[1 : 1 + size], body[1 + size :])
    if op in (MsOp.SUCCESS, MsOp.FAILURE):
        return MsChapV2(op, ms_id, name=body)
    raise EapError(f"unsupported EAP-MSCHAPv2 OpCode {op}")
