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
them instead of failing the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import ClassVar

from ...buffer import Reader, Writer
from ...enums import PayloadType, TsType
from ...errors import MalformedMessageError
from .base import Payload

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
        w.push_uint8(int(self.ts_type))
        w.push_uint8(self.protocol)
        at = w.open_length(2)
        w.push_uint16(self.start_port)
        w.push_uint16(self.end_port)
        w.push_bytes(self.start.packed)
        w.push_bytes(self.end.packed)
        w.close_length(at, 2, 4)

    @classmethod
    def decode(cls, r: Reader) -> TrafficSelector:
        ts_type = TsType(r.pull_uint8())
        protocol = r.pull_uint8()
        length = r.pull_uint16()
        if length < 8:
            raise MalformedMessageError(f"traffic selector length {length} < 8")
        saved_end = r.enter_block(length - 4)
        start_port = r.pull_uint16()
        end_port = r.pull_uint16()
        size = {TsType.TS_IPV4_ADDR_RANGE: 4, TsType.TS_IPV6_ADDR_RANGE: 16}.get(ts_type)
        if size is None:
            r.leave_block(saved_end)
            zero = IPv4Address(0)
            return cls(ts_type, protocol, start_port, end_port, zero, zero, known=False)
        if r.remaining() != 2 * size:
            raise MalformedMessageError(f"{ts_type.name} selector with {r.remaining()} address bytes")
        start = ip_address(r.pull_bytes(size))
        end = ip_address(r.pull_bytes(size))
        r.leave_block(saved_end)
        return cls(ts_type, protocol, start_port, end_port, start, end)


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
