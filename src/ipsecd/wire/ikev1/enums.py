"""IANA ISAKMP / IPsec DOI registries as open IntEnums (unknown values become ``UNKNOWN_<n>``).

Sources: RFC 2408 §3.1 (payload types), §3.14.1 (notify messages), Appendix A (exchange types);
RFC 2407 §4.4 (protocol and transform ids), §4.5 (SA attributes), §4.6.2.1 (ID types), §4.6.3
(IPsec DOI notify status); RFC 2409 Appendix A (Oakley attributes); RFC 3947 (NAT-D 20, NAT-OA 21,
UDP-encapsulated modes 3/4) and draft-ietf-ipsec-nat-t-ike-02/03 (NAT-D 130, NAT-OA 131, modes
61443/61444); RFC 3706 (R-U-THERE 36136, R-U-THERE-ACK 36137); draft-dukes-ike-mode-cfg and
draft-beaulieu-ike-xauth (transaction exchange 6, attribute payload 14, XAuth methods 65001…).
"""

from __future__ import annotations

from ..enums import OpenIntEnum


class PayloadType(OpenIntEnum):
    NONE = 0
    SA = 1
    PROPOSAL = 2
    TRANSFORM = 3
    KE = 4
    ID = 5
    CERT = 6
    CERTREQ = 7
    HASH = 8
    SIG = 9
    NONCE = 10
    NOTIFY = 11
    DELETE = 12
    VENDOR = 13
    ATTRIBUTE = 14  # mode-config / XAuth (draft-dukes-ike-mode-cfg §3.2)
    NAT_D = 20  # RFC 3947 §3.2
    NAT_OA = 21  # RFC 3947 §5.2
    NAT_D_DRAFT = 130  # draft-ietf-ipsec-nat-t-ike-02/03
    NAT_OA_DRAFT = 131
    FRAGMENT = 132  # Cisco/strongSwan IKEv1 fragmentation


class ExchangeType(OpenIntEnum):
    NONE = 0
    BASE = 1
    MAIN = 2  # Identity Protection
    AUTH_ONLY = 3
    AGGRESSIVE = 4
    INFORMATIONAL = 5
    TRANSACTION = 6  # mode-config
    QUICK = 32
    NEW_GROUP = 33


class Doi(OpenIntEnum):
    ISAKMP = 0
    IPSEC = 1


SIT_IDENTITY_ONLY = 1  # RFC 2407 §4.2


class ProtocolId(OpenIntEnum):
    """RFC 2407 §4.4.1."""

    ISAKMP = 1
    AH = 2
    ESP = 3
    IPCOMP = 4


KEY_IKE = 1  # the only ISAKMP transform id (RFC 2407 §4.4.2)


class AhTransform(OpenIntEnum):
    """RFC 2407 §4.4.3 and the IANA registry."""

    MD5 = 2
    SHA = 3
    DES = 4
    SHA2_256 = 5
    SHA2_384 = 6
    SHA2_512 = 7


class EspTransform(OpenIntEnum):
    """RFC 2407 §4.4.4 and the IANA registry."""

    DES = 2
    TRIPLE_DES = 3
    BLOWFISH = 7
    NULL = 11
    AES_CBC = 12
    AES_CTR = 13
    AES_GCM_8 = 18
    AES_GCM_12 = 19
    AES_GCM_16 = 20
    CAMELLIA = 22


class OakleyAttr(OpenIntEnum):
    """Phase-1 SA attributes (RFC 2409 Appendix A); B = basic (TV), V = variable (TLV)."""

    ENCRYPTION_ALGORITHM = 1
    HASH_ALGORITHM = 2
    AUTHENTICATION_METHOD = 3
    GROUP_DESCRIPTION = 4
    GROUP_TYPE = 5
    GROUP_PRIME = 6
    GROUP_GENERATOR_ONE = 7
    GROUP_GENERATOR_TWO = 8
    GROUP_CURVE_A = 9
    GROUP_CURVE_B = 10
    LIFE_TYPE = 11
    LIFE_DURATION = 12
    PRF = 13
    KEY_LENGTH = 14
    FIELD_SIZE = 15
    GROUP_ORDER = 16


class AuthMethod(OpenIntEnum):
    """Oakley authentication method (RFC 2409 App. A; XAuth and hybrid drafts)."""

    PRE_SHARED_KEY = 1
    DSS_SIG = 2
    RSA_SIG = 3
    RSA_ENC = 4
    RSA_ENC_REVISED = 5
    ECDSA_256 = 9  # RFC 4754
    ECDSA_384 = 10
    ECDSA_521 = 11
    HYBRID_INIT_RSA = 64221
    HYBRID_RESP_RSA = 64222
    XAUTH_INIT_PSK = 65001
    XAUTH_RESP_PSK = 65002
    XAUTH_INIT_RSA = 65005
    XAUTH_RESP_RSA = 65006


