#!/usr/bin/env python3
"""Certificate-authenticated IKE_SA + CHILD_SA setups per second, ipsecd vs strongSwan as responder.

Issue 12's benchmark: the setup rate and responder CPU per SA with RSA-2048 and ECDSA P-256
gateway certificates (the initiator, a charon, always signs with its ECDSA P-256 client
certificate), each against the pre-shared-key figure of the same responder, and against a strongSwan
responder with the same certificates, all in the same run. The machinery (namespaces, the VICI
driver threads, CPU from ``/proc/*/schedstat``) is ``bench/ike_rate.py``'s; certificates are the
strongSwan ``pki`` vectors (tests/vectors/strongswan-pki): ``gw-rsa`` (by the root) and ``gw-ecdsa``
(by an intermediate, which travels in a second CERT payload), ``client`` for the initiator.

Run as root from the repository:  .venv/bin/python bench/ike_cert_rate.py [--total 300] [--conc 8]
                                  [--auths psk,rsa2048,ecdsa256] [--log-level warning]

The last lines are the figures: per auth method ipsecd's rate and CPU/SA, strongSwan's, their ratio,
and the cost of certificates against the pre-shared key for each responder.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ike_rate import CHARON_TUNING, measure, rate_connection, responder_rsc
from tests.interop.sswan import Charon, Ipsecd, Netns, Topology

from ipsecd.pki.store import CertificateStore

VECTORS = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "strongswan-pki"
GROUP = "ecp256"
CLIENT_ID = "alice@example.com"
#: auth method -> (gateway certificate, its intermediates, the gateway's identity)
GATEWAYS = {
    "rsa2048": ("gw-rsa", (), "gw.example.com"),
    "ecdsa256": ("gw-ecdsa", ("intermediate",), "gw2.example.com"),
}


def cert_connection(me: Netns, other: Netns, cert: str, my_id: str, other_id: str) -> str:
    """``ike_rate``'s connection with public-key authentication: ``cert`` as our certificate."""
    conf = rate_connection(me, other, my_id, other_id, GROUP).split("secrets {")[0]
    conf = conf.replace(
        "        local {\n            auth = psk\n",
        f"        local {{\n            auth = pubkey\n            certs = {cert}.crt\n",
    )
    return conf.replace("auth = psk", "auth = pubkey")


