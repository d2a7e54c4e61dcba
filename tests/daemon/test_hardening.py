"""The glue under hostile input and the wiring issue 9 found missing, with two in-process gateways:
peer strings escaped in logs (issue 17 finding 6), a spoofed flood leaving every per-source structure
bounded and the log quiet (findings 4 and 8), hard expiry and ESP liveness acted on, and a peer named
by DNS resolved off the loop (issue 15)."""

from __future__ import annotations

import asyncio
import json
import logging
import tracemalloc
from dataclasses import replace

import pytest

from ipsecd.daemon import glue, logs
from ipsecd.daemon.demo import GATEWAYS, Gateway, _until, free_ports
from ipsecd.ike.events import AuthenticationFailed, IkeSaEstablished
from ipsecd.policy.events import HardExpire
from ipsecd.policy.types import Direction


async def _pair() -> tuple[Gateway, Gateway]:
    ike, natt = free_ports()
    a, b = Gateway("A", ike, natt), Gateway("B", ike, natt)
    await b.start()
    await a.start()
    await _until("both CHILD_SAs", lambda: bool(a.children()) and bool(b.children()))
    return a, b


async def _stop(*gws: Gateway) -> None:
    for gw in gws:
        await gw.daemon.stop()


FORGED = "fqdn:x\n12:00:00 INFO ipsecd: peer gw-B: IKE SA established\x1b[2J\x1b]0;owned\x07"


def test_a_peer_id_cannot_forge_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        a, b = await _pair()
        try:
            (sa,) = a.glue.tracked
            event = IkeSaEstablished(
                sa.spi_i,
                sa.spi_r,
                True,
                *sa.addr,
                "fqdn:gw-a.demo",
                FORGED,
                "aes-128-cbc",
                "sha256",
                "sha256",
                "ecp256",
                nat_local=False,
                nat_remote=False,
                lifetime=3600.0,
            )
            with caplog.at_level(logging.INFO, logger="ipsecd"):
                a.glue.on_event(sa, event)
                a.glue.on_event(sa, AuthenticationFailed(sa.addr[1], f"remote id {FORGED} is not {FORGED}"))
        finally:
            await _stop(a, b)

    asyncio.run(main())
    said = [r.getMessage() for r in caplog.records if "x\\n12:00:00" in r.getMessage()]
    assert len(said) == 2
    for line in said:
        assert "\n" not in line and "\x1b" not in line and "\x07" not in line
        assert "\\x1b[2J\\x1b]0;owned\\x07" in line


def _glue_memory() -> int:
    """Bytes allocated (and still live) by the glue's modules, the IKE driver's excepted."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(True, "*/ipsecd/daemon/*"),
            tracemalloc.Filter(True, "*/ipsecd/util/*"),
            tracemalloc.Filter(False, "*/ipsecd/daemon/engine.py"),
        ]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


@pytest.mark.parametrize("family", [4, 6])
def test_a_spoofed_flood_leaves_the_glue_bounded_and_the_log_quiet(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, family: int
) -> None:
    """Issue 17 findings 4 and 8: IKE_SA_INIT and 4500-tagged IKE from 2 × 1,500 spoofed IPv4 or IPv6
    sources no peer matches (the ceilings scaled down to 500 so that the test runs in seconds). The
    second 1,500 must not grow the glue's memory (every per-source structure is full and forgets),
    and the glue writes a handful of lines and a summary, not one per source."""
    n = 1500
    ceilings = ((glue, "SELECTION_CACHE"), (logs, "NOTES"))
    for module, name in ceilings:
        monkeypatch.setattr(module, name, 500, raising=False)

    def flood(gw: Gateway, first: int) -> None:
        local = (GATEWAYS["B"][0], gw.daemon.transport.ike_port)
        sources = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" if family == 4 else f"2001:db8::{i:x}"
                   for i in range(first, first + n)]  # IPv6 sources have no other ceiling either
        now = gw.daemon.now()
        for src in sources:
            gw.glue.new_responder(b"", (local, (src, 500)), now)
        chunks = [
            [(b"\0" * 4, (src, 4500), local[0]) for src in sources[i : i + 1000]] for i in range(0, n, 1000)
        ]

        class Natt:  # a data plane owning UDP/4500 (dataplane/base.py NattSocket)
            @staticmethod
            def recv_ike() -> list[tuple[bytes, tuple[str, int], str]]:
                return chunks.pop() if chunks else []

        gw.glue.dataplane.natt_socket = Natt  # type: ignore[misc,assignment]
        gw.glue.on_dataplane_events()  # drains until the data plane has nothing more
        assert not chunks
        del gw.glue.dataplane.natt_socket

    async def main() -> tuple[int, int]:
        ike, natt = free_ports()
        b = Gateway("B", ike, natt)
        await b.start()
        tracemalloc.start()
        try:
            flood(b, 1)
            before = _glue_memory()
            flood(b, 1 + n)
            return _glue_memory() - before, len(b.glue.tracked)
        finally:
            tracemalloc.stop()
            await _stop(b)

    with caplog.at_level(logging.WARNING, logger="ipsecd"):
        grown, tracked = asyncio.run(main())
    assert tracked == 0
    assert grown < 20_000, f"{grown} bytes for {n} more spoofed sources"
    lines = [
        r.getMessage()
        for r in caplog.records
        if "no enabled ike2 peer" in r.getMessage() or "IKE_SA_INIT from no configured peer" in r.getMessage()
    ]
    assert len(lines) <= 12, lines[:13]


def test_hard_expiry_deletes_the_child_sa_at_both_ends() -> None:
    async def main() -> None:
        a, b = await _pair()
        try:
            (child,) = a.children()
            pending = [[HardExpire(child.inbound.spi, Direction.IN, by_bytes=False)]]
            # type: ignore[method-assign]
            a.glue.dataplane.poll_events = lambda: pending.pop() if pending else []
            a.glue.on_dataplane_events()
            del a.glue.dataplane.poll_events
            assert a.children() == []
            assert a.glue.dataplane.query_sa(child.inbound.spi, Direction.IN) is None
            await _until("B to drop it (DELETE)", lambda: not b.children(), 5)
        finally:
            await _stop(a, b)

    asyncio.run(main())


def test_esp_traffic_tells_dpd_the_peer_is_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 7296 §2.4: the data plane's inbound counters move, so the IKE SA's liveness clock does."""
    monkeypatch.setattr(glue, "LIVENESS_EVERY", 0.0)  # a sweep at every poll, not once a second

    async def main() -> None:
        a, b = await _pair()
        try:
            (t,) = a.glue.tracked.values()
            assert t.plan.dpd_interval
            t.sa.last_rx = a.daemon.now() - t.plan.dpd_interval  # a check is due
            a.glue.on_dataplane_events()
            assert t.sa.last_rx < a.daemon.now() - 1  # no ESP yet: nothing seen
            assert await b.ping(GATEWAYS["A"][1], count=2) == (2, 2)
            a.glue.on_dataplane_events()
            assert t.sa.last_rx == pytest.approx(a.daemon.now(), abs=0.5)
        finally:
            await _stop(a, b)

    asyncio.run(main())


