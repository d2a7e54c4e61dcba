"""Reassembly of IKE fragments (RFC 7383 §2.6), with bounds a hostile peer cannot stretch.

A peer that negotiated IKEV2_FRAGMENTATION_SUPPORTED may send any encrypted message as SKF
fragments. Each fragment is verified (integrity, decryption) before it is kept, so only the peer
holding the SA's keys can make us store anything. Per IKE SA and direction (the peer's requests, the
peer's responses) one message is reassembled at a time; its size is bounded by :data:`MAX_FRAGMENTS`
fragments and :data:`MAX_REASSEMBLY` bytes of plaintext, and it is given up after
:data:`REASSEMBLY_TIMEOUT` seconds without completing. The rules for a fragment of the message being
reassembled (§2.6): a duplicate is ignored; a larger Total Fragments means the sender cut the message
again into smaller pieces (§2.5.2), so what was kept is dropped and reassembly starts over; a smaller
one belongs to an older attempt and is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ipsecd.wire.ikev2.header import MAX_MESSAGE

MAX_FRAGMENTS = 64  # fragments in one message: 64 × 1280 bytes is beyond any IKE message we expect
MAX_REASSEMBLY = MAX_MESSAGE  # plaintext bytes of one reassembled message (an IKE message's limit)
REASSEMBLY_TIMEOUT = 30.0  # a message whose fragments do not all arrive in this time is given up
IPV4_OVERHEAD = 20 + 8  # IPv4 and UDP headers
IPV6_OVERHEAD = 40 + 8
NON_ESP_MARKER = 4  # the four zero bytes ahead of IKE on the NAT-T port (RFC 3948 §2.2)


def fragment_limit(datagram: int, remote_host: str, natt: bool) -> int:
    """Bytes of IKE message that fit a ``datagram`` of that many bytes (strongSwan's fragment_size
    counts the whole IP datagram): less the IP and UDP headers and, on the NAT-T port, the marker."""
    overhead = IPV6_OVERHEAD if ":" in remote_host else IPV4_OVERHEAD
    return datagram - overhead - (NON_ESP_MARKER if natt else 0)


@dataclass(slots=True)
class Reassembly:
    """The fragments of one message (``mid``) received so far, in plaintext."""

    mid: int
    total: int
    started: float
    first_inner: int = 0
    size: int = 0
    parts: dict[int, bytes] = field(default_factory=dict)

    def add(self, number: int, first_inner: int, plain: bytes) -> bool:
        """Keep fragment ``number`` (verified); False when it would exceed :data:`MAX_REASSEMBLY`."""
        if number in self.parts:
            return True
        if self.size + len(plain) > MAX_REASSEMBLY:
            return False
        self.parts[number] = plain
        self.size += len(plain)
        if number == 1:
            self.first_inner = first_inner
        return True

    @property
    def complete(self) -> bool:
        return len(self.parts) == self.total

    def assemble(self) -> bytes:
        """The whole plaintext payload chain, fragments in order."""
        return b"".join(self.parts[n] for n in range(1, self.total + 1))


def accepts(current: Reassembly | None, mid: int, total: int, now: float) -> Reassembly | None:
    """The reassembly a verified fragment of message ``mid`` (of ``total``) goes into: the current
    one, or a new one when there is none, it is for another message, it timed out, or the sender
    re-fragmented into more pieces. None: the fragment is to be ignored (an older, coarser attempt)."""
    if total > MAX_FRAGMENTS:
        return None
    if (
        current is None
        or current.mid != mid
        or now - current.started > REASSEMBLY_TIMEOUT
        or total > current.total
    ):
        return Reassembly(mid, total, now)
    if total < current.total:
        return None
    return current
