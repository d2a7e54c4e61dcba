"""Control-socket server: one JSON line in, one out; bad input answered, never a crash."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from ipsecd.daemon.control import ControlError, ControlServer, Reply


async def _ask(path: Path, raw: bytes) -> dict[str, object]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(raw)
    await writer.drain()
    line = await reader.readline()
    writer.close()
    return json.loads(line)  # type: ignore[no-any-return]


def test_roundtrip_and_bad_requests(tmp_path: Path) -> None:
    calls: list[tuple[str, bool]] = []

    async def handler(cmd: str, as_json: bool) -> Reply:
        calls.append((cmd, as_json))
        if cmd == "crash":
            raise RuntimeError("boom")
        return Reply(0, stdout=f"ran {cmd}\n")

    async def main() -> None:
        path = tmp_path / "run" / "control"
        server = ControlServer(path, handler)
        await server.start()
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        ok = await _ask(path, b'{"command": "/ip ipsec peer print", "json": true}\n')
        assert ok == {"rc": 0, "stdout": "ran /ip ipsec peer print\n", "stderr": ""}
        assert calls == [("/ip ipsec peer print", True)]
        assert (await _ask(path, b"not json\n"))["rc"] == 2
        assert (await _ask(path, b'{"command": 5}\n'))["rc"] == 2
        assert (await _ask(path, b'{"command": "x", "json": "yes"}\n'))["rc"] == 2
        crashed = await _ask(path, b'{"command": "crash"}\n')
        assert crashed["rc"] == 1 and "boom" in str(crashed["stderr"])
        # a second daemon on the same path is refused while the first listens
        with pytest.raises(ControlError, match="another daemon"):
            await ControlServer(path, handler).start()
        await server.close()
        assert not path.exists()

    asyncio.run(main())


def test_stale_socket_is_replaced(tmp_path: Path) -> None:
    async def handler(cmd: str, as_json: bool) -> Reply:
        return Reply(0)

    async def main() -> None:
        path = tmp_path / "control"
        first = ControlServer(path, handler)
        await first.start()
        assert first._server is not None
        first._server.close()  # dies without cleaning up: the socket file stays
        await first._server.wait_closed()
        assert path.exists()
        second = ControlServer(path, handler)
        await second.start()
        assert (await _ask(path, b'{"command": "x"}\n'))["rc"] == 0
        await second.close()

    asyncio.run(main())
