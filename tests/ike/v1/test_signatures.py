"""IKEv1 ``auth-method=digital-signature`` between two in-process peers (ike/v1/sigauth.py): RSA and
ECDSA signatures over HASH_I/HASH_R (RFC 2409 §5.1, RFC 4754), CERT chains with an intermediate,
IDs from the certificate (``my-id=auto``), main and aggressive mode, refusals in one line, and
Wireshark's reading of the payloads."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ipsecd.ike.auth import CertificateUse, StaticCredentials
from ipsecd.ike.events import AuthenticationFailed, ChildSaInstalled, IkeSaEstablished, NegotiationFailed
from ipsecd.ike.v1.config import ExchangeMode, Ikev1Options
from ipsecd.ike.v2.config import IkeConfig
from ipsecd.wire.ikev1.enums import AuthMethod, OakleyAttr
from ipsecd.wire.ikev1.header import HEADER_SIZE, Header
from ipsecd.wire.ikev1.message import decode_chain
from ipsecd.wire.ikev1.sa import SaPayload

from ...ike.test_pubkey import store
from .conftest import V1Pair, configs
from .test_tshark import _dissect

MAIN = Ikev1Options(signatures=True)
AGGRESSIVE = Ikev1Options(exchange_mode=ExchangeMode.AGGRESSIVE, signatures=True)


def signing(
    cfg: IkeConfig, mine: str, *, remote_id: str = "auto", extra: tuple[str, ...] = (), **use: Any
) -> IkeConfig:
    s = store(mine, extra=extra)
    certs = CertificateUse(s, certificate="me", **use)
    return replace(
        cfg, auth_method="digital-signature", credentials=StaticCredentials(certs=certs), remote_id=remote_id
    )


def run(
    i_cert: str,
    r_cert: str,
    opts: Ikev1Options = MAIN,
    *,
    i_kw: dict[str, Any] | None = None,
    r_kw: dict[str, Any] | None = None,
) -> V1Pair:
    icfg, rcfg = configs()
    pair = V1Pair(signing(icfg, i_cert, **(i_kw or {})), signing(rcfg, r_cert, **(r_kw or {})), opts, opts)
    pair.pump()
    return pair


def offered_auth(pair: V1Pair) -> set[int]:
    data = pair.wire[0][1]
    payloads = decode_chain(Header.decode(data).next_payload, data[HEADER_SIZE:])
    sa = next(p for p in payloads if isinstance(p, SaPayload))
    return {t.attr(OakleyAttr.AUTHENTICATION_METHOD).value for t in sa.proposals[0].transforms}


def established(pair: V1Pair) -> tuple[IkeSaEstablished, IkeSaEstablished]:
    assert not pair.of("i", AuthenticationFailed) and not pair.of("r", AuthenticationFailed), (
        pair.i_events,
        pair.r_events,
    )
    (i,), (r,) = pair.of("i", IkeSaEstablished), pair.of("r", IkeSaEstablished)
    assert pair.of("i", ChildSaInstalled) and pair.of("r", ChildSaInstalled)
    return i, r


def test_main_mode_rsa_ids_from_the_certificates() -> None:
    pair = run("client-pss", "gw-rsa", i_kw={"remote_id": "fqdn:gw.example.com"})
    i, r = established(pair)
    assert offered_auth(pair) == {AuthMethod.RSA_SIG}
    # my-id=auto: each side's ID is its certificate's first subjectAltName
    assert (i.local_id, i.remote_id) == ("fqdn:bob.example.com", "fqdn:gw.example.com")
    assert (r.local_id, r.remote_id) == ("fqdn:gw.example.com", "fqdn:bob.example.com")


def test_main_mode_ecdsa_with_an_intermediate_in_cert() -> None:
    r_kw = {"extra": ("intermediate",), "remote_id": "user-fqdn:alice@example.com"}
    pair = run("client", "gw-ecdsa", r_kw=r_kw)
    i, r = established(pair)
    assert offered_auth(pair) == {AuthMethod.ECDSA_256}
    assert i.remote_id == "fqdn:gw2.example.com" and r.remote_id == "user-fqdn:alice@example.com"


def test_aggressive_mode_signatures() -> None:
    pair = run("client-pss", "gw-rsa", AGGRESSIVE)
    established(pair)
    assert [Header.decode(d).exchange.name for _, d, _ in pair.wire][:3] == ["AGGRESSIVE"] * 3


def test_remote_id_not_in_the_certificate_is_refused() -> None:
    pair = run("client-pss", "gw-rsa", i_kw={"remote_id": "fqdn:other.example.com"})
    (fail,) = pair.of("i", AuthenticationFailed)
    assert "certificate refused" in fail.detail and "remote-id" in fail.detail
    assert not pair.of("i", IkeSaEstablished)


def test_untrusted_peer_certificate_is_refused() -> None:
    icfg, rcfg = configs()
    # an ECDSA certificate with the root's very DN above it, but another CA's key
    rogue_use = CertificateUse(store("rogue", trust=("rogue-ca",)), "me")
    rogue = replace(signing(icfg, "client"), credentials=StaticCredentials(certs=rogue_use))
    pair = V1Pair(rogue, signing(rcfg, "gw-ecdsa", extra=("intermediate",)), MAIN, MAIN)
    pair.pump()
    (fail,) = pair.of("r", AuthenticationFailed)
    assert "certificate refused" in fail.detail and "/certificate import" in fail.detail
    assert not pair.of("r", IkeSaEstablished)


def test_rsa_and_ecdsa_keys_do_not_agree_on_a_method() -> None:
    pair = run("client", "gw-rsa")
    (fail,) = pair.of("r", NegotiationFailed)
    assert fail.notify == "NO_PROPOSAL_CHOSEN"


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (setup.sh)")
def test_wireshark_dissects_cert_certreq_and_sig(tmp_path: Path) -> None:
    """Wireshark's ISAKMP dissector, decrypting messages 5 and 6 with the phase-1 key, finds the
    CERTREQs, both CERT chains and both SIGs, and no HASH in phase 1."""
    pair = run("client-pss", "gw-rsa")
    established(pair)
    text = _dissect(tmp_path, pair)
    for bad in ("Malformed", "[Expert Info (Error", "Decrypted Data Not Available"):
        assert bad not in text, text[max(0, text.find(bad) - 2000) : text.find(bad) + 300]
    assert "Authentication Method: RSA signatures (3)" in text
    assert text.count("Payload: Certificate Request (7)") == 2
    assert text.count("Payload: Certificate (6)") == 2 and text.count("Payload: Signature (9)") == 2
    assert text.count("Payload: Hash (8)") == 3  # quick mode's three, none in main mode
    assert "gw.example.com" in text and "bob.example.com" in text
