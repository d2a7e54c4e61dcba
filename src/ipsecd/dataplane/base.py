"""The data-plane contract (DESIGN.md §3): what the daemon asks of any backend.

The IKE daemon negotiates SAs and policies (:mod:`ipsecd.policy.types`) and hands them to a backend
through the :class:`DataPlane` protocol; backends (``memory``, ``userspace`` over TUN, ``xfrm``) move
bytes and report :mod:`ipsecd.policy.events` back. Nothing here does I/O.
"""

from __future__ import annotations

from typing import Protocol

from ipsecd.policy.events import SadEvent
from ipsecd.policy.types import Direction, IpsecProto, PolicySpec, SaSpec, SaState


class DataPlane(Protocol):
    """What the daemon may ask of a backend (``memory``, ``tun``, ``xfrm``)."""

    def get_spi(self, proto: IpsecProto) -> int:
        """Reserve a fresh inbound SPI (never 0–255, never in use)."""

    def add_sa(self, sa: SaSpec) -> None: ...

    def update_sa(self, sa: SaSpec) -> None: ...

    def query_sa(self, spi: int, direction: Direction) -> SaState | None: ...

    def del_sa(self, spi: int, direction: Direction) -> None: ...

    def add_policy(self, policy: PolicySpec) -> None: ...

    def del_policy(self, policy_id: str) -> None: ...

    def flush(self) -> None:
        """Remove every SA (``/ip ipsec installed-sa flush``); policies stay."""

    def poll_events(self) -> list[SadEvent]:
        """Events since the last call (acquires, soft/hard expiries, NAT rebindings)."""

    def statistics(self) -> dict[str, int]:
        """``/ip ipsec statistics`` counters by their RouterOS names."""
