"""Writes the seed corpus of :mod:`tests.fuzz.targets` from real exchanges run in-process between
ipsecd's own implementations (the ones the interop tests prove against strongSwan and FreeRADIUS):

- ``ikev2``: every datagram of IKE_SA_INIT, IKE_AUTH, a CHILD_SA rekey, a liveness check and the
  deletes, and every plaintext payload chain the SAs decrypted from them (recorded as
  ``decode_chain`` got it);
- ``ikev1``: every datagram of main mode and quick mode, and every decrypted chain;
- ``esp``: ESP packets of UDP, TCP and ICMP inner packets, IPv4 and IPv6, from a NULL-encryption
  SA (ICV removed: the target appends it) and from an AES-GCM SA;
- ``radius``: the RFC 3579 EAP round trip — Access-Request, Access-Challenge, Access-Accept with
  MS-MPPE keys, Framed-IP-Address, Session-Timeout and Class, an Access-Reject;
- ``eap``: EAP-Identity, the MSCHAPv2 challenge, response, success and failure packets.

Run ``python -m tests.fuzz.corpus`` to write them again (deterministic: same bytes each run).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ipsecd.dataplane.esp import EspSa
from ipsecd.ike.eap import mschapv2
from ipsecd.ike.eap.peer import EapPeer
from ipsecd.ike.v1 import sa as v1sa
from ipsecd.ike.v2 import protect as v2protect
from ipsecd.policy.types import Direction
from ipsecd.wire import eap, radius
from ipsecd.wire.eap import EapCode, EapPacket, EapType
from tests.dataplane.test_esp import spec, udp_packet
from tests.fuzz.targets import CORPUS, EAP_PASSWORD, EAP_USER, ESP_KEY, GCM_KEY, RADIUS_SECRET, counter
from tests.ike import conftest as v2c
from tests.ike.v1 import conftest as v1c
from tests.ike.v1.conftest import V1Pair


@contextmanager
def recording(module: Any, out: list[bytes]) -> Iterator[None]:
    """Record every (first payload, chain) ``module.decode_chain`` decodes, as a chain input."""
    real: Callable[..., Any] = module.decode_chain

    def spy(first: int, data: bytes, *args: Any, **kw: Any) -> Any:
        out.append(b"\x01" + bytes((first,)) + bytes(data))
        return real(first, data, *args, **kw)

    module.decode_chain = spy
    try:
        yield
    finally:
        module.decode_chain = real


def ikev2() -> list[bytes]:
    chains: list[bytes] = []
    with recording(v2protect, chains):
        p = v2c.Pair(*v2c.configs())
        p.pump()
        spi = next(iter(p.i.children))
        p.i.rekey_child(spi)
        p.pump()
        p.advance(120.0)  # liveness checks, if any are due
        p.i.delete_child(next(iter(p.i.children)))
        p.pump()
        p.i.delete()
        p.pump()
    return [b"\x00" + data for _, data in p.wire] + chains


def ikev1() -> list[bytes]:
    chains: list[bytes] = []
    with recording(v1sa, chains):
        p = V1Pair(*v1c.configs())
        p.pump()
        p.advance(5.0)
        p.i.delete()
        p.pump()
    return [b"\x00" + data for _, data, _ in p.wire] + chains


def esp() -> list[bytes]:
    null = EspSa(spec(Direction.OUT, encr="null", ekey=b"", integ="sha256", ikey=ESP_KEY))
    gcm = EspSa(spec(Direction.OUT, encr="aes-128-gcm", ekey=GCM_KEY))
    inner = [
        udp_packet(4, "10.1.0.1", "10.2.0.1", b"dns?"),
        udp_packet(6, "fd00:1::1", "fd00:2::1", b"x" * 40),
        bytes.fromhex("450000280001400040060000") + bytes.fromhex("0a0100010a020001") + bytes(20),  # TCP
        bytes.fromhex("4500001c0002000040010000") + bytes.fromhex("0a0100010a020001") + bytes(8),
    ]  # ICMP
    out = [b"\x00" + null.seal_payload(pkt)[:-16] for pkt in inner]
    out += [b"\x01" + gcm.seal_payload(pkt) for pkt in inner]
    return out


def _eap_exchange(password: str) -> list[bytes]:
    """Every EAP packet of one EAP-MSCHAPv2 authentication, both directions."""
    peer = EapPeer(EAP_USER, password, random=counter())
    server = mschapv2.MsChapV2Server({EAP_USER: EAP_PASSWORD}.get, random=counter())
    request = EapPacket(EapCode.REQUEST, 1, EapType.IDENTITY).encode()
    packets = [request]
    identity = peer.receive(request)
    assert identity is not None
    packets.append(identity)
    message: bytes | None = server.start(2).encode()
    while message is not None:
        packets.append(message)
        reply = peer.receive(message)
        if reply is not None:
            packets.append(reply)
        message = None if reply is None else server.process(eap.parse(reply)).encode()
    return packets


def eap_packets() -> list[bytes]:
    return _eap_exchange(EAP_PASSWORD) + _eap_exchange("wrong")


def radius_packets() -> list[bytes]:
    out = []
    secret = RADIUS_SECRET
    for n, message in enumerate(_eap_exchange(EAP_PASSWORD)):
        auth = hashlib.md5(bytes((n,))).digest()
        request = radius.build_request(
            secret,
            radius.Code.ACCESS_REQUEST,
            n,
            auth,
            [
                (radius.Attr.USER_NAME, EAP_USER.encode()),
                *radius.split_eap(message),
                (radius.Attr.CALLING_STATION_ID, b"192.0.2.7"),
                (radius.Attr.NAS_PORT_TYPE, radius.integer(5)),
            ],
        )
        out.append(request)
        out.append(
            radius.build_reply(
                secret,
                request,
                radius.Code.ACCESS_CHALLENGE,
                [*radius.split_eap(message), (radius.Attr.STATE, b"state-1")],
            )
        )
    request = out[0]
    keys = [
        radius.encode_vsa(
            radius.MICROSOFT,
            [(kind, radius.encrypt_mppe_key(bytes(32), secret, request[4:20], b"\x80" + bytes((kind,))))],
        )
        for kind in (radius.MsAttr.MS_MPPE_RECV_KEY, radius.MsAttr.MS_MPPE_SEND_KEY)
    ]
    out.append(
        radius.build_reply(
            secret,
            request,
            radius.Code.ACCESS_ACCEPT,
            [
                (radius.Attr.FRAMED_IP_ADDRESS, bytes((10, 9, 0, 7))),
                (radius.Attr.SESSION_TIMEOUT, radius.integer(3600)),
                (radius.Attr.CLASS, b"class-a"),
                *[(radius.Attr.VENDOR_SPECIFIC, k) for k in keys],
                (radius.Attr.EAP_MESSAGE, EapPacket(EapCode.SUCCESS, 9).encode()),
            ],
        )
    )
    out.append(
        radius.build_reply(
            secret,
            request,
            radius.Code.ACCESS_REJECT,
            [(radius.Attr.EAP_MESSAGE, EapPacket(EapCode.FAILURE, 9).encode())],
        )
    )
    return out


MAKERS: dict[str, Callable[[], list[bytes]]] = {
    "ikev2": ikev2,
    "ikev1": ikev1,
    "esp": esp,
    "radius": radius_packets,
    "eap": eap_packets,
}


def write() -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for name, make in MAKERS.items():
        folder = CORPUS / name
        folder.mkdir(parents=True, exist_ok=True)
        for data in make():
            (folder / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
            counts[name] += 1
    return dict(counts)


if __name__ == "__main__":
    print(write())
