"""Certificate (CERT) and Certificate Request (CERTREQ) payloads (RFC 7296 §3.6, §3.7).

Certificate:
                         1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Next Payload  |C|  RESERVED   |         Payload Length        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Cert Encoding |                                               |
    +-+-+-+-+-+-+-+-+                                               |
    ~                       Certificate Data                        ~
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Certificate Request: the same shape, with "Certification Authority" as the data: for X.509
encodings the concatenated SHA-1 hashes of the trusted CAs' SubjectPublicKeyInfo (§3.7), 20 octets
each, which :meth:`CertReqPayload.authorities` splits.

Certificate Data is the DER certificate for encoding 4 (X.509 Certificate - Signature) and the DER
CRL for 7; "Hash and URL" encodings (12, 13) carry a 20-octet SHA-1 hash followed by the URL
(:func:`split_hash_and_url`). The DER itself is parsed by ``pki/``, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...enums import OpenIntEnum, PayloadType
from ...errors import MalformedMessageError
from .base import Payload, member_of, need

SHA1_SIZE = 20


class CertEncoding(OpenIntEnum):
    """IANA "IKEv2 Certificate Encodings" (RFC 7296 §3.6, RFC 7670 for raw public keys)."""

    PKCS7_WRAPPED_X509 = 1
    PGP = 2
    DNS_SIGNED_KEY = 3
    X509_CERT_SIGNATURE = 4
    KERBEROS_TOKEN = 6
    CRL = 7
    ARL = 8
    SPKI = 9
    X509_CERT_ATTRIBUTE = 10
    RAW_RSA_KEY = 11
    HASH_URL_X509_CERT = 12
    HASH_URL_X509_BUNDLE = 13
    RAW_PUBLIC_KEY = 15


_encoding = member_of(CertEncoding)
_HASHED = {
    CertEncoding.X509_CERT_SIGNATURE,
    CertEncoding.HASH_URL_X509_CERT,
    CertEncoding.HASH_URL_X509_BUNDLE,
}


@dataclass(slots=True)
class CertPayload(Payload):
    """One certificate, CRL or other credential, as the encoding says."""

    payload_type: ClassVar[PayloadType] = PayloadType.CERT
    encoding: CertEncoding
    data: bytes

    def encode_body(self) -> bytes:
        return bytes((int(self.encoding),)) + self.data

    @classmethod
    def decode_body(cls, body: bytes) -> CertPayload:
        need(body, 1, "CERT")
        if len(body) == 1:
            raise MalformedMessageError("CERT payload without certificate data")
        return cls(_encoding(body[0]), body[1:])


@dataclass(slots=True)
class CertReqPayload(Payload):
    """A request for certificates of one encoding, naming the CAs the sender trusts."""

    payload_type: ClassVar[PayloadType] = PayloadType.CERTREQ
    encoding: CertEncoding
    data: bytes

    @classmethod
    def for_authorities(
        cls, key_ids: list[bytes], encoding: CertEncoding = CertEncoding.X509_CERT_SIGNATURE
    ) -> CertReqPayload:
        """A CERTREQ naming these CAs by the SHA-1 of their SubjectPublicKeyInfo."""
        for key_id in key_ids:
            if len(key_id) != SHA1_SIZE:
                raise MalformedMessageError(f"CERTREQ authority of {len(key_id)} bytes (SHA-1 is 20)")
        return cls(encoding, b"".join(key_ids))

    def authorities(self) -> list[bytes]:
        """The 20-octet CA key hashes (X.509 encodings); an empty list asks for any certificate."""
        if self.encoding not in _HASHED:
            return []
        return [self.data[i : i + SHA1_SIZE] for i in range(0, len(self.data), SHA1_SIZE)]

    def encode_body(self) -> bytes:
        return bytes((int(self.encoding),)) + self.data

    @classmethod
    def decode_body(cls, body: bytes) -> CertReqPayload:
        need(body, 1, "CERTREQ")
        encoding = _encoding(body[0])
        if encoding in _HASHED and (len(body) - 1) % SHA1_SIZE:
            raise MalformedMessageError(
                f"CERTREQ authority list of {len(body) - 1} bytes is not a list of 20-byte SHA-1 hashes"
            )
        return cls(encoding, body[1:])


def split_hash_and_url(data: bytes) -> tuple[bytes, str]:
    """Hash and URL certificate data (RFC 7296 §3.6): the SHA-1 of the DER and where to fetch it."""
    if len(data) <= SHA1_SIZE:
        raise MalformedMessageError("Hash and URL data without a URL")
    try:
        url = data[SHA1_SIZE:].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedMessageError("Hash and URL data: URL is not ASCII") from None
    return data[:SHA1_SIZE], url
