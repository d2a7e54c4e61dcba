"""Where a command line runs: the live daemon over its control socket, or the database directly.

Control protocol (server: ``ipsecd.daemon.control``): Unix stream socket; the client sends one JSON
line ``{"command": "<line>", "json": <bool>}`` and reads one JSON line ``{"rc", "stdout", "stderr"}``.
When nothing accepts a connection on the socket, the command runs on the SQLite database instead
(its parent directories are created), so ``exec``/``console``/``import`` work without a daemon;
``/certificate`` then works on the store beside the database, which the daemon loads when it starts.
"""

from __future__ import annotations

import json
import socket

from ipsecd.pki.store import CertificateStore, store_directory

from .certificate import StoreRuntime
from .errors import ConfigError
from .model import Config, open_config
from .session import CommandResult, Session

CONNECT_TIMEOUT = 1.0
REPLY_TIMEOUT = 120.0


class ControlUnavailable(Exception):
    """No daemon accepts connections on the control socket."""


def _recv_line(sock: socket.socket) -> bytes:
    buf = bytearray()
    while not buf.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def remote_execute(path: str, line: str, as_json: bool) -> CommandResult:
    """Run ``line`` in the daemon; ControlUnavailable if nothing listens on ``path``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(path)
        except OSError as exc:
            raise ControlUnavailable(str(exc)) from None
        sock.settimeout(REPLY_TIMEOUT)
        try:
            sock.sendall(json.dumps({"command": line, "json": as_json}).encode() + b"\n")
            raw = _recv_line(sock)
        except OSError as exc:
            return CommandResult(1, "", f"control socket {path}: {exc}\n")
    finally:
        sock.close()
    try:
        reply = json.loads(raw)
        return CommandResult(int(reply["rc"]), str(reply.get("stdout", "")), str(reply.get("stderr", "")))
    except (ValueError, KeyError, TypeError):
        return CommandResult(1, "", f"control socket {path}: malformed reply from the daemon\n")


class Target:
    """Runs absolute command lines on the daemon if one listens, else on the database."""

    def __init__(self, db: str, control: str) -> None:
        self.db, self.control = db, control
        self._config: Config | None = None
        self.remote = True

    def execute(self, line: str, as_json: bool = False) -> CommandResult:
        if self.remote:
            try:
                return remote_execute(self.control, line, as_json)
            except ControlUnavailable:
                self.remote = False
        if self._config is None:
            self._config = open_config(self.db)
        return Session(self._config, StoreRuntime(self._store)).execute(line, as_json)

    def _store(self) -> CertificateStore:
        """The daemon's certificate store, beside the database: ``/certificate`` works without it."""
        directory = store_directory(self.db)
        try:
            return CertificateStore(directory)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"certificate store {directory}: {exc}") from None
