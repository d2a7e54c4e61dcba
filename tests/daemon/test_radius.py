"""The asyncio RADIUS client against stub servers on the loopback: order, retries, forged replies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

import pytest

from ipsecd.daemon.radius import (
    RadiusClient,
    RadiusServer,
    RadiusUnavailable,
    accounting_attributes,
    eap_attributes,
)
from ipsecd.wire import radius
from ipsecd.wire.radius import Attr, Code

SECRET = b"s3cret"
Answer = Callable[[bytes], list[bytes]]


class Stub(asyncio.DatagramProtocol):
    """A RADIUS server whose ``answer(request) -> [datagrams]`` decides what it sends back."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.received: list[bytes] = []
        self.peer: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append(data)
        self.peer = addr
        assert self.transport is not None
        for reply in self.answer(data):
            self.transport.sendto(reply, addr)


async def _stub(answer: Answer) -> tuple[Stub, RadiusServer]:
    _, stub = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: Stub(answer), local_addr=("127.0.0.1", 0))
    assert stub.transport is not None
    port = stub.transport.get_extra_info("sockname")[1]
    return stub, RadiusServer("127.0.0.1", SECRET, port, port, timeout=0.1)


def _accept(request: bytes) -> list[bytes]:
    packet = radius.verify_request(request, SECRET)
    if packet.code == Code.ACCOUNTING_REQUEST:
        return [radius.build_reply(SECRET, request, Code.ACCOUNTING_RESPONSE, [])]
    hidden = packet.get(Attr.USER_PASSWORD) or bytes(16)
    if radius.unhide_password(hidden, SECRET, packet.authenticator) != b"pw":
        return [radius.build_reply(SECRET, request, Code.ACCESS_REJECT, [])]
    return [radius.build_reply(SECRET, request, Code.ACCESS_ACCEPT, _accept_attributes(request))]


def _accept_attributes(request: bytes) -> list[tuple[int, bytes]]:
    """Framed-IP-Address and the MS-MPPE keys (an MSK of R*32 ‖ S*32) for ``request``."""
    ra = request[4:20]
    keys = [(radius.MsAttr.MS_MPPE_RECV_KEY, radius.encrypt_mppe_key(b"R" * 32, SECRET, ra, b"\x81\x01")),
            (radius.MsAttr.MS_MPPE_SEND_KEY, radius.encrypt_mppe_key(b"S" * 32, SECRET, ra, b"\x81\x02"))]
    vsa = radius.encode_vsa(radius.MICROSOFT, keys)
    return [(Attr.FRAMED_IP_ADDRESS, bytes((10, 9, 0, 7))), (Attr.VENDOR_SPECIFIC, vsa)]


def test_pap_accept_reject_and_the_msk() -> None:
    async def main() -> None:
        stub, server = await _stub(_accept)
        client = RadiusClient([server])
        reply = await client.access([(Attr.USER_NAME, b"alice")], password=b"pw")
        assert reply.packet.code == Code.ACCESS_ACCEPT
        assert reply.packet.get(Attr.FRAMED_IP_ADDRESS) == bytes((10, 9, 0, 7))
        assert reply.msk() == b"R" * 32 + b"S" * 32
        assert radius.parse(stub.received[0]).attributes[0][0] == Attr.MESSAGE_AUTHENTICATOR
        reject = await client.access([(Attr.USER_NAME, b"alice")], password=b"no")
        assert reject.packet.code == Code.ACCESS_REJECT
        acct = await client.accounting(accounting_attributes(radius.AcctStatus.START, "s1", "alice"))
        assert acct.packet.code == Code.ACCOUNTING_RESPONSE
        client.close()
    asyncio.run(main())


