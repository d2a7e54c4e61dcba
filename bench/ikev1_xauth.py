"""200 IKEv1 XAuth road warriors against one ipsecd gateway, in process (no sockets): each client does
main mode (PSK, aes-128/sha1/modp2048), XAuth as one of 200 ``/ip ipsec user`` entries, a mode-config
pull and a quick mode (aes-128-cbc/sha1, PFS modp1024) — the RouterOS 6 road-warrior recipe as the
iOS/macOS "Cisco IPSec" client runs it. Checks that the 200 clients got 200 distinct addresses of the
pool (the same ``/ip pool`` code as IKEv2) and that every quick mode is for its client's address.

Reports the gateway's connections/s (its CPU inside its calls only) and the ratio against the anchor
measured in the same run: the same handshakes with plain PSK (no XAuth, no mode-config), so the
figure says what XAuth and mode-config add.

    .venv/bin/python bench/ikev1_xauth.py [N]
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from ipaddress import ip_network

from ipsecd.ike.auth import StaticCredentials
from ipsecd.ike.events import AddressLeased, ChildSaInstalled
from ipsecd.ike.v1.config import Ikev1Options, Xauth, XauthUser
from ipsecd.ike.v1.sa import Ikev1Sa
from ipsecd.ike.v2.config import ChildConfig, ChildProposal, IkeConfig, IkeProposal, ModeConfigLease
from ipsecd.policy.pools import AddressPool
from ipsecd.policy.types import Selector

GW = ("198.51.100.2", 500)
PROP = (IkeProposal(("aes-128",), ("sha1",), ("sha1",), ("modp2048",)),)
CPROP = (ChildProposal(("aes-128-cbc",), ("sha1",), "modp1024"),)


def spis(base: int) -> Callable[[object], int]:
    counter = iter(range(base, base + 1_000_000))
    return lambda proto: next(counter)


def one(n: int, xauth: bool, users: tuple[XauthUser, ...], pool: AddressPool) -> tuple[float, object, object]:
    """One client's connection; (gateway CPU seconds, its lease event, its gateway-side SA)."""
    client = (f"192.0.{2 + n // 250}.{1 + n % 250}", 500)

    def lease(key: str) -> ModeConfigLease:
        return ModeConfigLease(pool.allocate(key), 32, (), ("10.2.0.0/16",))

    gw_child = ChildConfig("rw", Selector(ip_network("10.2.0.0/16"), ip_network("10.5.0.0/16")), CPROP)
    rcfg = IkeConfig(
        GW,
        client,
        StaticCredentials(b"group-psk"),
        proposals=PROP,
        dpd_interval=None,
        children=(gw_child,),
        lease=lease if xauth else None,
        send_initial_contact=False,
    )
    local = "0.0.0.0/0" if xauth else f"10.5.{n // 250}.{n % 250}/32"
    cl_child = ChildConfig("rw", Selector(ip_network(local), ip_network("10.2.0.0/16")), CPROP)
    icfg = IkeConfig(
        client,
        GW,
        StaticCredentials(b"group-psk"),
        proposals=PROP,
        dpd_interval=None,
        children=(cl_child,),
        mode_config_request=xauth,
        send_initial_contact=False,
    )
    iopt = Ikev1Options(
        xauth=Xauth(False, username=f"user{n}", password=f"pw{n}".encode()) if xauth else None
    )
    ropt = Ikev1Options(xauth=Xauth(True, users) if xauth else None)
    ini = Ikev1Sa.initiate(icfg, iopt, rng=os.urandom, spi_alloc=spis(0x1000), now=0.0)
    gw: Ikev1Sa | None = None
    cpu = 0.0
    for _ in range(50):
        out = ini.datagrams_to_send(0.0)
        if not out:
            break
        for data, _addr in out:
            t0 = time.process_time()
            if gw is None:
                gw = Ikev1Sa.respond(
                    rcfg, ropt, data, (GW, client), rng=os.urandom, spi_alloc=spis(0x8000), now=0.0
                )
                assert gw is not None
            gw.receive_datagram(data, (GW, client), 0.0)
            back = gw.datagrams_to_send(0.0)
            cpu += time.process_time() - t0
            for reply, _ in back:
                ini.receive_datagram(reply, (client, GW), 0.0)
    assert gw is not None
    events = []
    while (ev := gw.next_event()) is not None:
        events.append(ev)
    leased = next((e for e in events if isinstance(e, AddressLeased)), None)
    installed = next((e for e in events if isinstance(e, ChildSaInstalled)), None)
    assert installed is not None, f"client {n}: no quick mode ({events})"
    return cpu, leased, installed


def run(n: int, xauth: bool) -> tuple[float, set[str]]:
    users = tuple(XauthUser(f"user{i}", f"pw{i}".encode()) for i in range(n))
    pool = AddressPool("rw", "10.5.0.1-10.5.3.254")
    total, addresses = 0.0, set()
    for i in range(n):
        cpu, leased, installed = one(i, xauth, users, pool)
        total += cpu
        if xauth:
            assert isinstance(leased, AddressLeased) and isinstance(installed, ChildSaInstalled)
            sel = installed.outbound.selector
            assert sel is not None and sel.dst == ip_network(leased.address)
            addresses.add(str(leased.address))
    return total, addresses


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    plain = min(run(n, False)[0] for _ in range(3))
    best, addresses = min((run(n, True) for _ in range(3)), key=lambda r: r[0])
    assert len(addresses) == n, f"{len(addresses)} distinct addresses for {n} clients"
    print(
        f"plain PSK main mode + quick mode: {n / plain:.0f} connections/s"
        f" ({plain / n * 1000:.2f} ms gateway CPU each)"
    )
    print(f"{n} XAuth clients, {len(addresses)} distinct addresses")
    print(
        f"XAuth + mode-config + quick mode: {n / best:.0f} connections/s"
        f" ({best / n * 1000:.2f} ms gateway CPU each), {plain / best:.2f}x the plain PSK rate"
    )


if __name__ == "__main__":
    main()
