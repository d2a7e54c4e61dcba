"""Captures the ``cap-*`` files of the fuzz corpus from real traffic between independent
implementations (issue 17): strongSwan 5.9 ↔ ipsecd over IKEv2 and IKEv1, and ipsecd ↔ FreeRADIUS
3.2, in network namespaces, as the interop tests run them (see ``tests/fuzz/corpus/README.md``).

Root only; run by hand under the lock the interop tests share::

    flock /tmp/ipsecd-root-tests.lock .venv/bin/python -m tests.fuzz.capture

It runs the interop tests named in :data:`TESTS` in-process with a ``tcpdump`` started in every
namespace they make (``Topology.up`` and ``FreeRadius`` are wrapped), reads the captures with scapy and
writes every distinct UDP payload — IKE datagrams on 500 and 4500 (non-ESP marker removed), ESP in
UDP on 4500 and raw ESP, RADIUS on 1812/1813 and the EAP packets they carry — to
``tests/fuzz/corpus/<target>/cap-<sha256 prefix>``, prefixed as :mod:`tests.fuzz.targets` expects.
Inputs of the same shape (see :func:`shape`) are kept once, so the corpus stays small.
"""

from __future__ import annotations

import hashlib
import struct
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.fuzz.targets import CORPUS

REPO = Path(__file__).resolve().parents[2]

#: The exchanges captured: IKEv2 with PSK and several proposal sets, certificates (also fragmented),
#: EAP-MSCHAPv2 relayed to FreeRADIUS, IKEv1 main/aggressive/quick mode, PFS, NAT-T, XAuth, plus the
#: FreeRADIUS client tests (PAP, EAP-MSCHAPv2, accounting, rejects). ESP flows in all of the tunnels.
TESTS = [
    "tests/interop/test_ipsecd_sswan.py::test_strongswan_initiates_default_proposals",
    "tests/interop/test_ipsecd_sswan.py::test_proposal_sets",
    "tests/interop/test_ipsecd_sswan.py::test_more_algorithms",
    "tests/interop/test_ipsecd_sswan.py::test_invalid_ke_payload_retry",
    "tests/interop/test_ipsecd_sswan.py::test_failed_negotiations_are_explained",
    "tests/interop/test_ipsecd_sswan.py::test_ipv6_peers",
    "tests/interop/test_ipsecd_sswan.py::test_road_warrior_gets_virtual_ip_and_dns",
    "tests/interop/test_ike_cert_sswan.py::test_certificates_with_traffic",
    "tests/interop/test_ike_frag_sswan.py::test_ike_auth_with_a_4096_bit_chain_crosses_a_path_without_ip_fragments",
    "tests/interop/test_ike_frag_sswan.py::test_ipsecd_initiating_sends_its_ike_auth_in_fragments",
    "tests/interop/test_eap_sswan.py",
    "tests/interop/test_freeradius.py",
    "tests/interop/test_ikev1_sswan.py",
    "tests/interop/test_ikev1_xauth.py::test_strongswan_xauth_client_gets_an_address_and_pings",
    "tests/interop/test_ikev1_xauth.py::test_wrong_password_is_refused_and_logged",
    "tests/interop/test_ikev1_xauth.py::test_xauth_users_from_freeradius",
]
FILTER = "udp or ip proto 50 or ip6 proto 50"
#: At most this many inputs per target (the largest IKE messages carry certificate chains).
LIMIT = {"ikev2": 120, "ikev1": 80, "esp": 40, "radius": 40, "eap": 30}


def run_captured(pcaps: Path) -> int:
    """Run :data:`TESTS` with a tcpdump in each of their namespaces; the exit status of pytest."""
    import pytest

    from tests.interop import freeradius as fr
    from tests.interop import sswan

    counter = iter(range(10**6))

    def tcpdump(ns: str) -> sswan.Proc:
        out = pcaps / f"{ns}-{next(counter)}.pcap"
        args = ["ip", "netns", "exec", ns, *"tcpdump -i any -U -Z root -s 0 -w".split(), str(out), FILTER]
        return sswan.Proc(args, out.with_suffix(".log"))

    real_up, real_start, real_close = sswan.Topology.up, fr.FreeRadius._start, fr.FreeRadius.close
    radius_dumps: dict[int, sswan.Proc] = {}

    def up(self: sswan.Topology) -> sswan.Topology:
        topo = real_up(self)
        for s in self.spaces:
            s.procs.insert(0, tcpdump(s.name))  # stopped last by Topology.down (reversed order)
        return topo

    def start(self: fr.FreeRadius) -> None:
        if self.own_ns:
            radius_dumps[id(self)] = tcpdump(self.ns)
        real_start(self)

    def close(self: fr.FreeRadius) -> None:
        dump = radius_dumps.pop(id(self), None)
        if dump is not None:
            dump.stop()
        real_close(self)

    sswan.Topology.up, fr.FreeRadius._start, fr.FreeRadius.close = up, start, close  # type: ignore[method-assign]
    try:
        return int(pytest.main(["-q", "-p", "no:cacheprovider", "-o", "addopts=", *TESTS]))
    finally:
        sswan.Topology.up, fr.FreeRadius._start, fr.FreeRadius.close = real_up, real_start, real_close  # type: ignore[method-assign]


