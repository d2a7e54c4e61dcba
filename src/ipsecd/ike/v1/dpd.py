"""Dead peer detection for IKEv1 (RFC 3706): R-U-THERE / R-U-THERE-ACK with sequence numbers.

Both ends announce the DPD vendor ID in phase 1 (§3.3). When nothing arrived from the peer for
``dpd-interval``, we send R-U-THERE with the next sequence number (§5.5: a random start, then +1)
in an informational exchange; the ACK must echo it. Every interval without the ACK counts one
failure; after ``dpd-maximum-failures`` the peer is declared dead (the SA is closed, PeerDead).
The notification's SPI is CKY-I | CKY-R and its data the 32-bit sequence number (§5.1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Dpd:
    interval: float
    max_failures: int
    seq: int  # the last sequence number sent
    outstanding: int | None = None  # the R-U-THERE awaiting its ACK
    failures: int = 0

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        self.outstanding = self.seq
        return self.seq

    def acked(self, seq: int) -> bool:
        """An ACK arrived; True when it answers the outstanding R-U-THERE."""
        if self.outstanding is None or seq != self.outstanding:
            return False
        self.outstanding = None
        self.failures = 0
        return True

    def missed(self) -> bool:
        """An interval passed without the ACK; True when the peer is now dead."""
        if self.outstanding is not None:
            self.failures += 1
        return self.failures >= self.max_failures
