"""RADIUS codec: authenticators, Message-Authenticator (Blast-RADIUS), hiding and MPPE keys."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipsecd.wire import radius
from ipsecd.wire.radius import Attr, Code, RadiusError

SECRET = b"testing123"
RA = bytes(range(16))


def _request(attrs: list[tuple[int, bytes]] | None = None) -> bytes:
    return radius.build_request(SECRET, Code.ACCESS_REQUEST, 7, RA, attrs or [(Attr.USER_NAME, b"alice")])


def test_message_authenticator_is_first_and_an_hmac_md5_of_the_zeroed_packet() -> None:
    data = _request()
    packet = radius.parse(data)
    assert packet.attributes[0][0] == Attr.MESSAGE_AUTHENTICATOR
    zeroed = data[:22] + bytes(16) + data[38:]
    assert packet.attributes[0][1] == hmac.new(SECRET, zeroed, hashlib.md5).digest()
    assert radius.verify_request(data, SECRET).get(Attr.USER_NAME) == b"alice"
    with pytest.raises(RadiusError, match="Message-Authenticator"):
        radius.verify_request(data, b"other")


@pytest.mark.parametrize("code", [Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE])
def test_a_reply_verifies_and_any_altered_octet_is_refused(code: int) -> None:
    request = _request()
    reply = radius.build_reply(SECRET, request, code, [(Attr.REPLY_MESSAGE, b"hello")])
    assert radius.verify_reply(reply, SECRET, request).get(Attr.REPLY_MESSAGE) == b"hello"
    for i in range(len(reply)):
        if i == 1:
            continue  # the identifier is its own check
        bad = reply[:i] + bytes((reply[i] ^ 1,)) + reply[i + 1 :]
        with pytest.raises(RadiusError):
            radius.verify_reply(bad, SECRET, request)
    with pytest.raises(RadiusError, match="Identifier"):
        radius.verify_reply(reply[:1] + b"\x08" + reply[2:], SECRET, request)


def test_a_reply_without_message_authenticator_is_refused_even_with_a_good_response_authenticator() -> None:
    request = _request()
    attrs = radius.encode_attributes([(Attr.REPLY_MESSAGE, b"ok")])
    head = bytes((Code.ACCESS_ACCEPT, 7)) + (20 + len(attrs)).to_bytes(2, "big")
    reply = head + hashlib.md5(head + RA + attrs + SECRET).digest() + attrs
    with pytest.raises(RadiusError, match="Message-Authenticator missing"):
        radius.verify_reply(reply, SECRET, request)


def test_accounting_request_and_response_authenticators() -> None:
    attrs = [(Attr.ACCT_STATUS_TYPE, radius.integer(radius.AcctStatus.START)), (Attr.ACCT_SESSION_ID, b"s1")]
    request = radius.build_request(SECRET, Code.ACCOUNTING_REQUEST, 3, b"", attrs)
    unsigned = request[:4] + bytes(16) + request[20:]
    assert request[4:20] == hashlib.md5(unsigned + SECRET).digest()
    assert radius.verify_request(request, SECRET).get_int(Attr.ACCT_STATUS_TYPE) == 1
    reply = radius.build_reply(SECRET, request, Code.ACCOUNTING_RESPONSE, [])
    assert radius.verify_reply(reply, SECRET, request).code == Code.ACCOUNTING_RESPONSE
    with pytest.raises(RadiusError, match="does not answer"):
        radius.verify_reply(radius.build_reply(SECRET, request, Code.ACCESS_ACCEPT, []), SECRET, request)


@given(st.binary(min_size=1, max_size=128), st.binary(min_size=1, max_size=40),
       st.binary(min_size=16, max_size=16))
def test_user_password_hiding_round_trips(password: bytes, secret: bytes, auth: bytes) -> None:
    password = password.rstrip(b"\0") or b"x"
    hidden = radius.hide_password(password, secret, auth)
    assert len(hidden) % 16 == 0 and len(hidden) >= len(password)
    assert radius.unhide_password(hidden, secret, auth) == password


def test_user_password_first_block_is_the_rfc_2865_chain() -> None:
    hidden = radius.hide_password(b"pw", SECRET, RA)
    pad = hashlib.md5(SECRET + RA).digest()
    assert hidden == bytes(a ^ b for a, b in zip(b"pw" + bytes(14), pad, strict=True))


def test_mppe_keys_round_trip_and_make_the_msk_recv_then_send() -> None:
    recv, send = bytes(range(32)), bytes(range(100, 132))
    request = _request()
    subs = [(radius.MsAttr.MS_MPPE_RECV_KEY, radius.encrypt_mppe_key(recv, SECRET, RA, b"\x80\x01")),
            (radius.MsAttr.MS_MPPE_SEND_KEY, radius.encrypt_mppe_key(send, SECRET, RA, b"\x80\x02"))]
    reply = radius.build_reply(SECRET, request, Code.ACCESS_ACCEPT,
                               [(Attr.VENDOR_SPECIFIC, radius.encode_vsa(radius.MICROSOFT, subs))])
    packet = radius.verify_reply(reply, SECRET, request)
    assert radius.msk_from_accept(packet, SECRET, RA) == recv + send
    with pytest.raises(RadiusError):
        radius.decrypt_mppe_key(b"\x00\x01" + bytes(32), SECRET, RA)  # salt without its high bit


def test_eap_message_is_split_over_253_octet_attributes_and_joined() -> None:
    eap = bytes(range(256)) * 3
    attrs = radius.split_eap(eap)
    assert [len(v) for _, v in attrs] == [253, 253, 253, 9]
    request = _request([(Attr.USER_NAME, b"u"), *attrs, (Attr.STATE, b"st")])
    packet = radius.verify_request(request, SECRET)
    assert packet.eap_message() == eap and packet.get(Attr.STATE) == b"st"


def test_too_long_a_packet_cannot_be_built() -> None:
    with pytest.raises(RadiusError):
        _request(radius.split_eap(bytes(5000)))


@given(st.binary(max_size=300))
def test_any_input_raises_only_our_parse_error(data: bytes) -> None:
    request = _request()
    for fn in (lambda: radius.parse(data), lambda: radius.verify_reply(data, SECRET, request),
               lambda: radius.verify_request(data, SECRET)):
        try:
            packet = fn()
        except RadiusError:
            continue
        for value in packet.get_all(Attr.VENDOR_SPECIFIC):
            try:
                radius.decode_vsa(value)
            except RadiusError:
                pass


@given(st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=60)), max_size=12), st.integers(0, 255))
def test_a_mangled_reply_raises_only_our_error(attrs: list[tuple[int, bytes]], flip: int) -> None:
    request = _request()
    reply = bytearray(radius.build_reply(SECRET, request, Code.ACCESS_ACCEPT, attrs))
    reply[flip % len(reply)] ^= 0x41
    try:
        radius.verify_reply(bytes(reply), SECRET, request)
    except RadiusError:
        pass


def test_accept_info_reads_the_virtual_ip_session_timeout_and_every_class() -> None:
    packet = radius.Packet(Code.ACCESS_ACCEPT, 1, bytes(16), [
        (Attr.FRAMED_IP_ADDRESS, bytes((10, 0, 0, 5))), (Attr.SESSION_TIMEOUT, radius.integer(600)),
        (Attr.CLASS, b"a"), (Attr.CLASS, b"b")])
    info = radius.accept_info(packet)
    assert (str(info.framed_ip), info.session_timeout, info.classes) == ("10.0.0.5", 600, (b"a", b"b"))
    def framed(value: bytes) -> radius.Packet:
        return radius.Packet(Code.ACCESS_ACCEPT, 1, bytes(16), [(Attr.FRAMED_IP_ADDRESS, value)])

    # 255.255.255.254: the NAS chooses (the pool)
    assert radius.accept_info(framed(b"\xff" * 3 + b"\xfe")) == radius.AcceptInfo(None, None, ())
    with pytest.raises(RadiusError):
        radius.accept_info(framed(b"\x01"))