def payloads(pcap: Path) -> Iterator[tuple[int, int, bytes]]:
    """(source port, destination port, payload) of every whole UDP datagram; port 0 for raw ESP."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapReader

    with PcapReader(str(pcap)) as reader:
        for pkt in reader:
            if IP in pkt:
                ip = pkt[IP]
                if ip.flags.MF or ip.frag:
                    continue  # an IP fragment: not the whole datagram
                proto, body = ip.proto, bytes(ip.payload)[: max(ip.len - ip.ihl * 4, 0)]
            elif IPv6 in pkt:
                ip6 = pkt[IPv6]
                proto, body = ip6.nh, bytes(ip6.payload)[: ip6.plen]
            else:
                continue
            if proto == 50:
                yield 0, 0, body
            elif proto == 17 and UDP in pkt and len(body) >= 8:
                sport, dport, length = struct.unpack_from("!HHH", body)
                yield sport, dport, body[8:length]


def classify(sport: int, dport: int, data: bytes) -> Iterator[tuple[str, bytes]]:
    """(target, input) for one captured payload, prefixed as :mod:`tests.fuzz.targets` reads it."""
    ports = {sport, dport}
    if ports & {1812, 1813}:
        yield "radius", data
        yield from (("eap", m) for m in eap_messages(data))
    elif sport == dport == 0:
        yield "esp", b"\x01" + data  # odd: into the AES-GCM SA as it stands
    elif ports & {500, 4500}:
        if 4500 in ports and data[:4] != bytes(4):
            if len(data) > 1:  # not a NAT-T keepalive
                yield "esp", b"\x01" + data
            return
        ike = data[4:] if 4500 in ports else data
        if len(ike) >= 28:
            yield ("ikev2" if ike[17] >> 4 == 2 else "ikev1"), b"\x00" + ike  # even: a datagram


def eap_messages(data: bytes) -> Iterator[bytes]:
    """The EAP packet a RADIUS packet carries (its EAP-Message attributes joined)."""
    parts, pos = [], 20
    while pos + 2 <= len(data):
        kind, length = data[pos], data[pos + 1]
        if length < 2:
            return
        if kind == 79:
            parts.append(data[pos + 2 : pos + length])
        pos += length
    if parts:
        yield b"".join(parts)


def shape(target: str, data: bytes) -> tuple[object, ...]:
    """What makes an input new: for IKE the exchange, flags, the chain of payload types in the clear
    (an encrypted message shows only SK or SKF) and the size in 128-byte steps (so fragments and
    certificate chains stay); the RADIUS code and attribute types; the EAP code and type; for ESP
    the SPI and the size in 16-byte steps (another cipher, another padding)."""
    if target in ("ikev2", "ikev1"):
        encrypted = target == "ikev1" and data[19] & 1  # IKEv1: the whole chain is ciphertext
        chain = (data[16],) if encrypted else tuple(payload_types(data))
        return data[18], data[19], chain, len(data) // 128
    if target == "radius":
        kinds, pos = [], 20
        while pos + 2 <= len(data) and data[pos + 1] >= 2:
            kinds.append(data[pos])
            pos += data[pos + 1]
        return data[0], tuple(sorted(set(kinds)))
    if target == "eap":
        return data[0], data[4:5], data[5:6]
    return data[:4], len(data) // 16


def payload_types(ike: bytes) -> Iterator[int]:
    """The payload types of an IKE message's chain, read from the generic payload headers."""
    kind, pos = ike[16], 28
    while kind and pos + 4 <= len(ike):
        yield kind
        kind, length = ike[pos], int.from_bytes(ike[pos + 2 : pos + 4], "big")
        if kind in (46, 53) or length < 4:  # SK, SKF: the rest is ciphertext
            return
        pos += length


def write(pcaps: Path) -> dict[str, int]:
    """Write the ``cap-*`` corpus files from the captures (replacing the old ones); count per target."""
    chosen: dict[str, dict[tuple[object, ...], bytes]] = {t: {} for t in LIMIT}
    for pcap in sorted(pcaps.glob("*.pcap")):
        for sport, dport, data in payloads(pcap):
            for target, item in classify(sport, dport, data):
                seen = chosen[target]
                if len(seen) < LIMIT[target]:
                    body = item[1:] if target in ("ikev2", "ikev1", "esp") else item  # prefix byte off
                    seen.setdefault(shape(target, body), item)
    for target, items in chosen.items():
        directory = CORPUS / target
        for old in directory.glob("cap-*"):
            old.unlink()
        for item in items.values():
            (directory / f"cap-{hashlib.sha256(item).hexdigest()[:16]}").write_bytes(item)
    return {t: len(v) for t, v in chosen.items()}


def main(argv: list[str]) -> int:
    """``capture.py`` runs the tests and writes; ``capture.py --from DIR`` only reads DIR's pcaps."""
    if argv[1:2] == ["--from"]:
        print(write(Path(argv[2])))
        return 0
    pcaps = Path(tempfile.mkdtemp(prefix="ipsecd-capture-"))
    status = run_captured(pcaps)
    print(f"pytest exit {status}; corpus files written: {write(pcaps)}; captures kept in {pcaps}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
