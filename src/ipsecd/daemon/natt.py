"""NAT traversal in the daemon: keepalives while behind a NAT, and IKE that arrives on the data plane's
NAT-T socket (DESIGN.md §5: a TUN worker owns UDP 4500 and hands IKE, marker-tagged, to the daemon).

* RFC 3948 §4: while a NAT is in front of us its UDP mapping must outlive idle periods, or the peer
  can no longer reach us (rekeys, DPD, its traffic): NAT-keepalives from the NAT-T port, one timer for
  all such IKE SAs.
* IKE from UDP 4500 comes up from the worker with both addresses: the sender's and ours it was sent
  to (the worker reads ``IP_PKTINFO``/``IPV6_PKTINFO``), and replies leave from that address (issue 9).
  Nothing is guessed with a route look-up, and nothing is kept per sender (issue 17, finding 4).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable

from ipsecd.dataplane.base import DataPlane, NattSocket
from ipsecd.ike.v1.sa import Ikev1Sa
from ipsecd.ike.v2.sa import IkeSa

from .host import Host

#: Seconds between NAT-keepalives while we are behind a NAT (RFC 3948 §4 suggests 20; strongSwan's default).
NATT_KEEPALIVE = 20.0


class Keepalives:
    """NAT-keepalives for the IKE SAs whose NAT-D showed a NAT in front of us."""

    def __init__(self, host: Host) -> None:
        self._s = host
        self.behind_nat: dict[IkeSa | Ikev1Sa, bool] = {}
        self.interval = NATT_KEEPALIVE

    def add(self, sa: IkeSa | Ikev1Sa) -> None:
        """The timer is armed by the first SA only: arming it again would put it off
        (``Timers.arm`` moves a pending timer to the later time), and a gateway where a NATed SA
        comes up every few seconds would never send one."""
        first = not self.behind_nat
        self.behind_nat[sa] = True
        if first:
            timers = self._s.timers
            timers.arm(("natt-keepalive",), timers.now() + self.interval, self._send)

    def remove(self, sa: IkeSa | Ikev1Sa) -> None:
        self.behind_nat.pop(sa, None)

    def _send(self, key: Hashable) -> None:
        for sa in self.behind_nat:
            local, remote = sa.addr
            self._s.transport.send_keepalive(local, remote)
        if self.behind_nat:
            timers = self._s.timers
            timers.arm(key, timers.now() + self.interval, self._send)


class DataplaneIke:
    """IKE over the data plane's NAT-T socket (its :class:`~ipsecd.dataplane.base.NattSocket`
    capability): handed to the transport; ours sent through it."""

    def __init__(self, host: Host, dataplane: DataPlane) -> None:
        self._s = host
        self._dp = dataplane

    @property
    def _natt(self) -> NattSocket | None:
        return self._dp.natt_socket

    @property
    def present(self) -> bool:
        return self._natt is not None

    def attach(self, on_ready: Callable[[], None]) -> None:
        natt = self._natt
        if natt is None:
            return
        transport = self._s.transport
        transport.natt_sender = natt.send_ike
        transport.keepalive_sender = natt.send_keepalive
        loop = asyncio.get_running_loop()
        for fd in natt.ike_fds():
            loop.add_reader(fd, on_ready)

    def detach(self) -> None:
        if self._natt is not None:
            loop = asyncio.get_running_loop()
            for fd in self._natt.ike_fds():
                loop.remove_reader(fd)

    def spi_changed(self, spi: bytes, present: bool) -> None:
        """One of our IKE SPIs came or went (the router's ``spi_listener``): the data plane's NAT-T
        socket lets IKE naming it through (issue 17)."""
        natt = self._natt
        if natt is not None:
            natt.ike_spi(spi, present)

    def drain(self) -> bool:
        """Hand the IKE messages the data plane received on UDP/4500 to the transport, each with the
        local address it arrived on; whether there were any."""
        messages = self._natt.recv_ike() if self._natt is not None else []
        transport = self._s.transport
        for message, sender, local in messages:
            transport.ike_from_dataplane(message, (local, transport.natt_port), sender)
        return bool(messages)
