"""IKE fragmentation (RFC 7383) against strongSwan 5.9 over a path that drops IP fragments (issue 12).

Both namespaces drop every incoming IP fragment (nftables, before conntrack could reassemble it), so
an IKE message larger than the veth's 1500-byte MTU arrives only when IKE cuts it itself. Both ends
authenticate with an RSA 4096 chain (tests/vectors/strongswan-pki ``*4096``: root, intermediate,
leaf), which makes each IKE_AUTH message about 3.5 kB. charon initiates with ``fragmentation = yes``:
the SA comes up, traffic flows, and a capture read by tshark shows Encrypted and Authenticated
Fragment payloads (type 53) from both addresses; the same connection with ``fragmentation = no``
never gets its IKE_AUTH through, which proves the path really needs RFC 7383.

One topology, one charon and one ipsecd for the module; each test brings its own SA up and down.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipsecd.pki.store import CertificateStore
from tests.interop.sswan import Charon, Ipsecd, Proc, Topology, wait_until
from tests.interop.test_ike_cert_sswan import charon_connection, diagnostics, explained, ipsecd_rsc

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "strongswan-pki"


def charon_conf(topo: Topology) -> str:
    """Connections ``frag`` and ``nofrag``: the same but for charon's ``fragmentation``."""
    conns = "".join(
        charon_connection(topo, "gw.example.com", name, "client4096.crt", f"        fragmentation = {frag}\n")
        for name, frag in (("frag", "yes"), ("nofrag", "no"))
    )
    return f"connections {{\n{conns}}}\n"


def drop_ip_fragments(topo: Topology) -> None:
    """Every incoming IPv4 fragment dropped in both namespaces, ahead of conntrack's defragmentation
    (priority -400): an oversized IKE datagram never arrives whole."""
    for ns in (topo.left, topo.right):
        ns.run("nft", "add", "table", "ip", "nofrag")
        ns.run(
            "nft", "add", "chain", "ip", "nofrag", "pre", "{ type filter hook prerouting priority -500 ; }"
        )
        ns.run(
            "nft", "add", "rule", "ip", "nofrag", "pre", "ip", "frag-off", "&", "0x3fff", "!=", "0", "drop"
        )


def ipsecd_with_4096_chain(topo: Topology, workdir: Path, *, passive: bool) -> Ipsecd:
    """ipsecd (not started) with the RSA 4096 gateway certificate, its intermediate and the root."""
    rsc = ipsecd_rsc(topo, passive=passive, remote_id="user-fqdn:alice@example.com")
    ipsecd = Ipsecd(topo.right, workdir, rsc)
    store = CertificateStore(ipsecd.dir / "certificates")
    store.import_file(VECTORS / "ca4096.crt", name="ca", trusted=True)
    store.import_file(VECTORS / "intermediate4096.crt", name="intermediate", trusted=False)
    store.import_file(VECTORS / "gw4096.crt", name="gw")
    store.import_file(VECTORS / "gw4096.key")
    return ipsecd


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Topology, Charon, Ipsecd, Path]]:
    tmp = tmp_path_factory.mktemp("frag")
    with Topology("ipfr") as topo:
        drop_ip_fragments(topo)
        charon = Charon(topo.left, tmp)
        (charon.swanctl_dir / "rsa").mkdir(parents=True, exist_ok=True)
        (charon.swanctl_dir / "x509ca").mkdir(parents=True, exist_ok=True)
        (charon.swanctl_dir / "x509").mkdir(parents=True, exist_ok=True)
        for name, sub in (("ca4096", "x509ca"), ("intermediate4096", "x509ca"), ("client4096", "x509")):
            shutil.copy(VECTORS / f"{name}.crt", charon.swanctl_dir / sub / f"{name}.crt")
        shutil.copy(VECTORS / "client4096.key", charon.swanctl_dir / "rsa" / "client4096.key")
        charon.start()
        charon.load(charon_conf(topo))
        ipsecd = ipsecd_with_4096_chain(topo, tmp, passive=True).start()
        yield topo, charon, ipsecd, tmp


