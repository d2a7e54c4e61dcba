"""IKE messages: header plus payload chain, with the unknown-payload rules (RFC 7296 §2.5, §3.2).

* A payload type we do not know, with the critical bit clear, is skipped (kept as ``RawPayload``).
* With the critical bit set, the message is rejected: :class:`UnsupportedCriticalPayloadError`
  carries the type so the responder can answer UNSUPPORTED_CRITICAL_PAYLOAD.
* The SK payload must be last; its body runs to the end of the message.

``decode_chain`` is used twice: on the datagram, and on the plaintext inside SK.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from ..enums import NotifyType, PayloadType
from ..errors import BufferReadError, BufferWriteError, MalformedMessageError, UnsupportedCriticalPayloadError
from .header import HEADER_SIZE, MAX_MESSAGE, Header
from .payloads.base import CRITICAL, GENERIC_HEADER_SIZE, Payload, RawPayload
from .payloads.cert import CertPayload, CertReqPayload
from .payloads.cp import CpPayload
from .payloads.notify import DeletePayload, NotifyPayload
from .payloads.sa import SaPayload
from .payloads.simple import AuthPayload, IdPayload, KePayload, NoncePayload, VendorPayload
from .payloads.sk import SkPayload
from .payloads.skf import SkfPayload
from .payloads.ts import TsPayload

P = TypeVar("P", bound=Payload)
_GENERIC = struct.Struct("!BBH")  # next payload, critical bit + reserved, payload length


def _idr(body: bytes) -> Payload:
    p = IdPayload.decode_body(body)
    p.initiator = False
    return p


def _tsr(body: bytes) -> Payload:
    p = TsPayload.decode_body(body)
    p.initiator = False
    return p


_DECODERS: dict[int, Callable[[bytes], Payload]] = {
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
    PayloadType.CERT: CertPayload.decode_body,
    PayloadType.CERTREQ: CertReqPayload.decode_body,
}
# Known types we carry without interpreting (EAP's own codec is its task's).
_OPAQUE = {PayloadType.EAP}
# plain ints: the loop compares per payload
_NONE, _SK, _SKF = int(PayloadType.NONE), int(PayloadType.SK), int(PayloadType.SKF)


def decode_chain(first: int, data: bytes, pos: int = 0) -> list[Payload]:
    """Decode the payloads from offset ``pos`` to the end of ``data`` (a datagram, or the plaintext
    inside SK) until Next Payload is 0; an SK or SKF payload (RFC 7383) must be the last, and its
    ``offset`` is where its protected body is in ``data``."""
    payloads: list[Payload] = []
    ptype = first
    end = len(data)
    while ptype != _NONE:
        if pos + GENERIC_HEADER_SIZE > end:
            raise BufferReadError(f"payload {ptype} header at offset {pos} overruns the message")
        nxt, flags, length = _GENERIC.unpack_from(data, pos)
        if length < GENERIC_HEADER_SIZE:
            raise MalformedMessageError(f"payload {ptype} with length {length}")
        stop = pos + length
        if stop > end:
            raise BufferReadError(f"payload {ptype} of {length} bytes at offset {pos} overruns the message")
        body = data[pos + GENERIC_HEADER_SIZE:stop]
        if ptype == _SK or ptype == _SKF:
            if stop != end:
                raise MalformedMessageError(f"the {PayloadType(ptype).name} payload is not the last payload")
            at = pos + GENERIC_HEADER_SIZE
            payloads.append(SkPayload(nxt, body, at) if ptype == _SK else SkfPayload.decode_at(nxt, body, at))
            return payloads
        if (decoder := _DECODERS.get(ptype)) is not None:
            payloads.append(decoder(body))
        elif ptype in _OPAQUE or not flags & CRITICAL:
            payloads.append(RawPayload(ptype, body, bool(flags & CRITICAL)))
        else:
            raise UnsupportedCriticalPayloadError(ptype)
        pos = stop
        ptype = nxt
    if pos != end:
        raise MalformedMessageError(f"{end - pos} bytes after the last payload")
    return payloads


def scan_chain(data: bytes) -> list[tuple[int, int, int]] | None:
    """(type, body start, body end) of each payload outside SK, without decoding any body; None when
    the chain does not fit the datagram. For the router's stateless COOKIE answer (RFC 7296 §2.6),
    which must stay cheap under a flood of spoofed IKE_SA_INITs and needs two bodies at most."""
    end = len(data)
    if end < HEADER_SIZE:
        return None
    ptype, pos = data[16], HEADER_SIZE
    found: list[tuple[int, int, int]] = []
    while ptype != _NONE:
        if pos + GENERIC_HEADER_SIZE > end:
            return None
        nxt, _, length = _GENERIC.unpack_from(data, pos)
        stop = pos + length
        if length < GENERIC_HEADER_SIZE or stop > end:
            return None
        found.append((ptype, pos + GENERIC_HEADER_SIZE, stop))
        if ptype == _SK or ptype == _SKF:
            break
        pos, ptype = stop, nxt
    return found


def encode_chain(payloads: Iterable[Payload]) -> tuple[int, bytes]:
    """(type of the first payload, encoded chain); an SK payload's Next Payload is its first inner."""
    items = list(payloads)
    parts: list[bytes] = []
    last = len(items) - 1
    for i, p in enumerate(items):
        if isinstance(p, SkPayload | SkfPayload):
            nxt = p.first_inner
        else:
            nxt = items[i + 1].ptype() if i < last else _NONE
        body = p.encode_body()
        length = GENERIC_HEADER_SIZE + len(body)
        if length > 0xFFFF:
            raise BufferWriteError(f"payload {p.ptype()} of {length} bytes does not fit its length field")
        parts += [_GENERIC.pack(nxt, p.flags(), length), body]
    return (items[0].ptype() if items else _NONE), b"".join(parts)


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
        return cls(header, decode_chain(header.next_payload, data, HEADER_SIZE))

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
