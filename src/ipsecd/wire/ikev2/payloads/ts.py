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

from ...buffer import Reader, Writer
from ...enums import PayloadType, TsType
from ...errors import MalformedMessageError
from .base import Payload, intern

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

    def encode(self, w: Writer) -> None:
        start, end = self.start.packed, self.end.packed
        w.push_bytes(_SELECTOR.pack(int(self.ts_type), self.protocol, 8 + len(start) + len(end), self.start_port,
                                    self.end_port) + start + end)

    @classmethod
    def decode(cls, r: Reader) -> TrafficSelector:
        head = r.pull_uint32()  # TS type, IP protocol, selector length
        length = head & 0xFFFF
        if length < 8:
            raise MalformedMessageError(f"traffic selector length {length} < 8")
        raw = head.to_bytes(4, "big") + r.pull_bytes(length - 4)
        ts = _SELECTORS.get(raw)
        if ts is None:
            ts = intern(_SELECTORS, raw, cls._parse(raw))
        return ts

    @classmethod
    def _parse(cls, raw: bytes) -> TrafficSelector:
        ts_type, protocol, _, start_port, end_port = _SELECTOR.unpack_from(raw)
        ts_type = TsType(ts_type)
        size = {TsType.TS_IPV4_ADDR_RANGE: 4, TsType.TS_IPV6_ADDR_RANGE: 16}.get(ts_type)
        if size is None:
            zero = IPv4Address(0)
            return cls(ts_type, protocol, start_port, end_port, zero, zero, known=False)
        if len(raw) - 8 != 2 * size:
            raise MalformedMessageError(f"{ts_type.name} selector with {len(raw) - 8} address bytes")
        return cls(ts_type, protocol, start_port, end_port, ip_address(raw[8:8 + size]), ip_address(raw[8 + size:]))


_SELECTOR = struct.Struct("!BBHHH")  # TS type, IP protocol, selector length, start port, end port
_SELECTORS: dict[bytes, TrafficSelector] = {}  # decoded selectors by their bytes (see ``intern``)


@dataclass(slots=True)
class TsPayload(Payload):
    payload_type: ClassVar[PayloadType] = PayloadType.TSI
    selectors: list[TrafficSelector] = field(default_factory=list)
    initiator: bool = True

    def ptype(self) -> int:
        return int(PayloadType.TSI if self.initiator else PayloadType.TSR)

    def encode_body(self, w: Writer) -> None:
        w.push_uint8(len(self.selectors))
        w.push_bytes(bytes(3))
        for ts in self.selectors:
            ts.encode(w)

    @classmethod
    def decode_body(cls, r: Reader) -> TsPayload:
        count = r.pull_uint8()
        r.pull_bytes(3)
        selectors = [TrafficSelector.decode(r) for _ in range(count)]
        if not r.eof():
            raise MalformedMessageError("bytes after the last traffic selector")
        return cls(selectors)
