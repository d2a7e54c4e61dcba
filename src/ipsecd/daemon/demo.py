"""``ipsecd demo``: the README's main job, without root, in a few seconds.

Two gateways in one process — A on 127.0.0.1, B on 127.0.0.2, each a full :class:`~.app.Daemon`
with its own configuration (RouterOS scripts below), memory data plane and UDP sockets on
unprivileged ports — negotiate IKEv2 over real UDP (A initiates; the data plane needs UDP
encapsulation, so both float to the NAT-T port as RFC 7296 §2.23 allows when forced), pass ICMP
echo packets between their LANs through ESP-in-UDP, rekey the CHILD_SA once, pass traffic again on
the new SAs, and print ``active-peers``, ``installed-sa`` and ``statistics`` of both, exactly as
``ipsecd exec`` would show them. ``--netns`` (root) is :mod:`.netns_demo`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from typing import Any

from .app import Daemon
from .glue import Glue, GlueError, make_dataplane
from .logs import configure_logging
from .plan import build_plan
from .traffic import MemoryWire, echo, parse_echo

GATEWAYS = {"A": ("127.0.0.1", "10.10.1.1"), "B": ("127.0.0.2", "10.10.2.1")}
SECRET = "demo-secret-change-me"
DETAIL = {"active-peers": " detail"}  # counters, side, NAT-T: the interesting columns


def demo_rsc(me: str, ike_port: int) -> str:
    """Gateway ``me``'s configuration: the manual's site-to-site example with ports for loopback."""
    other = "B" if me == "A" else "A"
    wan, lan = GATEWAYS[me]
    peer_wan, peer_lan = GATEWAYS[other]
    passive = " passive=yes" if me == "B" else ""
    return f"""\
