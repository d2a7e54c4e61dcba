"""RADIUS packets (RFC 2865, 2866, 2869, 3579, 5080) as the gateway's client sends and checks them.

A packet (RFC 2865 §3)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Code      |  Identifier   |            Length             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                     Authenticator (16 octets)                 |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Attributes: | Type | Length | Value ... (Length counts Type and Length)
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

A Vendor-Specific attribute (type 26, RFC 2865 §5.26) holds Vendor-Id (4 octets) and, for the
vendors we read (Microsoft, RFC 2548), sub-attributes of the same Type/Length/Value shape.

Blast-RADIUS (CVE-2024-3596): every Access-Request built here carries Message-Authenticator
(RFC 3579 §3.2, HMAC-MD5 over the packet with the attribute zeroed) as its *first* attribute, and
:func:`verify_reply` refuses an Access-Accept/Reject/Challenge without a valid one, besides checking
the Response Authenticator (RFC 2865 §3). Every comparison of a MAC is in constant time. Anything
malformed raises :class:`RadiusError` (a :class:`~ipsecd.wire.errors.MalformedMessageError`).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import struct
from dataclasses import dataclass, field

from .errors import MalformedMessageError

HEADER_LEN = 20
MAX_PACKET = 4096  # RFC 2865 §3
MAX_VALUE = 253  # an attribute's value, RFC 2865 §5
MICROSOFT = 311  # SMI Network Management Private Enterprise Code of Microsoft (RFC 2548 §2)


class RadiusError(MalformedMessageError):
    """A RADIUS packet that is malformed, or whose authenticators do not verify."""


class Code(enum.IntEnum):
    """Packet codes (RFC 2865 §3, RFC 2866 §3)."""

    ACCESS_REQUEST = 1
    ACCESS_ACCEPT = 2
    ACCESS_REJECT = 3
    ACCOUNTING_REQUEST = 4
    ACCOUNTING_RESPONSE = 5
    ACCESS_CHALLENGE = 11


class Attr(enum.IntEnum):
    """The attribute types ipsecd sends or reads (RFC 2865 §5, 2866 §5, 2869 §5, 3579 §3)."""

    USER_NAME = 1
    USER_PASSWORD = 2
    NAS_IP_ADDRESS = 4
    NAS_PORT = 5
    SERVICE_TYPE = 6
    FRAMED_IP_ADDRESS = 8
    REPLY_MESSAGE = 18
    STATE = 24
    CLASS = 25
    VENDOR_SPECIFIC = 26
    SESSION_TIMEOUT = 27
    CALLED_STATION_ID = 30
    CALLING_STATION_ID = 31
    NAS_IDENTIFIER = 32
    ACCT_STATUS_TYPE = 40
    ACCT_DELAY_TIME = 41
    ACCT_INPUT_OCTETS = 42
    ACCT_OUTPUT_OCTETS = 43
    ACCT_SESSION_ID = 44
    ACCT_SESSION_TIME = 46
    ACCT_INPUT_PACKETS = 47
    ACCT_OUTPUT_PACKETS = 48
    ACCT_TERMINATE_CAUSE = 49
    ACCT_INPUT_GIGAWORDS = 52
    ACCT_OUTPUT_GIGAWORDS = 53
    NAS_PORT_TYPE = 61
    EAP_MESSAGE = 79
    MESSAGE_AUTHENTICATOR = 80
    NAS_IPV6_ADDRESS = 95
    FRAMED_IPV6_ADDRESS = 168


class MsAttr(enum.IntEnum):
    """Microsoft vendor-specific attributes (RFC 2548 §2.4.2, §2.4.3)."""

    MS_MPPE_SEND_KEY = 16
    MS_MPPE_RECV_KEY = 17


class AcctStatus(enum.IntEnum):
    """Acct-Status-Type values (RFC 2866 §5.1)."""

    START = 1
    STOP = 2
    INTERIM_UPDATE = 3


NAS_PORT_TYPE_VIRTUAL = 5  # RFC 2865 §5.41
SERVICE_TYPE_FRAMED = 2  # RFC 2865 §5.6


@dataclass(frozen=True)
class Packet:
    """A decoded packet: attributes in wire order (a type may repeat: EAP-Message, Class, VSAs)."""

    code: int
    identifier: int
    authenticator: bytes
    attributes: list[tuple[int, bytes]] = field(default_factory=list)

    def get(self, attr_type: int) -> bytes | None:
        """The first value of ``attr_type``, or None."""
        return next((v for t, v in self.attributes if t == attr_type), None)

    def get_all(self, attr_type: int) -> list[bytes]:
        return [v for t, v in self.attributes if t == attr_type]

    def get_int(self, attr_type: int) -> int | None:
        """An integer attribute (4 octets, RFC 2865 §5); a wrong length is malformed."""
        value = self.get(attr_type)
        if value is None:
            return None
        if len(value) != 4:
            raise RadiusError(f"attribute {attr_type}: integer of {len(value)} octets")
        return int.from_bytes(value, "big")

    def vendor(self, vendor_id: int, vendor_type: int) -> list[bytes]:
        """Values of one vendor's sub-attribute, from every Vendor-Specific attribute."""
        found: list[bytes] = []
        for value in self.get_all(Attr.VENDOR_SPECIFIC):
            vid, subs = decode_vsa(value)
            if vid == vendor_id:
                found.extend(v for t, v in subs if t == vendor_type)
        return found

    def eap_message(self) -> bytes | None:
        """The EAP packet carried in one or more EAP-Message attributes, joined (RFC 3579 §3.1)."""
        parts = self.get_all(Attr.EAP_MESSAGE)
        return b"".join(parts) if parts else None


