"""``ipsecd dataplane static FILE.json``: a TUN data plane with static SAs and policies (no IKE).

Static (manual) keying for tests and benchmarks, so the data plane stands on its own. The file::

    {"tun": "ipsd0", "mtu": 1400, "workers": 1, "addresses": [],
     "policies": [{"id": "p1", "src": "10.1.0.0/24", "dst": "10.2.0.0/24", "protocol": 0,
                   "src-port": 0, "dst-port": 0, "action": "encrypt", "level": "require",
                   "ipsec-protocols": "esp", "tunnel": true,
                   "sa-src-address": "192.0.2.1", "sa-dst-address": "192.0.2.2"}],
     "sas": [{"spi": "0x1001", "direction": "out", "proto": "esp", "mode": "tunnel",
              "src": "192.0.2.1", "dst": "192.0.2.2", "enc-algorithm": "aes-128-gcm",
              "enc-key": "<hex, salt included>", "auth-algorithm": "null", "auth-key": "",
              "policy": "p1", "udp-encap": true, "esn": false, "replay-window": 128}]}

:func:`load_static` turns it into :class:`~ipsecd.policy.types.PolicySpec`/
:class:`~ipsecd.policy.types.SaSpec` lists (the API tests use); invalid content raises
:class:`StaticConfigError` with one line naming the entry. The command installs them into a
:class:`~ipsecd.dataplane.userspace.backend.TunDataPlane`, prints ``ready`` and runs until SIGTERM/SIGINT,
then prints the statistics that moved as JSON.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import sys
import threading
from typing import Any

from ipsecd.dataplane.errors import ConfigError
from ipsecd.policy.types import (
    Action,
    Direction,
    IpsecProto,
    Level,
    Mode,
    PolicySpec,
    SaSpec,
    Selector,
    UdpEncap,
)


class StaticConfigError(ValueError):
    """The static keying file is invalid (the message names the entry and the field)."""


def _int(v: Any) -> int:
    return int(v, 0) if isinstance(v, str) else int(v)


def load_static(doc: dict[str, Any]) -> tuple[list[PolicySpec], list[SaSpec]]:
    """Policies and SAs of a static keying document (see the module docstring)."""
    policies: list[PolicySpec] = []
    sas: list[SaSpec] = []
    for n, p in enumerate(doc.get("policies", [])):
        try:
            sa_src, sa_dst = p.get("sa-src-address"), p.get("sa-dst-address")
            policies.append(
                PolicySpec(
                    policy_id=str(p.get("id", f"static-{n}")),
                    order=int(p.get("order", n)),
                    selector=Selector(
                        ipaddress.ip_network(p["src"], strict=False),
                        ipaddress.ip_network(p["dst"], strict=False),
                        int(p.get("protocol", 0)),
                        int(p.get("src-port", 0)),
                        int(p.get("dst-port", 0)),
                    ),
                    action=Action(p.get("action", "encrypt")),
                    level=Level(p.get("level", "require")),
                    proto=IpsecProto[str(p.get("ipsec-protocols", "esp")).upper()],
                    tunnel=bool(p.get("tunnel", False)),
                    sa_src=ipaddress.ip_address(sa_src) if sa_src else None,
                    sa_dst=ipaddress.ip_address(sa_dst) if sa_dst else None,
                )
            )
        except (KeyError, ValueError, TypeError) as e:
            raise StaticConfigError(f"policy #{n}: {type(e).__name__}: {e}") from None
    for n, s in enumerate(doc.get("sas", [])):
        try:
            encap = s.get("udp-encap", False)
            sas.append(
                SaSpec(
                    spi=_int(s["spi"]),
                    direction=Direction(s["direction"]),
                    proto=IpsecProto[str(s.get("proto", "esp")).upper()],
                    mode=Mode(s.get("mode", "tunnel")),
                    src=ipaddress.ip_address(s["src"]),
                    dst=ipaddress.ip_address(s["dst"]),
                    encr=str(s.get("enc-algorithm", "null")),
                    encr_key=bytes.fromhex(s.get("enc-key", "")),
                    integ=str(s.get("auth-algorithm", "null")),
                    integ_key=bytes.fromhex(s.get("auth-key", "")),
                    policy_id=s.get("policy"),
                    encap=(
                        UdpEncap(**{k: int(v) for k, v in encap.items()})
                        if isinstance(encap, dict)
                        else UdpEncap()
                        if encap
                        else None
                    ),
                    esn=bool(s.get("esn", False)),
                    replay_window=int(s.get("replay-window", 128)),
                )
            )
        except (KeyError, ValueError, TypeError) as e:
            raise StaticConfigError(f"sa #{n}: {type(e).__name__}: {e}") from None
    return policies, sas


def _static(args: argparse.Namespace) -> int:
    from ipsecd.dataplane.userspace.backend import TunDataPlane
    from ipsecd.dataplane.userspace.tun import TunError

    try:
        with open(args.file) as f:
            doc = json.load(f)
        policies, sas = load_static(doc)
    except (OSError, json.JSONDecodeError, StaticConfigError) as e:
        print(f"ipsecd dataplane static: {e}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        dp = TunDataPlane(args.tun or doc.get("tun", "ipsecd0"), mtu=int(doc.get("mtu", 1400)),
                          addresses=list(doc.get("addresses", [])),
                          workers=args.workers or int(doc.get("workers", 1)),
                          natt_port=int(doc.get("natt-port", 4500)))
    except (OSError, TunError, ConfigError) as e:
        print(f"ipsecd dataplane static: {e}", file=sys.stderr)
        return 1
    with dp:
        try:
            for p in policies:
                dp.add_policy(p)
            for s in sas:
                dp.add_sa(s)
        except (OSError, TunError, ConfigError) as e:
            print(f"ipsecd dataplane static: {e}", file=sys.stderr)
            return 1
        print("ready", flush=True)
        while not stop.wait(1.0):
            for ev in dp.poll_events():
                print(f"event {ev}", flush=True)
        stats = {k: v for k, v in dp.statistics().items() if v}
        print(
            json.dumps(
                {
                    "statistics": stats,
                    "sas": {f"{s.spi:#x}/{s.direction.value}": _sa_counts(dp, s) for s in sas},
                }
            ),
            flush=True,
        )
    return 0


def _sa_counts(dp: Any, s: SaSpec) -> dict[str, int]:
    st = dp.query_sa(s.spi, s.direction)
    return {} if st is None else {"bytes": st.current_bytes, "packets": st.current_packets,
                                  "invalid": st.invalid_packets}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("dataplane", help="data-plane debugging (static keying)")
    sub = p.add_subparsers(dest="dataplane_command", required=True)
    s = sub.add_parser("static", help="run a TUN data plane with static SAs and policies from a JSON file")
    s.add_argument("file", help="static keying file (JSON: tun, mtu, workers, addresses, policies, sas)")
    s.add_argument("--tun", help="TUN device name (overrides the file)")
    s.add_argument("--workers", type=int, default=0, help="packet workers (overrides the file)")
    s.set_defaults(func=_static)
