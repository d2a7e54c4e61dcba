"""ipsecd's RADIUS client and EAP-MSCHAPv2 peer against FreeRADIUS 3.2 in a network namespace.

One FreeRADIUS per module (``-f -d <copied config>``, ``require_message_authenticator = yes``);
each test drives :class:`~ipsecd.daemon.radius.RadiusClient` from a thread inside its namespace.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator

import pytest

from ipsecd.daemon.radius import RadiusClient, RadiusServer, Reply, accounting_attributes, eap_attributes
from ipsecd.ike.eap.peer import EapPeer
from ipsecd.wire import radius
from ipsecd.wire.eap import EapCode, EapPacket, EapType
from ipsecd.wire.radius import AcctStatus, Attr, Code
from tests.interop import freeradius as fr

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

SERVER = RadiusServer("127.0.0.1", fr.SECRET.encode(), timeout=1.0)
NAS_IP = bytes((127, 0, 0, 1))
NAS = [(Attr.NAS_IP_ADDRESS, NAS_IP),
       (Attr.NAS_PORT_TYPE, radius.integer(radius.NAS_PORT_TYPE_VIRTUAL)),
       (Attr.CALLING_STATION_ID, b"192.0.2.10[4500]")]


@pytest.fixture(scope="module")
def server() -> Iterator[fr.FreeRadius]:
    why = fr.available()
    if why:
        pytest.skip(why)
    instance = fr.FreeRadius()
    try:
        yield instance
    finally:
        instance.close()


def test_pap_with_message_authenticator_both_ways_and_the_accept_attributes(server: fr.FreeRadius) -> None:
    async def main() -> tuple[Reply, Reply]:
        client = RadiusClient([SERVER])
        try:
            user = [(Attr.USER_NAME, b"alice"), *NAS]
            good = await client.access(user, password=fr.USERS["alice"].encode())
            bad = await client.access(user, password=b"wrong")
            return good, bad
        finally:
            client.close()

    good, bad = server.run(main)
    # verify_reply refused any reply without a valid Message-Authenticator, so both carried one
    assert good.packet.code == Code.ACCESS_ACCEPT and bad.packet.code == Code.ACCESS_REJECT
    assert good.packet.get(Attr.MESSAGE_AUTHENTICATOR) is not None
    info = radius.accept_info(good.packet)
    expected = (ipaddress.IPv4Address(fr.ALICE_IP), fr.ALICE_TIMEOUT, (fr.ALICE_CLASS.encode(),))
    assert info == radius.AcceptInfo(*expected)


def test_a_request_without_message_authenticator_is_ignored(server: fr.FreeRadius) -> None:
    """Proof that the server really requires it: the same PAP request without the attribute gets
    no answer at all."""
    async def main() -> bytes | None:
        authenticator = bytes(range(16))
        secret = fr.SECRET.encode()
        attrs = radius.encode_attributes([
            (Attr.USER_NAME, b"alice"),
            (Attr.USER_PASSWORD, radius.hide_password(fr.USERS["alice"].encode(), secret, authenticator))])
        length = (20 + len(attrs)).to_bytes(2, "big")
        packet = bytes((Code.ACCESS_REQUEST, 1)) + length + authenticator + attrs
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect(("127.0.0.1", 1812))
            sock.send(packet)
            try:
                return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 4096), 1.0)
            except TimeoutError:
                return None

    assert server.run(main) is None


async def _eap_over_radius(client: RadiusClient, peer: EapPeer, user: str) -> Reply:
    """What the eap-radius gateway does: EAP-Identity, then relay each EAP message to RADIUS in
    Access-Request/Access-Challenge rounds, State echoed, until Accept or Reject."""
    identity = peer.receive(EapPacket(EapCode.REQUEST, 0, EapType.IDENTITY).encode())
    assert identity is not None
    message, state = identity, None
    for _ in range(10):
        reply = await client.access(eap_attributes(user.encode(), message, state, "192.0.2.10[4500]", NAS_IP))
        eap = reply.packet.eap_message()
        assert eap is not None
        answer = peer.receive(eap)
        if reply.packet.code != Code.ACCESS_CHALLENGE:
            return reply
        assert answer is not None
        message, state = answer, reply.packet.get(Attr.STATE)
    raise AssertionError("EAP did not finish in 10 rounds")


def _relay(server: fr.FreeRadius, peer: EapPeer, user: str) -> Reply:
    async def main() -> Reply:
        client = RadiusClient([SERVER])
        try:
            return await _eap_over_radius(client, peer, user)
        finally:
            client.close()

    return server.run(main)


def test_eap_mschapv2_relayed_the_msk_from_mppe_keys_equals_the_peers(server: fr.FreeRadius) -> None:
    peer = EapPeer("alice", fr.USERS["alice"])
    reply = _relay(server, peer, "alice")
    assert reply.packet.code == Code.ACCESS_ACCEPT and peer.succeeded
    assert peer.msk is not None and len(peer.msk) == 32
    assert reply.msk() == peer.msk
    assert radius.accept_info(reply.packet).framed_ip == ipaddress.IPv4Address(fr.ALICE_IP)


def test_eap_mschapv2_with_a_wrong_password_is_rejected(server: fr.FreeRadius) -> None:
    peer = EapPeer("bob", "not-the-password")
    reply = _relay(server, peer, "bob")
    assert reply.packet.code == Code.ACCESS_REJECT
    assert peer.failed and peer.msk is None


def test_accounting_start_interim_stop_are_accepted_and_recorded(server: fr.FreeRadius) -> None:
    counters = (123456, 654321, 100, 200)

    async def main() -> list[int]:
        client = RadiusClient([SERVER])
        try:
            cls = [fr.ALICE_CLASS.encode()]
            records = [
                accounting_attributes(AcctStatus.START, "ipsecd-acct-1", "alice", class_=cls),
                accounting_attributes(AcctStatus.INTERIM_UPDATE, "ipsecd-acct-1", "alice", class_=cls,
                                      session_time=30, counters=counters),
                accounting_attributes(AcctStatus.STOP, "ipsecd-acct-1", "alice", class_=cls,
                                      session_time=60, counters=counters, terminate_cause=1),
            ]
            return [(await client.accounting([*attrs, *NAS[:1]])).packet.code for attrs in records]
        finally:
            client.close()

    assert server.run(main) == [Code.ACCOUNTING_RESPONSE] * 3
    detail = server.detail()
    for record in ("Acct-Status-Type = Start", "Acct-Status-Type = Interim-Update",
                   "Acct-Status-Type = Stop", 'Acct-Session-Id = "ipsecd-acct-1"',
                   "Acct-Input-Octets = 123456", "Acct-Output-Packets = 200",
                   "Acct-Terminate-Cause = User-Request", f"Class = 0x{fr.ALICE_CLASS.encode().hex()}"):
        assert record in detail, record
    assert detail.count(f"Class = 0x{fr.ALICE_CLASS.encode().hex()}") == 3  # echoed in every record
