"""Traffic Selector payloads TSi/TSr (RFC 7296 §3.13).

    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Number of TSs |                 RESERVED                      |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                       <Traffic Selectors>                     ~

Traffic selector (§3.13.1):
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   TS Type     |IP Protocol ID*|       Selector Length         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           Start Port*         |           End Port*           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                         Starting Address*                     ~
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    ~                         Ending Address*                       ~

Selectors of unknown TS types are kept (``TrafficSelector.known`` False) so narrowing can ignore
them instead of failing the exchange. Selectors are immutable: a decoded one is shared by every
message carrying the same bytes (``base.intern``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import ClassVar

from ...enums import PayloadType, TsType
from ...errors import BufferReadError, BufferWriteError, MalformedMessageError
from .base import Payload, intern, member_of, need

Address = IPv4Address | IPv6Address


@dataclass(frozen=True, slots=True)
class TrafficSelector:
    ts_type: TsType
    protocol: int
    start_port: int
    end_port: int
    start: Address
    end: Address
    known: bool = True

    def to_bytes(self) -> bytes:
        start, end = self.start.packed, self.end.packed
        return _SELECTOR.pack(int(self.ts_type), self.protocol, 8 + len(start) + len(end), self.start_port,
                              self.end_port) + start + end

    @classmethod
    def decode(cls, data: bytes, pos: int) -> tuple[TrafficSelector, int]:
        """(selector, end offset) of the selector at ``pos``."""
        if pos + 4 > len(data):
            raise BufferReadError(f"traffic selector header at offset {pos} is truncated")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 8:
            raise MalformedMessageError(f"traffic selector length {length} < 8")
        stop = pos + length
        if stop > len(data):
            raise BufferReadError(f"traffic selector of {length} bytes overruns the payload")
        raw = data[pos:stop]
        ts = _SELECTORS.get(raw)
        if ts is None:
            ts = intern(_SELECTORS, raw, cls._parse(raw))
        return ts, stop

    @classmethod
    def _parse(cls, raw: bytes) -> TrafficSelector:
        raw_type, protocol, _, start_port, end_port = _SELECTOR.unpack_from(raw)
        ts_type = _ts_type(raw_type)
        size = {TsType.TS_IPV4_ADDR_RANGE: 4, TsType.TS_IPV6_ADDR_RANGE: 16}.get(ts_type)
        if size is None:
            zero = IPv4Address(0)
            return cls(ts_type, protocol, start_port, end_port, zero, zero, known=False)
        if len(raw) - 8 != 2 * size:
            raise MalformedMessageError(f"{ts_type.name} selector with {len(raw) - 8} address bytes")
        return cls(
            ts_type,
            protocol,
            start_port,
            end_port,
            ip_address(raw[8 : 8 + size]),
            ip_address(raw[8 + size :]),
        )


_SELECTOR = struct.Struct("!BBHHH")  # TS type, IP protocol, selector length, start port, end port
_SELECTORS: dict[bytes, TrafficSelector] = {}  # decoded selectors by their bytes (see ``intern``)
_ts_type = member_of(TsType)


@dataclass(slots=True)
class TsPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.TSI
    selectors: list[TrafficSelector] = field(default_factory=list)
    initiator: bool = True

    def ptype(self) -> int:
        return int(PayloadType.TSI if self.initiator else PayloadType.TSR)

    def encode_body(self) -> bytes:
        if len(self.selectors) > 0xFF:
            raise BufferWriteError(f"{len(self.selectors)} traffic selectors in one payload")
        return b"".join([bytes((len(self.selectors), 0, 0, 0)), *(ts.to_bytes() for ts in self.selectors)])

    @classmethod
    def decode_body(cls, body: bytes) -> TsPayload:
        need(body, 4, "traffic selector")
        selectors = []
        pos = 4
        for _ in range(body[0]):
            ts, pos = TrafficSelector.decode(body, pos)
            selectors.append(ts)
        if pos != len(body):
            raise MalformedMessageError("bytes after the last traffic selector")
        return cls(selectors)
