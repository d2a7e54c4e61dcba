"""Network-namespace helpers for root tests and benchmarks: two namespaces joined by a veth pair.

Names carry a unique prefix (``ipdp`` + the process id + a counter) so parallel runs and other areas'
namespaces never collide, and :meth:`Pair.close` removes everything it created — the tests use it
through a fixture finalizer, so it runs on failure paths too. Processes started with
:meth:`Pair.popen` are remembered and killed (by pid) on close.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing import resource_tracker
from typing import Any

_counter = itertools.count()
_CLONE_NEWNET = 0x40000000


def setns(fd: int) -> None:
    """setns(2) into a network namespace (``os.setns`` only exists from Python 3.12)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def sh(*args: str, check: bool = True, timeout: float = 30) -> str:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(args)}: {r.returncode}: {r.stderr.strip()} {r.stdout.strip()}")
    return r.stdout


class Pair:
    """Namespaces ``a`` and ``b``; veth ``a``-side 10.231.x.1/24, ``b``-side .2; loopbacks up;
    "LAN" addresses 10.232.1.1/32 (a) and 10.232.2.1/32 (b) on ``lo``."""

    def __init__(self, prefix: str = "dpns") -> None:
        tag = f"{prefix}{os.getpid() % 100000}x{next(_counter)}"
        self.a, self.b = f"{tag}A", f"{tag}B"
        self.veth_a, self.veth_b = f"{tag[:12]}a", f"{tag[:12]}b"
        self.addr_a, self.addr_b = "10.231.0.1", "10.231.0.2"
        self.lan_a, self.lan_b = "10.232.1.1", "10.232.2.1"
        self._procs: list[subprocess.Popen[Any]] = []
        self._made: list[str] = []
        try:
            for ns in (self.a, self.b):
                sh("ip", "netns", "add", ns)
                self._made.append(ns)
            sh("ip", "link", "add", self.veth_a, "netns", self.a, "type", "veth", "peer", "name", self.veth_b,
               "netns", self.b)
            for ns, dev, addr, lan in ((self.a, self.veth_a, self.addr_a, self.lan_a),
                                       (self.b, self.veth_b, self.addr_b, self.lan_b)):
                self.run(ns, "ip", "link", "set", "lo", "up")
                self.run(ns, "ip", "addr", "add", f"{lan}/32", "dev", "lo")
                self.run(ns, "ip", "addr", "add", f"{addr}/24", "dev", dev)
                self.run(ns, "ip", "link", "set", dev, "up")
        except BaseException:
            self.close()
            raise

    def run(self, ns: str, *cmd: str, check: bool = True, timeout: float = 30) -> str:
        return sh("ip", "netns", "exec", ns, *cmd, check=check, timeout=timeout)

    def popen(self, ns: str, *cmd: str, **kw: Any) -> subprocess.Popen[Any]:
        p = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], **kw)
        self._procs.append(p)
        return p

    def close(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        self._procs.clear()
        for ns in self._made:
            # killing what still runs inside (only processes of this namespace: started by us)
            pids = sh("ip", "netns", "pids", ns, check=False).split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check=False)
        self._made.clear()


class InNetns:
    """Enter a namespace in this process (``setns``) and come back: for building a backend that runs
    in one namespace from the test process. Not thread-safe; tests use it around construction only."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self._old = -1

    def __enter__(self) -> InNetns:
        # multiprocessing's resource tracker (started by a backend's first spawned worker) must not
        # be born inside the namespace: Pair.close kills what runs there, and the next test warned
        # that the tracker "died unexpectedly"
        resource_tracker.ensure_running()
        self._old = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open(f"/var/run/netns/{self.ns}", os.O_RDONLY)
        try:
            setns(fd)
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc: object) -> None:
        setns(self._old)
        os.close(self._old)


def wait_for(pred: Any, timeout: float = 5.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


_SINK = """
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
srv = socket.create_server((sys.argv[1], int(sys.argv[2])), family=family)
print("listening", flush=True)
conn, _ = srv.accept()
total = 0
while data := conn.recv(1 << 16):
    total += len(data)
conn.sendall(total.to_bytes(8, "big"))
"""

_SOURCE = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[4])), source_address=(sys.argv[2], 0), timeout=20)
chunk = bytes(range(256)) * 256
for _ in range(int(sys.argv[3]) // len(chunk)):
    c.sendall(chunk)
c.shutdown(socket.SHUT_WR)
print(int.from_bytes(c.recv(8), "big"))
"""


def tcp_transfer(
    spawn_server: Callable[[list[str]], subprocess.Popen[str]],
    run_client: Callable[[list[str]], str],
    server_ip: str,
    client_src: str,
    nbytes: int,
    port: int = 5201,
) -> int:
    """A TCP transfer that ends only when the server has read every byte and said how many (unlike
    iperf3 -n, which stops counting while its data is still in the sender's socket buffer); returns
    that count, all of which crossed the tunnel. ``spawn_server`` starts an argv in the server's
    namespace (stdout piped, text), ``run_client`` runs one in the client's and returns its stdout."""
    srv = spawn_server([sys.executable, "-c", _SINK, server_ip, str(port)])
    try:
        assert srv.stdout is not None and srv.stdout.readline() == "listening\n"
        received = int(
            run_client([sys.executable, "-c", _SOURCE, server_ip, client_src, str(nbytes), str(port)])
        )
    except BaseException:
        srv.kill()
        raise
    finally:
        srv.wait(10)
    assert received == nbytes // 65536 * 65536 > 0
    return received
