"""Two ``ipsecd run --dataplane tun`` daemons in namespaces (root): the daemon supervises its packet
workers and shuts down cleanly when the whole process group is signalled (issue 17, findings 2, 5).

- ``kill -9`` of the initiator's worker: it is logged and replaced, and pings through the tunnel
  resume within seconds on the same IKE SA — no DPD (its interval is far longer than the wait).
- SIGTERM to the initiator's process group (systemd's ``KillMode=control-group``): the workers
  ignore it, the daemon sends its DELETEs through them and stops them; the responder drops the IKE SA
  at once, and the initiator exits 0 with no traceback.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.interop.sswan import Ipsecd, Topology, wait_until
from tests.interop.test_ipsecd_pair import _rsc

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]


def _workers(daemon: Ipsecd) -> list[int]:
    """The pids of the daemon's packet workers (its spawned children, not the resource tracker)."""
    assert daemon.proc is not None
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if ppid == daemon.proc.pid and b"multiprocessing.spawn" in cmd:
            out.append(int(entry))
    return out


def _up(tmp: Path, topo: Topology) -> tuple[Ipsecd, Ipsecd]:
    left, right = topo.left, topo.right
    resp = Ipsecd(right, tmp, _rsc(right.wan, right.lan, left.wan, left.lan, passive=True)).start()
    init = Ipsecd(left, tmp, _rsc(left.wan, left.lan, right.wan, right.lan, passive=False)).start()
    wait_until(
        "the tunnel to carry a ping",
        lambda: left.ping(right.lan, src=left.lan, count=1, wait=1)[1] == 1,
        20,
        0.2,
    )
    return init, resp


def test_a_killed_worker_is_replaced_and_traffic_resumes_without_dpd(tmp_path: Path) -> None:
    with Topology("ipdk") as topo:
        init, resp = _up(tmp_path, topo)
        try:
            workers = _workers(init)
            assert len(workers) == 1
            os.kill(workers[0], signal.SIGKILL)
            start = time.monotonic()
            wait_until(
                "pings through the tunnel again",
                lambda: topo.left.ping(topo.right.lan, src=topo.left.lan, count=1, wait=1)[1] == 1,
                15,
                0.1,
            )
            assert time.monotonic() - start < 10
            assert topo.left.ping(topo.right.lan, src=topo.left.lan, count=5) == (5, 5)
            assert _workers(init) != workers and len(_workers(init)) == 1
            log = init.log_text()
            assert "killed by signal 9" in log and "replaced in" in log
            # the same IKE SA carries on: no DPD, no new IKE SA
            assert log.count("IKE SA established") == 1 and "gone" not in log
            assert "Traceback" not in log
        except BaseException:
            print(
                f"--- initiator ---\n{init.log_text()[-5000:]}\n--- responder ---\n{resp.log_text()[-3000:]}"
            )
            raise


def test_sigterm_to_the_process_group_still_sends_the_deletes(tmp_path: Path) -> None:
    with Topology("ipdg") as topo:
        init, resp = _up(tmp_path, topo)
        try:
            assert init.proc is not None and "established" in resp.exec("/ip ipsec active-peers print").stdout
            assert len(_workers(init)) == 1
            os.killpg(init.proc.pid, signal.SIGTERM)  # the daemon, its workers, the resource tracker
            assert init.proc.popen.wait(timeout=15) == 0
            wait_until("the responder to drop the IKE SA (DELETE received)",
                       lambda: "established" not in resp.exec("/ip ipsec active-peers print").stdout, 5, 0.1)
            assert resp.exec("/ip ipsec installed-sa print").stdout.count("spi=") == 0
            log = init.log_text()
            assert "Traceback" not in log and "BrokenPipeError" not in log
        except BaseException:
            print(
                f"--- initiator ---\n{init.log_text()[-5000:]}\n--- responder ---\n{resp.log_text()[-3000:]}"
            )
            raise
