"""Coverage-guided fuzz targets (issue 17, "prove it"): one function per parser that faces the
network, taking the fuzzer's bytes and raising nothing but on a bug. What a parser may raise for bad
input — its documented error (``WireError``, ``DataplaneError``) — is caught here; anything else
(``IndexError``, ``struct.error``, ``UnicodeDecodeError``, ``ValueError`` …) escapes and is a crash.

The first byte of an input chooses what the rest is (so one corpus holds both kinds):

- ``ikev2``: even: a datagram through the IKEv2 codec (``Message.decode``, header and every
  payload); odd: the plaintext payload chain inside SK (first payload type, then the chain) — what
  an SA decodes after decryption.
- ``ikev1``: the same for ISAKMP: a datagram, or the (padded) chain an encrypted body decrypts to.
- ``esp``: ESP decapsulation. Even: the rest, with a valid HMAC-SHA-256-128 ICV appended,
  into an ESP SA with NULL encryption (RFC 4303 §3.2) — the fuzzer reaches the trailer, padding and
  Next Header checks and the inner-packet checks behind the ICV. Odd: the rest as it stands into an
  AES-GCM SA (header, length and ICV checks).
- ``radius``: a RADIUS packet as the client handles a reply: parse, then what it reads from an
  Access-Accept (Framed-IP-Address, Session-Timeout, Class, the MS-MPPE keys) and EAP-Message.
- ``eap``: an EAP packet through the codec (MSCHAPv2 bodies included), into a fresh EAP peer (as the
  server's first request) and into a started EAP-MSCHAPv2 server (as the peer's answer).

``python -m tests.fuzz.atheris_main TARGET [libFuzzer options] [corpus dirs]`` fuzzes one under
atheris (:mod:`tests.fuzz.atheris_main`); the corpus in ``tests/fuzz/corpus/TARGET`` seeds it
(:mod:`tests.fuzz.corpus` writes it from real exchanges), and every file there is replayed by
``tests/fuzz/test_coverage_guided.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Callable
from pathlib import Path

from ipsecd.dataplane.errors import DataplaneError
from ipsecd.dataplane.esp import EspSa
from ipsecd.ike.eap import mschapv2
from ipsecd.ike.eap.peer import EapPeer
from ipsecd.policy.types import Direction
from ipsecd.wire import eap, radius
from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev1 import message as v1
from ipsecd.wire.ikev2 import message as v2
from tests.dataplane.test_esp import spec

CORPUS = Path(__file__).with_name("corpus")
ESP_KEY = bytes(range(32))
GCM_KEY = bytes(range(20))
RADIUS_SECRET = b"fuzz-radius-secret"
EAP_USER, EAP_PASSWORD = "alice", "s3cret"


def counter() -> Callable[[int], bytes]:
    """Deterministic "random" bytes for the EAP peer and server (a crash must reproduce)."""
    c = itertools.count(1)
    return lambda n: bytes((next(c) & 0xFF,)) * n


def ikev2(data: bytes) -> None:
    try:
        if data[:1] and data[0] & 1:
            v2.decode_chain(data[1] if len(data) > 1 else 0, data[2:])
        else:
            v2.Message.decode(data[1:])
    except WireError:
        pass


def ikev1(data: bytes) -> None:
    try:
        if data[:1] and data[0] & 1:
            v1.decode_chain(data[1] if len(data) > 1 else 0, data[2:], padded=True)
        else:
            v1.Message.decode(data[1:])
    except WireError:
        pass


_NULL_IN = EspSa(spec(Direction.IN, encr="null", ekey=b"", integ="sha256", ikey=ESP_KEY, window=64))
_GCM_IN = EspSa(spec(Direction.IN, encr="aes-128-gcm", ekey=GCM_KEY, window=64))


def esp(data: bytes) -> None:
    body = data[1:]
    try:
        if data[:1] and data[0] & 1:
            _GCM_IN.open_payload(body)
        else:
            icv = hmac.new(ESP_KEY, body, hashlib.sha256).digest()[:16]
            _NULL_IN.open_payload(body + icv)
    except DataplaneError:
        pass
    # the replay window must not make the next input's outcome depend on this one
    for sa in (_NULL_IN, _GCM_IN):
        if sa.replay is not None:
            sa.replay.top, sa.replay.bitmap = 0, 0


def radius_reply(data: bytes) -> None:
    try:
        packet = radius.parse(data)
        radius.accept_info(packet)
        radius.msk_from_accept(packet, RADIUS_SECRET, bytes(16))
    except WireError:
        pass
    else:
        eap_message = b"".join(packet.get_all(radius.Attr.EAP_MESSAGE))
        if eap_message:
            eap_packet(eap_message)


def eap_packet(data: bytes) -> None:
    try:
        packet = eap.parse(data)
        if packet.type == eap.EapType.MSCHAPV2:
            eap.parse_mschapv2(packet.data)
    except WireError:
        pass
    peer = EapPeer(EAP_USER, EAP_PASSWORD, random=counter())
    server = mschapv2.MsChapV2Server({EAP_USER: EAP_PASSWORD}.get, random=counter())
    server.start(1)
    try:
        peer.receive(data)
    except WireError:
        pass
    try:
        server.process(eap.parse(data))
    except WireError:
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "ikev2": ikev2,
    "ikev1": ikev1,
    "esp": esp,
    "radius": radius_reply,
    "eap": eap_packet,
}
#: ``all``: one input for any target, chosen by its first byte (index in :data:`ORDER`), so that one
#: short run (CI) covers them all in one process; :func:`tagged` makes its corpus from the others'.
ORDER = sorted(TARGETS)


def everything(data: bytes) -> None:
    if data:
        TARGETS[ORDER[data[0] % len(ORDER)]](data[1:])


def tagged(name: str, data: bytes) -> bytes:
    """A corpus input of target ``name`` as an input of ``all``."""
    return bytes((ORDER.index(name),)) + data


TARGETS["all"] = everything
