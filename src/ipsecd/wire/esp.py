"""ESP packet layout (RFC 4303 §2): header, padding and trailer; stateless, no cryptography.

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ----
    |               Security Parameters Index (SPI)                 | ^Int.
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Cov-
    |                      Sequence Number                          | |ered
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ | ----
    |                    Payload Data* (variable)                   | |   ^
    ~                                                               ~ |   |
    +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Conf.
    |               |     Padding (0-255 bytes)                     | |Cov-
    +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |ered*
    |                               |  Pad Length   | Next Header   | v   v
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ------
    |         Integrity Check Value-ICV   (variable)                |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Padding (§2.4) brings plaintext + Pad Length + Next Header to a multiple of the cipher's block size
and at least of 4 bytes; its default content is the monotonic series 1, 2, 3 … which the receiver
checks. Next Header 59 ("no next header") marks a dummy packet (§2.6).
"""

from __future__ import annotations

import struct

HEADER = struct.Struct("!II")
HEADER_LEN = 8
SPI_SEQ = HEADER  # the AAD/ICV-covered prefix: SPI, low 32 bits of the sequence number
ESN_AAD = struct.Struct("!III")  # SPI, seq high, seq low (RFC 4106 §5, RFC 7634 §2.3)
SEQ_HIGH = struct.Struct("!I")
#: Header followed by an 8-byte IV that is the 64-bit sequence number (counter modes: RFC 4106 §3.1,
#: RFC 3686 §3, RFC 7634 §2): SPI, seq low, IV — the first 16 bytes of such a packet in one pack.
HEADER_IV = struct.Struct("!IIQ")
#: The 12-byte nonce of GCM and ChaCha20-Poly1305: 4-byte salt ‖ 8-byte IV (RFC 4106 §4, RFC 7634 §2).
AEAD_NONCE = struct.Struct("!4sQ")
#: An IPv4 header without options (as :data:`ipsecd.wire.ip.IPV4`) directly followed by
#: :data:`HEADER_IV`: the first 36 bytes of a raw-ESP tunnel packet in one pack.
IPV4_HEADER_IV = struct.Struct("!BBHHHBBH4s4sIIQ")
NEXT_HEADER_NONE = 59
#: Default padding content (§2.4): 1, 2, 3, …, 255.
PAD = bytes(range(1, 256))
#: ``PAD_TAILS[n]`` is what the last ``n + 1`` bytes before Next Header must be when Pad Length is
#: ``n``: padding 1 … n then n itself, so one ``endswith`` checks the whole trailer.
PAD_TAILS = tuple(PAD[:n] + bytes((n,)) for n in range(256))


class EspFormatError(ValueError):
    """ESP trailer malformed: pad length beyond the payload or padding not 1, 2, 3 …"""


def pad_length(payload_len: int, align: int) -> int:
    """Padding so that ``payload_len`` + 2 trailer bytes is a multiple of ``align`` (a power of two ≥ 4)."""
    return -(payload_len + 2) & (align - 1)


def trailer(payload_len: int, next_header: int, align: int) -> bytes:
    """Padding + Pad Length + Next Header for a payload of ``payload_len`` bytes."""
    n = -(payload_len + 2) & (align - 1)
    return PAD[:n] + bytes((n, next_header))


def strip_trailer(plaintext: bytes) -> tuple[int, int]:
    """Check the trailer of a decrypted payload; return (payload length, next header).

    Raises :class:`EspFormatError` when the pad length overruns or the padding is not 1, 2, 3 …
    """
    n = len(plaintext)
    if n < 2:
        raise EspFormatError(f"ESP plaintext of {n} bytes has no trailer")
    padlen = plaintext[-2]
    # one comparison (a pad length beyond the plaintext makes the slice too short to match); ESP's
    # per-packet fast path inlines this line and calls trailer_error when it fails
    if plaintext[-2 - padlen : -1] != PAD_TAILS[padlen]:
        raise trailer_error(plaintext)
    return n - 2 - padlen, plaintext[-1]


def trailer_error(plaintext: bytes) -> EspFormatError:
    """Why the trailer of ``plaintext`` (at least 2 bytes) is invalid, for a packet already refused."""
    padlen = plaintext[-2]
    if padlen > len(plaintext) - 2:
        return EspFormatError(f"pad length {padlen} exceeds the {len(plaintext) - 2} payload bytes")
    return EspFormatError("ESP padding is not the monotonic series 1, 2, 3 …")
