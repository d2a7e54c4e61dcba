"""Independent proof: Wireshark's ISAKMP dissector decodes every message our IKEv1 initiator and
responder produce, decrypting the encrypted ones with the phase-1 key we give it (its own IV
computation, RFC 2409 Appendix B), without a malformed-packet or error mark."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ipsecd.crypto import keymat
from ipsecd.ike.v1.config import ExchangeMode, Ikev1Options
from ipsecd.ike.v1.sa import Ikev1Sa
from ipsecd.wire.ikev1.header import Header
from ipsecd.wire.ikev1.message import Message
from ipsecd.wire.ikev1.payloads import HashPayload

from .conftest import V1Pair, configs
from .pcap import udp_packet, write_pcap

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (setup.sh)")


def _key(sa: Ikev1Sa) -> bytes:
    ph = sa.phase1
    assert ph.algs is not None
    h = ph.algs.hash.name
    e = keymat.skeyid_dae(h, ph.skeyid, ph.g_xy, sa.cky_i, sa.cky_r).skeyid_e
    return keymat.ikev1_encryption_key(h, e, ph.algs.encr.key_size)


def _dissect(tmp_path: Path, pair: V1Pair) -> str:
    pcap = tmp_path / "ikev1.pcap"
    write_pcap(pcap, [udp_packet(src, dst, data) for _, data, (src, dst) in pair.wire])
    uat = f"uat:ikev1_decryption_table:{pair.i.cky_i.hex()},{_key(pair.i).hex()}"
    out = subprocess.run(["tshark", "-n", "-r", str(pcap), "-V", "-o", uat], capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout


def _check(text: str, pair: V1Pair) -> None:
    assert text.count("Internet Security Association and Key Management Protocol") == len(pair.wire)
    encrypted = sum(Header.decode(d).encrypted for _, d, _ in pair.wire)
    clear = sum(
        len(Message.decode(d).all(HashPayload)) for _, d, _ in pair.wire if not Header.decode(d).encrypted
    )
    # each decrypted: one HASH inside
    assert encrypted and text.count("Payload: Hash (8)") == encrypted + clear
    for bad in ("Malformed", "[Expert Info (Error", "Unknown", "Decrypted Data Not Available"):
        assert bad not in text, text[max(0, text.find(bad) - 2000):text.find(bad) + 300]


def test_main_quick_informational_dissected(tmp_path: Path) -> None:
    pair = V1Pair(*configs(i={"dpd_interval": 10.0}, r={"dpd_interval": 10.0}), nat=False)
    pair.pump()
    pair.advance(25)  # DPD R-U-THERE and ACK
    pair.i.delete()
    pair.pump()
    text = _dissect(tmp_path, pair)
    _check(text, pair)
    for payload in ("Security Association", "Proposal", "Transform", "Key Exchange", "Nonce",
                    "Identification", "Hash", "Vendor ID", "NAT-D (RFC 3947)", "Notification", "Delete"):
        assert f"Payload: {payload} (" in text, payload
    assert (
        "Exchange type: Quick Mode (32)" in text
        and "Exchange type: Identity Protection (Main Mode) (2)" in text
    )
    assert "R-U-THERE" in text and "Life Duration" in text


def test_aggressive_mode_with_nat_dissected(tmp_path: Path) -> None:
    opts = Ikev1Options(exchange_mode=ExchangeMode.AGGRESSIVE)
    pair = V1Pair(*configs(i={"my_id": "fqdn:client.example"}, r={"my_id": "fqdn:gw.example"}), opts, opts,
                  nat=True)
    pair.pump()
    text = _dissect(tmp_path, pair)
    _check(text, pair)
    assert "Exchange type: Aggressive (4)" in text and "client.example" in text
    assert "UDP-Encapsulated-Tunnel" in text


def test_base_mode_dissected(tmp_path: Path) -> None:
    opts = Ikev1Options(exchange_mode=ExchangeMode.BASE)
    pair = V1Pair(*configs(), opts, opts)
    pair.pump()
    text = _dissect(tmp_path, pair)
    _check(text, pair)
    assert text.count("Exchange type: Base (1)") == 4
