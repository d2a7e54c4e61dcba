"""The glue with the real IKE core over loopback UDP (two in-process gateways, memory data plane):
runtime commands, live configuration changes, shutdown DELETEs, one log line per unknown peer."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
from dataclasses import replace

import pytest

from ipsecd.daemon.api.metrics import render
from ipsecd.daemon.demo import GATEWAYS, Gateway, _until, free_ports
from ipsecd.ike.events import ChildSaInstalled, IkeSaEstablished
from ipsecd.policy.events import EndpointChanged


async def _pair() -> tuple[Gateway, Gateway]:
    ike, natt = free_ports()
    a, b = Gateway("A", ike, natt), Gateway("B", ike, natt)
    await b.start()
    await a.start()
    await _until("both CHILD_SAs", lambda: bool(a.children()) and bool(b.children()))
    return a, b


def _rows(gw: Gateway, menu: str) -> list[dict[str, str]]:
    reply = gw.execute(f"/ip ipsec {menu} print", True)
    assert reply.rc == 0, reply.stderr
    return json.loads(reply.stdout)  # type: ignore[no-any-return]


def test_runtime_views_and_commands(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        a, b = await _pair()
        try:
            (peer,) = _rows(b, "active-peers")
            assert peer["state"] == "established" and peer["side"] == "responder"
            assert peer["remote-address"] == GATEWAYS["A"][0] and peer["natt-peer"] == "yes"
            assert len(_rows(a, "installed-sa")) == 2
            assert b.daemon.engine.router.half_open == {}  # established: no IKE_SA_INIT state kept
            (pol,) = [p for p in _rows(a, "policy") if p.get("peer") == "gw-B"]
            assert pol["ph2-count"] == "1" and pol["ph2-state"] == "established"
            # issue 14: setup time observed per side; Wireshark's tables of the live SAs
            for gw, side in ((a, "initiator"), (b, "responder")):
                hist = gw.glue.runtime.setup_seconds[side]
                assert hist.count == 1 and 0 < hist.total < 5 and hist.counts[-1] == 1
                metrics = render(gw.glue.runtime, {})
                assert f'ipsecd_ike_sa_setup_seconds_count{{side="{side}"}} 1' in metrics
                assert f'ipsecd_ike_sa_setup_seconds_bucket{{side="{side}",le="+Inf"}} 1' in metrics
            esp = a.execute("/ip ipsec installed-sa wireshark-keys show-sensitive", False).stdout
            ike = a.execute("/ip ipsec active-peers wireshark-keys show-sensitive", False).stdout
            assert len(esp.splitlines()) == 2 and len(ike.splitlines()) == 1
            assert ike.startswith(a.glue.runtime.active_peer_rows()[0]["spii"] + ",")
            # installed-sa flush empties the data plane and tells B; traffic brings a new CHILD_SA up
            old = {c.inbound.spi for c in a.children()}
            assert a.execute("/ip ipsec installed-sa flush", False).rc == 0
            assert _rows(a, "installed-sa") == []
            await _until("B to drop the flushed CHILD_SA", lambda: not b.children(), 5)
            await a.ping(GATEWAYS["B"][1], count=1)  # dropped: it raises an acquire
            a.glue.on_dataplane_events()
            # the data plane repeats an unanswered Acquire (every 30 s): while the CHILD_SA is still
            # being negotiated, that must not start a second one
            pid = next(p for p, spec in a.glue.spd.installed.items() if spec.peer == "gw-B")
            a.glue._acquire(pid)
            await _until("a new CHILD_SA", lambda: bool(a.children()) and bool(b.children()), 5)
            await asyncio.sleep(0.3)
            assert len(a.children()) == 1 and len(b.children()) == 1
            assert not old & {c.inbound.spi for c in a.children()}
            assert await a.ping(GATEWAYS["B"][1], count=2) == (2, 2)
            # a NAT rebinding the data plane saw is reported to the operator, naming the peer
            # (out_spi None: the backend could not move the outbound SA, the operator is warned)
            child = next(iter(a.children()))
            old_ep = (GATEWAYS["B"][0], 4500)
            moves = [EndpointChanged(child.inbound.spi, child.outbound.spi, old_ep, ("192.0.2.99", 40000)),
                     EndpointChanged(child.inbound.spi, None, old_ep, ("192.0.2.98", 40001))]
            pending = [moves]  # delivered once: the glue polls until the data plane has nothing more
            # type: ignore[method-assign]
            a.glue.dataplane.poll_events = lambda: pending.pop() if pending else []
            with caplog.at_level(logging.INFO, logger="ipsecd"):
                a.glue.on_dataplane_events()
            said = [
                r.getMessage() for r in caplog.records if "peer gw-B: NAT mapping moved" in r.getMessage()
            ]
            assert "192.0.2.99:40000" in said[0] and "ESP follows" in said[0]
            assert "192.0.2.98:40001" in said[1] and f"still goes to {old_ep[0]}:4500" in said[1]
            del a.glue.dataplane.poll_events
            # kill-connections: B deletes (DELETE reaches A), A (not passive) comes back by itself
            assert b.execute("/ip ipsec active-peers kill-connections", False).rc == 0
            await _until("B to forget A", lambda: not _rows(b, "active-peers"), 5)
            await _until("A to re-initiate", lambda: bool(b.children()) and bool(a.children()), 10)
            # the glue's indexes follow its SAs (per-event look-ups do not scan every tunnel)
            (sa_a,) = a.glue.tracked
            assert list(a.glue.index.of_peer) == ["gw-B"] and list(a.glue.index.of_peer["gw-B"]) == [sa_a]
            assert set(a.glue.index.of_child) == {c.inbound.spi for c in a.children()}
        finally:
            for gw in (a, b):
                await gw.daemon.stop()
        for gw in (a, b):
            assert gw.glue.tracked == {} and gw.glue.index.of_peer == {} and gw.glue.index.of_child == {}

    asyncio.run(main())


def test_live_configuration_changes() -> None:
    async def main() -> None:
        a, b = await _pair()
        try:
            # removing A's peer tears its IKE SA down with a DELETE: B sees it go
            assert a.execute("/ip ipsec identity remove [find]", False).rc == 0
            assert a.execute("/ip ipsec policy remove [find peer=gw-B]", False).rc == 0
            assert a.execute("/ip ipsec peer remove [find name=gw-B]", False).rc == 0
            await _until("B to lose the peer", lambda: not _rows(b, "active-peers"), 5)
            assert _rows(a, "active-peers") == []
            # adding it back brings the tunnel up again
            from ipsecd.daemon.demo import demo_rsc

            for line in demo_rsc("A", a.daemon.transport.ike_port).splitlines():
                if line.startswith(("/ip ipsec peer", "/ip ipsec identity", "/ip ipsec policy")):
                    assert a.execute(line, False).rc == 0, line
            await _until("the tunnel again", lambda: bool(a.children()) and bool(b.children()), 10)
        finally:
            for gw in (a, b):
                await gw.daemon.stop()

    asyncio.run(main())


def test_unknown_peer_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        ike, natt = free_ports()
        b = Gateway("B", ike, natt)
        await b.start()
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.3", 0))
            init = struct.pack("!8s8sBBBBII", b"S" * 8, bytes(8), 33, 0x20, 34, 0x08, 0, 28)
            for _ in range(3):
                s.sendto(init, (GATEWAYS["B"][0], ike))
            await asyncio.sleep(0.2)
            s.close()
            assert b.glue.tracked == {} and b.daemon.engine.sas() == []
        finally:
            await b.daemon.stop()

    with caplog.at_level(logging.WARNING, logger="ipsecd"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if "127.0.0.3" in r.getMessage()]
    assert len(lines) == 1 and "address=127.0.0.3/32" in lines[0]


def test_ranges_a_child_sa_leaves_out_are_logged_once_per_peer(caplog: pytest.LogCaptureFixture) -> None:
    """A CHILD_SA negotiated from disjoint ranges carries one pair (ike.v2.ts.covering): the operator
    is told which ranges are not carried — once, not per SA (a road-warrior peer has many)."""
    carried: list[str] = []

    async def main() -> None:
        a, b = await _pair()
        try:
            (sa,) = a.glue.tracked
            child = a.children()[0]
            carried.append(f"carries {child.outbound.selector.src} -> {child.outbound.selector.dst} only")
            for n in (1, 2):  # two more CHILD_SAs (new SPIs) with the same left-out range
                event = ChildSaInstalled(
                    "net",
                    replace(child.inbound, spi=0xDEAD0000 + n),
                    replace(child.outbound, spi=0xBEEF0000 + n),
                    left_out=("10.9.0.0-10.9.255.255",),
                )
                with caplog.at_level(logging.WARNING, logger="ipsecd"):
                    a.glue.on_event(sa, event)
        finally:
            for gw in (a, b):
                await gw.daemon.stop()

    asyncio.run(main())
    (line,) = [r.getMessage() for r in caplog.records if "10.9.0.0-10.9.255.255" in r.getMessage()]
    assert line.startswith("peer gw-B: CHILD_SA ") and f"{carried[0]}, not 10.9.0.0-10.9.255.255:" in line, (
        line
    )


def test_nat_keepalives_while_behind_a_nat() -> None:
    """An IKE SA whose NAT-D showed a NAT in front of us gets NAT-keepalives (RFC 3948 §4) from the
    NAT-T port at the keepalive interval, until it goes; the peer's transport counts them."""

    async def main() -> None:
        a, b = await _pair()
        try:
            (sa,) = a.glue.tracked
            # the demo's forced encapsulation (a faked NAT-D) already put A's SA behind a NAT, its
            # keepalive timer pending at the default 20 s: start again from none, at 0.1 s
            assert sa in a.glue.keepalives.behind_nat
            a.glue.keepalives.behind_nat.clear()
            a.daemon.timers.cancel(("natt-keepalive",))
            a.glue.keepalives.interval = 0.1
            before = b.daemon.transport.counters["keepalives"]
            established = IkeSaEstablished(
                sa.spi_i,
                sa.spi_r,
                True,
                *sa.addr,
                "a",
                "b",
                "aes-128-cbc",
                "sha256",
                "sha256",
                "ecp256",
                nat_local=True,
                nat_remote=False,
                lifetime=3600.0,
            )
            counters = b.daemon.transport.counters
            # further NATed SAs coming up (here: the event again, every 50 ms) must not put the
            # keepalives off: they keep coming once per interval meanwhile, not once per event
            loop = asyncio.get_running_loop()
            start = loop.time()
            for _ in range(12):
                a.glue.on_event(sa, established)
                await asyncio.sleep(0.05)
            got = counters["keepalives"] - before
            assert 3 <= got <= (loop.time() - start) / 0.1 + 1, got
            a.glue._forget(a.glue.tracked[sa], "test")
            await asyncio.sleep(0.15)  # one may still be on its way
            got = counters["keepalives"]
            await asyncio.sleep(0.3)
            assert counters["keepalives"] == got  # none for a gone SA
        finally:
            for gw in (a, b):
                await gw.daemon.stop()

    asyncio.run(main())


