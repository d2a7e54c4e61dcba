"""The backend's own NAT-T sends (issue 17 finding 5) never take the peers' datagrams.

The fallback socket is bound to the NAT-T port with SO_REUSEPORT, so while open it is one of the
port's receivers: kept open and never read, it swallowed the share of inbound IKE the kernel's
reuseport hash gave it. A strongSwan IKE_AUTH retransmission then never reached the daemon
(tests/interop: the lost IKE_AUTH response, when the first response was refused by nftables).
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from ipsecd.dataplane.userspace import udp
from ipsecd.dataplane.userspace.backend import TunDataPlane
from ipsecd.dataplane.userspace.channel import WorkerGone


class _Chan:
    """Worker 0's channel: a post raises ``error`` (None: the live worker takes it)."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.posted: list[tuple[str, tuple[Any, ...]]] = []
        self.events: list[object] = []
        self.failures: list[tuple[str, str]] = []

    def post(self, timeout: float, op: str, *args: Any) -> None:
        if self.error is not None:
            raise self.error
        self.posted.append((op, args))

    def drain(self) -> None:
        pass


def _backend(error: Exception | None, port: int) -> TunDataPlane:
    dp = TunDataPlane.__new__(TunDataPlane)  # only what _natt_send reads: no TUN, no workers
    dp._chans = [_Chan(error)]  # type: ignore[list-item]
    dp._starting = {}
    dp._natt_port, dp._mark, dp._events = port, 0, []
    return dp


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_send_the_live_worker_could_not_make_is_not_repeated_from_a_socket_of_ours(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The send is posted to the live worker (no round trip per IKE message); the worker's report
    that the host refused it is logged when it arrives, and nothing is sent again from here."""
    opened: list[int] = []
    monkeypatch.setattr(udp, "natt_socket", lambda port, *a, **k: opened.append(port))
    dp = _backend(None, _free_port())
    dp._natt_send("send_ike", b"ike", "127.0.0.1", ("127.0.0.1", 4500))
    chan = dp._chans[0]
    assert isinstance(chan, _Chan)
    assert chan.posted == [("send_ike", (b"ike", "127.0.0.1", ("127.0.0.1", 4500)))]
    chan.failures.append(("send_ike", "OSError: IKE to 127.0.0.1:4500 not sent: Operation not permitted"))
    with caplog.at_level(logging.WARNING, "ipsecd.dataplane"):
        dp._drain()
    assert "IKE to 127.0.0.1:4500 not sent: Operation not permitted" in caplog.text
    assert opened == [] and chan.failures == []


def test_the_fallback_socket_is_closed_once_it_has_sent() -> None:
    port = _free_port()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(2)
    dp = _backend(WorkerGone("data-plane worker is gone"), port)
    dp._natt_send("send_ike", b"DELETE", "127.0.0.1", peer.getsockname())
    data, (_, sport) = peer.recvfrom(100)
    assert data == b"\0\0\0\0DELETE" and sport == port
    # nothing of ours is left on the port: a socket without SO_REUSEPORT can bind it again
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("0.0.0.0", port))
    peer.close()
