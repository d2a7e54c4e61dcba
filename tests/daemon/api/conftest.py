"""A configuration with the API and REST services on loopback, served from a thread of its own.

The servers run in their own event loop in a background thread, so the tests (and the client
libraries, which are synchronous) talk to them over real sockets as a router's clients would.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ipsecd.daemon.api.backend import Backend
from ipsecd.daemon.api.server import ApiOptions, ApiServers
from ipsecd.mgmt import Config, Session, open_config
from ipsecd.mgmt.passwords import hash_password
from ipsecd.mgmt.values import quote


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    config: Config
    servers: ApiServers
    loop: asyncio.AbstractEventLoop
    ports: dict[str, int]

    def console(self, line: str) -> str:
        result = Session(self.config).execute(line)
        assert result.rc == 0, result.stderr
        return result.stdout


@functools.cache
def setup_script() -> str:
    """Users with passwords, hashed once per test session (scrypt is slow on purpose; the stored
    form imports as it is)."""
    admin, reader, writer = (quote(hash_password(p)) for p in ("adminpw", "readpw", "writepw"))
    return (f"/user set admin password={admin}\n"
            f"/user add name=reader group=read password={reader}\n"
            "/user group add name=api-write policy=api,rest-api,read,write\n"
            f"/user add name=writer group=api-write password={writer}\n")


def serve_in_thread(servers: ApiServers) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    """Start ``servers`` in an event loop of their own thread; stop with
    ``loop.call_soon_threadsafe(loop.stop)``
    (they are closed then) and join the thread."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(servers.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(servers.close())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30)
    return loop, thread


@pytest.fixture
def running() -> Iterator[Running]:
    config = open_config(None)
    ports = {name: free_port() for name in ("api", "www", "www-ssl", "metrics")}
    config.import_script(setup_script() + "".join(f"/ip service set {name} disabled=no port={ports[name]}\n"
                                                  for name in ("api", "www", "www-ssl")), "setup.rsc")
    servers = ApiServers(config, Backend(config), ApiOptions(("127.0.0.1",), ("127.0.0.1", ports["metrics"])))
    loop, thread = serve_in_thread(servers)
    yield Running(config, servers, loop, ports)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
