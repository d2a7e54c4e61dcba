"""systemd integration without systemd (issue 14): sd_notify datagrams to a fake NOTIFY_SOCKET, a
whole-process-group SIGTERM, and ``systemd-analyze verify`` of the unit in ``contrib/systemd``."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ipsecd.daemon.notify import notify

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "systemd" / "ipsecd.service"


def _listener(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    return sock


def test_notify_sends_one_datagram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False  # not under systemd: nothing to do
    with _listener(str(tmp_path / "notify")) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        assert notify("READY=1\nSTATUS=up") is True
        assert sock.recv(4096) == b"READY=1\nSTATUS=up"
    abstract = f"@ipsecd-test-{os.getpid()}"
    with _listener("\0" + abstract[1:]) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", abstract)
        assert notify("STOPPING=1") is True and sock.recv(4096) == b"STOPPING=1"
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    with caplog.at_level(logging.WARNING, "ipsecd"):
        assert notify("READY=1") is False
    assert "cannot notify systemd" in caplog.text


def test_ready_then_a_clean_stop_when_the_whole_group_gets_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "empty.rsc"
    script.write_text("")
    ports = []
    for _ in range(2):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    with _listener(str(tmp_path / "notify")) as sock:
        env = {
            **os.environ,
            "NOTIFY_SOCKET": str(tmp_path / "notify"),
            "PYTHONPATH": os.pathsep.join(sys.path),
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ipsecd",
                "--control",
                str(tmp_path / "control"),
                "run",
                "--config",
                str(script),
                "--dataplane",
                "memory",
                "--ike-port",
                str(ports[0]),
                "--natt-port",
                str(ports[1]),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            assert sock.recv(4096).startswith(b"READY=1\nSTATUS=IKE on UDP ")
            os.killpg(proc.pid, signal.SIGTERM)  # as systemd's KillMode=control-group would
            assert sock.recv(4096).startswith(b"STOPPING=1")
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "ipsecd stopped" in out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_unit_verifies(tmp_path: Path) -> None:
    ipsecd = shutil.which("ipsecd", path=str(Path(sys.executable).parent)) or sys.executable
    unit = tmp_path / "ipsecd.service"  # ExecStart where this checkout's ipsecd is installed
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/ipsecd", ipsecd))
    got = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120
    )
    assert got.returncode == 0, got.stderr
    assert "ipsecd.service" not in got.stderr, got.stderr  # no complaint about our unit
