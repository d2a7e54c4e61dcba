"""Two namespaces, ipsecd ↔ ipsecd over the TUN backend with static SAs and **IPv6 outer addresses**:
ESP in UDP over the IPv6 4500 socket and raw ESP over IPv6 raw sockets (which, unlike IPv4 raw
sockets, deliver the payload without the IP header), tunnels with inner IPv4 and inner IPv6 at once,
and transport mode between the hosts' IPv6 addresses. Ping and TCP go through; a capture on the veth
shows only ESP (plus the link's own neighbour discovery), so table 220 captured neither the ESP
itself nor anything else; counters move."""

from __future__ import annotations

import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dataplane.test_netns_tun import Gateways, tcp_transfer
from tests.netns import Pair

pytestmark = pytest.mark.root

OUTER_A, OUTER_B = "fd00:231::1", "fd00:231::2"
LAN6_A, LAN6_B = "fd00:232:1::1", "fd00:232:2::1"
KEYS = {0x1001: "11" * 20, 0x2002: "22" * 20, 0x3003: "33" * 20, 0x4004: "44" * 20}


def dual_stack_pair(prefix: str) -> Iterator[Pair]:
    """A namespace pair with IPv6 outer (veth) and inner (lo) addresses added to its IPv4 ones."""
    p = Pair(prefix)
    try:
        for ns, dev, outer, lan in ((p.a, p.veth_a, OUTER_A, LAN6_A), (p.b, p.veth_b, OUTER_B, LAN6_B)):
            p.run(ns, "ip", "addr", "add", f"{outer}/64", "dev", dev, "nodad")
            p.run(ns, "ip", "addr", "add", f"{lan}/128", "dev", "lo", "nodad")
        yield p
    finally:
        p.close()


@pytest.fixture
def pair() -> Iterator[Pair]:
    yield from dual_stack_pair("dp6")


def config(side: str, *, encap: bool, proto: str = "esp", mode: str = "tunnel",
           outer: tuple[str, str] = (OUTER_A, OUTER_B), inner: tuple[str, ...] = ("v4", "v6"),
           tun: str = "") -> dict[str, Any]:
    """One side's static keying: per inner family a tunnel policy and an SA each way between the
    outer addresses (aes-128-gcm for ESP, sha256 for AH)."""
    a = side == "a"
    me, peer = outer if a else outer[::-1]
    nets = {"v4": ("10.232.1.0/24", "10.232.2.0/24"), "v6": ("fd00:232:1::/64", "fd00:232:2::/64"),
            "host": (f"{outer[0]}/128" if ":" in outer[0] else f"{outer[0]}/32",
                     f"{outer[1]}/128" if ":" in outer[1] else f"{outer[1]}/32")}
    policies, sas = [], []
    for n, fam in enumerate(inner):
        lnet, rnet = nets[fam] if a else nets[fam][::-1]
        spi_ab, spi_ba = 0x1001 + 0x2002 * n, 0x2002 + 0x2002 * n
        out_spi, in_spi = (spi_ab, spi_ba) if a else (spi_ba, spi_ab)
        pid = f"p{fam}"
        policies.append(
            {
                "id": pid,
                "src": lnet,
                "dst": rnet,
                "tunnel": mode == "tunnel",
                "ipsec-protocols": proto,
                "sa-src-address": me,
                "sa-dst-address": peer,
            }
        )
        for spi, direction, src, dst in ((out_spi, "out", me, peer), (in_spi, "in", peer, me)):
            sa: dict[str, Any] = {
                "spi": hex(spi),
                "direction": direction,
                "mode": mode,
                "src": src,
                "dst": dst,
                "policy": pid,
                "proto": proto,
            }
            if proto == "esp":
                sa.update({"enc-algorithm": "aes-128-gcm", "enc-key": KEYS[spi], "udp-encap": encap})
            else:
                sa.update({"auth-algorithm": "sha256", "auth-key": (KEYS[spi] * 2)[:64]})
            sas.append(sa)
    return {"tun": tun or f"ipd6{side}", "mtu": 1400, "workers": 1,
            "policies": policies, "sas": sas}


