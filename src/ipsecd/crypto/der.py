"""A minimal DER reader and writer (ITU-T X.690 §8, §10) for the few structures IKE carries outside
certificates: RFC 7427's AlgorithmIdentifier with RSASSA-PSS parameters (RFC 4055 §3.1) and the
DER-encoded Distinguished Names of ID_DER_ASN1_DN identities (RFC 7296 §3.5).

``cryptography`` parses and builds certificates, CRLs and keys; it has no public parser for a bare
AlgorithmIdentifier or Name, and its declarative ``hazmat.asn1`` module (cryptography 50) cannot yet
express an optional ANY field, which is what AlgorithmIdentifier.parameters is. Only definite
lengths in their shortest form are accepted (DER), so one value has exactly one encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipsecd.crypto.errors import MalformedInputError

SEQUENCE = 0x30
SET = 0x31
OID = 0x06
NULL = 0x05
INTEGER = 0x02


@dataclass(frozen=True, slots=True)
class Tlv:
    """One DER element: its tag octet, its contents, and the whole encoding."""

    tag: int
    value: bytes
    raw: bytes


def read_tlv(data: bytes, pos: int = 0) -> tuple[Tlv, int]:
    """The element at ``pos`` and the offset after it; MalformedInputError on anything not DER."""
    if pos + 2 > len(data):
        raise MalformedInputError("DER: truncated element header")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise MalformedInputError("DER: multi-octet tags are not used here")
    start = pos + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise MalformedInputError("DER: indefinite or oversized length")
        length = int.from_bytes(data[start : start + count], "big")
        if length < 0x80 or data[start] == 0:
            raise MalformedInputError("DER: length not in its shortest form")
        start += count
    end = start + length
    if end > len(data):
        raise MalformedInputError(f"DER: element of {length} bytes runs past the end")
    return Tlv(tag, data[start:end], data[pos:end]), end


def read_all(data: bytes) -> list[Tlv]:
    """Every element of a constructed value's contents, in order."""
    items: list[Tlv] = []
    pos = 0
    while pos < len(data):
        item, pos = read_tlv(data, pos)
        items.append(item)
    return items


def read_one(data: bytes, tag: int) -> Tlv:
    """Exactly one element of ``tag`` filling ``data``."""
    item, end = read_tlv(data)
    if item.tag != tag or end != len(data):
        raise MalformedInputError(f"DER: expected one element of tag 0x{tag:02x}")
    return item


def read_uint(item: Tlv) -> int:
    """A non-negative INTEGER in its minimal encoding."""
    v = item.value
    if item.tag != INTEGER or not v or v[0] & 0x80 or (len(v) > 1 and v[0] == 0 and not v[1] & 0x80):
        raise MalformedInputError("DER: not a minimal non-negative INTEGER")
    return int.from_bytes(v, "big")


def encode(tag: int, value: bytes) -> bytes:
    """One element, with the shortest length form."""
    n = len(value)
    if n < 0x80:
        return bytes((tag, n)) + value
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + value


def encode_uint(value: int) -> bytes:
    """A non-negative INTEGER."""
    return encode(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def encode_oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form (X.690 §8.19)."""
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return encode(OID, bytes(body))


def decode_oid(item: Tlv) -> str:
    """The dotted form of an OBJECT IDENTIFIER."""
    if item.tag != OID or not item.value or item.value[-1] & 0x80:
        raise MalformedInputError("DER: malformed OBJECT IDENTIFIER")
    arcs: list[int] = []
    acc = 0
    for i, octet in enumerate(item.value):
        if acc == 0 and octet == 0x80 and (i == 0 or not item.value[i - 1] & 0x80):
            raise MalformedInputError("DER: OBJECT IDENTIFIER arc with a leading zero octet")
        acc = (acc << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(acc)
            acc = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])
