#!/usr/bin/env python3
"""EAP-MSCHAPv2 authentications per second through FreeRADIUS, the RADIUS half of issue 13's
"road warriors per second" target (the IKE half joins when the eap-radius IKE_AUTH task lands).

Each authentication is what the eap-radius gateway does for one road warrior: EAP-Identity, then
three Access-Request/Access-Challenge rounds and the Access-Accept relayed through
:class:`~ipsecd.daemon.radius.RadiusClient`, the MSK decrypted from the MS-MPPE keys and compared
with the one :class:`~ipsecd.ike.eap.peer.EapPeer` derives. ``--conc`` authentications run at once
on one event loop (as the daemon would run them beside its SAs). FreeRADIUS runs in a namespace
(``tests/interop/freeradius.py``); our process's CPU time per authentication is reported with the
rate (it covers both the gateway's relay and the peer's MS-CHAPv2, which a real gateway does not do).

Run as root from the repository:  .venv/bin/python bench/eap_radius.py [--total 2000] [--conc 32]
The last line is the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.interop import freeradius as fr

from ipsecd.daemon.radius import RadiusClient, RadiusServer, eap_attributes
from ipsecd.ike.eap.peer import EapPeer
from ipsecd.wire.eap import EapCode, EapPacket, EapType
from ipsecd.wire.radius import Attr, Code


async def one(client: RadiusClient, n: int) -> float:
    """One EAP-MSCHAPv2 authentication of alice; its latency in seconds."""
    start = time.perf_counter()
    peer = EapPeer("alice", fr.USERS["alice"])
    message = peer.receive(EapPacket(EapCode.REQUEST, 0, EapType.IDENTITY).encode())
    state: bytes | None = None
    calling = f"192.0.2.{n % 250 + 1}[4500]"
    while message is not None:
        reply = await client.access(eap_attributes(b"alice", message, state, calling))
        message = peer.receive(reply.packet.eap_message() or b"")
        state = reply.packet.get(Attr.STATE)
        if reply.packet.code == Code.ACCESS_ACCEPT:
            if reply.msk() != peer.msk:
                raise RuntimeError("MSK mismatch")
            return time.perf_counter() - start
        if reply.packet.code != Code.ACCESS_CHALLENGE:
            raise RuntimeError(f"RADIUS code {reply.packet.code}")
    raise RuntimeError("EAP ended without an Access-Accept")


async def run(total: int, conc: int) -> tuple[float, float, list[float]]:
    client = RadiusClient([RadiusServer("127.0.0.1", fr.SECRET.encode(), timeout=2.0)], max_outstanding=conc)
    queue = iter(range(total))
    latencies: list[float] = []

    async def worker() -> None:
        for n in queue:
            latencies.append(await one(client, n))

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    client.close()
    return time.perf_counter() - wall, time.process_time() - cpu, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=2000)
    parser.add_argument("--conc", type=int, default=32)
    args = parser.parse_args()
    why = fr.available()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 1
    server = fr.FreeRadius("eapb")
    try:
        server.run(lambda: run(min(args.total, 50), args.conc))  # warm-up
        wall, cpu, latencies = server.run(lambda: run(args.total, args.conc))
    finally:
        server.close()
    p50 = statistics.median(latencies) * 1000
    print(f"EAP-MSCHAPv2 through FreeRADIUS: {args.total / wall:.0f} auth/s at conc {args.conc}, "
          f"p50 {p50:.1f} ms, ipsecd CPU {cpu / args.total * 1000:.2f} ms/auth")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