def test_a_peer_named_by_dns_is_resolved_off_the_loop_and_initiated(caplog: pytest.LogCaptureFixture) -> None:
    asked: list[str] = []

    def lookup(name: str) -> list[str]:
        asked.append(name)
        if name == "nowhere.example":
            raise OSError("Name or service not known")
        return [GATEWAYS["B"][0]]

    async def main() -> None:
        ike, natt = free_ports()
        a, b = Gateway("A", ike, natt), Gateway("B", ike, natt)
        a.glue.lookup = lookup
        await b.start()
        await a.start()
        await _until("the tunnel", lambda: bool(a.children()), 10)
        try:
            assert a.execute("/ip ipsec peer set [find name=gw-B] address=nowhere.example", False).rc == 0
            await _until("the old SA to go", lambda: not a.children(), 5)
            await asyncio.sleep(0.2)
            assert a.glue.tracked == {}  # nothing to initiate to
            assert (
                a.execute("/ip ipsec peer set [find name=gw-B] address=branch1.sn.mynetname.net", False).rc
                == 0
            )
            await _until(
                "the tunnel to the resolved address", lambda: bool(a.children()) and bool(b.children()), 10
            )
            (peer,) = json.loads(a.execute("/ip ipsec active-peers print", True).stdout)
            assert peer["remote-address"] == GATEWAYS["B"][0]
            assert a.glue.runtime is not None
            (row,) = a.glue.runtime.rows("/ip ipsec peer")  # the peer's current-address
            assert row["name"] == "gw-B" and row["current-address"] == GATEWAYS["B"][0] and row[".id"]
        finally:
            await _stop(a, b)

    with caplog.at_level(logging.INFO, logger="ipsecd"):
        asyncio.run(main())
    assert asked[:2] == ["nowhere.example", "branch1.sn.mynetname.net"]
    said = [r.getMessage() for r in caplog.records]
    assert any("nowhere.example: cannot resolve" in s for s in said)
    assert any(f"branch1.sn.mynetname.net resolves to {GATEWAYS['B'][0]}" in s for s in said)


def test_peer_dead_resolves_again() -> None:
    async def main() -> None:
        a, b = await _pair()
        calls: list[str] = []
        try:
            (t,) = a.glue.tracked.values()
            a.glue.resolver.resolve = calls.append  # type: ignore[method-assign]
            t.plan = replace(t.plan, endpoint=replace(t.plan.endpoint, hostname="gw.example"))
            from ipsecd.ike.events import PeerDead

            a.glue.on_event(t.sa, PeerDead(t.sa.addr[1], "no answer to 5 liveness checks"))
        finally:
            await _stop(a, b)
        assert calls == ["gw.example"]

    asyncio.run(main())


def test_active_peers_count_ike_messages() -> None:
    """Issue 9: PeerRecord's IKE counters were never written (active-peers showed ESP only)."""

    async def main() -> None:
        a, b = await _pair()
        try:
            for gw in (a, b):
                (peer,) = json.loads(gw.execute("/ip ipsec active-peers print", True).stdout)
                # IKE_SA_INIT and IKE_AUTH each way, no ESP yet
                assert int(peer["rx-packets"]) >= 2 and int(peer["tx-packets"]) >= 2, peer
                assert int(peer["rx-bytes"]) > 300 and int(peer["tx-bytes"]) > 300, peer
            (t,) = a.glue.tracked.values()
            before = t.ike_tx_packets
            t.sa.delete()  # one INFORMATIONAL out, its response in
            a.daemon.engine.pump(t.sa)
            await _until("the DELETE's response", lambda: t.ike_rx_packets > 2, 5)
            assert t.ike_tx_packets == before + 1
        finally:
            await _stop(a, b)

    asyncio.run(main())
