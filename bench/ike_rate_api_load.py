#!/usr/bin/env python3
"""IKE setup rate of ``ipsecd run`` while its RouterOS API is hammered (issue 14).

The anchor, measured in the same run, is the same daemon's setup rate with the API enabled but
idle. The initiator is ``bench/ike_rate.py``'s: a charon in namespace ``<p>L`` driven over VICI;
the responder is ``ipsecd run`` (tun data plane, log level warning) in ``<p>R`` with ``/ip service
api`` on. While the setups run, ``--clients`` processes in the responder's namespace each loop
``/ip/ipsec/policy/print`` and ``/ip/ipsec/active-peers/print`` over one API connection as fast as
the daemon answers; their request rate is printed too.

Run as root from the repository:  .venv/bin/python bench/ike_rate_api_load.py [--total 200]
                                  [--conc 8] [--clients 4] [--repeat 3]
The last line is the figure: setups per second under API load, idle, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ike_rate import CHARON_TUNING, drive, load_initiator, responder_rsc
from tests.interop.sswan import REPO, Charon, Ipsecd, Proc, Topology

from ipsecd.mgmt.passwords import hash_password
from ipsecd.mgmt.values import quote

PASSWORD = "bench-api-pw"
HAMMER = """
import signal, socket, sys, time
from ipsecd.daemon.api.words import SentenceReader, encode_sentence
sock = socket.create_connection(("127.0.0.1", 8728))
reader, n, stop = SentenceReader(), 0, []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
def talk(*words):
    sock.sendall(encode_sentence(words))
    while True:
        for s in reader.feed(sock.recv(1 << 20)):
            if s[0] in ("!done", "!trap", "!fatal"):
                return s[0]
assert talk("/login", "=name=admin", "=password=%s") == "!done"
t0 = time.perf_counter()
while not stop:
    talk("/ip/ipsec/policy/print")
    talk("/ip/ipsec/active-peers/print")
    n += 2
print(f"{n} {time.perf_counter() - t0:.3f}", flush=True)
"""


def one(
    topo: Topology, workdir: Path, group: str, total: int, conc: int, clients: int
) -> tuple[float, float]:
    """(setups per second, API requests per second) with ``clients`` hammering (0: idle API)."""
    rsc = responder_rsc(topo, group) + (
        f"/user set admin password={quote(hash_password(PASSWORD))}\n"
        "/ip service set api disabled=no port=8728\n"
    )
    init = Charon(topo.left, workdir, loglevel=-1, threads=96, extra=CHARON_TUNING).start()
    daemon = Ipsecd(topo.right, workdir, rsc, extra_args=["--log-level", "warning"]).start()
    hammers: list[Proc] = []
    try:
        load_initiator(init, topo, group)
        warm, werr, _ = drive(init, 4, 1)
        if not warm:
            raise RuntimeError(f"warm-up failed: {werr[:1]}")
        for i in range(clients):
            hammers.append(
                topo.right.spawn(
                    [sys.executable, "-c", HAMMER % PASSWORD],
                    workdir / f"hammer{i}.log",
                    env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
                )
            )
        time.sleep(0.5 if clients else 0)  # logged in and busy before the first setup
        lat, errors, wall = drive(init, total, conc)
    finally:
        for h in hammers:
            h.stop(sig=signal.SIGTERM)
        daemon.stop()
        init.stop()
    if errors:
        print(f"{len(errors)} setups failed: {errors[0]}", file=sys.stderr)
    requests = 0.0
    for h in hammers:
        n, seconds = h.output().split()[-2:]
        requests += int(n) / max(float(seconds), 1e-9)
    return len(lat) / wall, requests


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total", type=int, default=200)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--group", default="ecp256")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    idle: list[float] = []
    loaded: list[float] = []
    api: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ipd-apiload-") as tmp, Topology("ipd4b") as topo:
        for i in range(args.repeat):  # interleaved: both see the same machine load
            rate, _ = one(topo, Path(tmp) / f"idle{i}", args.group, args.total, args.conc, 0)
            idle.append(rate)
            rate, reqs = one(topo, Path(tmp) / f"load{i}", args.group, args.total, args.conc, args.clients)
            loaded.append(rate)
            api.append(reqs)
            print(
                f"run {i}: idle API {idle[-1]:.1f} SA/s; {args.clients} API clients {loaded[-1]:.1f} SA/s "
                f"while answering {api[-1]:.0f} requests/s",
                flush=True,
            )
    mi, ml, ma = statistics.median(idle), statistics.median(loaded), statistics.median(api)
    print(
        f"IKE setups ({args.group}, {args.total} per run, median of {args.repeat}): {ml:.1f} SA/s with "
        f"{args.clients} API clients hammering ({ma:.0f} requests/s answered), {mi:.1f} SA/s with the API "
        f"idle; ratio {ml / mi:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
