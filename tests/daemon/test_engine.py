"""Engine: SPI demux (RFC 7296 §3.1 I flag), half-open retransmits, pumping output/events/timers."""

from __future__ import annotations

import asyncio
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
        assert eng.counters == {"unknown-spi": 1, "malformed": 1}
        assert created[0].timeouts == 1  # the timer it asked for fired
        eng.remove(created[0])
        assert eng.sas() == [] and eng.by_spi == {} and eng.half_open == {}
        transport.close()
        peer.close()

    asyncio.run(main())
