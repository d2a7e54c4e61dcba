"""Engine: SPI demux (RFC 7296 §3.1 I flag), half-open retransmits, pumping output/events/timers."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

from ipsecd.daemon.engine import Engine
from ipsecd.daemon.timers import Timers
from ipsecd.daemon.transport import Datagram, Transport
from ipsecd.ike.sa import IkeSaProtocol
from ipsecd.wire.ikev2.header import FLAG_INITIATOR, FLAG_RESPONSE

IKE_SA_INIT = 34


def _msg(spi_i: bytes, spi_r: bytes, exchange: int, flags: int, body: bytes = b"") -> bytes:
    return struct.pack("!8s8sBBBBII", spi_i, spi_r, 0, 0x20, exchange, flags, 0, 28 + len(body)) + body


class FakeSa:
    """Answers every message with b'ack' + message, raises an event per message, wakes after 10 ms
    (the version-neutral SA protocol, ipsecd.ike.sa.IkeSaProtocol)."""

    version = 2

    def __init__(self, spi: bytes) -> None:
        self.local_spi = spi
        self.closed = False
        self.on_output: Any = None
        self.on_spi: Any = None
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
        self.on_output(self)

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

    def idle(self) -> bool:
        return not self.out and not self.events

    def provide_verdict(self, token: object, result: object) -> None:
        pass

    def delete(self) -> None:
        self.closed = True


def test_demux_and_pump() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        events: list[tuple[IkeSaProtocol, object]] = []
        created: list[FakeSa] = []

        def new_sa(data: bytes, addr: Any, now: float) -> FakeSa | None:
            if addr[1][0] == "127.0.0.3":
                return None  # no peer for this address: refused, nothing kept
            sa = FakeSa(b"R" * 8)
            created.append(sa)
            return sa

        eng: Engine
        transport = Transport(
            lambda d: eng.datagram(d), ike_port=0, natt_port=0, local_addresses=["127.0.0.1"]
        )
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
        assert {k: v for k, v in eng.router.counters.items() if v} == {"unknown-spi": 1, "malformed": 1}
        assert created[0].timeouts >= 1  # the timer it asked for fired (again after a slow await)
        eng.remove(created[0])
        assert eng.sas() == [] and eng.router.by_spi == {} and eng.router.half_open == {}
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

    from ipsecd.ike.auth import StaticCredentials
    from ipsecd.ike.v2.config import ChildConfig, ChildProposal, IkeConfig, IkeProposal
    from ipsecd.policy.types import Selector

    prop = (IkeProposal(("aes-128",), ("sha256",), ("sha256",), ("ecp256",)),)
    cprop = (ChildProposal(("aes-128-gcm",), (), "none"),)
    sel = Selector(ip_network("10.1.0.0/16"), ip_network("10.2.0.0/16"))
    i = IkeConfig(
        I_ADDR,
        R_ADDR,
        StaticCredentials(b"secret"),
        proposals=prop,
        dpd_interval=None,
        children=(ChildConfig("net", sel, proposals=cprop),),
    )
    r = IkeConfig(
        R_ADDR,
        I_ADDR,
        StaticCredentials(b"secret"),
        proposals=prop,
        dpd_interval=None,
        children=(ChildConfig("net", Selector(sel.dst, sel.src), proposals=cprop),),
    )
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
        established: list[IkeSaProtocol] = []

        def new_sa(data: bytes, addr: Any, now: float) -> IkeSa:
            sa = IkeSa.responder(rcfg, rng=os.urandom, spi_alloc=lambda p: next(spis), now=now, addr=addr)
            created.append(sa)
            return sa

        def on_event(sa: IkeSaProtocol, event: object) -> None:
            if isinstance(event, IkeSaEstablished):
                established.append(sa)

        eng = Engine(
            rec,
            Timers(loop),
            on_event,
            new_sa,
            lambda a: a,  # type: ignore[arg-type]
            cookie_threshold=5,
            max_half_open=8,
        )
        legit = IkeSa.initiator(icfg, rng=os.urandom, spi_alloc=lambda p: next(spis), now=loop.time())
        ((template, _),) = legit.datagrams_to_send(loop.time())

        # a flood from 300 spoofed sources, each its own SPIi, three times each
        def spoofed(n: int) -> Datagram:
            return Datagram(
                n.to_bytes(8, "big") + template[8:], R_ADDR, (f"198.18.{n >> 8}.{n & 255}", 500), False
            )

        for _ in range(3):
            for n in range(1, 301):
                eng.datagram(spoofed(n))
        assert len(created) == 5 and len(eng.router.half_open) == 5  # the threshold, and no more
        replies = [Message.decode(d) for d, _l, r in rec.sent if r[0].startswith("198.18.")]
        cookies = [
            m for m in replies if m.notify(NotifyType.COOKIE) is not None and m.header.spi_r == bytes(8)
        ]
        assert len(cookies) == eng.router.counters["cookies-sent"] == 3 * 295
        assert {m.header.spi_r != bytes(8) for m in replies if m not in cookies} == {True}  # the 5 admitted
        cookie_lines = [r for r in caplog.records if "answered with a COOKIE" in r.getMessage()]
        assert len(cookie_lines) == 5  # a few per reason, not one per spoofed source (issue 17 finding 8)
        eng.limiter.flush(everything=True)
        summary = caplog.records[-1].getMessage()
        assert summary == "IKE message cookies-sent: … 290 more from 290 sources in the last 10 s", summary

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
        assert len(eng.router.half_open) == 5  # established: its half-open slot is free again

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
        assert (
            len(eng.router.half_open) == 8
            and len(created) == 9
            and eng.router.counters["half-open-refused"] == 97
        )
        for sa in list(eng.sas()):
            eng.remove(sa)
        assert eng.router.by_spi == {} and eng.router.half_open == {}  # nothing left behind by removal

    with caplog.at_level(logging.WARNING, logger="ipsecd.engine"):
        asyncio.run(main())


# -- the leftover SA of a simultaneous IKE SA rekey (RFC 7296 §2.8.2), with real sockets -------------


def test_ike_rekey_collision_leftover_sa_is_routed_by_the_daemon() -> None:
    """Both gateways rekey the IKE SA at once over loopback UDP: the creator of the redundant SA
    deletes it with an INFORMATIONAL on that SA's SPIs, which the other daemon must route to the SA
    holding its keys (the old Engine dropped it as an unknown SPI and the creator retransmitted)."""
    from ipsecd.daemon.demo import Gateway, _until, free_ports

    async def main() -> None:
        ike, natt = free_ports()
        a, b = Gateway("A", ike, natt), Gateway("B", ike, natt)
        await b.start()
        await a.start()
        try:
            await _until("both CHILD_SAs", lambda: bool(a.children()) and bool(b.children()))
            (sa_a,) = a.glue.tracked
            (sa_b,) = b.glue.tracked
            old = (sa_a.local_spi, sa_b.local_spi)
            sa_a.rekey_ike()
            sa_b.rekey_ike()
            a.daemon.engine.pump(sa_a)
            b.daemon.engine.pump(sa_b)
            await _until(
                "the collision to be resolved on both sides",
                lambda: (
                    (sa_a.local_spi, sa_b.local_spi) != old and sa_a.pending is None and sa_b.pending is None
                ),
                3,
            )
            await _until(
                "the redundant SA's DELETE to be answered",
                lambda: not sa_a.redundant or not sa_b.redundant,
                3,
            )
            creator = sa_a if not sa_a.redundant else sa_b
            assert not creator.redundant
            for gw in (a, b):
                assert gw.daemon.engine.router.counters["unknown-spi"] == 0
            assert sa_a.state == sa_b.state == "established"
            assert (sa_a.spi_i, sa_a.spi_r) == (sa_b.spi_i, sa_b.spi_r)
        finally:
            await a.daemon.stop()
            await b.daemon.stop()

    asyncio.run(main())


def test_ikev1_from_no_configured_peer_is_refused_and_logged_once_not_as_unknown_spis(caplog: Any) -> None:
    """IKEv1 first messages go to the daemon's version-1 factory; from an address no IKEv1 peer
    matches they make no SA and one line per source says which peer to add (the old Engine parsed
    them as IKEv2 and logged "unknown SPIs")."""
    from ipsecd.daemon.demo import GATEWAYS, Gateway, free_ports

    async def main() -> None:
        ike, natt = free_ports()
        b = Gateway("B", ike, natt)
        await b.start()
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.3", 0))
            for exchange in (2, 2, 4):  # main mode (retransmitted), aggressive
                s.sendto(struct.pack("!8s8sBBBBII", b"V" * 8, bytes(8), 1, 0x10, exchange, 0, 0, 28),
                         (GATEWAYS["B"][0], ike))
            await asyncio.sleep(0.2)
            s.close()
            assert b.daemon.engine.sas() == []
            b.daemon.glue.limiter.flush(everything=True)
        finally:
            await b.daemon.stop()

    with caplog.at_level(logging.WARNING, logger="ipsecd"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if "127.0.0.3" in r.getMessage()]
    assert lines and all("exchange-mode=" in line and "unknown SPI" not in line for line in lines)
    assert len(lines) <= 2, lines