/ip ipsec profile add name=demo enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256,modp2048 \
lifetime=1h
/ip ipsec peer add name=gw-{other} address={peer_wan}/32 local-address={wan} port={ike_port} profile=demo \
exchange-mode=ike2{passive}
/ip ipsec identity add peer=gw-{other} auth-method=pre-shared-key secret="{SECRET}" \
my-id=fqdn:gw-{me.lower()}.demo remote-id=fqdn:gw-{other.lower()}.demo
/ip ipsec proposal add name=demo enc-algorithms=aes-128-gcm,aes-256-cbc auth-algorithms=sha256 \
pfs-group=ecp256 lifetime=30m
/ip ipsec policy add peer=gw-{other} tunnel=yes src-address={lan}/32 dst-address={peer_lan}/32 proposal=demo
"""


def free_ports() -> tuple[int, int]:
    """Two unprivileged UDP ports free on both loopback addresses (IKE, NAT-T)."""
    found: list[int] = []
    while len(found) < 2:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            other.bind(("127.0.0.2", port))
            found.append(port)
        except OSError:
            pass
        finally:
            other.close()
            probe.close()
    return found[0], found[1]


class Gateway:
    def __init__(self, name: str, ike_port: int, natt_port: int, rsc: str | None = None) -> None:
        from ipsecd.mgmt.model import open_config

        self.name = name
        self.config = open_config(None)
        self.config.import_script(rsc or demo_rsc(name, ike_port), f"gateway-{name}.rsc")
        self.dataplane = make_dataplane("memory", "")
        self.glue = Glue(build_plan(self.config.snapshot()), self.dataplane, force_encap=True)
        self.execute = self.glue.follow(self.config)
        self.daemon = Daemon(
            self.glue,
            execute=self.execute,
            control_path=None,
            ike_port=ike_port,
            natt_port=natt_port,
            local_addresses=(GATEWAYS[name][0],),
        )
        self.wire: MemoryWire | None = None
        self.replies: list[int] = []

    async def start(self) -> None:
        await self.daemon.start()
        self.wire = MemoryWire(self.dataplane, self.daemon.transport)
        self.daemon.on_esp = self.esp_in

    def esp_in(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        """ESP from the peer: decrypt; answer echo requests like a host on the LAN would."""
        assert self.wire is not None
        self.wire.esp_in(data, local, remote)
        for packet in self.dataplane.take_delivered():
            got = parse_echo(packet)
            if got is None:
                continue
            src, dst, kind, ident, seq = got
            if kind == 8 and dst == GATEWAYS[self.name][1]:
                self.dataplane.send(echo(dst, src, ident, seq, reply=True))
                self.wire.flush()
            elif kind == 0:
                self.replies.append(seq)

    async def ping(self, dst: str, count: int, src: str | None = None) -> tuple[int, int]:
        """``count`` echo requests from ``src`` (our LAN address by default) to ``dst``; (sent, replies)."""
        assert self.wire is not None
        self.replies = []
        for seq in range(1, count + 1):
            self.dataplane.send(echo(src or GATEWAYS[self.name][1], dst, 0x1D5E, seq))
            self.wire.flush()
            loop = asyncio.get_running_loop()
            end = loop.time() + 1.0
            while seq not in self.replies and loop.time() < end:
                await asyncio.sleep(0.002)
        return count, len(set(self.replies))

    def children(self) -> list[Any]:
        return [c for _, c in self.glue.runtime.child_specs()] if self.glue.runtime else []


async def _until(desc: str, predicate: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise TimeoutError(f"timed out waiting for {desc}")
        await asyncio.sleep(0.01)


async def _main(out: Any) -> int:
    ike_port, natt_port = free_ports()
    gws = {n: Gateway(n, ike_port, natt_port) for n in "AB"}
    for name in ("B", "A"):  # responder first
        await gws[name].start()
    a, b = gws["A"], gws["B"]
    try:
        print(
            f"gateway A {GATEWAYS['A'][0]} (LAN {GATEWAYS['A'][1]})  <->  gateway B {GATEWAYS['B'][0]} "
            f"(LAN {GATEWAYS['B'][1]}), IKE on UDP {ike_port}, NAT-T on UDP {natt_port}",
            file=out,
        )
        await _until("the CHILD_SA on both gateways", lambda: bool(a.children()) and bool(b.children()))
        print("IKEv2 established: IKE_SA_INIT + IKE_AUTH, one CHILD_SA each way", file=out)
        sent, got = await a.ping(GATEWAYS["B"][1], count=5)
        print(f"traffic: {sent} echo requests A->B through ESP, {got} echo replies back", file=out)
        old = a.children()[0].inbound.spi
        for t in a.glue.tracked.values():
            t.sa.rekey_child(old)
            a.daemon.engine.pump(t.sa)
        await _until(
            "the CHILD_SA rekey",
            lambda: bool(a.children()) and all(c.inbound.spi != old for c in a.children()),
        )
        new = a.children()[0].inbound.spi
        print(f"CHILD_SA rekeyed: inbound SPI 0x{old:08x} -> 0x{new:08x}", file=out)
        sent2, got2 = await a.ping(GATEWAYS["B"][1], count=5)
        print(f"traffic after rekey: {sent2} echo requests, {got2} echo replies", file=out)
        for gw in (a, b):
            for menu in ("active-peers", "installed-sa", "statistics"):
                command = f"/ip ipsec {menu} print{DETAIL.get(menu, '')}"
                reply = gw.execute(command, False)
                print(f"\n[gateway {gw.name}] {command}\n{reply.stdout.rstrip()}", file=out)
        return 0 if got == sent and got2 == sent2 else 1
    finally:
        for gw in (a, b):
            await gw.daemon.stop()


def run_demo(args: argparse.Namespace) -> int:
    if args.netns:
        from .netns_demo import run_netns_demo

        return run_netns_demo()
    configure_logging("warning")
    logging.getLogger("ipsecd").setLevel(logging.WARNING)
    try:
        return asyncio.run(_main(sys.stdout))
    except (GlueError, TimeoutError) as exc:
        print(f"ipsecd demo: {exc}", file=sys.stderr)
        return 1
