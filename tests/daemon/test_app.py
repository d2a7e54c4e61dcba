"""Daemon life cycle with a stand-in glue: sockets + control socket up, commands answered, DELETEs
sent at shutdown before the sockets close."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

from ipsecd.daemon.app import Daemon
from ipsecd.daemon.control import Reply
from ipsecd.daemon.logs import ReasonLimiter
from ipsecd.daemon.transport import Addr
from ipsecd.ike.sa import Addr as SaAddr
from ipsecd.ike.sa import IkeSaProtocol


class StubGlue:
    """Records calls; at shutdown sends one datagram (the stand-in for a DELETE) to ``sink``."""

    def __init__(self, sink: Addr) -> None:
        self.sink = sink
        self.calls: list[str] = []
        self.daemon: Daemon | None = None
        self.limiter = ReasonLimiter()

    def attach(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.calls.append("attach")

    def new_responder(self, data: bytes, addr: SaAddr, now: float) -> IkeSaProtocol | None:
        return None

    def on_event(self, sa: IkeSaProtocol, event: object) -> None:
        pass

    def on_dataplane_events(self) -> None:
        if "poll" not in self.calls:
            self.calls.append("poll")

    def start(self) -> None:
        self.calls.append("start")

    def shutdown(self) -> None:
        assert self.daemon is not None
        self.daemon.transport.send(b"DELETE", ("127.0.0.1", self.daemon.transport.ike_port), self.sink)
        self.calls.append("shutdown")

    def close(self) -> None:
        self.calls.append("close")


def test_lifecycle(tmp_path: Path) -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(3)
    glue = StubGlue(sink.getsockname())
    control = tmp_path / "ctl" / "control"
    daemon = Daemon(glue, execute=lambda cmd, js: Reply(0, stdout=f"{cmd}|{js}"), control_path=str(control),
                    ike_port=0, natt_port=0, local_addresses=("127.0.0.1",))

    async def main() -> int:
        task = asyncio.create_task(daemon.main())
        await asyncio.wait_for(daemon.ready.wait(), 5)
        reader, writer = await asyncio.open_unix_connection(str(control))
        writer.write(b'{"command": "/ip ipsec active-peers print", "json": true}\n')
        reply = json.loads(await reader.readline())
        writer.close()
        assert reply == {"rc": 0, "stdout": "/ip ipsec active-peers print|True", "stderr": ""}
        await asyncio.sleep(0.1)
        daemon.request_stop()
        return await task

    assert asyncio.run(main()) == 0
    assert glue.calls == ["attach", "start", "poll", "shutdown", "close"]
    assert sink.recvfrom(100)[0] == b"DELETE"
    assert not control.exists() and daemon.transport.bound == []
    sink.close()


def test_port_in_use_is_one_line_and_rc1(tmp_path: Path, capsys: Any) -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    daemon = Daemon(
        StubGlue(("127.0.0.1", 9)),
        execute=lambda c, j: Reply(0),
        control_path=str(tmp_path / "c"),
        ike_port=port,
        natt_port=0,
        local_addresses=("127.0.0.1",),
    )
    assert asyncio.run(daemon.main()) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"127.0.0.1:{port}" in err[0]
    blocker.close()
