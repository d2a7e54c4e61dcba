"""The worker channel (issue 17, finding 3): the worker never blocks on it — a daemon that does not
read makes it queue, then drop and count, IKE — and replies are matched by id, so a reply that comes
after its request timed out is never taken as the answer to the next request."""

from __future__ import annotations

import pickle
import socket
import time
from dataclasses import replace
from ipaddress import IPv4Network, IPv6Address, ip_address, ip_network

import pytest

from ipsecd.dataplane.errors import ConfigError
from ipsecd.dataplane.processor import Processor
from ipsecd.dataplane.userspace import channel
from ipsecd.dataplane.userspace.channel import DaemonEnd, WorkerEnd, WorkerGone
from ipsecd.dataplane.userspace.droplog import DropLog
from ipsecd.dataplane.userspace.seqmap import SeqMap
from ipsecd.dataplane.userspace.worker import Worker
from ipsecd.policy.types import Direction, Lifetime, PolicySpec, SaState, Selector
from tests.dataplane.udp_pair import KEY_AB, SPI_AB, SPI_BA, gcm_sa


def _worker_requests(sock: socket.socket) -> list[tuple[int, str, tuple[object, ...]]]:
    sock.settimeout(2)
    return [pickle.loads(sock.recv(channel.MAX_MESSAGE))]


def test_a_late_reply_is_never_the_answer_to_the_next_request() -> None:
    here, there = channel.pair()
    daemon = DaemonEnd(here)
    try:
        with pytest.raises(ConfigError, match="did not answer"):
            daemon.call(0.2, "stats")  # the worker is busy: no reply in time
        (rid1, op1, _), = _worker_requests(there)
        rid2 = daemon.request(1.0, "query_sa", 0x1234)
        (got2, op2, args2), = _worker_requests(there)
        assert (op1, op2, got2, args2) == ("stats", "query_sa", rid2, (0x1234,))
        # the late answer to the first request arrives first, then the second one's
        there.send(pickle.dumps(("reply", rid1, "ok", {"in-errors": 0})))
        there.send(pickle.dumps(("reply", rid2, "ok", "sa-state")))
        assert daemon.reply(rid2, 1.0, "query_sa") == "sa-state"
        assert daemon.stale == 1
    finally:
        daemon.close()
        there.close()


def test_events_and_ike_read_while_waiting_are_kept() -> None:
    here, there = channel.pair()
    daemon, worker = DaemonEnd(here), WorkerEnd(there)
    try:
        rid = daemon.request(1.0, "stats")
        worker.ike(b"ike", ("192.0.2.9", 4500), "192.0.2.1")
        worker.reply(rid, "ok", 7)
        assert daemon.reply(rid, 1.0, "stats") == 7
        assert list(daemon.ike) == [(b"ike", ("192.0.2.9", 4500), "192.0.2.1")]
    finally:
        daemon.close()
        there.close()


def test_the_worker_never_blocks_and_replies_pass_queued_ike() -> None:
    here, there = channel.pair()
    daemon, worker = DaemonEnd(here), WorkerEnd(there)
    try:
        start = time.monotonic()
        for i in range(5000):  # ~10 MB of IKE at a daemon that reads nothing: more than the buffers
            worker.ike(bytes(2000), ("192.0.2.9", 4500 + i % 7), "192.0.2.1")
        assert time.monotonic() - start < 2.0
        assert worker.dropped_ike > 0 and worker.pending
        rid = daemon.request(1.0, "stats")
        worker.reply(rid, "ok", "counters")  # queued before the IKE that waits
        for _ in range(200):
            worker.flush()
            daemon.drain()
            if not worker.pending:
                break
        assert not worker.pending
        assert daemon.stale == 1  # drained as a reply nobody waits for any more: discarded, counted
        assert len(daemon.ike) + worker.dropped_ike + daemon.ike_dropped == 5000
    finally:
        daemon.close()
        there.close()


def test_a_closed_worker_end_is_worker_gone() -> None:
    here, there = channel.pair()
    daemon = DaemonEnd(here)
    there.close()
    with pytest.raises(WorkerGone):
        daemon.call(1.0, "stats")
    assert daemon.closed
    daemon.close()


def test_draining_an_idle_channel_returns_at_once_even_after_a_call() -> None:
    here, there = channel.pair()
    daemon, worker = DaemonEnd(here), WorkerEnd(there)
    try:
        rid = daemon.request(1.0, "stats")
        worker.reply(rid, "ok", 1)
        assert daemon.reply(rid, 5.0, "stats") == 1
        start = time.monotonic()
        daemon.drain()  # the daemon's event loop calls this on every wake-up: it must never wait
        assert time.monotonic() - start < 0.05
    finally:
        daemon.close()
        there.close()


