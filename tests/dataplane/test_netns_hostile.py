"""The TUN backend under hostile input and worker deaths (issue 17, findings 1–3), root, namespaces.

- Every shape a UDP/4500 datagram can have (empty, 1–3 bytes, the marker alone, marker plus junk,
  keepalive, truncated ESP, unknown and reserved SPIs) is dropped and counted in its statistic, logged
  once per reason, and the workers live (one empty datagram used to kill the worker).
- A flood of marker-tagged IKE that nobody reads never stalls the control path (the worker used to
  block writing to the daemon while the daemon waited 20 s for its reply).
- A worker killed with SIGKILL is replaced within seconds; its SAs carry traffic again with sequence
  numbers above every one the dead worker used, and a packet it had accepted is not accepted again.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from ipsecd.dataplane.processor import PROTECT, owner_of
from ipsecd.dataplane.userspace.backend import TunDataPlane
from ipsecd.policy.types import Direction
from tests.dataplane.udp_pair import SPI_AB, SPI_BA, b_side, echo, install_a_side
from tests.netns import InNetns, Pair, wait_for

pytestmark = pytest.mark.root

@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair("dphs")
    try:
        yield p
    finally:
        p.close()


class Tunnel:
    """A's backend (two workers) with one SA pair to B, whose side the test plays with a Processor."""

    def __init__(self, pair: Pair, workers: int = 2, **backend: int) -> None:
        self.pair = pair
        self.peer = b_side(pair)
        with InNetns(pair.b):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((pair.addr_b, 4500))
        with InNetns(pair.a):  # the backend's ip commands (device, routes) run in A
            self.dp = TunDataPlane("dphs0", workers=workers, **backend)
            install_a_side(self.dp, pair)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, (self.pair.addr_a, 4500))

    def ping(self, ident: int, tries: int = 1) -> tuple[bytes, int]:
        """An echo request through the tunnel (sent again, each with a new sequence number, up to
        ``tries`` times a second apart); (the ESP packet sent, the reply's sequence number)."""
        for left in range(tries - 1, -1, -1):
            verdict, _, esp = self.peer.outbound(
                echo(self.pair.lan_b, self.pair.lan_a, ident, b"hostile"), time.monotonic()
            )
            assert verdict == PROTECT
            self.send(esp)
            self.sock.settimeout(1 if left else 5)
            try:
                data = self.sock.recv(4000)
                break
            except TimeoutError:
                if not left:
                    raise
        verdict, _, inner = self.peer.inbound_esp(data, True, time.monotonic())
        assert verdict == PROTECT and inner[20] == 0 and inner[24:26] == ident.to_bytes(2, "big")
        return esp, struct.unpack_from("!I", data, 4)[0]

    def close(self) -> None:
        with InNetns(self.pair.a):
            self.dp.close()
        self.sock.close()


OUR_SPI = b"ours\x00\x01\x02\x03"


def _ike(n: int, spi_i: bytes = OUR_SPI, spi_r: bytes = b"peer-spi") -> bytes:
    """A marker-tagged IKE_AUTH request whose IKE header's Length field is right (28-byte header,
    RFC 7296 §3.1)."""
    return b"\0\0\0\0" + spi_i + spi_r + struct.pack("!BBBBII", 0x2E, 0x20, 35, 0x08, 1, n) + bytes(n - 28)


def test_every_datagram_shape_on_4500_is_dropped_counted_and_the_workers_live(
        pair: Pair, capfd: pytest.CaptureFixture[str]) -> None:
    t = Tunnel(pair)
    try:
        pids = t.dp.pids
        header_errors = [b"", b"\x01", b"\x01\x02", b"\x01\x02\x03",  # neither keepalive nor ESP
                         b"\0\0\0\0",  # the marker alone: no IKE header
                         b"\0\0\0\0junk",  # marker plus junk shorter than an IKE header
                         b"\0\0\0\0" + bytes(40),  # an IKE header whose Length says 0
                         b"\0\0\0\x05" + bytes(8),  # a reserved SPI (RFC 4303 §2.1)
                         b"\x05\0\0\0\0\0\0"]  # 7 bytes: shorter than an ESP header
        no_states = [struct.pack("!II", 0x999999, 1),  # truncated ESP, unknown SPI
                     struct.pack("!II", 0x999999, 1) + bytes(100)]  # whole ESP, unknown SPI
        for data in header_errors + no_states + [b"\xff"]:
            t.send(data)
        t.send(struct.pack("!II", SPI_AB, 1) + bytes(10))  # truncated ESP of a real SA: no valid ICV
        stats: dict[str, int] = {}
        assert wait_for(lambda: bool(stats.update(t.dp.statistics()) or
                                     stats["in-header-errors"] >= len(header_errors)))
        assert stats["in-header-errors"] == len(header_errors)
        assert stats["in-no-states"] == len(no_states)
        state = t.dp.query_sa(SPI_AB, Direction.IN)
        assert state is not None and state.invalid_packets == 1 and state.current_packets == 0
        assert t.dp.counters()["keepalives"] == 1
        assert t.dp.recv_ike() == []  # nothing of it reached the daemon as IKE
        assert t.dp.pids == pids and t.dp.restarts == 0
        t.ping(1)  # the tunnel still carries traffic
        err = capfd.readouterr().err
        # logged, once per reason (not per datagram, not per source)
        assert err.count("dropped UDP/4500 datagrams that are neither ESP, IKE nor keepalive") == 1
        assert err.count("dropped IKE messages on UDP/4500 shorter than") == 1
    finally:
        t.close()


