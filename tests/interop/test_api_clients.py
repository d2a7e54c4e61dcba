"""The RouterOS API clients people use, unchanged, against ipsecd's API service (issue 14).

``librouteros`` (GPL-2.0-or-later) and ``routeros-api`` (MIT) are test-only dependencies; neither is
imported by the package. They run in-process against the servers on loopback: no namespaces needed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.daemon.api.conftest import Running, free_port, running

librouteros = pytest.importorskip("librouteros")
routeros_api = pytest.importorskip("routeros_api")

__all__ = ["running"]  # the fixture, shared with tests/daemon/api


def test_librouteros_lists_adds_changes_and_removes(running: Running) -> None:
    api = librouteros.connect(
        host="127.0.0.1", username="admin", password="adminpw", port=running.ports["api"]
    )
    try:
        peers = api.path("ip", "ipsec", "peer")
        peers.add(name="lr", address="192.0.2.10", **{"exchange-mode": "ike2"})
        (peer,) = list(peers)
        assert peer["name"] == "lr" and peer["address"] == "192.0.2.10/32" and peer["disabled"] is False
        api.path("ip", "ipsec", "identity").add(peer="lr", secret="s3cret")
        policies = api.path("ip", "ipsec", "policy")
        policies.add(peer="lr", tunnel="yes", **{"src-address": "10.1.0.0/16", "dst-address": "10.2.0.0/16"})
        peers.update(**{".id": peer[".id"], "passive": True})
        assert [p["passive"] for p in peers.select("passive")] == [True]
        export = running.console("/export")
        assert "add address=192.0.2.10/32 exchange-mode=ike2 name=lr passive=yes" in export
        assert "dst-address=10.2.0.0/16 peer=lr src-address=10.1.0.0/16 tunnel=yes" in export
        with pytest.raises(librouteros.exceptions.TrapError, match='an item named "lr" already exists'):
            peers.add(name="lr")
        with pytest.raises(librouteros.exceptions.TrapError, match="cannot remove"):
            peers.remove(peer[".id"])  # the identity and the policy still refer to it
        (pol,) = [p for p in policies if p.get("peer") == "lr"]
        policies.remove(pol[".id"])
        api.path("ip", "ipsec", "identity").remove(*[i[".id"] for i in api.path("ip", "ipsec", "identity")])
        peers.remove(peer[".id"])
        assert list(peers) == []
        assert "lr" not in running.console("/export")
    finally:
        api.close()


def test_routeros_api_with_plaintext_login(running: Running) -> None:
    pool = routeros_api.RouterOsApiPool("127.0.0.1", username="admin", password="adminpw",
                                        port=running.ports["api"], plaintext_login=True)
    try:
        api = pool.get_api()
        peers = api.get_resource("/ip/ipsec/peer")
        peers.add(name="ra", address="192.0.2.20")
        (peer,) = peers.get(name="ra")
        assert peer["address"] == "192.0.2.20/32"
        peers.set(id=peer["id"], comment="via routeros-api")
        assert "comment=\"via routeros-api\"" in running.console("/ip ipsec peer export")
        with pytest.raises(routeros_api.exceptions.RouterOsApiCommunicationError,
                           match="invalid value for port"):
            peers.set(id=peer["id"], port="99999")
        peers.remove(id=peer["id"])
        assert peers.get() == []
    finally:
        pool.disconnect()


def test_read_only_user_is_refused_a_change(running: Running) -> None:
    api = librouteros.connect(
        host="127.0.0.1", username="reader", password="readpw", port=running.ports["api"]
    )
    try:
        assert [p["name"] for p in api.path("ip", "ipsec", "proposal")] == ["default"]
        with pytest.raises(librouteros.exceptions.TrapError, match="not enough permissions"):
            api.path("ip", "ipsec", "peer").add(name="no")
    finally:
        api.close()


def test_a_running_ipsecd_serves_its_enabled_services(tmp_path: Path) -> None:
    """``ipsecd run``: the services of its configuration listen, changes made over the API are the
    daemon's own (``exec`` over the control socket sees them), metrics answer, SIGTERM stops it."""
    ports = {name: free_port() for name in ("api", "www", "metrics", "ike", "natt")}
    script = tmp_path / "site.rsc"
    script.write_text(f"/user set admin password=pw\n/ip service set api disabled=no port={ports['api']}\n"
                      f"/ip service set www disabled=no port={ports['www']}\n")
    control = str(tmp_path / "control")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ipsecd",
            "--control",
            control,
            "--db",
            str(tmp_path / "db"),
            "run",
            "--config",
            str(script),
            "--dataplane",
            "memory",
            "--ike-port",
            str(ports["ike"]),
            "--natt-port",
            str(ports["natt"]),
            "--api-listen",
            "127.0.0.1",
            "--metrics-listen",
            f"127.0.0.1:{ports['metrics']}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", ports["metrics"]), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (
                    proc.stdout.read() if proc.stdout else ""
                )
                time.sleep(0.1)
        api = librouteros.connect(host="127.0.0.1", username="admin", password="pw", port=ports["api"])
        api.path("ip", "ipsec", "peer").add(name="live", address="192.0.2.77", passive="yes")
        api.close()
        shown = subprocess.run([sys.executable, "-m", "ipsecd", "--control", control, "exec",
                                "/ip ipsec peer print"], env=env, capture_output=True, text=True, timeout=30)
        assert "live" in shown.stdout and "192.0.2.77/32" in shown.stdout, shown.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=10) as resp:
            assert "ipsecd_xfrm_in_no_states_total 0" in resp.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
