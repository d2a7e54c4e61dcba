"""Test-only driver: one IKEv1 SA of ipsecd's sans-I/O core over real UDP sockets, no daemon.

Run inside a namespace (``python -m tests.interop.ikev1_driver …``): it binds UDP 500 and 4500 on
``--local``, initiates or answers one ISAKMP SA with one quick mode, and prints every event as a
JSON line on stdout. On port 4500 IKE messages carry the non-ESP marker (RFC 3948 §2.2); ESP that
arrives there is ignored (no data plane here). It stops after ``--seconds``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import select
import socket
import sys
import time
from ipaddress import ip_network

from ipsecd.ike.auth import StaticCredentials
from ipsecd.ike.v1.config import ExchangeMode, Ikev1Options
from ipsecd.ike.v1.sa import Ikev1Sa
from ipsecd.ike.v2.config import ChildConfig, ChildProposal, IkeConfig, IkeProposal
from ipsecd.policy.types import IpsecProto, Selector

MARKER = bytes(4)


def _config(a: argparse.Namespace) -> tuple[IkeConfig, Ikev1Options]:
    proposals = tuple(ChildProposal(tuple(e.split(",")), tuple(i.split(",")), pfs)
                      for e, i, pfs in (p.split("/") for p in a.child_proposals.split(";")))
    child = ChildConfig("net", Selector(ip_network(a.local_ts), ip_network(a.remote_ts)), proposals=proposals)
    cfg = IkeConfig((a.local, 500), (a.remote, 500), StaticCredentials(a.psk.encode()), a.my_id, a.remote_id,
                    proposals=(IkeProposal((a.encr,), (a.hash,), (a.hash,), (a.dh,)),), children=(child,),
                    dpd_interval=None)
    return cfg, Ikev1Options(exchange_mode=ExchangeMode(a.mode))


def _show(event: object) -> str:
    out: dict[str, object] = {"event": type(event).__name__}
    for f in dataclasses.fields(event):  # type: ignore[arg-type]
        value = getattr(event, f.name)
        if hasattr(value, "spi"):
            value = {"spi": value.spi, "encr": value.encr, "integ": value.integ, "mode": value.mode.value}
        out[f.name] = value.hex() if isinstance(value, bytes) else value
    return json.dumps(out, default=str)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--role", choices=("initiator", "responder"), required=True)
    p.add_argument("--local", required=True)
    p.add_argument("--remote", required=True)
    p.add_argument("--psk", required=True)
    p.add_argument("--my-id", default="auto")
    p.add_argument("--remote-id", default="auto")
    p.add_argument("--local-ts", required=True)
    p.add_argument("--remote-ts", required=True)
    p.add_argument("--mode", default="main")
    p.add_argument("--encr", default="aes-128")
    p.add_argument("--hash", default="sha256")
    p.add_argument("--dh", default="ecp256")
    p.add_argument("--child-proposals", default="aes-128-cbc/sha256/ecp256",
                   help="enc[,enc]/auth[,auth]/pfs-group per /ip ipsec proposal, ';' between proposals")
    p.add_argument("--seconds", type=float, default=30.0)
    a = p.parse_args()
    cfg, opts = _config(a)
    socks = {}
    for port in (500, 4500):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a.local, port))
        socks[port] = s
    print("listening", flush=True)
    spis = itertools.count(int.from_bytes(os.urandom(2), "big") << 8 | 0x1000)

    def spi_alloc(proto: IpsecProto) -> int:
        return next(spis)

    start = time.monotonic()
    sa = (
        Ikev1Sa.initiate(cfg, opts, rng=os.urandom, spi_alloc=spi_alloc, now=0.0)
        if a.role == "initiator"
        else None
    )
    while (now := time.monotonic() - start) < a.seconds:
        if sa is not None:
            for data, (local, remote) in sa.datagrams_to_send(now):
                socks[4500 if local[1] == 4500 else 500].sendto(
                    MARKER + data if local[1] == 4500 else data, remote
                )
            while (ev := sa.next_event()) is not None:
                print(_show(ev), flush=True)
        timer = sa.get_timer() if sa is not None else None
        wait = 0.2 if timer is None else max(0.0, min(0.2, timer - now))
        ready, _, _ = select.select(list(socks.values()), [], [], wait)
        now = time.monotonic() - start
        for s in ready:
            data, src = s.recvfrom(65535)
            port = s.getsockname()[1]
            if port == 4500:
                if not data.startswith(MARKER):
                    continue  # ESP (no data plane in this driver)
                data = data[4:]
            addr = ((a.local, port), (src[0], src[1]))
            if sa is None:
                sa = Ikev1Sa.respond(cfg, opts, data, addr, rng=os.urandom, spi_alloc=spi_alloc, now=now)
                if sa is None:
                    continue
            sa.receive_datagram(data, addr, now)
        if sa is not None and (t := sa.get_timer()) is not None and t <= now:
            sa.handle_timer(now)
    return 0


if __name__ == "__main__":
    sys.exit(main())
