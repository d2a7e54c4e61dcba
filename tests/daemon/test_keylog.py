"""Wireshark key export (issue 14): ``wireshark-keys show-sensitive`` on ``installed-sa`` and
``active-peers`` gives Wireshark's ``esp_sa`` and ``ikev2_decryption_table``; tshark, given only
those files, decrypts a capture of two daemons' IKEv2 exchange and the pings through their tunnel.
Without ``show-sensitive``, or for a REST/API user without the ``sensitive`` policy, it is refused."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ipsecd.crypto import registry
from ipsecd.crypto.keymat import IkeSaKeys
from ipsecd.daemon import keylog
from ipsecd.daemon.api.backend import ApiError, Backend, Request, User
from ipsecd.ike.v2.proposals import IkeAlgs
from ipsecd.mgmt import Session, open_config
from ipsecd.policy.types import Direction, IpsecProto, Mode, SaSpec
from tests.interop.sswan import Ipsecd, Topology, wait_until

PSK = "keylog-0123456789-psk"


def _spec(encr: str, integ: str, key: bytes, ikey: bytes) -> SaSpec:
    return SaSpec(
        0xC0FFEE01,
        Direction.OUT,
        IpsecProto.ESP,
        Mode.TUNNEL,
        ipaddress.ip_address("192.0.2.1"),
        ipaddress.ip_address("192.0.2.2"),
        encr,
        key,
        integ,
        ikey,
    )


def test_table_lines_name_wiresharks_algorithms() -> None:
    gcm = _spec("aes-256-gcm", "null", bytes(36), b"")
    cbc = _spec("aes-128-cbc", "sha256", bytes(16), bytes(range(32)))
    chacha = _spec("chacha20poly1305", "null", bytes(36), b"")
    text = keylog.esp_sa([gcm, cbc, chacha])
    assert text.splitlines() == [
        f'"IPv4","192.0.2.1","192.0.2.2","0xc0ffee01","AES-GCM with 16 octet ICV [RFC4106]","0x{"00" * 36}",'
        '"NULL",""',
        f'"IPv4","192.0.2.1","192.0.2.2","0xc0ffee01","AES-CBC [RFC3602]","0x{"00" * 16}",'
        f'"HMAC-SHA-256-128 [RFC4868]","0x{bytes(range(32)).hex()}"',
        "# ESP SPI 0xc0ffee01: Wireshark cannot decrypt chacha20poly1305/null",
    ]
    keys = IkeSaKeys(b"d", b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, b"", b"")
    algs = IkeAlgs(
        registry.encr("aes-256-cbc"),
        registry.integ("sha256"),
        registry.prf("sha256"),
        registry.group("ecp256"),
    )
    (line,) = keylog.ikev2_decryption_table([(b"\xaa" * 8, b"\xbb" * 8, algs, keys)]).splitlines()
    assert line == (
        f'{"aa" * 8},{"bb" * 8},{"03" * 32},{"04" * 32},"AES-CBC-256 [RFC3602]",'
        f'{"01" * 32},{"02" * 32},"HMAC_SHA2_256_128 [RFC4868]"'
    )


def test_refused_without_show_sensitive_and_for_users_without_the_policy() -> None:
    config = open_config(None)
    for menu in ("installed-sa", "active-peers"):
        res = Session(config).execute(f"/ip ipsec {menu} wireshark-keys")
        assert (res.rc, res.stderr) == (
            1,
            f"/ip ipsec {menu}: wireshark-keys gives the SAs' keys: add show-sensitive\n",
        )
    backend = Backend(config)
    reader = User("r", frozenset({"read", "api", "rest-api"}))
    req = Request("/ip ipsec installed-sa", "wireshark-keys", {"show-sensitive": ""})
    with pytest.raises(ApiError, match=r"not enough permissions"):
        backend.run(reader, req)
    with pytest.raises(ApiError, match=r"needs the running daemon"):  # allowed: it gets as far as asking
        backend.run(User("s", frozenset({"read", "sensitive", "api"})), req)


@pytest.mark.root
@pytest.mark.timeout(120)
@pytest.mark.skipif(
    shutil.which("tshark") is None or shutil.which("tcpdump") is None,
    reason="tshark and tcpdump are needed (setup.sh)",
)
def test_tshark_decrypts_a_capture_with_the_exported_keys(tmp_path: Path) -> None:
    def rsc(peer_wan: str, me_lan: str, peer_lan: str, passive: str) -> str:
        return (
            "/ip ipsec profile add name=k enc-algorithm=aes-256 hash-algorithm=sha256 dh-group=ecp256\n"
            f"/ip ipsec peer add name=o address={peer_wan}/32 profile=k exchange-mode=ike2 \\\n"
            f"    passive={passive}\n"
            f'/ip ipsec identity add peer=o secret="{PSK}"\n'
            "/ip ipsec proposal add name=k enc-algorithms=aes-256-gcm pfs-group=none\n"
            f"/ip ipsec policy add peer=o tunnel=yes src-address={me_lan}/32 dst-address={peer_lan}/32 \\\n"
            "    proposal=k\n"
        )

    with Topology("ipd4k") as topo:
        left, right = topo.left, topo.right
        pcap = tmp_path / "capture.pcap"
        dump = left.spawn(
            ["tcpdump", "-n", "-U", "-i", left.iface, "-w", str(pcap), "udp"], tmp_path / "dump.log"
        )
        wait_until("tcpdump to listen", lambda: "listening on" in dump.output(), 10)
        resp = Ipsecd(right, tmp_path, rsc(left.wan, right.lan, left.lan, "yes")).start()
        init = Ipsecd(left, tmp_path, rsc(right.wan, left.lan, right.lan, "no")).start()
        try:
            left.wait_ping(right.lan, left.lan)
            assert left.ping(right.lan, src=left.lan, count=3) == (3, 3)
            esp = init.exec("/ip ipsec installed-sa wireshark-keys show-sensitive").stdout
            ike = init.exec("/ip ipsec active-peers wireshark-keys show-sensitive").stdout
        except BaseException:
            print(
                f"--- initiator ---\n{init.log_text()[-4000:]}\n--- responder ---\n{resp.log_text()[-4000:]}"
            )
            raise
        time.sleep(0.3)
        dump.stop(sig=signal.SIGINT)
    assert len(esp.splitlines()) == 2 and "AES-GCM with 16 octet ICV" in esp
    assert len(ike.splitlines()) == 1 and "AES-CBC-256 [RFC3602]" in ike and "HMAC_SHA2_256_128" in ike
    profile = tmp_path / "xdg" / "wireshark"
    profile.mkdir(parents=True)
    (profile / "esp_sa").write_text(esp)
    (profile / "ikev2_decryption_table").write_text(ike)

    def tshark(*extra: str) -> str:
        env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path))
        return subprocess.run(
            ["tshark", "-n", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE", *extra],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env=env,
        ).stdout

    text = tshark("-V")
    assert "Payload: Identification - Initiator (35)" in text and "Payload: Authentication (39)" in text
    assert "Payload: Traffic Selector - Initiator (44)" in text
    assert text.count("<HMAC_SHA2_256_128 [RFC4868]>[correct]") == 2  # both IKE_AUTH messages' ICVs
    pings = tshark("-Y", f"icmp && ip.src == {topo.left.lan}").splitlines()
    replies = tshark("-Y", f"icmp && ip.src == {topo.right.lan}").splitlines()
    assert len(pings) >= 4 and len(replies) >= 4  # the 3 counted, and the first that got through
    for bad in ("Malformed", "Decrypted Data Not Available"):
        assert bad not in text
