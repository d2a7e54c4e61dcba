"""V1Pair: two IKEv1 SAs in one process, a fake network, an injected clock and RNG, no sockets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from ipaddress import ip_network
from typing import Any

from ipsecd.ike.auth import StaticCredentials
from ipsecd.ike.events import Event
from ipsecd.ike.v1.config import Ikev1Options
from ipsecd.ike.v1.sa import Ikev1Sa
from ipsecd.ike.v2.config import ChildConfig, ChildProposal, IkeConfig, IkeProposal
from ipsecd.policy.types import Selector
from tests.ike.conftest import det_rng, spi_allocator

I_ADDR = ("192.0.2.1", 500)
R_ADDR = ("198.51.100.2", 500)
NAT_ADDR = "203.0.113.9"
PSK = b"correct horse battery staple"
PROP = (IkeProposal(("aes-128",), ("sha256",), ("sha256",), ("ecp256",)),)
CPROP = (ChildProposal(("aes-128-cbc",), ("sha256",), "ecp256"),)


def child(
    name: str = "net", local: str = "10.1.0.0/16", remote: str = "10.2.0.0/16", **kw: Any
) -> ChildConfig:
    kw.setdefault("proposals", CPROP)
    return ChildConfig(name, Selector(ip_network(local), ip_network(remote)), **kw)


def configs(i: dict[str, Any] | None = None, r: dict[str, Any] | None = None) -> tuple[IkeConfig, IkeConfig]:
    ic = IkeConfig(
        I_ADDR, R_ADDR, StaticCredentials(PSK), proposals=PROP, children=(child(),), dpd_interval=None
    )
    rc = IkeConfig(
        R_ADDR,
        I_ADDR,
        StaticCredentials(PSK),
        proposals=PROP,
        dpd_interval=None,
        children=(child(local="10.2.0.0/16", remote="10.1.0.0/16"),),
    )
    return replace(ic, **(i or {})), replace(rc, **(r or {}))


@dataclass
class V1Pair:
    icfg: IkeConfig
    rcfg: IkeConfig
    iopt: Ikev1Options = field(default_factory=Ikev1Options)
    ropt: Ikev1Options = field(default_factory=Ikev1Options)
    now: float = 0.0
    nat: bool = False  # the initiator's source is rewritten by a NAT (address and port)
    drop: Callable[[str, bytes], bool] = lambda d, b: False
    mangle: Callable[[str, bytes], bytes] = lambda d, b: b
    i_events: list[Event] = field(default_factory=list)
    r_events: list[Event] = field(default_factory=list)
    wire: list[tuple[str, bytes, tuple[tuple[str, int], tuple[str, int]]]] = field(default_factory=list)
    r: Ikev1Sa | None = None

    def __post_init__(self) -> None:
        self.i = Ikev1Sa.initiate(self.icfg, self.iopt, rng=det_rng(b"i"), spi_alloc=spi_allocator(0x1000),
                                  now=self.now)

    def _deliver_to_r(self, data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> None:
        if self.nat:
            src = (NAT_ADDR, 40000 + src[1])
        addr = (dst, src)
        if self.r is None:
            self.r = Ikev1Sa.respond(self.rcfg, self.ropt, data, addr, rng=det_rng(b"r"),
                                     spi_alloc=spi_allocator(0x2000), now=self.now)
            if self.r is None:
                return
        self.r.receive_datagram(data, addr, self.now)

    def pump(self) -> int:
        moved = 0
        for _ in range(200):
            out_i = self.i.datagrams_to_send(self.now)
            out_r = self.r.datagrams_to_send(self.now) if self.r is not None else []
            self._events()
            if not out_i and not out_r:
                return moved
            for data, (local, remote) in out_i:
                self.wire.append(("i>r", data, (local, remote)))
                moved += 1
                if not self.drop("i>r", data):
                    self._deliver_to_r(self.mangle("i>r", data), local, remote)
            for data, (local, remote) in out_r:
                self.wire.append(("r>i", data, (local, remote)))
                moved += 1
                if not self.drop("r>i", data):
                    back = (I_ADDR[0], remote[1] - 40000) if self.nat else remote
                    self.i.receive_datagram(self.mangle("r>i", data), (back, local), self.now)
        raise AssertionError("peers never went quiet")

    def _events(self) -> None:
        while (ev := self.i.next_event()) is not None:
            self.i_events.append(ev)
        while self.r is not None and (ev := self.r.next_event()) is not None:
            self.r_events.append(ev)

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            sas = [s for s in (self.i, self.r) if s is not None]
            timers = [t for s in sas if (t := s.get_timer()) is not None and t <= end]
            if not timers:
                break
            self.now = max(self.now, min(timers))
            for s in sas:
                if (t := s.get_timer()) is not None and t <= self.now:
                    s.handle_timer(self.now)
            self.pump()
        self.now = end
        self._events()

    def of(self, side: str, kind: type) -> list[Any]:
        return [e for e in (self.i_events if side == "i" else self.r_events) if isinstance(e, kind)]
