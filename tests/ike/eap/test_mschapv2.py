"""MS-CHAPv2 against RFC 2759 §9.2 and RFC 3079 §3.5.3, and the EAP peer against the local server."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipsecd.ike.eap import mschapv2
from ipsecd.ike.eap.md4 import md4
from ipsecd.ike.eap.peer import EapPeer
from ipsecd.wire import eap
from ipsecd.wire.eap import EapCode, EapError, EapPacket, EapType

AUTH_CHALLENGE = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
PEER_CHALLENGE = bytes.fromhex("21402324255E262A28295F2B3A337C7E")
NT_RESPONSE = bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")


@pytest.mark.parametrize("data,digest", [
    (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"), (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
    (b"message digest", "d9130a8164549fe818874806e1c7014b"),
    (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),  # RFC 1320 §A.5
])
def test_md4_rfc_1320_suite(data: bytes, digest: str) -> None:
    assert md4(data).hex() == digest


def test_rfc_2759_example() -> None:
    assert mschapv2.challenge_hash(PEER_CHALLENGE, AUTH_CHALLENGE, b"User").hex() == "d02e4386bce91226"
    pw_hash = mschapv2.password_hash("clientPass")
    assert pw_hash.hex() == "44ebba8d5312b8d611474411f56989ae"
    assert mschapv2.nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, b"User", pw_hash) == NT_RESPONSE
    assert md4(pw_hash).hex() == "41c00c584bd2d91c4017a2a12fa59f3f"
    assert mschapv2.authenticator_response(pw_hash, NT_RESPONSE, PEER_CHALLENGE, AUTH_CHALLENGE, b"User") == (
        b"S=407A5589115FD0D6209F510FE9C04566932CDA56")


def test_rfc_3079_128_bit_start_key_is_the_msks_second_half() -> None:
    # RFC 3079 §3.5.3: the server's SendStartKey128 (the client's receive key) for the same example
    key = mschapv2.msk(mschapv2.password_hash("clientPass"), NT_RESPONSE)
    assert len(key) == 32 and key[16:].hex() == "8b7cdc149b993a1ba118cb153f56dccb"


def _counter() -> mschapv2.Random:
    c = itertools.count(1)
    return lambda n: bytes((next(c) & 0xFF,)) * n


def _run(password: str) -> tuple[EapPeer, mschapv2.MsChapV2Server]:
    users = {"alice": "s3cret"}
    server = mschapv2.MsChapV2Server(users.get, random=_counter())
    peer = EapPeer("alice", password, random=_counter())
    identity = peer.receive(EapPacket(EapCode.REQUEST, 1, EapType.IDENTITY).encode())
    assert identity is not None and eap.parse(identity).data == b"alice"
    message: bytes | None = server.start(2).encode()
    while message is not None:
        reply = peer.receive(message)
        message = None if reply is None else server.process(eap.parse(reply)).encode()
    return peer, server


def test_peer_and_server_agree_on_the_msk() -> None:
    peer, server = _run("s3cret")
    assert peer.succeeded and peer.msk is not None and peer.msk == server.msk


def test_a_wrong_password_fails_with_the_servers_message() -> None:
    peer, server = _run("wrong")
    assert peer.failed and peer.msk is None and server.msk is None
    assert peer.reason is not None and peer.reason.startswith("E=691")


def test_a_server_with_a_wrong_authenticator_response_is_refused() -> None:
    peer = EapPeer("alice", "s3cret", random=_counter())
    server = mschapv2.MsChapV2Server({"alice": "other"}.get, random=_counter())
    response = peer.receive(server.start(1).encode())
    assert response is not None
    forged = mschapv2.MsChapV2(eap.MsOp.SUCCESS, 0, name=b"S=" + b"0" * 40)
    with pytest.raises(EapError, match="AuthenticatorResponse"):
        peer.receive(EapPacket(EapCode.REQUEST, 2, EapType.MSCHAPV2, forged.encode()).encode())


def test_an_early_success_and_an_unknown_method_are_handled() -> None:
    peer = EapPeer("alice", "x")
    nak = peer.receive(EapPacket(EapCode.REQUEST, 1, EapType.TLS, b"\x20").encode())
    assert nak is not None and eap.parse(nak) == EapPacket(EapCode.RESPONSE, 1, EapType.NAK, b"\x1a")
    assert peer.receive(b"\x03\x02\x00\x04") is None
    assert peer.failed and not peer.succeeded and peer.msk is None


@given(st.lists(st.binary(max_size=120), max_size=6))
def test_any_sequence_of_inputs_raises_only_our_error(messages: list[bytes]) -> None:
    peer = EapPeer("alice", "s3cret", random=_counter())
    server = mschapv2.MsChapV2Server({"alice": "s3cret"}.get, random=_counter())
    server.start(1)
    for data in messages:
        for fn in (peer.receive, lambda d: server.process(eap.parse(d))):
            try:
                fn(data)
            except EapError:
                pass
        # the same bytes as an EAP-MSCHAPv2 request body
        try:
            peer.receive(EapPacket(EapCode.REQUEST, 1, EapType.MSCHAPV2, data).encode())
        except EapError:
            pass
    assert peer.msk is None or peer.succeeded
