"""``TunDataPlane``: the ``tun`` backend the daemon instantiates (Linux, root).

It creates the TUN device and the policy routing (:mod:`.tun`), starts the packet workers
(:mod:`.worker`, one process each, outside asyncio) and relays the
:class:`~ipsecd.dataplane.base.DataPlane` operations to them over pipes: SAs and policies go to every
worker (each keeps the whole SPD/SAD; only an SA's owner builds its transform), queries go to the SA's
owner, statistics are the sum over workers. SPIs are reserved here, the one authority.

NAT rebinding: :meth:`TunDataPlane.poll_events` reports the SA pairs whose peer moved (``EndpointChanged``).

IKE on UDP/4500 (the workers own that socket, see :mod:`.worker`): :meth:`TunDataPlane.recv_ike`
returns the IKE messages that arrived there (marker stripped) with their sender, and
:meth:`TunDataPlane.send_ike` sends one (marker added) from the same socket, and
:meth:`TunDataPlane.send_keepalive` a NAT-keepalive. :meth:`ike_fds` are the
descriptors to watch (e.g. ``loop.add_reader``) for both events and IKE messages.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from ipsecd.dataplane.errors import ConfigError
from ipsecd.dataplane.processor import owner_of
from ipsecd.dataplane.stats import Statistics
from ipsecd.dataplane.userspace import tun
from ipsecd.dataplane.userspace.worker import WorkerConfig, worker_main
from ipsecd.policy.events import SadEvent
from ipsecd.policy.sad import Sad
from ipsecd.policy.types import Action, Direction, IpsecProto, PolicySpec, SaSpec, SaState

#: Seconds a worker gets to start (spawned interpreter, imports, sockets) or answer a request.
START_TIMEOUT = 20.0


class TunDataPlane:
    """The ``tun`` DataPlane (see the module docstring). Use as a context manager or call :meth:`close`."""

    def __init__(self, tun_name: str = "ipsecd0", *, mtu: int = 1400, addresses: list[str] | None = None,
                 workers: int = 1, natt_port: int = 4500, ike_port: int = 500, mark: int = tun.DEFAULT_MARK,
                 table: int = tun.DEFAULT_TABLE, raw: bool = True, routing: bool = True) -> None:
        self.name = tun_name
        self.nworkers = max(1, workers)
        self._sad = Sad()
        self._events: list[SadEvent] = []
        self._ike: list[tuple[bytes, tuple[str, int]]] = []
        self._procs: list[Any] = []
        self._ctrl: list[Connection] = []
        self._up: list[Connection] = []
        self._routing = tun.Routing(tun_name, table, mark, ike_port) if routing else None
        self._fd = tun.open_queue(tun_name, multi_queue=True)
        try:
            tun.detach_queue(self._fd)
            tun.configure(tun_name, mtu, addresses or [])
            if self._routing is not None:
                self._routing.setup()
            ctx = multiprocessing.get_context("spawn")
            tag = f"{tun_name}-{os.getpid()}-{id(self):x}"
            for i in range(self.nworkers):
                ctrl_here, ctrl_there = ctx.Pipe()
                up_here, up_there = ctx.Pipe(duplex=False)
                cfg = WorkerConfig(tun_name, i, self.nworkers, natt_port, mark, tag, mtu=mtu, raw=raw)
                p = ctx.Process(target=worker_main, args=(cfg, ctrl_there, up_there), daemon=True,
                                name=f"ipsecd-dp-{i}")
                p.start()
                ctrl_there.close()
                up_there.close()
                self._procs.append(p)
                self._ctrl.append(ctrl_here)
                self._up.append(up_here)
            for c in self._ctrl:
                self._reply(c)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> TunDataPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    # --- worker requests -----------------------------------------------------------------------------

    @staticmethod
    def _reply(c: Connection) -> Any:
        if not c.poll(START_TIMEOUT):
            raise ConfigError("data-plane worker did not answer")
        status, value = c.recv()
        if status != "ok":
            raise ConfigError(str(value))
        return value

    def _call(self, idx: int, *msg: object) -> Any:
        c = self._ctrl[idx]
        c.send(msg)
        return self._reply(c)

    def _all(self, *msg: object) -> list[Any]:
        for c in self._ctrl:
            c.send(msg)
        return [self._reply(c) for c in self._ctrl]

    # --- DataPlane -----------------------------------------------------------------------------------

    def get_spi(self, proto: IpsecProto) -> int:
        return self._sad.get_spi(proto, time.monotonic())

    def add_sa(self, sa: SaSpec) -> None:
        self._all("add_sa", sa)
        if sa.direction is Direction.IN:
            self._sad.release_spi(sa.spi, sa.proto)

    def update_sa(self, sa: SaSpec) -> None:
        self._all("update_sa", sa)

    def query_sa(self, spi: int, direction: Direction) -> SaState | None:
        state: SaState | None = self._call(owner_of(spi, self.nworkers), "query_sa", spi, direction)
        return state

    def del_sa(self, spi: int, direction: Direction) -> None:
        self._all("del_sa", spi, direction)

    def add_policy(self, policy: PolicySpec) -> None:
        self._all("add_policy", policy)
        if self._routing is not None and policy.action is Action.ENCRYPT and not policy.template \
                and not policy.disabled:
            sel = policy.selector
            src = tun.local_address_in(sel.src, policy.sa_src)
            self._routing.add_route(policy.policy_id, str(sel.dst), src)

    def del_policy(self, policy_id: str) -> None:
        self._all("del_policy", policy_id)
        if self._routing is not None:
            self._routing.del_route(policy_id)

    def flush(self) -> None:
        self._all("flush")

    # --- addresses (mode-config: the virtual IP the IKE responder gave us, RFC 7296 §2.19) ------------

    def add_address(self, address: str) -> None:
        """Put ``address`` (one host) on the TUN device: traffic to the tunnel is sourced from it."""
        if ":" in address:
            tun.enable_ipv6(self.name)
        tun.ip("addr", "replace", tun.host_prefix(address), "dev", self.name)

    def del_address(self, address: str) -> None:
        tun.ip("addr", "del", tun.host_prefix(address), "dev", self.name, check=False)

    def poll_events(self) -> list[SadEvent]:
        self._drain()
        out, self._events = self._events, []
        return out

    def statistics(self) -> dict[str, int]:
        total = Statistics()
        for counters in self._all("stats"):
            for name, v in counters.items():
                slot = name.replace("-", "_")
                setattr(total, slot, getattr(total, slot) + v)
        return total.as_dict()

    # --- IKE over UDP/4500 ---------------------------------------------------------------------------

    def ike_fds(self) -> list[int]:
        return [c.fileno() for c in self._up]

    def recv_ike(self) -> list[tuple[bytes, tuple[str, int]]]:
        """IKE messages (non-ESP marker removed) that arrived on UDP/4500, with their senders."""
        self._drain()
        out, self._ike = self._ike, []
        return out

    def send_ike(self, message: bytes, addr: tuple[str, int]) -> None:
        """Send an IKE message to ``addr`` from the data plane's UDP/4500 socket (marker added)."""
        self._call(0, "send_ike", message, addr)

    def send_keepalive(self, addr: tuple[str, int]) -> None:
        """Send a NAT-keepalive (RFC 3948 §2.3) to ``addr`` from the same socket."""
        self._call(0, "keepalive", addr)

    def _drain(self) -> None:
        for c in wait(self._up, 0):
            assert isinstance(c, Connection)
            while c.poll():
                try:
                    kind, *rest = c.recv()
                except EOFError:
                    break
                if kind == "event":
                    self._events.append(rest[0])
                else:
                    self._ike.append((rest[0], rest[1]))

    # --- shutdown ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the workers (killing those that do not stop), remove routes and the device."""
        for c in self._ctrl:
            try:
                c.send(("stop",))
            except OSError:
                pass
        for p in self._procs:
            p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join(2.0)
        for c in self._ctrl + self._up:
            c.close()
        self._procs, self._ctrl, self._up = [], [], []
        if self._routing is not None:
            self._routing.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
