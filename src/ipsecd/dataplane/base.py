"""The data-plane contract (DESIGN.md §3): what the daemon asks of any backend.

The IKE daemon negotiates SAs and policies (:mod:`ipsecd.policy.types`) and hands them to a backend
through the :class:`DataPlane` protocol; backends (``memory``, ``userspace`` over TUN, ``xfrm``) move
bytes and report :mod:`ipsecd.policy.events` back. Nothing here does I/O.

Optional capabilities are part of the contract, not probed (issue 9): a backend answers each
capability property with an object that provides it, or None —

- :attr:`DataPlane.natt_socket` (:class:`NattSocket`): the backend owns UDP/4500 (the TUN workers),
  so IKE on that port comes in and goes out through it (RFC 3948 §2.2), with both addresses;
- :attr:`DataPlane.virtual_addresses` (:class:`VirtualAddresses`): it can put a mode-config address
  (RFC 7296 §2.19) on its device;
- :meth:`DataPlane.prepare_ike_socket`: what it needs done to the daemon's own IKE sockets (the
  kernel backend's per-socket policy bypass); a no-op elsewhere.
"""

from __future__ import annotations

import socket
from typing import Protocol

from ipsecd.policy.events import SadEvent
from ipsecd.policy.types import Direction, IpsecProto, PolicySpec, SaSpec, SaState

Addr = tuple[str, int]
#: An IKE message from UDP/4500: (message without marker, sender, our address it was sent to — the
#: wildcard address only if the kernel did not say).
IkeMessage = tuple[bytes, Addr, str]


class NattSocket(Protocol):
    """IKE over a NAT-T socket the backend owns (see the module docstring)."""

    def ike_fds(self) -> list[int]:
        """Descriptors that become readable when IKE messages or events wait (``loop.add_reader``)."""

    def recv_ike(self) -> list[IkeMessage]: ...

    def send_ike(self, message: bytes, local: Addr, remote: Addr) -> None:
        """Send ``message`` (marker added) from ``local`` — the address the peer talks to — to ``remote``."""

    def send_keepalive(self, local: Addr, remote: Addr) -> None:
        """A NAT-keepalive (RFC 3948 §2.3) from the NAT-T socket."""

    def ike_spi(self, spi: bytes, present: bool) -> None:
        """One of the daemon's IKE SPIs came (``present``) or went: IKE on UDP/4500 naming none of
        them is dropped before it reaches the daemon, beyond a trickle (issue 17)."""


class VirtualAddresses(Protocol):
    """Addresses a mode-config initiator was given, put on the backend's device."""

    def add_address(self, address: str) -> None: ...

    def del_address(self, address: str) -> None: ...


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

    @property
    def natt_socket(self) -> NattSocket | None:
        """The backend's NAT-T socket capability, or None (the daemon binds UDP/4500 itself)."""

    @property
    def virtual_addresses(self) -> VirtualAddresses | None:
        """The backend's virtual-address capability, or None."""

    def prepare_ike_socket(self, sock: socket.socket, natt: bool) -> None:
        """Make one of the daemon's IKE sockets fit for this backend (``natt``: the NAT-T one)."""

    def close(self) -> None:
        """Stop moving packets and release everything (workers, devices, kernel state)."""
