"""Two namespaces, ipsecd ↔ ipsecd over the TUN backend with static SAs (``ipsecd dataplane static``):
ping and TCP between the inner addresses in tunnel mode (ESP in UDP/4500) and between the hosts in
transport mode (raw ESP); a capture on the veth shows only ESP; per-SA counters move; with several
workers no (SPI, sequence number) pair ever appears twice on the wire."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.netns import Pair
from tests.netns import tcp_transfer as netns_tcp_transfer

pytestmark = pytest.mark.root

KEY_AB, KEY_BA = "11" * 20, "22" * 20


def static_config(pair: Pair, side: str, *, mode: str, encap: bool, workers: int = 1,
                  tun: str = "") -> dict[str, Any]:
    """The static keying file of one side: one policy, one SA each way (aes-128-gcm)."""
    me, peer = (pair.addr_a, pair.addr_b) if side == "a" else (pair.addr_b, pair.addr_a)
    if mode == "tunnel":
        lnet, rnet = ("10.232.1.0/24", "10.232.2.0/24") if side == "a" else ("10.232.2.0/24", "10.232.1.0/24")
    else:
        lnet, rnet = f"{me}/32", f"{peer}/32"
    (out_spi, out_key), (in_spi, in_key) = ((0x1001, KEY_AB), (0x2002, KEY_BA)) if side == "a" else \
        ((0x2002, KEY_BA), (0x1001, KEY_AB))

    def sa(spi: int, direction: str, src: str, dst: str, key: str) -> dict[str, Any]:
        return {"spi": hex(spi), "direction": direction, "mode": mode, "src": src, "dst": dst,
                "enc-algorithm": "aes-128-gcm", "enc-key": key, "policy": "p1", "udp-encap": encap}

    return {"tun": tun or f"ipdp{side}{id(pair) % 10000}", "mtu": 1400, "workers": workers,
            "policies": [{"id": "p1", "src": lnet, "dst": rnet, "tunnel": mode == "tunnel",
                          "sa-src-address": me, "sa-dst-address": peer}],
            "sas": [sa(out_spi, "out", me, peer, out_key), sa(in_spi, "in", peer, me, in_key)]}


class Gateways:
    """``ipsecd dataplane static`` running in each namespace; :meth:`stop` returns their final reports."""

    def __init__(self, pair: Pair, tmp: Path, configs: tuple[dict[str, Any], dict[str, Any]] | None = None,
                 **kw: Any) -> None:
        self.pair = pair
        self.procs: list[subprocess.Popen[str]] = []
        for n, (side, ns) in enumerate((("a", pair.a), ("b", pair.b))):
            path = tmp / f"{side}.json"
            path.write_text(json.dumps(configs[n] if configs else static_config(pair, side, **kw)))
            p = pair.popen(ns, sys.executable, "-m", "ipsecd", "dataplane", "static", str(path),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.procs.append(p)
        for p in self.procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line.strip() == "ready", line + p.stdout.read()

    def stop(self) -> list[dict[str, Any]]:
        reports = []
        for p in self.procs:
            p.terminate()
            out, _ = p.communicate(timeout=15)
            assert p.returncode == 0, out
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair()
    try:
        yield p
    finally:
        p.close()


def capture(pair: Pair, path: Path) -> subprocess.Popen[str]:
    cap = pair.popen(pair.a, "tcpdump", "-n", "-B", "16384", "-i", pair.veth_a, "-w", str(path), "ip",
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert cap.stderr is not None
    cap.stderr.readline()  # "listening on …": capture is running
    return cap


def captured(cap: subprocess.Popen[str], path: Path) -> list[tuple[str, bytes]]:
    """The IPv4 packets of the capture as (kind, payload): ``udp`` (payload after the UDP header),
    ``esp`` (raw ESP payload) or ``other`` (the whole IP packet)."""
    time.sleep(0.3)
    cap.terminate()
    cap.communicate(timeout=10)
    data = path.read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4 and struct.unpack_from("<I", data, 20)[0] == 1
    out: list[tuple[str, bytes]] = []
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] == 17 and struct.unpack_from("!H", ip, ihl + 2)[0] == 4500:
            out.append(("udp", ip[ihl + 8 :]))
        elif ip[9] == 50:
            out.append(("esp", ip[ihl:]))
        else:
            out.append(("other", ip))
    return out


def esp_segments(payload: bytes) -> list[tuple[int, int]]:
    """(SPI, seq) of every ESP packet in a UDP payload. veth passes UDP GSO batches through unsegmented
    (a NIC would cut them), so one captured datagram may hold several equal-sized ESP packets: the
    segment size is where the same SPI follows with the next sequence number."""
    spi, seq = struct.unpack_from("!II", payload)
    if len(payload) <= 1500:
        return [(spi, seq)]
    head = payload[:4]
    for size in range(24, 1500):
        if payload[size : size + 4] == head and struct.unpack_from("!I", payload, size + 4)[0] == seq + 1:
            # type: ignore[misc]
            return [struct.unpack_from("!II", payload, o) for o in range(0, len(payload), size)]
    raise AssertionError(f"UDP payload of {len(payload)} bytes is not a batch of ESP packets")


def tcp_transfer(
    pair: Pair, server_ip: str, client_src: str, nbytes: int = 4_000_000, port: int = 5201
) -> int:
    """:func:`tests.netns.tcp_transfer` from A to B."""
    return netns_tcp_transfer(
        lambda argv: pair.popen(pair.b, *argv, stdout=subprocess.PIPE, text=True),
        lambda argv: pair.run(pair.a, *argv, timeout=30),
        server_ip,
        client_src,
        nbytes,
        port,
    )


def only_esp(packets: list[tuple[str, bytes]], udp: bool) -> list[tuple[int, int]]:
    """Every captured IPv4 packet is ESP (in UDP/4500 when ``udp``); returns their (SPI, seq)."""
    pairs: list[tuple[int, int]] = []
    for kind, payload in packets:
        assert kind == ("udp" if udp else "esp"), f"not ESP on the wire: {kind} {payload[:40].hex()}"
        assert payload[:4] != b"\0\0\0\0"  # not IKE either: static keying
        # type: ignore[list-item]
        pairs.extend(esp_segments(payload) if udp else [struct.unpack_from("!II", payload)])
    return pairs


def test_tunnel_mode_esp_in_udp_ping_and_tcp(pair: Pair, tmp_path: Path) -> None:
    gw = Gateways(pair, tmp_path, mode="tunnel", encap=True)
    cap = capture(pair, tmp_path / "veth.pcap")
    out = pair.run(pair.a, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", pair.lan_a, pair.lan_b)
    assert "3 received" in out
    received = tcp_transfer(pair, pair.lan_b, pair.lan_a)
    lines = captured(cap, tmp_path / "veth.pcap")
    reports = gw.stop()
    seen = only_esp(lines, udp=True)
    assert len(seen) > 1000 and len(set(seen)) == len(seen)
    a, b = reports
    assert a["sas"]["0x1001/out"]["packets"] == b["sas"]["0x1001/in"]["packets"] > 1000
    assert a["sas"]["0x2002/in"]["packets"] >= 3 and a["sas"]["0x1001/out"]["bytes"] > received
    assert a["statistics"] == {} and b["statistics"] == {}


_UDP_RECV = """
import hashlib, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((sys.argv[1], 5555))
print("bound", flush=True)
s.settimeout(5)
got = [s.recv(2000)]
s.settimeout(1)
try:
    while True:
        got.append(s.recv(2000))
