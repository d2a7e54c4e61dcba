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
NEXT_HEADER_NONE = 59
#: Default padding content (§2.4): 1, 2, 3, …, 255.
PAD = bytes(range(1, 256))


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
    end = n - 2 - padlen
    if end < 0:
        raise EspFormatError(f"pad length {padlen} exceeds the {n - 2} payload bytes")
    if padlen and plaintext[end : n - 2] != PAD[:padlen]:
        raise EspFormatError("ESP padding is not the monotonic series 1, 2, 3 …")
    return end, plaintext[-1]
