"""IKE messages: header plus payload chain, with the unknown-payload rules (RFC 7296 §2.5, §3.2).

* A payload type we do not know, with the critical bit clear, is skipped (kept as ``RawPayload``).
* With the critical bit set, the message is rejected: :class:`UnsupportedCriticalPayloadError`
  carries the type so the responder can answer UNSUPPORTED_CRITICAL_PAYLOAD.
* The SK payload must be last; its body runs to the end of the message.

``decode_chain`` is used twice: on the datagram, and on the plaintext inside SK.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from ..buffer import Reader, Writer
from ..enums import NotifyType, PayloadType
from ..errors import MalformedMessageError, UnsupportedCriticalPayloadError
from .header import HEADER_SIZE, MAX_MESSAGE, Header
from .payloads.base import CRITICAL, GENERIC_HEADER_SIZE, Payload, RawPayload
from .payloads.cp import CpPayload
from .payloads.notify import DeletePayload, NotifyPayload
from .payloads.sa import SaPayload
from .payloads.simple import AuthPayload, IdPayload, KePayload, NoncePayload, VendorPayload
from .payloads.sk import SkPayload
from .payloads.ts import TsPayload

P = TypeVar("P", bound=Payload)


def _idr(r: Reader) -> Payload:
    p = IdPayload.decode_body(r)
    p.initiator = False
    return p


def _tsr(r: Reader) -> Payload:
    p = TsPayload.decode_body(r)
    p.initiator = False
    return p


_DECODERS: dict[int, Callable[[Reader], Payload]] = {
    PayloadType.SA: SaPayload.decode_body,
    PayloadType.KE: KePayload.decode_body,
    PayloadType.IDI: IdPayload.decode_body,
    PayloadType.IDR: _idr,
    PayloadType.AUTH: AuthPayload.decode_body,
    PayloadType.NONCE: NoncePayload.decode_body,
    PayloadType.NOTIFY: NotifyPayload.decode_body,
    PayloadType.DELETE: DeletePayload.decode_body,
    PayloadType.VENDOR: VendorPayload.decode_body,
    PayloadType.TSI: TsPayload.decode_body,
    PayloadType.TSR: _tsr,
    PayloadType.CP: CpPayload.decode_body,
}
# Known types we carry without interpreting (certificates and EAP are not negotiated yet).
_OPAQUE = {PayloadType.CERT, PayloadType.CERTREQ, PayloadType.EAP, PayloadType.SKF}
_NONE, _SK = int(PayloadType.NONE), int(PayloadType.SK)  # plain ints: the loop compares per payload


def decode_chain(first: int, r: Reader, base_offset: int = 0) -> list[Payload]:
    """Decode payloads until Next Payload is 0; ``base_offset`` locates ``r`` in the datagram."""
    payloads: list[Payload] = []
    ptype = first
    while ptype != _NONE:
        start = r.position
        generic = r.pull_uint32()  # Next Payload, flags, Payload Length in one read
        nxt, flags, length = generic >> 24, (generic >> 16) & 0xFF, generic & 0xFFFF
        if length < GENERIC_HEADER_SIZE:
            raise MalformedMessageError(f"payload {ptype} with length {length}")
        saved_end = r.enter_block(length - GENERIC_HEADER_SIZE)
        if ptype == _SK:
            payload: Payload = SkPayload(nxt, r.pull_rest(), base_offset + start + GENERIC_HEADER_SIZE)
        elif (decoder := _DECODERS.get(ptype)) is not None:
            payload = decoder(r)
            if not r.eof():
                raise MalformedMessageError(f"{PayloadType(ptype).name} payload has trailing bytes")
        elif ptype in _OPAQUE or not flags & CRITICAL:
            payload = RawPayload(ptype, r.pull_rest(), bool(flags & CRITICAL))
        else:
            raise UnsupportedCriticalPayloadError(ptype)
        r.leave_block(saved_end)
        payloads.append(payload)
        if ptype == _SK:
            if not r.eof():
                raise MalformedMessageError("the SK payload is not the last payload")
            break
        ptype = nxt
    if not r.eof():
        raise MalformedMessageError(f"{r.remaining()} bytes after the last payload")
    return payloads


def encode_chain(payloads: Iterable[Payload]) -> tuple[int, bytes]:
    """(type of the first payload, encoded chain); an SK payload's Next Payload is its first inner."""
    items = list(payloads)
    w = Writer()
    for i, p in enumerate(items):
        if isinstance(p, SkPayload):
            nxt = p.first_inner
        else:
            nxt = items[i + 1].ptype() if i + 1 < len(items) else PayloadType.NONE
        w.push_uint16((int(nxt) << 8) | p.flags())
        at = w.open_length(2)
        p.encode_body(w)
        w.close_length(at, 2, GENERIC_HEADER_SIZE)
    return (items[0].ptype() if items else PayloadType.NONE), w.data()


@dataclass(slots=True)
class Message:
    header: Header
    payloads: list[Payload] = field(default_factory=list)

    def encode(self) -> bytes:
        first, chain = encode_chain(self.payloads)
        self.header.next_payload = first
        length = HEADER_SIZE + len(chain)
        if length > MAX_MESSAGE:
            raise MalformedMessageError(f"message of {length} bytes exceeds {MAX_MESSAGE}")
        return self.header.encode(length) + chain

    @classmethod
    def decode(cls, data: bytes) -> Message:
        header = Header.decode(data)
        r = Reader(data)
        r.pull_bytes(HEADER_SIZE)
        return cls(header, decode_chain(header.next_payload, r))

    # -- lookups -------------------------------------------------------------------------------

    def get(self, kind: type[P]) -> P | None:
        for p in self.payloads:
            if isinstance(p, kind):
                return p
        return None

    def all(self, kind: type[P]) -> list[P]:
        return [p for p in self.payloads if isinstance(p, kind)]

    def notify(self, ntype: NotifyType) -> NotifyPayload | None:
        for p in self.payloads:
            if isinstance(p, NotifyPayload) and p.type == ntype:
                return p
        return None

    def error_notify(self) -> NotifyPayload | None:
        for p in self.payloads:
            if isinstance(p, NotifyPayload) and p.type.is_error:
                return p
        return None
