"""The control-socket server: ``ipsecd exec`` and ``ipsecd console`` talking to a running daemon.

Protocol (shared with the client in ``mgmt``): a Unix stream socket; the client sends one JSON line
``{"command": str, "json": bool}`` and reads one JSON line ``{"rc": int, "stdout": str, "stderr": str}``,
then the connection closes. ``{"events": true}`` instead makes the connection the daemon's event
stream, one JSON object per line (``ipsecd events``). rc follows DESIGN.md §4: 0 success, 1 refused command,
2 usage error.

The socket lives in a directory only the daemon's user can enter (0700) and is itself 0600: whoever
can connect can change the configuration. A stale socket left by a dead daemon is replaced; a live
one is refused so two daemons never share a control path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("ipsecd.control")

MAX_REQUEST = 1 << 20  # one command line; anything longer is refused, never buffered without bound


@dataclass(frozen=True, slots=True)
class Reply:
    rc: int
    stdout: str = ""
    stderr: str = ""

    def encode(self) -> bytes:
        return json.dumps({"rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}).encode() + b"\n"


Handler = Callable[[str, bool], Awaitable[Reply]]
Stream = Callable[[asyncio.StreamWriter], Awaitable[None]]


#: What ``_one`` answers for ``{"events": true}``: the connection becomes an event stream.
_STREAM = Reply(0)


class ControlError(Exception):
    """The control socket cannot be opened (another daemon is listening, no permission)."""


def _in_use(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


class ControlServer:
    def __init__(self, path: str | os.PathLike[str], handler: Handler, stream: Stream | None = None) -> None:
        self.path = Path(path)
        self.handler = handler
        self.stream = stream  # {"events": true}: JSON lines until the client goes (ipsecd events)
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ControlError(f"cannot create control directory {directory}: {exc.strerror}") from exc
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise ControlError(f"control path {self.path} exists and is not a socket")
            if _in_use(self.path):
                raise ControlError(f"another daemon is listening on {self.path}")
            self.path.unlink()
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path),
                                                           limit=MAX_REQUEST + 1)
        except OSError as exc:
            raise ControlError(f"cannot listen on {self.path}: {exc.strerror}") from exc
        finally:
            os.umask(old_umask)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            reply = await self._one(reader)
            if reply is _STREAM and self.stream is not None:
                await self.stream(writer)
                return
            writer.write(reply.encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader) -> Reply:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=30)
        except (ValueError, asyncio.LimitOverrunError):
            return Reply(2, stderr="control request too long")
        except TimeoutError:
            return Reply(2, stderr="control request timed out")
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return Reply(2, stderr="control request is not one JSON line")
        if isinstance(request, dict) and request.get("events") is True and self.stream is not None:
            return _STREAM
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            return Reply(2, stderr='control request needs {"command": str, "json": bool}')
        as_json = request.get("json", False)
        if not isinstance(as_json, bool):
            return Reply(2, stderr='control request "json" must be true or false')
        try:
            return await self.handler(request["command"], as_json)
        except Exception as exc:  # the daemon stays up whatever one command does
            log.exception("control command %r failed", request["command"])
            return Reply(1, stderr=f"internal error: {type(exc).__name__}: {exc}")