def test_ike_read_off_the_pipe_by_the_event_poll_is_handled_at_once() -> None:
    """The TUN data plane delivers events and UDP/4500 IKE messages on the same pipes, and draining
    for one stores the other. An IKE message drained by the periodic event poll must be handed to the
    transport in that same call, not when the pipe is next readable (CI saw a 2 s delay)."""

    async def main() -> None:
        a, b = await _pair()
        try:
            dp = a.glue.dataplane
            queued: list[tuple[bytes, tuple[str, int], str]] = []
            delivered: list[tuple[bytes, tuple[str, int], tuple[str, int]]] = []

            def poll_events() -> list[object]:  # the drain finds an IKE message, no event
                if not delivered and not queued:
                    queued.append((b"ike-message", ("192.0.2.7", 4500), "192.0.2.1"))
                return []

            class Natt:  # the NAT-T capability of a TUN-like data plane (dataplane/base.py)
                @staticmethod
                def recv_ike() -> list[tuple[bytes, tuple[str, int], str]]:
                    out = list(queued)
                    queued.clear()
                    return out

            dp.poll_events = poll_events  # type: ignore[method-assign]
            dp.natt_socket = Natt  # type: ignore[misc,assignment]
            a.daemon.transport.ike_from_dataplane = (  # type: ignore[method-assign]
                lambda data, local, remote: delivered.append((data, local, remote)))
            a.glue.on_dataplane_events()
            # with the address it arrived on, not one guessed by a route lookup (issue 9)
            assert delivered == [
                (b"ike-message", ("192.0.2.1", a.daemon.transport.natt_port), ("192.0.2.7", 4500))
            ]
            del dp.poll_events, dp.natt_socket
        finally:
            for gw in (a, b):
                await gw.daemon.stop()

    asyncio.run(main())
