"""Anti-replay window and extended sequence numbers (RFC 4303 §3.4.3, §2.2.1, Appendix A).

The receiver keeps the highest authenticated sequence number and a bitmap of the ``size`` numbers at
and below it (a Python integer: bit *i* is ``top - i``; the RFC 6479 block idea without the blocks,
since a shift of an integer is one C call). Processing order matters (DESIGN.md §3):
:meth:`ReplayWindow.check` runs before the ICV is verified and changes nothing;
:meth:`ReplayWindow.commit` runs only after it verifies, so a forged packet can neither move the
window nor mark a number as seen.

With ESN the packet carries only the low 32 bits; :meth:`check` infers the high 32 bits from the
window as in Appendix A2.2 and returns the full 64-bit number, which the ICV then covers. With
anti-replay disabled (``size == 0``) the inference still needs a window: half the 32-bit space is
used.
"""

from __future__ import annotations

from ipsecd.dataplane.errors import ReplayError

_M32 = 0xFFFFFFFF
#: Bitmap masks by window size: one shared integer per size instead of one per SA (issue 5).
_MASKS: dict[int, int] = {}


class ReplayWindow:
    """One inbound SA's window. Memory (issue 5): four slots; the bitmap is the shared small integer
    0 until the first packet, and the mask is shared by every window of the same size."""

    __slots__ = ("_mask", "bitmap", "esn", "size", "top")

    def __init__(self, size: int, esn: bool) -> None:
        if size < 0:
            raise ValueError(f"replay window {size} is negative")
        self.size = size
        self.esn = esn
        self.top = 0
        self.bitmap = 0
        mask = _MASKS.get(size)
        if mask is None:
            mask = _MASKS[size] = (1 << size) - 1
        self._mask = mask

    def check(self, seq_low: int) -> int:
        """Full sequence number of a packet carrying ``seq_low``; :class:`ReplayError` if it is a replay,
        zero, or left of the window. Does not change the window."""
        top = self.top
        if self.esn:
            w = self.size or 1 << 31
            tl = top & _M32
            th = top >> 32
            bottom = (tl - w + 1) & _M32
            if tl >= w - 1:
                high = th if seq_low >= bottom else th + 1
            else:
                high = th - 1 if seq_low >= bottom else th
            if high < 0:
                raise ReplayError(f"sequence number {seq_low:#x} precedes the start of the SA")
            if high > _M32:
                raise ReplayError("sequence number beyond 2^64")
            seq = (high << 32) | seq_low
        else:
            seq = seq_low
        if self.size:
            if seq == 0:
                raise ReplayError("sequence number 0 is never sent")
            if seq <= top:
                diff = top - seq
                if diff >= self.size:
                    raise ReplayError(
                        f"sequence number {seq} left of the window (top {top}, size {self.size})"
                    )
                if (self.bitmap >> diff) & 1:
                    raise ReplayError(f"sequence number {seq} replayed")
        return seq

    def commit(self, seq: int) -> None:
        """Record ``seq`` as received (after its ICV verified).

        A full window (every number in it received: the steady state of in-order traffic) is the
        shared mask object itself, so the next in-order packet only moves the top — no shift of a
        ``size``-bit integer per packet."""
        top = self.top
        if seq > top:
            mask = self._mask
            if seq == top + 1 and self.bitmap is mask:
                self.top = seq
                return
            shift = seq - top
            if shift < self.size:
                bitmap = ((self.bitmap << shift) | 1) & mask
                self.bitmap = mask if bitmap == mask else bitmap
            else:
                self.bitmap = 1
            self.top = seq
        elif self.size:
            bitmap = self.bitmap | 1 << (top - seq)
            self.bitmap = self._mask if bitmap == self._mask else bitmap
