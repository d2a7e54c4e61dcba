"""Fuzz the UDP/500 and UDP/4500 datagram paths (issue 17, finding 1): every length and shape a
datagram can have — empty, 1–7 bytes, the non-ESP marker alone or followed by junk or by an IKE
header whose Length lies, a keepalive, ESP with any SPI, truncated or not, GRO-sized runs — and
random bytes.

- The daemon's sockets (:class:`~ipsecd.daemon.transport.Transport`, UDP/500 and its own UDP/4500 as
  with the memory and kernel data planes) with the IKE router behind them, over real sockets on
  loopback: no datagram raises out of the transport or logs an internal error, each is counted once.
- The TUN backend's workers (root, a namespace), which own UDP/4500 there: every datagram is
  dropped, counted in one statistic (or, for IKE the workers' gate keeps from the daemon, in its
  drop counters) or handed up as IKE, and the workers never die.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipsecd.daemon.transport import Datagram, Transport
from ipsecd.ike.v2.sa import ikev2_router
from tests.ike.conftest import configs, det_rng, spi_allocator

MARKER = b"\0\0\0\0"


def _ike_header(length: int, exchange: int, body: bytes) -> bytes:
    return bytes(16) + struct.pack("!BBBBII", 33, 0x20, exchange, 0x08, 0, length) + body


#: Datagram shapes of UDP/500 and UDP/4500, each with random content.
DATAGRAMS = st.one_of(
    st.binary(max_size=7),
    st.just(b"\xff"),
    st.binary(max_size=40).map(lambda b: MARKER + b),
    st.tuples(st.integers(0, 70000), st.sampled_from([34, 35, 36, 37, 0, 255]), st.binary(max_size=200))
    .map(lambda t: MARKER + _ike_header(t[0] & 0xFFFFFFFF, t[1], t[2])),
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(max_size=300))
    .map(lambda t: struct.pack("!II", t[0], t[1]) + t[2]),
    st.binary(min_size=8, max_size=1500),
)


def test_the_daemons_sockets_take_any_datagram(caplog: pytest.LogCaptureFixture) -> None:
    _i, r = configs()
    router = ikev2_router(lambda a: r, rng=det_rng(b"fz"), spi_alloc=spi_allocator(3), now=0.0)
    esp: list[bytes] = []

    def on_ike(d: Datagram) -> None:
        router.receive_datagram(d.data, (d.local, d.remote), 0.0)
        router.datagrams_to_send(0.0)

    async def main(batch: list[bytes]) -> None:
        loop = asyncio.get_running_loop()
        t = Transport(on_ike, lambda data, lo, re: esp.append(data), ike_port=0, natt_port=0,
                      local_addresses=["127.0.0.1"])
        t.open(loop)
        try:
            ports = [addr[1] for addr, _natt in t.bound]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for data in batch:
                    for port in ports:
                        s.sendto(data, ("127.0.0.1", port))
                for _ in range(100):
                    await asyncio.sleep(0.01)
                    c = t.counters
                    if c["rx"] + c["keepalives"] + c["dropped"] + len(esp) >= 2 * len(batch):
                        break
            c = t.counters
            assert c["rx"] + c["keepalives"] + c["dropped"] + len(esp) == 2 * len(batch)
        finally:
            t.close()

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(DATAGRAMS, min_size=1, max_size=20))
    def run(batch: list[bytes]) -> None:
        esp.clear()
        asyncio.run(main(batch))

    with caplog.at_level(logging.ERROR):
        run()
    assert not [rec for rec in caplog.records if "internal error" in rec.getMessage()]


@pytest.fixture(scope="module")
def tun_backend() -> Iterator[tuple[object, socket.socket, str]]:
    from ipsecd.dataplane.userspace.backend import TunDataPlane
    from tests.netns import InNetns, Pair

    pair = Pair("dpfz")
    try:
        with InNetns(pair.b):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((pair.addr_b, 4500))
        with InNetns(pair.a):
            dp = TunDataPlane("dpfz0", workers=2)
        try:
            yield dp, s, pair.addr_a
        finally:
            with InNetns(pair.a):  # the routes and rules it removes are A's
                dp.close()
            s.close()
    finally:
        pair.close()


@pytest.mark.root
def test_the_tun_workers_take_any_datagram_on_4500(tun_backend: tuple[object, socket.socket, str]) -> None:
    from ipsecd.dataplane.userspace.backend import TunDataPlane
    from tests.netns import wait_for

    dp, s, dst = tun_backend
    assert isinstance(dp, TunDataPlane)
    pids = dp.pids
    sent = [0]

    @settings(max_examples=200, deadline=None)
    @given(st.lists(DATAGRAMS, min_size=1, max_size=20))
    def run(batch: list[bytes]) -> None:
        for data in batch:
            s.sendto(data, (dst, 4500))
        sent[0] += len(batch)

    run()

    def accounted() -> int:
        stats, counters = dp.statistics(), dp.counters()
        ike = len(dp.recv_ike())
        accounted.ike += ike  # type: ignore[attr-defined]
        return (stats["in-header-errors"] + stats["in-no-states"] + counters["keepalives"]
                + counters["ike-unknown-spi-drops"] + counters["ike-rate-drops"]  # the IKE gate's
                + accounted.ike)  # type: ignore[attr-defined, no-any-return]

    accounted.ike = 0  # type: ignore[attr-defined]
    assert wait_for(lambda: accounted() == sent[0], timeout=10), (accounted(), sent[0])
    assert dp.pids == pids and dp.restarts == 0
