"""Engine: SPI demux (RFC 7296 §3.1 I flag), half-open retransmits, pumping output/events/timers."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

from ipsecd.daemon.engine import FLAG_INITIATOR, FLAG_RESPONSE, IKE_SA_INIT, Engine, IkeSaLike
from ipsecd.daemon.timers import Timers
from ipsecd.daemon.transport import Datagram, Transport


def _msg(spi_i: bytes, spi_r: bytes, exchange: int, flags: int, body: bytes = b"") -> bytes:
    return struct.pack("!8s8sBBBBII", spi_i, spi_r, 0, 0x20, exchange, flags, 0, 28 + len(body)) + body


class FakeSa:
    """Answers every message with b'ack' + message, raises an event per message, wakes after 10 ms."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.out: list[tuple[bytes, Any]] = []
        self.events: list[object] = []
        self.timer: float | None = None
        self.timeouts = 0

    def receive_datagram(self, data: bytes, addr: Any, now: float) -> None:
        self.received.append(data)
        self.out.append((b"ack" + data[:4], addr))
        self.events.append(("got", len(self.received)))
        self.timer = now + 0.01

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Any]]:
        out, self.out = self.out, []
        return out

    def get_timer(self) -> float | None:
        return self.timer

    def handle_timer(self, now: float) -> None:
        self.timeouts += 1
        self.timer = None

    def next_event(self) -> object | None:
        return self.events.pop(0) if self.events else None


def test_demux_and_pump() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        events: list[tuple[IkeSaLike, object]] = []
        created: list[FakeSa] = []

        def new_sa(d: Datagram, spi_i: bytes) -> tuple[IkeSaLike, bytes] | None:
            if d.remote[0] == "127.0.0.3":
                return None  # no peer for this address: refused, nothing kept
            sa = FakeSa()
            created.append(sa)
            return sa, b"R" * 8

        eng: Engine
        transport = Transport(lambda d: eng.datagram(d), ike_port=0, natt_port=0, local_addresses=["127.0.0.1"])
        transport.open(loop)
        eng = Engine(transport, Timers(loop), lambda sa, ev: events.append((sa, ev)), new_sa, lambda a: a)
        port = transport.ike_port
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)

        async def rx() -> bytes:
            return (await asyncio.wait_for(loop.sock_recvfrom(peer, 100), 2))[0]

        init = _msg(b"I" * 8, bytes(8), IKE_SA_INIT, FLAG_INITIATOR)
        peer.sendto(init, ("127.0.0.1", port))
        assert await rx() == b"ack" + init[:4]
        peer.sendto(init, ("127.0.0.1", port))  # retransmission: same SA, not a new one
        await rx()
        assert len(created) == 1 and len(created[0].received) == 2
        # next request of the initiator carries our SPI; a response to our request has I clear
        peer.sendto(_msg(b"I" * 8, b"R" * 8, 35, FLAG_INITIATOR), ("127.0.0.1", port))
        await rx()
        peer.sendto(_msg(b"R" * 8, b"I" * 8, 37, FLAG_RESPONSE), ("127.0.0.1", port))  # we initiated? SPIi=R
        await rx()
        assert len(created[0].received) == 4
        assert [ev for _, ev in events] == [("got", 1), ("got", 2), ("got", 3), ("got", 4)]
        # unknown SPIs and short messages: counted, not delivered
        peer.sendto(_msg(b"X" * 8, b"Y" * 8, 37, FLAG_INITIATOR), ("127.0.0.1", port))
        peer.sendto(b"short", ("127.0.0.1", port))
        await asyncio.sleep(0.05)
        assert eng.counters == {"unknown-spi": 1, "malformed": 1, "cookies-sent": 0, "half-open-refused": 0}
        assert created[0].timeouts == 1  # the timer it asked for fired
        eng.remove(created[0])
        assert eng.sas() == [] and eng.by_spi == {} and eng.half_open == {}
        transport.close()
        peer.close()

    asyncio.run(main())


# -- COOKIE engagement and the half-open bound (RFC 7296 §2.6), with the real IKE core ---------------

I_ADDR, R_ADDR = ("192.0.2.1", 500), ("192.0.2.2", 500)