def test_a_silent_server_is_retried_then_the_next_one_answers(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        silent, first = await _stub(lambda _: [])
        _, second = await _stub(_accept)
        client = RadiusClient([first, second], tries=3)
        reply = await client.access([(Attr.USER_NAME, b"a")], password=b"pw")
        assert reply.server == second and len(silent.received) == 3
        assert len(set(silent.received)) == 1  # a retransmission is the same packet (RFC 5080 §2.2.1)
        client.close()
    asyncio.run(main())


def test_no_answer_and_forged_answers_are_refused_with_a_reason(caplog: pytest.LogCaptureFixture) -> None:
    def forged(request: bytes) -> list[bytes]:
        good = _accept(request)[0]
        return [good[:-1] + bytes((good[-1] ^ 1,))]  # an attribute altered after signing

    async def main() -> None:
        _, silent = await _stub(lambda _: [])
        _, bad = await _stub(forged)
        client = RadiusClient([silent, bad], tries=2)
        with caplog.at_level(logging.WARNING, "ipsecd.radius"), pytest.raises(RadiusUnavailable) as exc:
            await client.access([(Attr.USER_NAME, b"a")], password=b"pw")
        assert f"{silent.label(silent.authentication_port)} no verified answer in 2 tries" in str(exc.value)
        assert "does not verify" in str(exc.value)
        assert "no RADIUS server answered the Access-Request" in caplog.text
        assert "s3cret" not in caplog.text
        client.close()
    asyncio.run(main())


def test_duplicates_are_dropped_and_outstanding_requests_are_bounded() -> None:
    async def main() -> None:
        stub, server = await _stub(lambda _: [])  # answered by hand below
        server = RadiusServer(server.address, SECRET, server.authentication_port, timeout=2.0)
        client = RadiusClient([server], max_outstanding=2, tries=1)
        tasks = [asyncio.create_task(client.access([(Attr.USER_NAME, b"u%d" % i)], b"pw")) for i in range(5)]
        answered = 0
        while answered < 5:
            await asyncio.sleep(0.05)
            assert len(stub.received) - answered <= 2  # the loop runs on; the others wait their turn
            request = stub.received[answered]
            assert stub.transport is not None
            for reply in _accept(request) * 2:  # each answered twice
                stub.transport.sendto(reply, stub.peer)
            answered += 1
        results = await asyncio.gather(*tasks)
        assert [r.packet.code for r in results] == [Code.ACCESS_ACCEPT] * 5
        assert next(iter(client._endpoints.values())).dropped == 5
        client.close()
    asyncio.run(main())


def test_accounting_attributes_carry_gigawords_and_class() -> None:
    attrs = dict(accounting_attributes(radius.AcctStatus.STOP, "s", "u", session_time=60,
                                       counters=(5 * 2**32 + 7, 9, 3, 4), class_=[b"c1"], terminate_cause=1))
    assert attrs[Attr.ACCT_INPUT_OCTETS] == radius.integer(7)
    assert attrs[Attr.ACCT_INPUT_GIGAWORDS] == radius.integer(5)
    assert attrs[Attr.CLASS] == b"c1" and attrs[Attr.ACCT_SESSION_TIME] == radius.integer(60)


def test_eap_attributes_of_one_round() -> None:
    attrs = eap_attributes(b"alice", bytes(300), b"st", "192.0.2.1[4500]", bytes((127, 0, 0, 1)))
    packet = radius.Packet(Code.ACCESS_REQUEST, 0, bytes(16), attrs)
    assert packet.eap_message() == bytes(300) and len(packet.get_all(Attr.EAP_MESSAGE)) == 2
    assert packet.get(Attr.STATE) == b"st" and packet.get(Attr.USER_NAME) == b"alice"
    assert packet.get_int(Attr.NAS_PORT_TYPE) == radius.NAS_PORT_TYPE_VIRTUAL
    assert Attr.STATE not in dict(eap_attributes(b"a", b"\x02\x00\x00\x05\x01", None, "x"))


def test_relay_turns_replies_into_the_gateways_answers() -> None:
    """daemon.radius.relay: Access-Challenge (EAP request and State), Access-Accept (MSK from the
    MS-MPPE keys, Framed-IP-Address), Access-Reject (Reply-Message), a server signing with another
    secret (its replies dropped: unavailable, with the reason) and one without MS-MPPE keys."""
    from ipsecd.daemon.radius import relay
    from ipsecd.ike.eap.server import ACCEPT, CHALLENGE, REJECT, UNAVAILABLE, RelayAnswer, RelayQuestion

    eap_request = bytes((1, 7, 0, 6, 26, 1))
    success = bytes((3, 8, 0, 4))

    def answer(request: bytes) -> list[bytes]:
        packet = radius.verify_request(request, SECRET)
        assert packet.get(Attr.NAS_IP_ADDRESS) == bytes((192, 0, 2, 1))
        user = packet.get(Attr.USER_NAME)
        if user == b"challenge":
            attrs = [(Attr.EAP_MESSAGE, eap_request), (Attr.STATE, b"st")]
            return [radius.build_reply(SECRET, request, Code.ACCESS_CHALLENGE, attrs)]
        if user == b"reject":
            attrs = [(Attr.REPLY_MESSAGE, b"account locked"), (Attr.EAP_MESSAGE, bytes((4, 8, 0, 4)))]
            return [radius.build_reply(SECRET, request, Code.ACCESS_REJECT, attrs)]
        if user == b"forged":
            return [radius.build_reply(b"other", request, Code.ACCESS_ACCEPT, [])]
        if user == b"nokeys":
            return [radius.build_reply(SECRET, request, Code.ACCESS_ACCEPT, [(Attr.EAP_MESSAGE, success)])]
        attrs = [*_accept_attributes(request), (Attr.EAP_MESSAGE, success)]
        return [radius.build_reply(SECRET, request, Code.ACCESS_ACCEPT, attrs)]

    async def main() -> dict[str, RelayAnswer]:
        _, server = await _stub(answer)
        client = RadiusClient([server], tries=1)
        out = {}
        for user in ("challenge", "reject", "forged", "nokeys", "alice"):
            q = RelayQuestion(user.encode(), bytes((2, 7, 0, 5, 1)), None, "192.0.2.9")
            out[user] = await relay(client, q, bytes((192, 0, 2, 1)))
        client.close()
        return out

    got = asyncio.run(main())
    challenge, reject, forged, nokeys, alice = (got[u] for u in ("challenge", "reject", "forged", "nokeys",
                                                                 "alice"))
    assert (challenge.kind, challenge.eap, challenge.state) == (CHALLENGE, eap_request, b"st")
    assert (reject.kind, reject.reason) == (REJECT, "account locked")
    assert forged.kind == UNAVAILABLE and "no verified answer" in forged.reason
    assert nokeys.kind == ACCEPT and nokeys.msk == b""
    assert alice.kind == ACCEPT and alice.msk == b"R" * 32 + b"S" * 32
    assert str(alice.framed_ip) == "10.9.0.7" and alice.eap == success
