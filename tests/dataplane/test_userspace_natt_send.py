"""The backend's own NAT-T sends (issue 17 finding 5) never take the peers' datagrams.

The fallback socket is bound to the NAT-T port with SO_REUSEPORT, so while open it is one of the
port's receivers: kept open and never read, it swallowed the share of inbound IKE the kernel's
reuseport hash gave it. A strongSwan IKE_AUTH retransmission then never reached the daemon
(tests/interop: the lost IKE_AUTH response, when the first response was refused by nftables).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from ipsecd.dataplane.userspace import udp
from ipsecd.dataplane.userspace.backend import TunDataPlane
from ipsecd.dataplane.userspace.channel import WorkerGone, WorkerRefused


class _Chan:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def call(self, timeout: float, op: str, *args: Any) -> None:
        raise self.error


def _backend(error: Exception, port: int) -> TunDataPlane:
    dp = TunDataPlane.__new__(TunDataPlane)  # only what _natt_send reads: no TUN, no workers
    dp._chans = [_Chan(error)]  # type: ignore[list-item]
    dp._natt_port, dp._mark = port, 0
    return dp


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_send_the_live_worker_could_not_make_is_not_repeated_from_a_socket_of_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[int] = []
    monkeypatch.setattr(udp, "natt_socket", lambda port, *a, **k: opened.append(port))
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    dp = _backend(WorkerRefused("Operation not permitted"), _free_port())
    dp._natt_send("send_ike", b"ike", "127.0.0.1", peer.getsockname())
    assert opened == []
    peer.close()


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
