"""``/ip ipsec statistics``: the manual's counters (Linux's XFRM MIB under RouterOS names).

:class:`Statistics` is a ``__slots__`` object with one integer per counter; slots use ``_`` where the
RouterOS name has ``-``. The packet loop increments them through :meth:`Statistics.count` with the
:class:`~ipsecd.dataplane.errors.DataplaneError` it caught, so a counter moves exactly for its cause.

Counters that stay zero in ipsecd, and why (the manual lists them because Linux's MIB has them):

======================== ======================================================================
counter                  why it never moves here
======================== ======================================================================
in-buffer-errors         Linux counts skb allocation failures; Python allocates per packet or
                         raises ``MemoryError`` for the whole process — there is no per-packet
                         "no free buffer" outcome to count.
in-policy-errors         Linux counts policy-lookup failures (``-ENOMEM``, bad security context);
                         the SPD lookup here is a pure function that cannot fail.
out-bundle-errors        Linux builds an xfrm "bundle" (dst chain) per route; ipsecd applies one
                         SA per policy directly and never builds bundles.
out-bundle-check-errors  Checks of those cached bundles; no bundles, nothing to check.
out-policy-dead          A policy deleted while a packet still held it; SPD updates here are
                         applied between packets by the one worker that owns the SPD copy.
out-policy-errors        Like in-policy-errors: a lookup that cannot fail.
======================== ======================================================================
"""

from __future__ import annotations

from ipsecd.dataplane.errors import DataplaneError

#: RouterOS names in the manual's order.
COUNTER_NAMES: tuple[str, ...] = (
    "in-errors",
    "in-buffer-errors",
    "in-header-errors",
    "in-no-states",
    "in-state-protocol-errors",
    "in-state-mode-errors",
    "in-state-sequence-errors",
    "in-state-expired",
    "in-state-mismatches",
    "in-state-invalid",
    "in-template-mismatches",
    "in-no-policies",
    "in-policy-blocked",
    "in-policy-errors",
    "out-errors",
    "out-bundle-errors",
    "out-bundle-check-errors",
    "out-no-states",
    "out-state-protocol-errors",
    "out-state-mode-errors",
    "out-state-sequence-errors",
    "out-state-expired",
    "out-policy-blocked",
    "out-policy-dead",
    "out-policy-errors",
)

#: Counters with no possible cause in ipsecd (see the module docstring for the reasons).
ALWAYS_ZERO: frozenset[str] = frozenset(
    {
        "in-buffer-errors",
        "in-policy-errors",
        "out-bundle-errors",
        "out-bundle-check-errors",
        "out-policy-dead",
        "out-policy-errors",
    }
)


class Statistics:
    """One integer per counter; cheap to increment from the packet loop."""

    __slots__ = tuple(n.replace("-", "_") for n in COUNTER_NAMES)

    in_errors: int
    in_buffer_errors: int
    in_header_errors: int
    in_no_states: int
    in_state_protocol_errors: int
    in_state_mode_errors: int
    in_state_sequence_errors: int
    in_state_expired: int
    in_state_mismatches: int
    in_state_invalid: int
    in_template_mismatches: int
    in_no_policies: int
    in_policy_blocked: int
    in_policy_errors: int
    out_errors: int
    out_bundle_errors: int
    out_bundle_check_errors: int
    out_no_states: int
    out_state_protocol_errors: int
    out_state_mode_errors: int
    out_state_sequence_errors: int
    out_state_expired: int
    out_policy_blocked: int
    out_policy_dead: int
    out_policy_errors: int

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        for slot in self.__slots__:
            setattr(self, slot, 0)

    def count(self, err: DataplaneError) -> None:
        """Increment the one counter ``err`` maps to."""
        slot = err.counter
        setattr(self, slot, getattr(self, slot) + 1)

    def add(self, other: Statistics) -> None:
        """Fold another worker's counters into these (several workers, one ``print``)."""
        for slot in self.__slots__:
            setattr(self, slot, getattr(self, slot) + getattr(other, slot))

    def as_dict(self) -> dict[str, int]:
        """Counters by RouterOS name, in the manual's order (what ``DataPlane.statistics`` returns)."""
        return {name: getattr(self, slot) for name, slot in zip(COUNTER_NAMES, self.__slots__, strict=True)}
