"""``ipsecd run`` as an operator uses it: two daemons from .rsc files (memory data plane, loopback,
unprivileged ports), ``ipsecd exec`` over the control socket, SIGTERM sends DELETEs, bad config refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ipsecd.daemon.demo import demo_rsc, free_ports

REPO = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(REPO / "src"), PYTHONUNBUFFERED="1")


def _ipsecd(tmp: Path, name: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ipsecd",
        "--db",
        str(tmp / f"{name}.db"),
        "--control",
        str(tmp / f"{name}.ctl"),
        *args,
    ]


def _exec(tmp: Path, name: str, command: str) -> list[dict[str, str]]:
    r = subprocess.run(
        _ipsecd(tmp, name, "exec", command, "--json"), capture_output=True, text=True, env=ENV, timeout=30
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_two_daemons_exec_and_clean_shutdown(tmp_path: Path) -> None:
    ike, natt = free_ports()
    procs = {}
    logs = []
    try:
        for name in ("B", "A"):
            rsc = tmp_path / f"{name}.rsc"
            rsc.write_text(demo_rsc(name, ike))
            log = open(tmp_path / f"{name}.log", "w")
            logs.append(log)
            procs[name] = subprocess.Popen(
                _ipsecd(
                    tmp_path,
                    name,
                    "run",
                    "--config",
                    str(rsc),
                    "--dataplane",
                    "memory",
                    "--ike-port",
                    str(ike),
                    "--natt-port",
                    str(natt),
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=ENV,
            )
            for _ in range(200):
                if (tmp_path / f"{name}.ctl").exists():
                    break
                time.sleep(0.05)
        for _ in range(100):
            peers = _exec(tmp_path, "B", "/ip ipsec active-peers print")
            if (
                peers
                and peers[0]["state"] == "established"
                and _exec(tmp_path, "B", "/ip ipsec installed-sa print")
            ):
                break
            time.sleep(0.1)
        assert peers[0]["remote-address"] == "127.0.0.1" and peers[0]["side"] == "responder"
        assert len(_exec(tmp_path, "A", "/ip ipsec installed-sa print")) == 2
        procs["A"].send_signal(signal.SIGTERM)
        assert procs["A"].wait(timeout=10) == 0
        for _ in range(50):
            if not _exec(tmp_path, "B", "/ip ipsec active-peers print"):
                break
            time.sleep(0.1)
        assert _exec(tmp_path, "B", "/ip ipsec active-peers print") == []  # A's DELETE arrived
        assert not (tmp_path / "A.ctl").exists()
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=10)
        for log in logs:
            log.close()
    log_b = (tmp_path / "B.log").read_text()
    assert "IKE SA established as responder" in log_b and "gone" in log_b


def test_bad_configuration_is_one_line_rc1(tmp_path: Path) -> None:
    rsc = tmp_path / "bad.rsc"
    rsc.write_text(
        "/ip ipsec peer add name=x address=10.0.0.1 exchange-mode=ike2\n"
        '/ip ipsec identity add peer=x secret=""\n'
    )
    r = subprocess.run(
        _ipsecd(
            tmp_path,
            "x",
            "run",
            "--config",
            str(rsc),
            "--dataplane",
            "memory",
            "--ike-port",
            "0",
            "--natt-port",
            "0",
        ),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "secret" in r.stderr


def test_run_reads_a_routeros7_export_with_its_defaults(tmp_path: Path) -> None:
    """A compact RouterOS 7 export leaves the router's default-profile values out; ``run --defaults
    routeros7`` reads it as that router would (issue 15), while ``run`` alone keeps the manual's."""
    rsc = tmp_path / "ros7.rsc"
    rsc.write_text("/ip ipsec peer\nadd address=192.0.2.9/32 name=branch\n")
    ike, natt = free_ports()
    seen = {}
    for dialect in ("routeros7", None):
        name = dialect or "manual"
        extra = ["--defaults", dialect] if dialect else []
        proc = subprocess.Popen(
            _ipsecd(tmp_path, name, "run", "--config", str(rsc), *extra, "--dataplane", "memory",
                    "--ike-port", str(ike), "--natt-port", str(natt)),
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=ENV,
        )
        try:
            for _ in range(200):
                if (tmp_path / f"{name}.ctl").exists():
                    break
                time.sleep(0.05)
            (profile,) = _exec(tmp_path, name, "/ip ipsec profile print detail")
            seen[name] = (profile["dpd-interval"], profile["dh-group"], profile["enc-algorithm"])
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    assert seen["routeros7"] == ("8s", "modp2048,modp1024", "aes-128,3des")
    assert seen["manual"] != seen["routeros7"]


def test_run_config_shows_the_scripts_output(tmp_path: Path) -> None:
    """Issue 15: ``run --config`` dropped what the script shows; its ``:put`` and ``print`` lines
    are logged, one record each (control characters escaped by the daemon's formatter)."""
    rsc = tmp_path / "put.rsc"
    rsc.write_text('/ip ipsec peer add name=branch address=192.0.2.9/32\n'
                   ':put ("peers: " . [:len [/ip ipsec peer find]])\n'
                   ':put "bell\\07"\n/ip ipsec peer print terse\n')
    ike, natt = free_ports()
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            _ipsecd(tmp_path, "p", "run", "--config", str(rsc), "--dataplane", "memory",
                    "--ike-port", str(ike), "--natt-port", str(natt)),
            stdout=log, stderr=subprocess.STDOUT, env=ENV,
        )
        try:
            for _ in range(200):
                if (tmp_path / "p.ctl").exists():
                    break
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    text = log_path.read_text()
    assert f"{rsc}: peers: 1\n" in text and f"{rsc}: bell\\x07\n" in text, text
    assert f'{rsc}:  0     name="branch" address=192.0.2.9/32' in text, text
