"""``ipsecd demo``: the README's main job end to end (two gateways, real UDP, ESP, a rekey)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_in_seconds() -> None:
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "ipsecd", "demo"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "IKEv2 established" in out
    assert "traffic: 5 echo requests A->B through ESP, 5 echo replies back" in out
    assert "CHILD_SA rekeyed: inbound SPI" in out
    assert "traffic after rekey: 5 echo requests, 5 echo replies" in out
    for gw in "AB":
        for menu in ("active-peers", "installed-sa", "statistics"):
            assert f"[gateway {gw}] /ip ipsec {menu} print" in out
    # the rekeyed CHILD_SA's 5 ESP packets plus the IKE messages (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA)
    assert int(re.findall(r"rx-packets=(\d+)", out)[0]) >= 5 + 3 and "side=initiator" in out
    # installed-sa shows the algorithm family, its key size apart (as RouterOS)
    assert out.count("established") >= 3 and "aes-gcm" in out
    assert elapsed < 15, f"demo took {elapsed:.1f} s"
