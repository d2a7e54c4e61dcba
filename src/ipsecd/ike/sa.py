"""The version-neutral IKE SA protocol: what the router and the daemon call, and what they receive.

DESIGN.md §3 (after aioquic's ``QuicConnection`` and h11): an IKE SA of either version is a sans-I/O
object. Inputs are ``receive_datagram(data, addr, now)``, ``handle_timer(now)``, operator requests
(``delete``) and outside verdicts (``provide_verdict(token, result)``: a RADIUS server's or an EAP
backend's answer to a question a task asked with ``NEED_MORE``). Outputs are drained:
``datagrams_to_send(now)``, ``next_event()`` and ``get_timer()``.

What the protocol deliberately leaves to each version:

* Message IDs. IKEv2 (RFC 7296 §2.3) numbers requests and keeps a window (``SET_WINDOW_SIZE``);
  IKEv1 (RFC 2409 §5.5) draws a random Message ID per exchange and has no window. The router never
  reads the Message ID: it demultiplexes by SPI (IKEv1 cookies sit at the same offsets) only.
* Children's lives. An IKEv2 CHILD_SA dies with its IKE SA (§1.4.1), so the IKEv2 SA emits a
  ``ChildSaDeleted`` for each one when it closes; an IKEv1 IPsec SA outlives the ISAKMP SA that
  negotiated it, and its SA simply emits none. The daemon removes exactly what the events name, so
  both fit.
* SPIs. An IKE SA answers on more than one SPI over its life (an IKE SA rekey, §2.18; the leftover SA
  of a rekey collision, §2.8.2). It tells its owner through ``on_spi(sa, spi, present)`` as they come
  and go; the owner (the router) routes by them. ``on_output(sa)`` says that datagrams or events were
  queued, so an owner of thousands of SAs visits only those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .events import Event

Endpoint = tuple[str, int]
Addr = tuple[Endpoint, Endpoint]  # (local, remote) as the daemon's sockets see them
Rng = Callable[[int], bytes]


@runtime_checkable
class IkeSaProtocol(Protocol):
    """One IKE SA of any version (see the module docstring)."""

    version: int  # the ISAKMP major version: 1 or 2
    on_output: Callable[[Any], None] | None  # called with the SA itself
    on_spi: Callable[[Any, bytes, bool], None] | None  # (the SA, an SPI, present)

    def __hash__(self) -> int:
        """SAs are hashed by identity: the router and the daemon key tables by them."""

    @property
    def local_spi(self) -> bytes:
        """Our SPI (IKEv1: our cookie) of the current generation."""

    @property
    def closed(self) -> bool:
        """The SA is gone; it takes no input and has no timer any more."""

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None: ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]: ...

    def next_event(self) -> Event | None: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def provide_verdict(self, token: object, result: object) -> None:
        """The answer to an outside question a task is waiting for; unknown tokens are ignored."""

    def delete(self) -> None:
        """Close the SA with the version's DELETE (shutdown, kill-connections)."""

    def idle(self) -> bool:
        """Nothing queued: no datagram to send, no event to read."""


class ResponderFactory(Protocol):
    """Makes the responder SA for a first message the router admitted, or refuses (None): no peer
    matches ``addr``. The router hands the SA that very message next."""

    def __call__(self, data: bytes, addr: Addr, now: float) -> IkeSaProtocol | None: ...