def capture(topo: Topology, path: Path) -> Proc:
    """tshark writing IKE seen on the right side's veth to ``path``, started and ready."""
    proc = topo.right.spawn(
        ["tshark", "-q", "-i", topo.right.iface, "-w", str(path), "-f", "udp port 500 or udp port 4500"],
        path.with_suffix(".log"),
    )
    wait_until("tshark to capture", lambda: path.exists() and path.stat().st_size > 0, 20)
    time.sleep(0.5)
    return proc


def fragments_by_source(path: Path) -> dict[str, list[tuple[int, int]]]:
    """(fragment number, total) of every SKF payload in the capture, by source address."""
    out = subprocess.run(
        [
            "tshark",
            "-n",
            "-r",
            str(path),
            "-Y",
            "isakmp.frag.number",
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "isakmp.frag.number",
            "-e",
            "isakmp.frag.total",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    found: dict[str, list[tuple[int, int]]] = {}
    for line in out.splitlines():
        src, number, total = line.split("\t")
        found.setdefault(src, []).append((int(number), int(total)))
    return found


def down(charon: Charon, ipsecd: Ipsecd) -> None:
    charon.terminate_all()
    wait_until(
        "ipsecd to drop its SAs",
        lambda: ipsecd.exec("/ip ipsec installed-sa print count-only").stdout.strip() == "0",
        20,
    )


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (setup.sh)")
def test_ike_auth_with_a_4096_bit_chain_crosses_a_path_without_ip_fragments(
    setup: tuple[Topology, Charon, Ipsecd, Path],
) -> None:
    topo, charon, ipsecd, tmp = setup
    pcap = tmp / "frag.pcap"
    tshark = capture(topo, pcap)
    try:
        charon.initiate("frag")
        wait_until(
            "ipsecd to install the SA pair",
            lambda: ipsecd.exec("/ip ipsec installed-sa print count-only").stdout.strip() == "2",
        )
        assert topo.left.ping(topo.right.lan, src=topo.left.lan, count=3) == (3, 3)
        time.sleep(0.5)
        tshark.stop(grace=10, sig=signal.SIGINT)
        found = fragments_by_source(pcap)
        for src in (topo.left.wan, topo.right.wan):  # charon's request and ipsecd's response
            frags = found.get(src, [])
            total = frags[0][1] if frags else 0
            assert total >= 3 and sorted(frags) == [(n, total) for n in range(1, total + 1)], (src, found)
        assert "certificate refused" not in ipsecd.log_text()
        down(charon, ipsecd)
    except BaseException:
        tshark.stop(grace=3)
        print(diagnostics(charon, ipsecd))
        raise


def test_without_fragmentation_ike_auth_does_not_get_through(
    setup: tuple[Topology, Charon, Ipsecd, Path],
) -> None:
    """The control: charon with ``fragmentation = no`` sends IKE_AUTH as IP fragments, which the
    path drops, so the SA never comes up."""
    _, charon, ipsecd, _ = setup
    try:
        with pytest.raises(RuntimeError):
            charon.initiate("nofrag", timeout_ms=6000)
        assert ipsecd.exec("/ip ipsec installed-sa print count-only").stdout.strip() == "0"
        after = charon.log_text().split("initiating IKE_SA nofrag")[-1]
        assert "retransmit 1 of request with message ID 1" in after  # IKE_AUTH never answered
        charon.terminate_all()
    except BaseException:
        print(diagnostics(charon, ipsecd))
        raise


def test_ipsecd_initiating_sends_its_ike_auth_in_fragments(
    setup: tuple[Topology, Charon, Ipsecd, Path],
) -> None:
    """ipsecd as initiator (passive=no): its IKE_AUTH request crosses the same path only as SKF
    fragments, which charon reassembles; charon's fragmented response comes back the same way."""
    topo, charon, passive, tmp = setup
    passive.stop()
    ipsecd = ipsecd_with_4096_chain(topo, tmp / "initiator", passive=False).start()
    with explained(charon, ipsecd):
        wait_until("charon to see a CHILD_SA", lambda: bool(charon.child_sas()), 30)
        wait_until(
            "ipsecd to install the SA pair",
            lambda: ipsecd.exec("/ip ipsec installed-sa print count-only").stdout.strip() == "2",
        )
        assert topo.left.ping(topo.right.lan, src=topo.left.lan, count=3) == (3, 3)
        log = charon.log_text()
        assert "received fragment #1 of" in log and "reassembled fragmented IKE message" in log
