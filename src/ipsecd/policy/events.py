"""SAD events (RFC 4301 §5.2, §4.4.2.1): what a data plane reports back to the daemon as plain data.

An acquire asks IKE for an SA a policy needs; soft and hard expiries drive re-keying and removal;
an endpoint change is a NAT rebinding seen on authenticated ESP-in-UDP (RFC 3948 §3.3).
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import Direction, Endpoint, Level, Selector


@dataclass(frozen=True, slots=True)
class Acquire:
    """Traffic hit an encrypt policy with no SA (level require/unique)."""

    policy_id: str
    selector: Selector  # the packet's flow
    level: Level


@dataclass(frozen=True, slots=True)
class SoftExpire:
    spi: int
    direction: Direction
    by_bytes: bool


@dataclass(frozen=True, slots=True)
class HardExpire:
    spi: int
    direction: Direction
    by_bytes: bool


@dataclass(frozen=True, slots=True)
class EndpointChanged:
    """NAT rebinding (RFC 3948 §3.3): an authenticated ESP-in-UDP packet of inbound SA ``spi`` came
    from ``new`` instead of ``old``, so the outbound SA ``out_spi`` now sends to ``new``; None when no
    outbound SA was moved (the policy has none, or the backend cannot move it: the kernel's SA id holds
    the peer's address). IKE moves its own endpoint on its next authenticated message (RFC 7296 §2.23)."""

    spi: int
    out_spi: int | None
    old: Endpoint
    new: Endpoint


SadEvent = Acquire | SoftExpire | HardExpire | EndpointChanged