class Recorder:
    """A transport that keeps what the engine sends: (data, local, remote)."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any, Any]] = []

    def send(self, data: bytes, local: Any, remote: Any) -> None:
        self.sent.append((data, local, remote))


def _configs() -> tuple[Any, Any]:
    from ipaddress import ip_network

    from ipsecd.ike.v2.config import ChildConfig, ChildProposal, IkeConfig, IkeProposal
    from ipsecd.policy.types import Selector

    prop = (IkeProposal(("aes-128",), ("sha256",), ("sha256",), ("ecp256",)),)
    cprop = (ChildProposal(("aes-128-gcm",), (), "none"),)
    sel = Selector(ip_network("10.1.0.0/16"), ip_network("10.2.0.0/16"))
    i = IkeConfig(I_ADDR, R_ADDR, b"secret", proposals=prop, dpd_interval=None,
                  children=(ChildConfig("net", sel, proposals=cprop),))
    r = IkeConfig(R_ADDR, I_ADDR, b"secret", proposals=prop, dpd_interval=None,
                  children=(ChildConfig("net", Selector(sel.dst, sel.src), proposals=cprop),))
    return i, r


def test_flood_engages_cookies_and_stays_bounded(caplog: Any) -> None:
    import itertools
    import os

    from ipsecd.ike.events import IkeSaEstablished
    from ipsecd.ike.v2.sa import IkeSa
    from ipsecd.wire.enums import NotifyType
    from ipsecd.wire.ikev2.message import Message

    icfg, rcfg = _configs()
    spis = itertools.count(0x100)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        rec = Recorder()
        created: list[IkeSa] = []
        established: list[IkeSaLike] = []

        def new_sa(d: Datagram, spi_i: bytes) -> tuple[IkeSaLike, bytes]:
            sa = IkeSa.responder(rcfg, rng=os.urandom, spi_alloc=lambda p: next(spis), now=loop.time(),
                                 addr=(d.local, d.remote))
            created.append(sa)
            return sa, sa.local_spi

        def on_event(sa: IkeSaLike, event: object) -> None:
            if isinstance(event, IkeSaEstablished):
                established.append(sa)
                eng.established(sa, event.remote[0], event.remote_spi)

        eng = Engine(rec, Timers(loop), on_event, new_sa, lambda a: a,  # type: ignore[arg-type]
                     cookie_threshold=5, max_half_open=8)
        legit = IkeSa.initiator(icfg, rng=os.urandom, spi_alloc=lambda p: next(spis), now=loop.time())
        ((template, _),) = legit.datagrams_to_send(loop.time())

        # a flood from 300 spoofed sources, each its own SPIi, three times each
        def spoofed(n: int) -> Datagram:
            return Datagram(n.to_bytes(8, "big") + template[8:], R_ADDR, (f"198.18.{n >> 8}.{n & 255}", 500), False)

        for _ in range(3):
            for n in range(1, 301):
                eng.datagram(spoofed(n))
        assert len(created) == 5 and len(eng.half_open) == 5  # the threshold, and no more
        replies = [Message.decode(d) for d, _l, r in rec.sent if r[0].startswith("198.18.")]
        cookies = [m for m in replies if m.notify(NotifyType.COOKIE) is not None and m.header.spi_r == bytes(8)]
        assert len(cookies) == eng.counters["cookies-sent"] == 3 * 295
        assert {m.header.spi_r != bytes(8) for m in replies if m not in cookies} == {True}  # the 5 admitted
        cookie_lines = [r for r in caplog.records if "answered with a COOKIE" in r.getMessage()]
        assert len(cookie_lines) == 295  # once per source, not per message

        # the legitimate initiator: gets a cookie, retries with it, and the exchange completes
        def relay_to_engine(data: bytes) -> None:
            eng.datagram(Datagram(data, R_ADDR, I_ADDR, False))

        relay_to_engine(template)
        for _ in range(6):
            answers = [d for d, _l, r in rec.sent if r == I_ADDR]
            rec.sent = [s for s in rec.sent if s[2] != I_ADDR]
            for data in answers:
                legit.receive_datagram(data, (I_ADDR, R_ADDR), loop.time())
            for data, _addr in legit.datagrams_to_send(loop.time()):
                relay_to_engine(data)
        assert legit.state == "established" and len(established) == 1 and len(created) == 6
        assert len(eng.half_open) == 5  # established: its half-open slot is free again

        # initiators that do return cookies are still bounded by max_half_open
        for n in range(1000, 1100):
            first = spoofed(n)
            sent = len(rec.sent)
            eng.datagram(first)
            if len(rec.sent) == sent:  # at the hard limit: dropped, not even a cookie
                continue
            cookie = Message.decode(rec.sent[-1][0]).notify(NotifyType.COOKIE)
            assert cookie is not None
            msg = Message.decode(first.data)
            from ipsecd.wire.ikev2.payloads.notify import NotifyPayload

            msg.payloads.insert(0, NotifyPayload(NotifyType.COOKIE, cookie.data))
            eng.datagram(Datagram(msg.encode(), R_ADDR, first.remote, False))
        assert len(eng.half_open) == 8 and len(created) == 9 and eng.counters["half-open-refused"] == 97
        for sa in list(eng.sas()):
            eng.remove(sa)
        assert eng.by_spi == {} and eng.half_open == {}  # nothing left behind by removal

    with caplog.at_level(logging.WARNING, logger="ipsecd.engine"):
        asyncio.run(main())
