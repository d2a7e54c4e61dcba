"""NAT traversal in the daemon: keepalives while behind a NAT, and IKE that arrives on the data plane's
NAT-T socket (DESIGN.md §5: a TUN worker owns UDP 4500 and hands IKE, marker-tagged, to the daemon).

* RFC 3948 §4: while a NAT is in front of us its UDP mapping must outlive idle periods, or the peer
  can no longer reach us (rekeys, DPD, its traffic): NAT-keepalives from the NAT-T port, one timer for
  all such IKE SAs.
* IKE from UDP 4500 comes up from the worker with the sender's address only; the local address it
  reached is the one the kernel routes toward that sender. That look-up is remembered per sender in a
  :class:`~ipsecd.util.bounded.BoundedCache` (issue 17, finding 4: one entry per spoofed 4500 sender
  kept forever grew RSS from 41 to 115 MB in 30 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any

from ipsecd.ike.v1.sa import Ikev1Sa
from ipsecd.ike.v2.sa import IkeSa
from ipsecd.util.bounded import BoundedCache

from .host import Host

#: Seconds between NAT-keepalives while we are behind a NAT (RFC 3948 §4 suggests 20; strongSwan's default).
NATT_KEEPALIVE = 20.0
LOCAL_FOR = 4096  # 4500 senders whose local address is remembered
LOCAL_FOR_TTL = 300.0  # seconds: routes change, and a spoofed sender is forgotten


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
    """IKE over the data plane's NAT-T socket: handed to the transport; ours sent through it."""

    def __init__(self, host: Host, dataplane: Any, route: Callable[[str], str]) -> None:
        self._s = host
        self._dp = dataplane
        self._route = route
        self.local_for: BoundedCache[str, str] = BoundedCache(LOCAL_FOR, LOCAL_FOR_TTL)

    @property
    def present(self) -> bool:
        return hasattr(self._dp, "recv_ike")

    def attach(self, on_ready: Callable[[], None]) -> None:
        if not self.present:
            return
        dp = self._dp
        transport = self._s.transport
        transport.natt_sender = lambda data, local, remote: dp.send_ike(data, remote)
        transport.keepalive_sender = dp.send_keepalive
        loop = asyncio.get_running_loop()
        for fd in dp.ike_fds():
            loop.add_reader(fd, on_ready)

    def detach(self) -> None:
        if hasattr(self._dp, "ike_fds"):
            loop = asyncio.get_running_loop()
            for fd in self._dp.ike_fds():
                loop.remove_reader(fd)

    def drain(self) -> bool:
        """Hand the IKE messages the data plane received on UDP/4500 to the transport; whether any."""
        recv_ike = getattr(self._dp, "recv_ike", None)
        messages = recv_ike() if recv_ike is not None else []
        transport = self._s.transport
        for message, sender in messages:
            local = self._local(sender[0])
            transport.ike_from_dataplane(message, (local, transport.natt_port), (sender[0], sender[1]))
        return bool(messages)

    def _local(self, remote: str) -> str:
        cached = self.local_for.get(remote)
        if cached is None:
            cached = self._route(remote)
            self.local_for[remote] = cached
        return cached
