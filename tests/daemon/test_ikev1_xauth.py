"""ipsecd ⇄ ipsecd IKEv1 road warriors in process (issue 11): two daemons from RouterOS scripts over
loopback UDP with the memory data plane — the gateway (``passive=yes``, ``pre-shared-key-xauth``,
``/ip ipsec user``, a mode-config pool, ``generate-policy``), the client (``passive=no``, the
identity's ``username``/``password``, ``mode-config=request-only``). The client gets an address of
the pool, its quick mode is for it, the gateway generates the policy and names the user; a second
client login with a wrong password changes nothing."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from ipsecd.daemon.demo import GATEWAYS, Gateway, _until, free_ports

PSK = "group-secret-0123"


def _gateway(port: int) -> str:
    wan, lan = GATEWAYS["B"]
    return f"""\
/ip pool add name=rw ranges=10.77.0.10-10.77.0.11
/ip ipsec mode-config add name=rw address-pool=rw split-include={lan}/32 static-dns=10.77.0.53
/ip ipsec policy group add name=rw
/ip ipsec policy add group=rw template=yes src-address={lan}/32 dst-address=10.77.0.0/24
/ip ipsec peer add name=rw local-address={wan} port={port} passive=yes exchange-mode=main
/ip ipsec identity add peer=rw auth-method=pre-shared-key-xauth secret="{PSK}" mode-config=rw \\
    generate-policy=port-strict policy-template-group=rw
/ip ipsec user add name=alice password=wonderland
"""


def _client(port: int, password: str) -> str:
    wan, _ = GATEWAYS["A"]
    peer_wan, peer_lan = GATEWAYS["B"]
    return f"""\
/ip ipsec peer add name=gw address={peer_wan}/32 local-address={wan} port={port} exchange-mode=main
/ip ipsec identity add peer=gw auth-method=pre-shared-key-xauth secret="{PSK}" username=alice \\
    password="{password}" mode-config=request-only
/ip ipsec policy add peer=gw tunnel=yes src-address=0.0.0.0/0 dst-address={peer_lan}/32
"""


def _rows(gw: Gateway, menu: str) -> list[dict[str, str]]:
    reply = gw.execute(f"/ip ipsec {menu} print", True)
    assert reply.rc == 0, reply.stderr
    return json.loads(reply.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("password", ["wonderland", "not-it"])
def test_ipsecd_xauth_client_and_gateway(password: str, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        ike, natt = free_ports()
        gw = Gateway("B", ike, natt, _gateway(ike))
        cl = Gateway("A", ike, natt, _client(ike, password))
        await gw.start()
        await cl.start()
        try:
            if password != "wonderland":
                await _until(
                    "the refusal",
                    lambda: any("XAuth user 'alice'" in r.getMessage() for r in caplog.records),
                    10,
                )
                await asyncio.sleep(0.3)
                assert not gw.children() and not cl.children()
                assert not [p for p in _rows(gw, "active-peers") if p.get("state") == "established"]
                return
            await _until("both IPsec SAs", lambda: bool(gw.children()) and bool(cl.children()), 10)
            (peer,) = _rows(gw, "active-peers")
            assert peer["dynamic-address"] == "10.77.0.10" and peer["side"] == "responder"
            (peer,) = _rows(cl, "active-peers")
            assert peer["dynamic-address"] == "10.77.0.10" and peer["side"] == "initiator"
            (child,) = cl.children()
            assert child.outbound.selector is not None and str(child.outbound.selector.src) == "10.77.0.10/32"
            policies = gw.execute("/ip ipsec policy print", False).stdout
            assert "10.77.0.10/32" in policies  # generate-policy
        finally:
            for g in (cl, gw):
                await g.daemon.stop()

    with caplog.at_level(logging.INFO, logger="ipsecd"):
        asyncio.run(main())
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert password not in said.replace(PSK, "")
    if password == "wonderland":
        assert "XAuth user alice" in said and "leased 10.77.0.10 to alice" in said
