"""EAP-MSCHAPv2 road warriors per second through the IKE core, in process (no sockets): the IKE half
of issue 13's road-warrior rate (``bench/eap_radius.py`` measures the RADIUS half against FreeRADIUS).

An ipsecd ``auth-method=eap`` initiator (EAP-MSCHAPv2, EAP-only) drives N complete IKE_SA_INIT +
IKE_AUTH exchanges (five IKE_AUTH rounds: identity, MS-CHAPv2 challenge and success, the MSK-keyed
AUTH) against one IKE router as an ``eap-radius`` gateway. ``--relay``: every EAP round goes out as
an outside verdict and the bench answers it with the RADIUS server's part done in process (what
FreeRADIUS computes); without it the gateway judges the user itself (``eap-local-users``). The
anchor, measured in the same run, is the PSK handshake of ``bench/ike_handshake.py`` (two
exchanges): the ratio says what EAP costs the gateway per road warrior. Reported: road warriors/s
(both sides' CPU, one core) and the gateway's CPU per road warrior. Best of three; the last line is
the figure.

    .venv/bin/python bench/eap_ike.py [N] [--relay]
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ike_handshake import INI, RESP, configs, responder

from ipsecd.ike.auth import StaticCredentials
from ipsecd.ike.eap.mschapv2 import MsChapV2Server
from ipsecd.ike.eap.server import ACCEPT, CHALLENGE, RelayAnswer, RelayQuestion
from ipsecd.ike.events import IkeSaEstablished, VerdictRequested
from ipsecd.ike.v2.config import IkeConfig
from ipsecd.ike.v2.sa import IkeSa
from ipsecd.wire.eap import EapCode, EapType, parse

USERS = (("alice", b"s3cret pass"),)


class Radius:
    """The RADIUS server's share of one EAP-MSCHAPv2 conversation, in process."""

    def __init__(self) -> None:
        self.server = MsChapV2Server(lambda user: "s3cret pass" if user == "alice" else None)

    def answer(self, q: RelayQuestion) -> RelayAnswer:
        packet = parse(q.eap)
        if packet.type == EapType.IDENTITY:
            return RelayAnswer(CHALLENGE, self.server.start((packet.identifier + 1) & 0xFF).encode(), b"st")
        reply = self.server.process(packet)
        if reply.code == EapCode.SUCCESS:
            assert self.server.msk is not None
            return RelayAnswer(ACCEPT, reply.encode(), msk=self.server.msk)
        return RelayAnswer(CHALLENGE, reply.encode(), b"st")


def eap_configs(relay: bool) -> tuple[IkeConfig, IkeConfig]:
    i, r = configs("ecp256")
    i = replace(i, auth_method="eap", eap_user="alice", credentials=StaticCredentials(eap_users=USERS))
    r = replace(
        r, auth_method="eap-radius", eap_local=not relay, credentials=StaticCredentials(eap_users=USERS)
    )
    return i, r


def run(icfg: IkeConfig, rcfg: IkeConfig, n: int, relay: bool) -> tuple[float, float]:
    spis = iter(range(0x1000, 0x1000 + 4 * n))
    mgr = responder(rcfg, n, spis)
    gateway_cpu = 0.0
    established = 0
    start = time.perf_counter()
    for _ in range(n):
        ini = IkeSa.initiator(icfg, rng=os.urandom, spi_alloc=lambda p: next(spis), now=0.0)
        radius = Radius() if relay else None
        while out := ini.datagrams_to_send(0.0):
            t0 = time.process_time()
            mgr.receive_datagram(out[0][0], (RESP, INI), 0.0)
            replies = mgr.datagrams_to_send(0.0)
            events = mgr.events()
            gateway_cpu += time.process_time() - t0
            for owner, event in events:
                if isinstance(event, VerdictRequested):
                    assert radius is not None and isinstance(event.question, RelayQuestion)
                    answer = radius.answer(event.question)  # the RADIUS server's work: not the gateway's
                    t0 = time.process_time()
                    owner.provide_verdict(event.token, answer)
                    replies += mgr.datagrams_to_send(0.0)
                    established += sum(isinstance(e, IkeSaEstablished) for _, e in mgr.events())
                    gateway_cpu += time.process_time() - t0
                established += isinstance(event, IkeSaEstablished)
            for reply, _ in replies:
                ini.receive_datagram(reply, (INI, RESP), 0.0)
    wall = time.perf_counter() - start
    assert established == n, (established, n)
    return n / wall, gateway_cpu / n * 1000


def best(icfg: IkeConfig, rcfg: IkeConfig, n: int, relay: bool) -> tuple[float, float]:
    runs = [run(icfg, rcfg, n, relay) for _ in range(3)]
    return max(r[0] for r in runs), min(r[1] for r in runs)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    relay = "--relay" in sys.argv
    n = int(args[0]) if args else 300
    psk_rate, psk_cpu = best(*configs("ecp256"), n, False)
    print(f"anchor PSK handshake (ecp256): {psk_rate:.0f}/s, gateway CPU {psk_cpu:.3f} ms per SA")
    rate, cpu = best(*eap_configs(relay), n, relay)
    mode = "relayed (RADIUS share in process, not counted)" if relay else "local users"
    print(f"EAP-MSCHAPv2 road warriors ({mode}): {rate:.0f}/s, gateway CPU {cpu:.3f} ms per road warrior")
    print(
        f"EAP-MSCHAPv2 road warriors: {rate:.0f}/s, gateway CPU {cpu:.3f} ms each = {cpu / psk_cpu:.2f}x "
        f"the PSK handshake's {psk_cpu:.3f} ms (same run)"
    )


if __name__ == "__main__":
    main()
