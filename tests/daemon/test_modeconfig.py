"""Road warrior between two in-process ipsecd gateways (memory data plane, loopback UDP):
``mode-config=request-only`` on the initiator gets a virtual IP from the responder's ``/ip pool``
(RFC 7296 §2.19), records it and narrows its policy's local side to it; traffic sourced from the
virtual IP goes through ESP and back, traffic from any other source no longer matches the policy."""

from __future__ import annotations

import asyncio
import ipaddress
import json

from ipsecd.daemon.demo import GATEWAYS, SECRET, Gateway, _until, free_ports
from ipsecd.policy.types import Level

PROFILE = "/ip ipsec profile add name=rw enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256"
PROPOSAL = "/ip ipsec proposal add name=rw enc-algorithms=aes-128-gcm auth-algorithms=sha256 pfs-group=none"
B_LAN = "10.10.2.0/24"
POOL = ipaddress.ip_network("10.99.0.0/24")


def _responder(port: int) -> str:
    return f"""\
/ip pool add name=rw-pool ranges=10.99.0.10-10.99.0.20
/ip ipsec mode-config add name=rw responder=yes address-pool=rw-pool split-include={B_LAN}
{PROFILE}
{PROPOSAL}
/ip ipsec peer add name=rw address={GATEWAYS["A"][0]}/32 local-address={GATEWAYS["B"][0]} port={port} \
profile=rw exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=rw secret="{SECRET}" my-id=fqdn:gw.demo remote-id=fqdn:rw.demo mode-config=rw \
generate-policy=port-strict
/ip ipsec policy add template=yes group=default src-address={B_LAN} dst-address=10.99.0.0/24 proposal=rw
"""


def _client(port: int) -> str:
    return f"""\
{PROFILE}
{PROPOSAL}
/ip ipsec peer add name=gw address={GATEWAYS["B"][0]}/32 local-address={GATEWAYS["A"][0]} port={port} \
profile=rw exchange-mode=ike2
/ip ipsec identity add peer=gw secret="{SECRET}" my-id=fqdn:rw.demo remote-id=fqdn:gw.demo \
mode-config=request-only
/ip ipsec policy add peer=gw tunnel=yes src-address=0.0.0.0/0 dst-address={B_LAN} proposal=rw
"""


async def _connected() -> tuple[int, int, Gateway, Gateway]:
    """(IKE port, NAT-T port, gateway B, road warrior A) with A's CHILD_SA up."""
    ike, natt = free_ports()
    b = Gateway("B", ike, natt, _responder(ike))
    a = Gateway("A", ike, natt, _client(ike))
    await b.start()
    await a.start()
    await _until("the road-warrior CHILD_SA", lambda: bool(a.children()) and bool(b.children()))
    return ike, natt, b, a


def test_request_only_client_uses_its_virtual_ip() -> None:
    async def main() -> None:
        _ike, _natt, b, a = await _connected()
        try:
            (peer,) = json.loads(a.execute("/ip ipsec active-peers print", True).stdout)
            vip = peer["dynamic-address"]
            assert ipaddress.ip_address(vip) in POOL
            (spec,) = a.glue.spd.installed.values()  # the configured policy, narrowed to the virtual IP
            assert str(spec.selector.src) == f"{vip}/32" and str(spec.selector.dst) == B_LAN
            (child,) = a.children()
            assert child.outbound.selector == spec.selector
            assert await a.ping(GATEWAYS["B"][1], count=3, src=vip) == (3, 3)
            assert await a.ping(GATEWAYS["B"][1], count=1, src=GATEWAYS["A"][1]) == (1, 0)  # not our selector
            # the gateway lists the policy generate-policy made, after the configured ones, flag D
            (dyn,) = [
                r
                for r in json.loads(b.execute("/ip ipsec policy print", True).stdout)
                if r.get("dynamic") == "yes"
            ]
            assert (dyn["src-address"], dyn["dst-address"], dyn["peer"]) == (B_LAN, f"{vip}/32", "rw")
            assert dyn["sa-dst-address"] == GATEWAYS["A"][0] and dyn["ph2-state"] == "established"
            assert dyn["level"] == "unique"  # as RouterOS generates them (and as installed)
            installed = b.glue.dataplane.workers[0].spd.get(dyn[".id"])
            assert installed is not None and installed.level is Level.UNIQUE
            table = b.execute("/ip ipsec policy print", False).stdout
            # RouterOS 7's table: one column per flag group, so an active dynamic policy shows "D"
            assert "D - DYNAMIC" in table and any(
                line.split()[1:2] == ["D"] and f"{vip}/32" in line for line in table.splitlines()
            ), table
            # the IKE SA goes: the lease is returned, the policy is the configured one again
            assert b.execute("/ip ipsec active-peers kill-connections", False).rc == 0
            await _until("A to lose the IKE SA", lambda: not a.glue.tracked, 5)
            assert not [
                r
                for r in json.loads(b.execute("/ip ipsec policy print", True).stdout)
                if r.get("dynamic") == "yes"
            ]
            (spec,) = a.glue.spd.installed.values()
            assert str(spec.selector.src) == "0.0.0.0/0" and a.glue.spd.narrowed == {}
            # A is not passive: it comes back by itself and gets a virtual IP again
            await _until("A to re-initiate", lambda: bool(a.children()) and bool(b.children()), 10)
            (spec,) = a.glue.spd.installed.values()
            assert spec.selector.src.prefixlen == 32 and spec.selector.src.network_address in POOL
        finally:
            for gw in (a, b):
                await gw.daemon.stop()

    asyncio.run(main())


def test_a_restarted_client_keeps_its_lease() -> None:
    """The client vanishes without DELETEs and comes back from the same address: its INITIAL_CONTACT
    drops the old IKE SA at the gateway at once, which must not return the lease the new IKE SA
    holds (both SAs had the same identity, so the same lease): the client keeps its address."""

    async def main() -> None:
        ike, natt, b, a = await _connected()
        again = None
        try:
            (peer,) = json.loads(a.execute("/ip ipsec active-peers print", True).stdout)
            vip = peer["dynamic-address"]
            a.glue._delete = lambda t: None  # type: ignore[method-assign]  # a crash: no DELETE leaves
            await a.daemon.stop()
            again = Gateway("A", ike, natt, _client(ike))
            await again.start()
            await _until(
                "the old IKE SA dropped", lambda: len(b.glue.tracked) == 1 and bool(again.children()), 10
            )
            (peer,) = json.loads(again.execute("/ip ipsec active-peers print", True).stdout)
            assert peer["dynamic-address"] == vip
            assert {str(a) for a in b.glue.leases.pools["rw-pool"].leases().values()} == {vip}
            assert await again.ping(GATEWAYS["B"][1], count=2, src=vip) == (2, 2)
        finally:
            for gw in (again, b):
                if gw is not None:
                    await gw.daemon.stop()

    asyncio.run(main())