def encode_attributes(attributes: list[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for attr_type, value in attributes:
        if not 0 < attr_type < 256 or len(value) > MAX_VALUE:
            raise RadiusError(f"attribute {attr_type} of {len(value)} octets cannot be encoded")
        out += bytes((attr_type, len(value) + 2)) + value
    return bytes(out)


def decode_attributes(data: bytes) -> list[tuple[int, bytes]]:
    attributes = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 2:
            raise RadiusError("truncated attribute header")
        attr_type, length = data[pos], data[pos + 1]
        if length < 2 or pos + length > len(data):
            raise RadiusError(f"attribute {attr_type}: bad length {length}")
        attributes.append((attr_type, data[pos + 2 : pos + length]))
        pos += length
    return attributes


def encode_vsa(vendor_id: int, subs: list[tuple[int, bytes]]) -> bytes:
    """The value of a Vendor-Specific attribute with RFC 2865 §5.26's recommended sub-attributes."""
    return struct.pack("!I", vendor_id) + encode_attributes(subs)


def decode_vsa(value: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """(Vendor-Id, sub-attributes) of a Vendor-Specific value (RFC 2865 §5.26)."""
    if len(value) < 4:
        raise RadiusError("Vendor-Specific shorter than its Vendor-Id")
    return int.from_bytes(value[:4], "big"), decode_attributes(value[4:])


def split_eap(eap: bytes) -> list[tuple[int, bytes]]:
    """EAP-Message attributes carrying ``eap`` in 253-octet pieces (RFC 3579 §3.1)."""
    if not eap:
        raise RadiusError("empty EAP message")
    return [(Attr.EAP_MESSAGE, eap[i : i + MAX_VALUE]) for i in range(0, len(eap), MAX_VALUE)]


def parse(data: bytes) -> Packet:
    """Decode a packet; trailing octets past Length are padding and ignored (RFC 2865 §3)."""
    if len(data) < HEADER_LEN:
        raise RadiusError(f"packet of {len(data)} octets")
    code, identifier, length = struct.unpack_from("!BBH", data)
    if not HEADER_LEN <= length <= min(len(data), MAX_PACKET):
        raise RadiusError(f"bad length {length} for {len(data)} octets")
    return Packet(code, identifier, bytes(data[4:20]), decode_attributes(bytes(data[20:length])))


def _assemble(code: int, identifier: int, authenticator: bytes, attrs: bytes) -> bytes:
    length = HEADER_LEN + len(attrs)
    if length > MAX_PACKET:
        raise RadiusError(f"packet of {length} octets exceeds {MAX_PACKET}")
    return struct.pack("!BBH", code, identifier, length) + authenticator + attrs


_ZERO_MA = bytes((Attr.MESSAGE_AUTHENTICATOR, 18)) + bytes(16)


def _message_authenticator(secret: bytes, packet: bytes) -> bytes:
    return hmac.new(secret, packet, hashlib.md5).digest()


def build_request(
    secret: bytes, code: int, identifier: int, authenticator: bytes, attributes: list[tuple[int, bytes]]
) -> bytes:
    """An Access-Request (``authenticator`` is the random Request Authenticator) with
    Message-Authenticator first (RFC 3579 §3.2, Blast-RADIUS), or an Accounting-Request whose
    Request Authenticator is computed here (RFC 2866 §3; ``authenticator`` is ignored)."""
    attrs = encode_attributes([a for a in attributes if a[0] != Attr.MESSAGE_AUTHENTICATOR])
    if code == Code.ACCOUNTING_REQUEST:
        unsigned = _assemble(code, identifier, bytes(16), attrs)
        return _assemble(code, identifier, hashlib.md5(unsigned + secret).digest(), attrs)
    if len(authenticator) != 16:
        raise RadiusError("Request Authenticator must be 16 octets")
    unsigned = _assemble(code, identifier, authenticator, _ZERO_MA + attrs)
    mac = _message_authenticator(secret, unsigned)
    return unsigned[:HEADER_LEN + 2] + mac + unsigned[HEADER_LEN + 18 :]


def _check_message_authenticator(secret: bytes, data: bytes, authenticator: bytes, packet: Packet) -> None:
    """Recompute Message-Authenticator over ``data`` with it zeroed and ``authenticator`` in the
    header (the request's for a reply, RFC 3579 §3.2)."""
    macs = packet.get_all(Attr.MESSAGE_AUTHENTICATOR)
    if len(macs) != 1 or len(macs[0]) != 16:
        raise RadiusError("Message-Authenticator missing, repeated or of a wrong length")
    pos = HEADER_LEN
    length = int.from_bytes(data[2:4], "big")
    while data[pos] != Attr.MESSAGE_AUTHENTICATOR:
        pos += data[pos + 1]
    zeroed = data[:4] + authenticator + data[HEADER_LEN:pos] + _ZERO_MA + data[pos + 18 : length]
    if not hmac.compare_digest(_message_authenticator(secret, zeroed), macs[0]):
        raise RadiusError("Message-Authenticator does not verify")


def verify_reply(data: bytes, secret: bytes, request: bytes) -> Packet:
    """Parse a reply to ``request`` and check it is authentic, or raise :class:`RadiusError`.

    The Identifier must match, the Response Authenticator MD5(Code+ID+Length+RequestAuth+
    Attributes+Secret) must verify (RFC 2865 §3, RFC 2866 §3), and a reply to an Access-Request
    must carry a valid Message-Authenticator (Blast-RADIUS); an Accounting-Response's is checked
    when present (RFC 3579 §3.2).
    """
    packet = parse(data)
    if packet.identifier != request[1]:
        raise RadiusError("Identifier does not match the request")
    allowed = (
        {Code.ACCOUNTING_RESPONSE}
        if request[0] == Code.ACCOUNTING_REQUEST
        else {Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE}
    )
    if packet.code not in allowed:
        raise RadiusError(f"code {packet.code} does not answer code {request[0]}")
    length = int.from_bytes(data[2:4], "big")
    request_auth = request[4:20]
    expected = hashlib.md5(data[:4] + request_auth + data[HEADER_LEN:length] + secret).digest()
    if not hmac.compare_digest(expected, packet.authenticator):
        raise RadiusError("Response Authenticator does not verify")
    if packet.code != Code.ACCOUNTING_RESPONSE or packet.get(Attr.MESSAGE_AUTHENTICATOR) is not None:
        _check_message_authenticator(secret, data, request_auth, packet)
    return packet


def verify_request(data: bytes, secret: bytes) -> Packet:
    """A server's check of a request (the test stub and local tests act as server): an
    Access-Request needs a valid Message-Authenticator, an Accounting-Request a valid Request
    Authenticator."""
    packet = parse(data)
    if packet.code == Code.ACCOUNTING_REQUEST:
        length = int.from_bytes(data[2:4], "big")
        expected = hashlib.md5(data[:4] + bytes(16) + data[HEADER_LEN:length] + secret).digest()
        if not hmac.compare_digest(expected, packet.authenticator):
            raise RadiusError("Accounting Request Authenticator does not verify")
    else:
        _check_message_authenticator(secret, data, packet.authenticator, packet)
    return packet


def build_reply(secret: bytes, request: bytes, code: int, attributes: list[tuple[int, bytes]]) -> bytes:
    """A server's reply to ``request``: Message-Authenticator (first) then the Response
    Authenticator (RFC 2865 §3, RFC 3579 §3.2). Accounting-Responses carry none."""
    identifier, request_auth = request[1], request[4:20]
    attrs = encode_attributes([a for a in attributes if a[0] != Attr.MESSAGE_AUTHENTICATOR])
    if code != Code.ACCOUNTING_RESPONSE:
        unsigned = _assemble(code, identifier, request_auth, _ZERO_MA + attrs)
        attrs = unsigned[HEADER_LEN:HEADER_LEN + 2] + _message_authenticator(secret, unsigned) + attrs
    head = _assemble(code, identifier, request_auth, attrs)
    return head[:4] + hashlib.md5(head + secret).digest() + attrs


def _md5_chain(secret: bytes, first_salt: bytes, data: bytes, decrypt: bool) -> bytes:
    """The MD5 XOR chain of RFC 2865 §5.2 and RFC 2548 §2.4.2: b1 = MD5(S + salt),
    bi = MD5(S + c(i-1)), c(i) = p(i) xor b(i)."""
    out = bytearray()
    previous = first_salt
    for i in range(0, len(data), 16):
        block = data[i : i + 16]
        pad = hashlib.md5(secret + previous).digest()
        result = bytes(a ^ b for a, b in zip(block, pad, strict=True))
        out += result
        previous = block if decrypt else result
    return bytes(out)


def hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """User-Password's value: the password NUL-padded to 16n octets, XOR-chained (RFC 2865 §5.2)."""
    if not 0 < len(password) <= 128:
        raise RadiusError("User-Password must be 1..128 octets")
    padded = password + bytes(-len(password) % 16)
    return _md5_chain(secret, authenticator, padded, decrypt=False)


def unhide_password(value: bytes, secret: bytes, authenticator: bytes) -> bytes:
    if not value or len(value) % 16 or len(value) > 128:
        raise RadiusError(f"User-Password of {len(value)} octets")
    return _md5_chain(secret, authenticator, value, decrypt=True).rstrip(b"\0")


def decrypt_mppe_key(value: bytes, secret: bytes, request_authenticator: bytes) -> bytes:
    """MS-MPPE-Send/Recv-Key (RFC 2548 §2.4.2, §2.4.3): Salt (2 octets, high bit set), then the
    chain over Key-Length (1 octet) ‖ Key ‖ padding keyed by MD5(S + R + Salt)."""
    if len(value) < 18 or (len(value) - 2) % 16 or not value[0] & 0x80:
        raise RadiusError("MS-MPPE key attribute malformed")
    plain = _md5_chain(secret, request_authenticator + value[:2], value[2:], decrypt=True)
    if plain[0] > len(plain) - 1:
        raise RadiusError("MS-MPPE key length exceeds its data")
    return plain[1 : 1 + plain[0]]


def encrypt_mppe_key(key: bytes, secret: bytes, request_authenticator: bytes, salt: bytes) -> bytes:
    """The inverse of :func:`decrypt_mppe_key` (the server's side, for tests and the stub)."""
    if len(salt) != 2 or not salt[0] & 0x80 or len(key) > 239:
        raise RadiusError("MS-MPPE salt must be 2 octets with the high bit set")
    plain = bytes((len(key),)) + key
    plain += bytes(-len(plain) % 16)
    return salt + _md5_chain(secret, request_authenticator + salt, plain, decrypt=False)


def msk_from_accept(packet: Packet, secret: bytes, request_authenticator: bytes) -> bytes:
    """The EAP MSK of an Access-Accept: MS-MPPE-Recv-Key ‖ MS-MPPE-Send-Key (RFC 3748 §7.10 as
    RFC 3579 carries it; the Recv-Key is the key the NAS receives with, the peer's send key)."""
    recv = packet.vendor(MICROSOFT, MsAttr.MS_MPPE_RECV_KEY)
    send = packet.vendor(MICROSOFT, MsAttr.MS_MPPE_SEND_KEY)
    if len(recv) != 1 or len(send) != 1:
        raise RadiusError("Access-Accept without exactly one MS-MPPE-Recv-Key and Send-Key")
    return decrypt_mppe_key(recv[0], secret, request_authenticator) + decrypt_mppe_key(
        send[0], secret, request_authenticator
    )


@dataclass(frozen=True)
class AcceptInfo:
    """What the gateway applies from an Access-Accept: Framed-IP-Address (the road warrior's
    virtual IP instead of the pool's, RFC 2865 §5.8; 255.255.255.254/255 mean "the NAS chooses"
    and give None), Session-Timeout (re-authentication after that many seconds, §5.27) and every
    Class, kept to be echoed in accounting (§5.25)."""

    framed_ip: ipaddress.IPv4Address | None
    session_timeout: int | None
    classes: tuple[bytes, ...]


def accept_info(packet: Packet) -> AcceptInfo:
    value = packet.get(Attr.FRAMED_IP_ADDRESS)
    if value is not None and len(value) != 4:
        raise RadiusError(f"Framed-IP-Address of {len(value)} octets")
    framed = ipaddress.IPv4Address(value) if value is not None else None
    if framed is not None and int(framed) >= 0xFFFFFFFE:
        framed = None
    return AcceptInfo(framed, packet.get_int(Attr.SESSION_TIMEOUT), tuple(packet.get_all(Attr.CLASS)))


def integer(value: int) -> bytes:
    """An integer attribute value (4 octets, RFC 2865 §5)."""
    return struct.pack("!I", value & 0xFFFFFFFF)
