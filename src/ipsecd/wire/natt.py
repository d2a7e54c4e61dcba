"""UDP encapsulation of ESP (RFC 3948) on the NAT-T port: telling ESP, IKE and keepalives apart.

One UDP port (4500) carries three things (§2.1–§2.3)::

    ESP-in-UDP   | UDP header | SPI (non-zero) | Seq | ... ESP ...
    IKE          | UDP header | 0x00000000 (non-ESP marker) | IKE header ...
    keepalive    | UDP header | 0xFF |

:func:`classify` decides which, per datagram; with UDP GRO the kernel hands one buffer of equal
segments, and :func:`segments` splits it so every segment is classified on its own (an IKE message
inside a batch of ESP must still reach the daemon).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator

NATT_PORT = 4500
NON_ESP_MARKER = b"\x00\x00\x00\x00"
KEEPALIVE = b"\xff"


class Kind(enum.Enum):
    ESP = "esp"
    IKE = "ike"
    KEEPALIVE = "keepalive"
    INVALID = "invalid"  # too short to be ESP, or an ESP SPI in the reserved range 1–255


def classify(payload: bytes | bytearray | memoryview) -> Kind:
    """What a UDP/4500 payload is (RFC 3948 §2.2, §2.3; SPIs 1–255 are reserved, RFC 4303 §2.1)."""
    n = len(payload)
    if n == 1 and payload[0] == 0xFF:
        return Kind.KEEPALIVE
    if n >= 4 and payload[0] == 0 and payload[1] == 0 and payload[2] == 0:
        if payload[3] == 0:
            return Kind.IKE
        return Kind.INVALID
    if n >= 8:
        return Kind.ESP
    return Kind.INVALID


def strip_marker(payload: bytes) -> bytes:
    """The IKE message inside a 4500 datagram (after the non-ESP marker)."""
    return payload[4:]


def add_marker(ike_message: bytes) -> bytes:
    """A 4500 datagram carrying ``ike_message`` (the marker tells it from ESP)."""
    return NON_ESP_MARKER + ike_message


def segments(buf: bytes | memoryview, segment_size: int) -> Iterator[memoryview]:
    """Split a GRO batch (equal ``segment_size`` segments, the last possibly shorter)."""
    view = memoryview(buf)
    if segment_size <= 0:
        yield view
        return
    for off in range(0, len(view), segment_size):
        yield view[off : off + segment_size]
