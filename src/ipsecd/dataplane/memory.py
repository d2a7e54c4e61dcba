"""The ``memory`` data plane: :class:`~ipsecd.dataplane.base.DataPlane` in-process, for tests and the demo.

No device, no socket: the caller injects packets and collects what comes out —

- :meth:`MemoryDataPlane.send` — a packet the local stack originates (what a TUN read would give):
  protected packets and clear ones go to :attr:`wire`;
- :meth:`MemoryDataPlane.receive` — a packet from the network: decapsulated (or allowed plain)
  packets go to :attr:`delivered`, IKE messages that arrived on UDP/4500 to :attr:`ike`.

:func:`connect` runs two of them back to back (gateway A's wire is B's input), which is how the tests
and the demo move traffic. ``workers`` > 1 models the TUN backend's several packet workers: each
packet lands on a worker chosen by ``steer`` (as a multi-queue TUN or SO_REUSEPORT would spread
flows) and is handed to the worker owning its SA (:func:`~ipsecd.dataplane.processor.owner_of`),
exactly like the real backend, so the ownership rule is testable without root.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from ipsecd.dataplane.processor import DROP, HANDOFF, IKE, Processor, owner_of
from ipsecd.dataplane.stats import Statistics
from ipsecd.policy.events import Acquire, EndpointChanged, SadEvent
from ipsecd.policy.sad import Sad
from ipsecd.policy.types import Direction, IpsecProto, PolicySpec, SaSpec, SaState


class MemoryDataPlane:
    """A DataPlane whose packets are Python lists (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, workers: int = 1,
                 steer: Callable[[bytes], int] | None = None) -> None:
        self.clock = clock
        self.workers = [Processor(full_packets=True, index=i, workers=workers) for i in range(workers)]
        self._spis = Sad()  # SPI reservations only: one authority for every worker
        self._steer = steer or (lambda pkt: hash(pkt[12:20]) % workers)
        self.wire: list[bytes] = []
        self.delivered: list[bytes] = []
        self.ike: list[bytes] = []
        self._moves: list[EndpointChanged] = []

    # --- DataPlane -----------------------------------------------------------------------------------

    def get_spi(self, proto: IpsecProto) -> int:
        now = self.clock()
        while True:
            spi = self._spis.get_spi(proto, now)
            if all(p.sad.inbound(spi, proto.value) is None for p in self.workers):
                return spi

    def add_sa(self, sa: SaSpec) -> None:
        now = self.clock()
        for p in self.workers:
            p.add_sa(sa, now, time.time())
        if sa.direction is Direction.IN:
            self._spis.release_spi(sa.spi, sa.proto)

    def update_sa(self, sa: SaSpec) -> None:
        for p in self.workers:
            p.update_sa(sa)

    def query_sa(self, spi: int, direction: Direction) -> SaState | None:
        return self.workers[owner_of(spi, len(self.workers))].query_sa(spi, direction)

    def del_sa(self, spi: int, direction: Direction) -> None:
        for p in self.workers:
            p.del_sa(spi, direction)

    def add_policy(self, policy: PolicySpec) -> None:
        for p in self.workers:
            p.add_policy(policy)

    def del_policy(self, policy_id: str) -> None:
        for p in self.workers:
            p.del_policy(policy_id)

    def flush(self) -> None:
        for p in self.workers:
            p.flush()

    def poll_events(self) -> list[SadEvent]:
        """Acquires once per policy; expiries from the SA's owning worker only (every worker applies
        time lifetimes to its SAD copy, only the owner's report counts); NAT rebindings."""
        now = self.clock()
        n = len(self.workers)
        out: list[SadEvent] = []
        seen: set[str] = set()
        for p in self.workers:
            p.expire(now)
            for ev in p.poll_events():
                if isinstance(ev, Acquire):
                    if ev.policy_id not in seen:
                        seen.add(ev.policy_id)
                        out.append(ev)
                elif owner_of(ev.spi, n) == p.index:
                    out.append(ev)
        out.extend(self._moves)
        self._moves = []
        return out

    # --- capabilities (base.py): none; the daemon binds UDP/4500 and carries ESP-in-UDP here ----------

    natt_socket: None = None
    virtual_addresses: None = None

    def prepare_ike_socket(self, sock: socket.socket, natt: bool) -> None:
        """Nothing to do: the daemon's sockets need no bypass of an in-process SPD."""

    def close(self) -> None:
        """Nothing to release: everything lives in this object."""

    def statistics(self) -> dict[str, int]:
        total = Statistics()
        for p in self.workers:
            total.add(p.stats)
        return total.as_dict()

    # --- packets -------------------------------------------------------------------------------------

    def send(self, inner: bytes) -> None:
        """A packet from the local stack: protected or clear, it goes to :attr:`wire` (or is dropped)."""
        p = self.workers[self._steer(inner) % len(self.workers)]
        verdict, idx, data = p.outbound(inner, self.clock())
        if verdict == HANDOFF:
            verdict, idx, data = self.workers[idx].outbound(inner, self.clock())
        if verdict != DROP:
            self.wire.append(data)

    def receive(self, outer: bytes) -> None:
        """A packet from the network: its inner packet to :attr:`delivered`, or IKE to :attr:`ike`."""
        p = self.workers[self._steer(outer) % len(self.workers)]
        verdict, idx, data = p.inbound(outer, self.clock())
        if verdict == HANDOFF:
            p = self.workers[idx]
            verdict, idx, data = p.inbound(outer, self.clock())
        for move in p.poll_endpoint_changes():  # NAT rebinding: every worker sends the pair there
            self._moves.append(move)
            if move.out_spi is not None:
                for other in self.workers:
                    if other is not p:
                        other.set_endpoint(move.out_spi, move.new)
        if verdict == IKE:
            self.ike.append(data)
        elif verdict != DROP:
            self.delivered.append(data)

    def take_wire(self) -> list[bytes]:
        out, self.wire = self.wire, []
        return out

    def take_delivered(self) -> list[bytes]:
        out, self.delivered = self.delivered, []
        return out


def connect(a: MemoryDataPlane, b: MemoryDataPlane) -> int:
    """Move everything on either wire to the other side until both are quiet; returns packets moved."""
    moved = 0
    while a.wire or b.wire:
        for src, dst in ((a, b), (b, a)):
            for pkt in src.take_wire():
                dst.receive(pkt)
                moved += 1
    return moved