class LifeType(OpenIntEnum):
    SECONDS = 1
    KILOBYTES = 2


class IpsecAttr(OpenIntEnum):
    """Phase-2 SA attributes (RFC 2407 §4.5)."""

    SA_LIFE_TYPE = 1
    SA_LIFE_DURATION = 2
    GROUP_DESCRIPTION = 3
    ENCAPSULATION_MODE = 4
    AUTHENTICATION_ALGORITHM = 5
    KEY_LENGTH = 6
    KEY_ROUNDS = 7
    COMPRESS_DICTIONARY_SIZE = 8
    COMPRESS_PRIVATE_ALGORITHM = 9
    ECN_TUNNEL = 10  # RFC 3168 §9.2


class EncapMode(OpenIntEnum):
    TUNNEL = 1
    TRANSPORT = 2
    UDP_TUNNEL = 3  # RFC 3947 §5.1
    UDP_TRANSPORT = 4
    UDP_TUNNEL_DRAFT = 61443  # draft-ietf-ipsec-nat-t-ike-00..03
    UDP_TRANSPORT_DRAFT = 61444


class IdType(OpenIntEnum):
    """IPsec DOI identification types (RFC 2407 §4.6.2.1)."""

    IPV4_ADDR = 1
    FQDN = 2
    USER_FQDN = 3
    IPV4_ADDR_SUBNET = 4
    IPV6_ADDR = 5
    IPV6_ADDR_SUBNET = 6
    IPV4_ADDR_RANGE = 7
    IPV6_ADDR_RANGE = 8
    DER_ASN1_DN = 9
    DER_ASN1_GN = 10
    KEY_ID = 11


class CertEncoding(OpenIntEnum):
    """RFC 2408 §3.9."""

    PKCS7 = 1
    PGP = 2
    DNS_SIGNED_KEY = 3
    X509_SIG = 4
    X509_KE = 5
    KERBEROS = 6
    CRL = 7
    ARL = 8
    SPKI = 9
    X509_ATTR = 10
    RAW_RSA = 11  # RFC 4945 ("Raw RSA Key")


class NotifyType(OpenIntEnum):
    """RFC 2408 §3.14.1 errors (1–16383), status (16384+), IPsec DOI (RFC 2407 §4.6.3), DPD."""

    INVALID_PAYLOAD_TYPE = 1
    DOI_NOT_SUPPORTED = 2
    SITUATION_NOT_SUPPORTED = 3
    INVALID_COOKIE = 4
    INVALID_MAJOR_VERSION = 5
    INVALID_MINOR_VERSION = 6
    INVALID_EXCHANGE_TYPE = 7
    INVALID_FLAGS = 8
    INVALID_MESSAGE_ID = 9
    INVALID_PROTOCOL_ID = 10
    INVALID_SPI = 11
    INVALID_TRANSFORM_ID = 12
    ATTRIBUTES_NOT_SUPPORTED = 13
    NO_PROPOSAL_CHOSEN = 14
    BAD_PROPOSAL_SYNTAX = 15
    PAYLOAD_MALFORMED = 16
    INVALID_KEY_INFORMATION = 17
    INVALID_ID_INFORMATION = 18
    INVALID_CERT_ENCODING = 19
    INVALID_CERTIFICATE = 20
    CERT_TYPE_UNSUPPORTED = 21
    INVALID_CERT_AUTHORITY = 22
    INVALID_HASH_INFORMATION = 23
    AUTHENTICATION_FAILED = 24
    INVALID_SIGNATURE = 25
    ADDRESS_NOTIFICATION = 26
    NOTIFY_SA_LIFETIME = 27
    CERTIFICATE_UNAVAILABLE = 28
    UNSUPPORTED_EXCHANGE_TYPE = 29
    UNEQUAL_PAYLOAD_LENGTHS = 30
    CONNECTED = 16384
    RESPONDER_LIFETIME = 24576
    REPLAY_STATUS = 24577
    INITIAL_CONTACT = 24578
    R_U_THERE = 36136
    R_U_THERE_ACK = 36137
    UNITY_LOAD_BALANCE = 40501
    UNITY_HEARTBEAT = 40503

    @property
    def is_error(self) -> bool:
        return 0 < int(self) < 16384


class CfgType(OpenIntEnum):
    """Attribute payload types (draft-dukes-ike-mode-cfg §3.2)."""

    REQUEST = 1
    REPLY = 2
    SET = 3
    ACK = 4