def ctrl_worker(sock: socket.socket) -> Worker:
    """A worker with its channel and processor only (no TUN, no sockets): what ``_ctrl_in`` uses."""
    w = Worker.__new__(Worker)
    w.chan, w.proc, w.seqmap = WorkerEnd(sock), Processor(full_packets=False), SeqMap()
    w._in_slots, w._out_slots, w._dest, w._deadlines, w.running = {}, {}, {}, [], True
    w.drops = DropLog()
    return w


def test_posted_installs_get_no_reply_a_failed_one_is_reported_and_order_is_kept() -> None:
    """Issue 16: installs are posted (no round trip each); the worker answers only a failure, as a
    ``failed`` message — never a reply the daemon would count as stale — and a query sent after them
    sees their effect, because the worker takes requests in order."""
    here, there = channel.pair()
    daemon = DaemonEnd(here)
    w = ctrl_worker(there)
    try:
        good = gcm_sa(SPI_AB, Direction.IN, "192.0.2.2", "192.0.2.1", KEY_AB)
        bad = gcm_sa(SPI_BA, Direction.OUT, "192.0.2.1", "192.0.2.2", b"short")
        daemon.post(1.0, "add_sa", good, w.seqmap.allocate(), 0)
        daemon.post(1.0, "add_sa", bad, w.seqmap.allocate(), 0)
        rid = daemon.request(1.0, "query_sa", SPI_AB, Direction.IN)
        w._ctrl_in()  # one wake-up reads all three
        w.chan.flush()
        state = daemon.reply(rid, 1.0, "query_sa")
        assert state is not None and state.current_packets == 0
        daemon.drain()
        assert [op for op, _error in daemon.failures] == ["add_sa"]
        assert "key" in daemon.failures[0][1] and daemon.stale == 0
        assert w.proc.sad.find(SPI_BA, Direction.OUT) is None
    finally:
        w.seqmap.close()
        daemon.close()
        there.close()


def test_specs_cross_the_channel_unchanged() -> None:
    """The compact encoding of SA and policy specs (field values, addresses as integers) gives back
    equal objects of the same types, IPv4 and IPv6, with and without the optional parts."""
    v4 = gcm_sa(SPI_AB, Direction.IN, "192.0.2.2", "192.0.2.1", KEY_AB)
    v6 = replace(
        gcm_sa(SPI_BA, Direction.OUT, "2001:db8::1", "2001:db8::2", KEY_AB),
        selector=Selector(ip_network("2001:db8:1::/48"), ip_network("2001:db8:2::/64"), 6, 0, 443),
        lifetime=Lifetime(3600.0, 4000.0, 10**9, 2 * 10**9), encap=None, esn=True,
    )
    policy = PolicySpec("p", 3, Selector(ip_network("10.0.0.0/8"), ip_network("0.0.0.0/0")),
                        sa_src=ip_address("192.0.2.1"), peer="gw")
    msg = (7, "add_sa", (v4, v6, policy, SaState(1, Direction.IN, 3, 4, 5, 6.0, None, "mature", 64)))
    back = pickle.loads(channel._dumps(msg))
    assert back == msg
    assert [type(x) for x in back[2]] == [type(x) for x in msg[2]]
    assert type(back[2][1].src) is IPv6Address and type(back[2][2].selector.dst) is IPv4Network


def test_a_tunnels_specs_share_their_values_after_the_channel() -> None:
    """Each worker unpickles every SA (issue 16, memory per tunnel at 10,000 tunnels): a tunnel's two
    SAs and its policy, and SAs of other tunnels, come back holding the same address, prefix,
    lifetime and algorithm-name objects rather than a copy each — while still equal to what was sent."""
    sel = Selector(ip_network("10.1.0.0/24"), ip_network("10.2.0.0/24"))
    life = {"lifetime": Lifetime(1800.0, 2000.0), "policy_id": "p1"}
    out = replace(gcm_sa(SPI_AB, Direction.OUT, "192.0.2.1", "192.0.2.2", KEY_AB), selector=sel, **life)
    back_sel = Selector(sel.dst, sel.src)
    inb = replace(gcm_sa(SPI_BA, Direction.IN, "192.0.2.2", "192.0.2.1", KEY_AB), selector=back_sel, **life)
    a = pickle.loads(channel._dumps((1, "add_sa", (out,))))[2][0]
    b = pickle.loads(channel._dumps((2, "add_sa", (inb,))))[2][0]
    again = pickle.loads(channel._dumps((3, "add_sa", (out,))))[2][0]
    assert (a, b) == (out, inb)
    assert a.selector.src is b.selector.dst and a.src is b.dst and a.lifetime is b.lifetime
    assert a.encr is b.encr and a.policy_id is b.policy_id
    assert again.selector is a.selector and again.encap is a.encap
