"""The event stream: plain facts of IKE events as JSON, never keys; SSE on the REST services."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
from ipaddress import ip_address
from pathlib import Path

import pytest

from ipsecd.daemon.api.events import QUEUE, EventHub, event_json, stream_lines
from ipsecd.daemon.control import ControlServer, Reply
from ipsecd.ike.events import ChildSaInstalled, IkeSaEstablished, NegotiationFailed
from ipsecd.policy.types import Direction, IpsecProto, Mode, SaSpec

from .conftest import Running


def spec(spi: int, direction: Direction) -> SaSpec:
    return SaSpec(
        spi,
        direction,
        IpsecProto.ESP,
        Mode.TUNNEL,
        ip_address("192.0.2.1"),
        ip_address("192.0.2.2"),
        "aes-128-gcm",
        b"\x11" * 20,
        "null",
        b"\x22" * 20,
    )


ESTABLISHED = IkeSaEstablished(
    b"\x01" * 8,
    b"\x02" * 8,
    True,
    ("192.0.2.1", 500),
    ("192.0.2.2", 4500),
    "fqdn:a",
    "fqdn:b",
    "aes-256-gcm",
    "null",
    "hmac-sha256",
    "ecp256",
    False,
    True,
    86400.0,
)
INSTALLED = ChildSaInstalled("child", spec(0xC0FFEE01, Direction.IN), spec(0xC0FFEE02, Direction.OUT))
FAILED = NegotiationFailed("IKE_AUTH", "AUTHENTICATION_FAILED", "the peer's AUTH does not verify", True)


def test_plain_facts_and_never_keys() -> None:
    data = event_json(ESTABLISHED, "gw")
    assert data["event"] == "ike-sa-established" and data["peer"] == "gw"
    assert data["local_spi"] == "0101010101010101" and data["remote"] == "192.0.2.2:4500"
    assert data["remote_id"] == "fqdn:b" and data["encr"] == "aes-256-gcm" and data["nat_remote"] is True
    child = event_json(INSTALLED)
    assert child["inbound"] == "0xc0ffee01" and child["outbound"] == "0xc0ffee02"
    text = json.dumps(child)
    assert "1111" not in text and "2222" not in text and "key" not in text
    assert event_json(FAILED)["detail"] == "the peer's AUTH does not verify"


def test_slow_subscribers_lose_events_not_memory() -> None:
    hub = EventHub()
    queue = hub.subscribe()
    assert queue is not None
    for _ in range(QUEUE + 10):
        hub.publish(object(), FAILED)
    assert queue.qsize() == QUEUE and hub.unsubscribe(queue) == 10
    assert hub.counts[("negotiation-failed", "AUTHENTICATION_FAILED")] == QUEUE + 10


def test_no_subscriber_costs_a_count_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every IKE event of every tunnel comes here; with nobody listening no JSON is made."""
    import ipsecd.daemon.api.events as events

    made: list[object] = []
    monkeypatch.setattr(events, "event_json", lambda event, peer=None: made.append(event) or {})
    hub = EventHub()
    hub.publish(object(), FAILED)
    hub.publish(object(), ESTABLISHED)
    assert made == [] and hub.counts[("negotiation-failed", "AUTHENTICATION_FAILED")] == 1
    assert hub.counts[("ike-sa-established", "")] == 1
    queue = hub.subscribe()
    assert queue is not None
    hub.publish(object(), FAILED)
    assert made == [FAILED] and queue.qsize() == 1


def test_server_sent_events_on_rest(running: Running) -> None:
    with socket.create_connection(("127.0.0.1", running.ports["www"]), timeout=10) as s:
        auth = base64.b64encode(b"reader:readpw")
        s.sendall(b"GET /events HTTP/1.1\r\nAuthorization: Basic " + auth + b"\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head
        hub = running.servers.events
        asyncio.run_coroutine_threadsafe(_publish(hub), running.loop).result(10)
        body = head.split(b"\r\n\r\n", 1)[1]
        while body.count(b"\n\n") < 2:
            body += s.recv(4096)
    first, second = body.decode().split("\n\n")[:2]
    assert first.startswith("event: ike-sa-established\ndata: ")
    assert json.loads(first.split("data: ", 1)[1])["remote_id"] == "fqdn:b"
    assert second.startswith("event: negotiation-failed\n")


async def _publish(hub: EventHub) -> None:
    hub.publish(object(), ESTABLISHED)
    hub.publish(object(), FAILED)


def test_event_stream_needs_a_user(running: Running) -> None:
    with socket.create_connection(("127.0.0.1", running.ports["www"]), timeout=10) as s:
        s.sendall(b"GET /events HTTP/1.1\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 401")


def test_ipsecd_events_follows_the_control_socket(tmp_path: Path) -> None:
    """``ipsecd events`` against a control socket serving the daemon's stream."""
    hub = EventHub()
    path = str(tmp_path / "ctl" / "control")
    server = ControlServer(path, _no_commands, lambda writer: stream_lines(hub, writer))
    loop = asyncio.new_event_loop()
    loop.run_until_complete(server.start())
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipsecd", "--control", path, "events"],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        text=True,
    )
    try:
        async def publish_when_subscribed() -> None:
            while not hub._queues:
                await asyncio.sleep(0.05)
            hub.publish(object(), FAILED)

        loop.run_until_complete(asyncio.wait_for(publish_when_subscribed(), 30))
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert json.loads(line)["notify"] == "AUTHENTICATION_FAILED"
    finally:
        proc.terminate()
        proc.wait(10)
        loop.run_until_complete(server.close())
        pending = asyncio.all_tasks(loop)  # the stream notices a gone client on its next keep-alive
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


async def _no_commands(command: str, as_json: bool) -> Reply:
    return Reply(1, stderr="no commands here")


def test_ipsecd_events_without_a_daemon(tmp_path: Path) -> None:
    got = subprocess.run([sys.executable, "-m", "ipsecd", "--control", str(tmp_path / "none"), "events"],
                         capture_output=True, text=True, timeout=30,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert got.returncode == 1 and "no daemon" in got.stderr