def test_an_unread_ike_flood_never_stalls_the_control_path(pair: Pair) -> None:
    t = Tunnel(pair, ike_per_sa=1_000_000)  # one SA of ours: all of it goes up
    try:
        t.dp.ike_spi(OUR_SPI, True)
        ike = _ike(1000)
        for _ in range(20_000):  # ~20 MB nobody reads: far beyond every buffer on the way
            t.send(ike)
        time.sleep(0.5)
        start = time.monotonic()
        stats = t.dp.statistics()
        assert time.monotonic() - start < 1.0, "a worker blocked on the control path"
        assert stats["in-header-errors"] == 0
        counters = t.dp.counters()
        assert counters["ike-queue-drops"] > 0  # dropped and counted, the worker went on
        assert t.dp.query_sa(SPI_AB, Direction.IN) is not None
        got = t.dp.recv_ike()
        assert 0 < len(got) <= 20_000 - counters["ike-queue-drops"]
        assert got[0] == (ike[4:], (pair.addr_b, 4500), pair.addr_a)
        t.ping(2)
    finally:
        t.close()


def test_a_killed_worker_is_replaced_and_never_repeats_a_sequence_number(
        pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    t = Tunnel(pair)
    try:
        sent, seqs = [], []
        for i in range(20):
            esp, seq = t.ping(i)
            sent.append(esp)
            seqs.append(seq)
        time.sleep(1.5)  # the inbound replay edge reaches the shared page once a second
        victim = owner_of(SPI_BA, 2)  # the worker that seals A's replies
        assert owner_of(SPI_AB, 2) != victim
        for idx in (victim, owner_of(SPI_AB, 2)):  # both: outbound and inbound state are lost
            os.kill(t.dp.pids[idx], signal.SIGKILL)
        start = time.monotonic()
        with InNetns(pair.a):  # replacements start where the backend's process is, as in the daemon
            assert wait_for(lambda: (t.dp.poll_events(), t.dp.restarts)[1] == 2, timeout=10)
        assert time.monotonic() - start < 5.0
        seqs.append(t.ping(20, tries=5)[1])  # a packet may arrive while a replacement binds its socket
        for i in range(21, 40):
            seqs.append(t.ping(i)[1])
        assert seqs == sorted(seqs) and len(set(seqs)) == 40, "a sequence number (an AES-GCM nonce) repeated"
        # a packet the dead worker had accepted is not accepted again (the replay edge survived)
        before = t.dp.statistics()["in-state-sequence-errors"]
        t.send(sent[-1])
        assert wait_for(lambda: t.dp.statistics()["in-state-sequence-errors"] == before + 1)
        err = caplog.text  # the backend logs in this process
        assert "killed by signal 9" in err and "replaced in" in err
    finally:
        t.close()


def test_ike_for_spis_not_ours_is_dropped_in_the_worker(pair: Pair) -> None:
    """A flood of marker-tagged IKE naming SPIs the daemon does not have costs the workers a header
    look-up: a trickle reaches the daemon, the rest is dropped and counted. IKE of our SAs still
    goes up, and the tunnel carries traffic. On the old code every message went up to the daemon."""
    t = Tunnel(pair)
    try:
        t.dp.ike_spi(OUR_SPI, True)
        flood = 5000
        start = time.monotonic()
        for k in range(flood):
            t.send(_ike(200, spi_i=k.to_bytes(8, "big"), spi_r=b"whatever"))
            if k % 500 == 499:
                time.sleep(0.01)  # no loss in the kernel's socket buffers: every datagram is counted
        t.send(_ike(200))
        t.send(_ike(300, spi_i=b"peer-spi", spi_r=OUR_SPI))  # the peer initiated, we answered
        got: list[bytes] = []
        assert wait_for(lambda: bool(got.extend(m for m, _, _ in t.dp.recv_ike()) or
                                     {_ike(200)[4:], _ike(300, b"peer-spi", OUR_SPI)[4:]} <= set(got)))
        counters = t.dp.counters()
        # ours, and the unknown trickle (20 a second, one worker: one sender's datagrams go to one)
        assert len(got) <= 2 + 20 * (int(time.monotonic() - start) + 2)
        assert counters["ike-unknown-spi-drops"] + len(got) - 2 == flood
        t.dp.ike_spi(OUR_SPI, False)
        time.sleep(1.1)  # a new second: the trickle's budget is back, then spent on the SPI gone
        for _ in range(100):
            t.send(_ike(200))
        before = counters["ike-unknown-spi-drops"]
        assert wait_for(lambda: t.dp.counters()["ike-unknown-spi-drops"] >= before + 60)
        t.ping(3)
    finally:
        t.close()


def test_ike_for_one_sa_is_rate_limited(pair: Pair) -> None:
    """IKE for one SA of ours gets 200 messages a second through to the daemon (new IKE_SA_INITs and
    unknown SPIs are held per source the same way: tests/dataplane/test_ikegate.py); the rest is
    dropped and counted, and the tunnel's ESP still flows."""
    t = Tunnel(pair, workers=1)
    try:
        t.dp.ike_spi(OUR_SPI, True)
        start = time.monotonic()
        for _ in range(3000):
            t.send(_ike(200))
        got: list[object] = []
        assert wait_for(lambda: bool(got.extend(t.dp.recv_ike()) or
                                     t.dp.counters()["ike-rate-drops"] + len(got) >= 3000))
        seconds = time.monotonic() - start
        assert 200 <= len(got) <= 200 * (int(seconds) + 2)
        t.ping(4)
    finally:
        t.close()


def test_counters_of_a_dead_worker_are_kept(pair: Pair) -> None:
    """Statistics and SA counters never go backwards when a worker dies: each worker keeps them on
    the shared page, and the daemon folds a dead worker's row into its totals and starts the
    replacement's SAs from theirs. On the old code they restarted from zero."""
    t = Tunnel(pair)
    try:
        for i in range(10):
            t.ping(i)
        for _ in range(3):
            t.send(struct.pack("!II", 0x999999, 1) + bytes(100))  # unknown SPI: in-no-states
        assert wait_for(lambda: t.dp.statistics()["in-no-states"] == 3)
        stats = t.dp.statistics()
        sa_in, sa_out = t.dp.query_sa(SPI_AB, Direction.IN), t.dp.query_sa(SPI_BA, Direction.OUT)
        assert sa_in is not None and sa_out is not None and sa_in.current_packets == 10
        for pid in t.dp.pids:
            os.kill(pid, signal.SIGKILL)
        with InNetns(pair.a):
            start = time.monotonic()
            assert wait_for(lambda: t.dp.poll_events() == [] and len(t.dp._starting) == 2)
            assert time.monotonic() - start < 1.0  # the replacements are started, not waited for
            while_starting = t.dp.statistics()
            assert all(while_starting[k] >= v for k, v in stats.items()), (stats, while_starting)
            mid = t.dp.query_sa(SPI_AB, Direction.IN)
            assert mid is not None and mid.current_packets == 10 and mid.current_bytes == sa_in.current_bytes
            assert wait_for(lambda: (t.dp.poll_events(), t.dp.restarts)[1] == 2, timeout=10)
        after = t.dp.statistics()
        assert all(after[k] >= v for k, v in stats.items()) and after["in-no-states"] == 3
        t.ping(50, tries=5)
        now_in, now_out = t.dp.query_sa(SPI_AB, Direction.IN), t.dp.query_sa(SPI_BA, Direction.OUT)
        assert now_in is not None and now_out is not None
        assert now_in.current_packets >= 11 and now_in.current_bytes > sa_in.current_bytes
        assert now_out.current_packets >= 11 and now_out.current_bytes > sa_out.current_bytes
    finally:
        t.close()
