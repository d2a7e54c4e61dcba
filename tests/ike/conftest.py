"""peer_pair: two IKE peers in one process, a fake network between them, an injected clock and RNG."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from ipaddress import ip_network
from typing import Any

import pytest

from ipsecd.ike.auth import StaticCredentials
from ipsecd.ike.events import Event
from ipsecd.ike.v2.config import ChildConfig, ChildProposal, IkeConfig, IkeProposal, Retransmit
from ipsecd.ike.v2.sa import IkeSa, ikev2_router
from ipsecd.policy.types import IpsecProto, Selector
from ipsecd.wire.enums import ExchangeType
from ipsecd.wire.ikev2.message import Message, decode_chain
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.skf import SkfPayload

I_ADDR = ("192.0.2.1", 500)
R_ADDR = ("198.51.100.2", 500)
PSK = b"correct horse battery staple"


def det_rng(label: bytes) -> Callable[[int], bytes]:
    counter = itertools.count()

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(label + next(counter).to_bytes(8, "big")).digest()
        return out[:n]

    return rng


def spi_allocator(base: int) -> Callable[[IpsecProto], int]:
    counter = itertools.count(base)
    return lambda proto: next(counter)


CPROP = (ChildProposal(("aes-128-gcm", "aes-128-cbc"), ("sha256",), "ecp256"),)


def child(
    name: str = "net", local: str = "10.1.0.0/16", remote: str = "10.2.0.0/16", **kw: Any
) -> ChildConfig:
    kw.setdefault("proposals", CPROP)
    return ChildConfig(name, Selector(ip_network(local), ip_network(remote)), **kw)


def configs(**kw: Any) -> tuple[IkeConfig, IkeConfig]:
    """Matching initiator/responder configurations (fast groups so tests stay quick)."""
    prop = (IkeProposal(("aes-128",), ("sha256",), ("sha256",), ("ecp256",)),)
    i = IkeConfig(
        I_ADDR, R_ADDR, StaticCredentials(PSK), proposals=prop, children=(child(),), dpd_interval=None
    )
    r = IkeConfig(
        R_ADDR,
        I_ADDR,
        StaticCredentials(PSK),
        proposals=prop,
        children=(child(local="10.2.0.0/16", remote="10.1.0.0/16"),),
        dpd_interval=None,
    )
    return replace(i, **kw.get("i", {})), replace(r, **kw.get("r", {}))


@dataclass
class Pair:
    icfg: IkeConfig
    rcfg: IkeConfig
    now: float = 0.0
    i_events: list[Event] = field(default_factory=list)
    r_events: list[Event] = field(default_factory=list)
    wire: list[tuple[str, bytes]] = field(default_factory=list)  # ("i>r" | "r>i", datagram) as sent
    drop: Callable[[str, bytes], bool] = lambda d, b: False
    mangle: Callable[[str, bytes], bytes] = lambda d, b: b
    nat: bool = False  # the initiator's source is rewritten to a NAT's public address/port

    def __post_init__(self) -> None:
        self.i = IkeSa.initiator(self.icfg, rng=det_rng(b"i"), spi_alloc=spi_allocator(0x1000), now=self.now)
        self.r = ikev2_router(
            lambda addr: self.rcfg, rng=det_rng(b"r"), spi_alloc=spi_allocator(0x2000), now=self.now
        )

    @property
    def rsa(self) -> IkeSa:
        sas = self.r.sas()
        assert len(sas) == 1, sas
        return sas[0]

    def _translate(self, ep: tuple[str, int]) -> tuple[str, int]:
        return ("203.0.113.9", 40000 + ep[1]) if self.nat else ep

    def pump(self) -> int:
        """Deliver everything in flight until both sides are quiet; returns datagrams moved."""
        moved = 0
        for _ in range(100):
            out_i = self.i.datagrams_to_send(self.now)
            while (ev := self.i.next_event()) is not None:
                self.i_events.append(ev)
            out_r = self.r.datagrams_to_send(self.now)
            self.r_events += [ev for _, ev in self.r.events()]
            out_r += self.r.datagrams_to_send(self.now)
            if not out_i and not out_r:
                return moved
            for data, (local, remote) in out_i:
                self.wire.append(("i>r", data))
                moved += 1
                if not self.drop("i>r", data):
                    self.r.receive_datagram(
                        self.mangle("i>r", data), (remote, self._translate(local)), self.now
                    )
            for data, (local, remote) in out_r:
                self.wire.append(("r>i", data))
                moved += 1
                if not self.drop("r>i", data):
                    back = (I_ADDR[0], remote[1] - 40000) if self.nat else remote
                    self.i.receive_datagram(self.mangle("r>i", data), (back, local), self.now)
        raise AssertionError("peers never went quiet")

    def advance(self, seconds: float) -> None:
        """Move the clock, firing every timer due on the way."""
        end = self.now + seconds
        while True:
            timers = [t for t in (self.i.get_timer(), self.r.get_timer()) if t is not None and t <= end]
            if not timers:
                break
            self.now = max(self.now, min(timers))
            if (t := self.i.get_timer()) is not None and t <= self.now:
                self.i.handle_timer(self.now)
            self.r.handle_timer(self.now)
            self.pump()
        self.now = end
        self.pump()

    def events(self, side: str, kind: type) -> list[Any]:
        return [e for e in (self.i_events if side == "i" else self.r_events) if isinstance(e, kind)]

    def decrypted(self, direction: str, exchange: ExchangeType) -> list[Payload]:
        """The inner payloads of the first ``exchange`` message sent in ``direction``."""
        return self.messages(direction, exchange)[0]

    def messages(self, direction: str, exchange: ExchangeType) -> list[list[Payload]]:
        """The inner payloads of each ``exchange`` message sent in ``direction`` ("i>r" or "r>i"),
        once per message ID, from its SK datagram or its SKF fragments (RFC 7383) put together."""
        sa = self.i if direction == "r>i" else self.rsa
        assert sa.protection is not None
        whole: dict[int, list[Payload]] = {}
        parts: dict[int, dict[int, tuple[int, bytes]]] = {}
        for w, data in self.wire:
            msg = Message.decode(data)
            mid = msg.header.message_id
            if w != direction or msg.header.exchange != exchange or mid in whole:
                continue
            last = msg.payloads[-1]
            if not isinstance(last, SkfPayload):
                whole[mid] = sa.protection.unseal(data, msg)
                continue
            got = parts.setdefault(mid, {})
            got[last.number] = (last.first_inner, sa.protection.unseal_fragment(data, last))
            if len(got) == last.total:
                whole[mid] = decode_chain(got[1][0], b"".join(got[n][1] for n in sorted(got)))
        assert whole, f"no {exchange.name} {direction}"
        return [whole[m] for m in sorted(whole)]


@pytest.fixture
def peer_pair() -> Iterator[Callable[..., Pair]]:
    def make(icfg: IkeConfig | None = None, rcfg: IkeConfig | None = None, **kw: Any) -> Pair:
        i, r = configs()
        return Pair(icfg or i, rcfg or r, **kw)

    yield make


FAST_RETRANSMIT = Retransmit(timeout=1.0, base=2.0, tries=2)