except TimeoutError:
    pass
print(len(got), hashlib.sha256(b"|".join(got)).hexdigest())
"""

_UDP_SEND = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
for i in range(int(sys.argv[3])):
    s.sendto(i.to_bytes(4, "big") * (325 if i % 100 else 3), (sys.argv[2], 5555))
"""


def test_tunnel_mode_udp_burst_arrives_whole(pair: Pair, tmp_path: Path) -> None:
    """A burst of 1300-byte datagrams (a short one every 100) crosses the tunnel unchanged, complete
    and in order (ESP sends batched with UDP GSO, received in GRO batches, each datagram written to
    the TUN on its own)."""
    gw = Gateways(pair, tmp_path, mode="tunnel", encap=True, tun="ipdpudp")
    rx = pair.popen(pair.b, sys.executable, "-c", _UDP_RECV, pair.lan_b, stdout=subprocess.PIPE, text=True)
    assert rx.stdout is not None and rx.stdout.readline().strip() == "bound"
    count = 3000
    pair.run(pair.a, sys.executable, "-c", _UDP_SEND, pair.lan_a, pair.lan_b, str(count))
    out, _ = rx.communicate(timeout=20)
    gw.stop()
    want = [i.to_bytes(4, "big") * (325 if i % 100 else 3) for i in range(count)]
    assert out.split() == [str(count), hashlib.sha256(b"|".join(want)).hexdigest()]


def test_transport_mode_raw_esp_between_the_hosts(pair: Pair, tmp_path: Path) -> None:
    gw = Gateways(pair, tmp_path, mode="transport", encap=False)
    cap = capture(pair, tmp_path / "veth.pcap")
    out = pair.run(pair.a, "ping", "-c", "3", "-i", "0.2", "-W", "2", pair.addr_b)
    assert "3 received" in out
    tcp_transfer(pair, pair.addr_b, pair.addr_a)
    lines = captured(cap, tmp_path / "veth.pcap")
    reports = gw.stop()
    seen = only_esp(lines, udp=False)
    assert len(seen) > 1000 and len(set(seen)) == len(seen)
    a, b = reports
    assert a["sas"]["0x1001/out"]["packets"] == b["sas"]["0x1001/in"]["packets"] > 1000
    assert b["sas"]["0x2002/out"]["packets"] == a["sas"]["0x2002/in"]["packets"] >= 3


def test_several_workers_never_repeat_a_sequence_number(pair: Pair, tmp_path: Path) -> None:
    """Three workers per side and several TCP flows: flows spread over the TUN queues, every packet is
    sealed by its SA's owner, so the wire shows each (SPI, seq) once and every SA's numbers 1..n."""
    gw = Gateways(pair, tmp_path, mode="tunnel", encap=True, workers=3)
    cap = capture(pair, tmp_path / "veth.pcap")
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(lambda port: tcp_transfer(pair, pair.lan_b, pair.lan_a, 1_000_000, port),
                            range(5201, 5205)))
    lines = captured(cap, tmp_path / "veth.pcap")
    a, b = gw.stop()
    seen = only_esp(lines, udp=True)
    assert len(set(seen)) == len(seen) > 1000
    sent = {0x1001: a["sas"]["0x1001/out"]["packets"], 0x2002: b["sas"]["0x2002/out"]["packets"]}
    for spi, seq in seen:
        assert 1 <= seq <= sent[spi]  # tcpdump may miss some under load, never sees one twice