def install(charon: Charon, cert: str, extra_cas: tuple[str, ...] = ()) -> None:
    """Our certificate and key, the root CA (and intermediates) into charon's swanctl directory."""
    for name, sub in ((cert, "x509"), ("ca", "x509ca"), *((ca, "x509ca") for ca in extra_cas)):
        (charon.swanctl_dir / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(VECTORS / f"{name}.crt", charon.swanctl_dir / sub / f"{name}.crt")
    (charon.swanctl_dir / "private").mkdir(parents=True, exist_ok=True)
    shutil.copy(VECTORS / f"{cert}.key", charon.swanctl_dir / "private" / f"{cert}.key")


def ipsecd_rsc(topo: Topology, auth: str) -> str:
    rsc = responder_rsc(topo, GROUP)
    if auth == "psk":
        return rsc
    head, _, rest = rsc.partition("/ip ipsec identity add")
    _, _, tail = rest.partition("remote-id=fqdn:left.test\n")
    return (
        f"{head}/ip ipsec identity add peer=init auth-method=digital-signature certificate=gw "
        f"remote-id=user-fqdn:{CLIENT_ID}\n{tail}"
    )


def one(
    topo: Topology, workdir: Path, which: str, auth: str, total: int, conc: int, level: str
) -> dict[str, float]:
    wd = workdir / f"{which}-{auth}"
    init = Charon(topo.left, wd, loglevel=-1, threads=96, extra=CHARON_TUNING)
    gw, intermediates, gw_id = GATEWAYS.get(auth, ("", (), "right.test"))
    if auth != "psk":
        install(init, "client")
    init.start()
    stop: Callable[[], object]
    if which == "strongswan":
        resp = Charon(topo.right, wd, loglevel=-1, threads=32, extra=CHARON_TUNING)
        if auth == "psk":
            conf = rate_connection(topo.right, topo.left, "right.test", "left.test", GROUP)
        else:
            install(resp, gw, intermediates)
            conf = cert_connection(topo.right, topo.left, gw, gw_id, CLIENT_ID)
        resp.start()
        resp.load(conf)
        pid, stop = resp.pid, resp.stop
    else:
        daemon = Ipsecd(topo.right, wd, ipsecd_rsc(topo, auth), extra_args=["--log-level", level])
        if auth != "psk":
            store = CertificateStore(daemon.dir / "certificates")
            store.import_file(VECTORS / "ca.crt", name="ca", trusted=True)
            for ca in intermediates:
                store.import_file(VECTORS / f"{ca}.crt", name=ca, trusted=False)
            store.import_file(VECTORS / f"{gw}.crt", name="gw")
            store.import_file(VECTORS / f"{gw}.key")
        daemon.start()
        pid, stop = (daemon.proc.pid if daemon.proc else None), daemon.stop
    if auth == "psk":
        init.load(rate_connection(topo.left, topo.right, "left.test", "right.test", GROUP))
    else:
        init.load(cert_connection(topo.left, topo.right, "client", CLIENT_ID, gw_id))
    lat, errors, wall, spent = measure(init, pid, stop, total, conc, f"{which} {auth}")
    cpu_ns = sum(spent.values())  # the responder's whole session: daemon and workers, or charon
    ok = len(lat)
    return {
        "ok": ok,
        "errors": len(errors),
        "sa_per_s": ok / wall if wall else 0.0,
        "cpu_ms": cpu_ns / 1e6 / ok if ok else float("nan"),
        "p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total", type=int, default=300)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--auths", default="psk,rsa2048,ecdsa256")
    ap.add_argument("--log-level", default="warning", help="ipsecd's (the charons log nothing)")
    args = ap.parse_args()
    auths = args.auths.split(",")
    res: dict[tuple[str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ipd-certrate-") as tmp, Topology("ipcr") as topo:
        for auth in auths:
            for which in ("strongswan", "ipsecd"):
                try:
                    res[which, auth] = one(
                        topo, Path(tmp), which, auth, args.total, args.conc, args.log_level
                    )
                except (RuntimeError, TimeoutError) as exc:
                    print(f"{which} {auth}: FAILED: {exc}", file=sys.stderr)
    print(
        f"{'responder':10s} {'auth':9s} {'ok':>5s} {'err':>4s} {'SA/s':>7s} {'cpu ms/SA':>9s} {'p50 ms':>7s}"
    )
    for (which, auth), r in res.items():
        print(
            f"{which:10s} {auth:9s} {r['ok']:5.0f} {r['errors']:4.0f} {r['sa_per_s']:7.1f} "
            f"{r['cpu_ms']:9.2f} {r['p50_ms']:7.1f}"
        )
    for auth in auths:
        i, s = res.get(("ipsecd", auth)), res.get(("strongswan", auth))
        if i is None or s is None:
            continue
        line = (
            f"{auth}: ipsecd {i['sa_per_s']:.0f} SA/s {i['cpu_ms']:.2f} ms CPU/SA; strongSwan "
            f"{s['sa_per_s']:.0f} SA/s {s['cpu_ms']:.2f} ms CPU/SA; rate ratio "
            f"{i['sa_per_s'] / max(s['sa_per_s'], 1e-9):.2f}, CPU ratio {i['cpu_ms'] / s['cpu_ms']:.2f}"
        )
        ip, sp = res.get(("ipsecd", "psk")), res.get(("strongswan", "psk"))
        if auth != "psk" and ip is not None and sp is not None:
            line += (
                f"; vs psk: ipsecd {i['cpu_ms'] / ip['cpu_ms']:.2f}x CPU, "
                f"strongSwan {s['cpu_ms'] / sp['cpu_ms']:.2f}x CPU"
            )
        print(line)
    return 0 if res else 1


if __name__ == "__main__":
    raise SystemExit(main())
