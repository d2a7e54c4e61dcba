"""ISAKMP messages: header plus payload chain (RFC 2408 §3.1–3.2, §5.1).

An encrypted message (E flag) carries the chain as CBC ciphertext after the header; the IKE SA
decrypts it and calls :func:`decode_chain` on the plaintext with ``padded=True``: RFC 2408 §3.1
pads the chain to the cipher's block size and the bytes after the last payload are that padding.
A payload type we do not know is kept as :class:`RawPayload` (§5.1 leaves refusing it to the
exchange that needed it); proposal and transform payloads are only valid inside SA.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import BufferReadError, BufferWriteError, MalformedMessageError
from .enums import PayloadType
from .header import HEADER_SIZE, Header
from .payloads import (
    AttributePayload,
    CertPayload,
    CertReqPayload,
    DeletePayload,
    HashPayload,
    IdPayload,
    KePayload,
    NatDPayload,
    NatOaPayload,
    NoncePayload,
    NotifyPayload,
    Payload,
    RawPayload,
    SigPayload,
    VendorPayload,
)
from .sa import SaPayload

P = TypeVar("P", bound=Payload)
_GENERIC = struct.Struct("!BBH")
MAX_MESSAGE = 65535


def _nat_oa(draft: bool) -> Callable[[bytes], Payload]:
    def decode(body: bytes) -> Payload:
        p = NatOaPayload.decode_body(body)
        p.draft = draft
        return p
    return decode


_DECODERS: dict[int, Callable[[bytes], Payload]] = {
    PayloadType.SA: SaPayload.decode_body,
    PayloadType.KE: KePayload.decode_body,
    PayloadType.ID: IdPayload.decode_body,
    PayloadType.CERT: CertPayload.decode_body,
    PayloadType.CERTREQ: CertReqPayload.decode_body,
    PayloadType.HASH: HashPayload.decode_body,
    PayloadType.SIG: SigPayload.decode_body,
    PayloadType.NONCE: NoncePayload.decode_body,
    PayloadType.NOTIFY: NotifyPayload.decode_body,
    PayloadType.DELETE: DeletePayload.decode_body,
    PayloadType.VENDOR: VendorPayload.decode_body,
    PayloadType.ATTRIBUTE: AttributePayload.decode_body,
    PayloadType.NAT_D: lambda b: NatDPayload(b, False),
    PayloadType.NAT_D_DRAFT: lambda b: NatDPayload(b, True),
    PayloadType.NAT_OA: _nat_oa(False),
    PayloadType.NAT_OA_DRAFT: _nat_oa(True),
}
_NESTED = (int(PayloadType.PROPOSAL), int(PayloadType.TRANSFORM))


def decode_chain(first: int, data: bytes, *, padded: bool = False) -> list[Payload]:
    """Decode payloads until Next Payload is 0; ``padded``: bytes after the last one are padding."""
    payloads: list[Payload] = []
    ptype, pos, end = first, 0, len(data)
    while ptype != 0:
        if pos + _GENERIC.size > end:
            raise BufferReadError(f"payload {ptype} header at offset {pos} overruns the message")
        nxt, _, length = _GENERIC.unpack_from(data, pos)
        if length < _GENERIC.size or pos + length > end:
            raise MalformedMessageError(f"payload {ptype} of length {length} at offset {pos} does not fit")
        if ptype in _NESTED:
            raise MalformedMessageError(f"payload type {ptype} outside an SA payload")
        body = data[pos + _GENERIC.size:pos + length]
        decoder = _DECODERS.get(ptype)
        payloads.append(decoder(body) if decoder is not None else RawPayload(ptype, body))
        pos += length
        ptype = nxt
    if pos != end and not padded:
        raise MalformedMessageError(f"{end - pos} bytes after the last payload")
    return payloads


def encode_chain(payloads: Iterable[Payload]) -> tuple[int, bytes]:
    """(type of the first payload, the encoded chain)."""
    items = list(payloads)
    out = []
    for i, p in enumerate(items):
        body = p.encode_body()
        if len(body) + _GENERIC.size > 0xFFFF:
            raise BufferWriteError(f"payload {p.ptype()} of {len(body)} bytes")
        nxt = items[i + 1].ptype() if i + 1 < len(items) else 0
        out.append(_GENERIC.pack(nxt, 0, len(body) + _GENERIC.size) + body)
    return (items[0].ptype() if items else 0), b"".join(out)


def assemble(header: Header, first: int, body: bytes) -> bytes:
    """Header (with ``first`` and the total length) followed by ``body`` (a chain or ciphertext)."""
    total = HEADER_SIZE + len(body)
    if total > MAX_MESSAGE:
        raise BufferWriteError(f"message of {total} bytes")
    header.next_payload = first
    header.length = total
    return header.encode(total) + body


@dataclass(slots=True)
class Message:
    """A cleartext message; an encrypted one is decoded by the SA after decryption."""

    header: Header
    payloads: list[Payload]

    def encode(self) -> bytes:
        first, chain = encode_chain(self.payloads)
        return assemble(self.header, first, chain)

    @classmethod
    def decode(cls, data: bytes) -> Message:
        header = Header.decode(data)
        if header.encrypted:
            raise MalformedMessageError("encrypted message: decrypt the body before decoding its payloads")
        return cls(header, decode_chain(header.next_payload, data[HEADER_SIZE:]))

    def get(self, kind: type[P]) -> P | None:
        return next((p for p in self.payloads if isinstance(p, kind)), None)

    def all(self, kind: type[P]) -> list[P]:
        return [p for p in self.payloads if isinstance(p, kind)]