def capture(pair: Pair, path: Path) -> subprocess.Popen[str]:
    """Every frame on A's veth (both families, nothing filtered)."""
    cap = pair.popen(pair.a, "tcpdump", "-n", "-B", "16384", "-i", pair.veth_a, "-w", str(path),
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert cap.stderr is not None
    cap.stderr.readline()
    return cap


def frames(cap: subprocess.Popen[str], path: Path) -> list[tuple[int, int, bytes]]:
    """(IP version, protocol after the IP header, the rest) for every IP frame of the capture."""
    time.sleep(0.3)
    cap.terminate()
    cap.communicate(timeout=10)
    data = path.read_bytes()
    out: list[tuple[int, int, bytes]] = []
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        ethertype, ip = struct.unpack_from("!H", frame, 12)[0], frame[14:]
        if ethertype == 0x0800:
            ihl = (ip[0] & 0x0F) * 4
            out.append((4, ip[9], ip[ihl:]))
        elif ethertype == 0x86DD:
            out.append((6, ip[6], ip[40:]))
    return out


def assert_only_ipsec(packets: list[tuple[int, int, bytes]], *, version: int, proto: str) -> int:
    """Every IP packet on the wire is ESP-in-UDP/4500, raw ESP or AH of the outer family, or the
    link's own IPv6 control traffic (neighbour discovery, MLD); returns how many IPsec packets."""
    n = 0
    for ver, nh, rest in packets:
        if ver == 6 and ((nh == 58 and rest[0] in (133, 134, 135, 136, 143)) or (nh == 0 and rest[0] == 58)):
            continue  # ND / MLD (MLDv2 reports ride on a hop-by-hop header) of the veth itself
        assert ver == version, f"IPv{ver} packet on an IPv{version}-outer link: proto {nh} {rest[:24].hex()}"
        if proto == "udp":
            assert nh == 17 and struct.unpack_from("!H", rest, 2)[0] == 4500 and rest[8:12] != b"\0\0\0\0", \
                f"not ESP-in-UDP: proto {nh} {rest[:24].hex()}"
        else:
            assert nh == {"esp": 50, "ah": 51}[proto], f"not {proto}: proto {nh} {rest[:24].hex()}"
        n += 1
    return n


def carried(sa_out: dict[str, int], sa_in: dict[str, int], received: int) -> None:
    """The SA pair counted the same packets on both ends, and at least what iperf3's server received
    (inner TCP payload plus headers, at most one MTU per ESP packet)."""
    assert sa_out["packets"] == sa_in["packets"] >= received // 1400
    assert sa_out["bytes"] == sa_in["bytes"] > received


@pytest.mark.parametrize("encap", [True, False], ids=["esp-in-udp6", "raw-esp6"])
def test_ipv6_outer_tunnels_carry_ipv4_and_ipv6(pair: Pair, tmp_path: Path, encap: bool) -> None:
    gw = Gateways(pair, tmp_path, configs=(config("a", encap=encap), config("b", encap=encap)))
    cap = capture(pair, tmp_path / "veth.pcap")
    assert "3 received" in pair.run(
        pair.a, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", pair.lan_a, pair.lan_b
    )
    assert "3 received" in pair.run(
        pair.a, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "-I", LAN6_A, LAN6_B
    )
    received = (
        tcp_transfer(pair, pair.lan_b, pair.lan_a, 2_000_000),
        tcp_transfer(pair, LAN6_B, LAN6_A, 2_000_000),
    )
    packets = frames(cap, tmp_path / "veth.pcap")
    a, b = gw.stop()
    # (veth passes UDP GSO batches uncut: one captured datagram may hold many ESP packets)
    assert assert_only_ipsec(packets, version=6, proto="udp" if encap else "esp") > (20 if encap else 100)
    # inner v4, inner v6
    for (out_spi, in_spi), got in zip(((0x1001, 0x2002), (0x3003, 0x4004)), received, strict=True):
        carried(a["sas"][f"{out_spi:#x}/out"], b["sas"][f"{out_spi:#x}/in"], got)
        assert b["sas"][f"{in_spi:#x}/out"]["packets"] == a["sas"][f"{in_spi:#x}/in"]["packets"] >= 3
    assert a["statistics"] == {} and b["statistics"] == {}


@pytest.mark.parametrize("encap", [False, True], ids=["raw-esp6", "esp-in-udp6"])
def test_ipv6_transport_mode_between_the_hosts_and_what_table_220_captures(pair: Pair, tmp_path: Path,
                                                                          encap: bool) -> None:
    """Transport mode between the hosts' IPv6 addresses: table 220 routes the peer itself into the TUN,
    yet the rules send IKE (UDP from 500) and everything the data plane's sockets send (fwmark) by
    ``main`` — so the ESP, and the daemon's IKE, never loop into the tunnel."""
    kw: dict[str, Any] = {"encap": encap, "mode": "transport", "inner": ("host",)}
    gw = Gateways(pair, tmp_path, configs=(config("a", **kw), config("b", **kw)))
    try:
        for fam in ("-4", "-6"):
            rules = pair.run(pair.a, "ip", fam, "rule")
            assert "not from all fwmark 0x1a2b lookup 220" in rules and "sport 500 lookup main" in rules
        tun = "ipd6a"
        # traffic to the peer: tunnel
        assert f"dev {tun}" in pair.run(pair.a, "ip", "-6", "route", "get", OUTER_B)
        assert f"dev {pair.veth_a}" in pair.run(pair.a, "ip", "-6", "route", "get", OUTER_B, "ipproto", "udp",
                                                "sport", "500")  # the daemon's IKE
        # ESP
        assert f"dev {pair.veth_a}" in pair.run(pair.a, "ip", "-6", "route", "get", OUTER_B, "mark", "0x1a2b")
        cap = capture(pair, tmp_path / "veth.pcap")
        assert "3 received" in pair.run(pair.a, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", OUTER_B)
        received = tcp_transfer(pair, OUTER_B, OUTER_A, 2_000_000)
        packets = frames(cap, tmp_path / "veth.pcap")
    finally:
        a, b = gw.stop()
    assert assert_only_ipsec(packets, version=6, proto="udp" if encap else "esp") > (20 if encap else 100)
    carried(a["sas"]["0x1001/out"], b["sas"]["0x1001/in"], received)
    assert b["sas"]["0x2002/out"]["packets"] == a["sas"]["0x2002/in"]["packets"] >= 3
    assert a["statistics"] == {} and b["statistics"] == {}
