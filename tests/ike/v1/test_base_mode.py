"""Base mode (racoon/RouterOS): four clear messages, racoon's hashes checked off the wire."""

from __future__ import annotations

import hashlib
import hmac

from ipsecd.ike.auth import StaticCredentials
from ipsecd.ike.events import AuthenticationFailed, ChildSaInstalled, IkeSaEstablished
from ipsecd.ike.v1.config import ExchangeMode, Ikev1Options
from ipsecd.wire.ikev1.enums import ExchangeType
from ipsecd.wire.ikev1.message import Message
from ipsecd.wire.ikev1.payloads import HashPayload, IdPayload, KePayload, NoncePayload
from ipsecd.wire.ikev1.sa import SaPayload

from .conftest import PSK, V1Pair, configs

BASE = Ikev1Options(exchange_mode=ExchangeMode.BASE)


def test_base_mode_and_quick_mode() -> None:
    pair = V1Pair(*configs(), iopt=BASE, ropt=BASE)
    pair.pump()
    assert len(pair.of("i", IkeSaEstablished)) == 1 and len(pair.of("r", IkeSaEstablished)) == 1
    ic, = pair.of("i", ChildSaInstalled)
    rc, = pair.of("r", ChildSaInstalled)
    assert ic.outbound.encr_key == rc.inbound.encr_key and ic.inbound.integ_key == rc.outbound.integ_key
    msgs = [Message.decode(d) for _, d, _ in pair.wire[:4]]
    assert [m.header.exchange for m in msgs] == [ExchangeType.BASE] * 4
    assert [
        [type(p).__name__ for p in m.payloads if not type(p).__name__.startswith(("Vendor", "NatD"))]
        for m in msgs
    ] == [
        ["SaPayload", "IdPayload", "NoncePayload"],
        ["SaPayload", "IdPayload", "NoncePayload"],
        ["KePayload", "HashPayload", "NotifyPayload"],
        ["KePayload", "HashPayload"],
    ]


def test_base_mode_hashes_are_racoons() -> None:
    """HASH_I = prf(SKEYID, g^xi | CKY-I | CKY-R | SAi_b | IDii_b) and HASH_R = prf(SKEYID, g^xr | g^xi |
    CKY-R | CKY-I | SAi_b | IDir_b), SKEYID = prf(PSK, Ni_b | Nr_b): recomputed here from the bytes on
    the wire (racoon's oakley_ph1hash_base_i and oakley_ph1hash_common), not from our objects."""
    pair = V1Pair(*configs(), iopt=BASE, ropt=BASE)
    pair.pump()
    m1, m2, m3, m4 = (Message.decode(d) for _, d, _ in pair.wire[:4])
    cky_i, cky_r = m2.header.cookie_i, m2.header.cookie_r

    def one(m: Message, kind: type) -> bytes:
        p = m.get(kind)
        assert p is not None
        return p.encode_body()  # type: ignore[no-any-return]

    sai_b, idii_b, idir_b = one(m1, SaPayload), one(m1, IdPayload), one(m2, IdPayload)
    ni_b, nr_b, g_xi, g_xr = (
        one(m1, NoncePayload),
        one(m2, NoncePayload),
        one(m3, KePayload),
        one(m4, KePayload),
    )
    skeyid = hmac.new(PSK, ni_b + nr_b, hashlib.sha256).digest()
    hash_i = hmac.new(skeyid, g_xi + cky_i + cky_r + sai_b + idii_b, hashlib.sha256).digest()
    hash_r = hmac.new(skeyid, g_xr + g_xi + cky_r + cky_i + sai_b + idir_b, hashlib.sha256).digest()
    assert one(m3, HashPayload) == hash_i and one(m4, HashPayload) == hash_r


def test_base_mode_wrong_psk_fails_at_hash_i() -> None:
    icfg, rcfg = configs(r={"credentials": StaticCredentials(b"not the same")})
    pair = V1Pair(icfg, rcfg, iopt=BASE, ropt=BASE)
    pair.pump()
    assert "pre-shared keys differ" in pair.of("r", AuthenticationFailed)[0].detail
    assert not pair.of("i", IkeSaEstablished)


def test_base_mode_behind_nat() -> None:
    pair = V1Pair(*configs(), iopt=BASE, ropt=BASE, nat=True)
    pair.pump()
    ic, = pair.of("i", ChildSaInstalled)
    assert ic.outbound.encap is not None and pair.of("r", IkeSaEstablished)[0].nat_remote
    ports = [local[1] for d, _, (local, _) in pair.wire if d == "i>r"]
    assert ports[:2] == [500, 500] and set(ports[2:]) == {4500}  # quick mode floated
