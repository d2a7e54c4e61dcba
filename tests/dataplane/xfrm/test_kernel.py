"""The xfrm backend against the running kernel, in namespaces of our own (``ipsxf<pid>…``): iproute2's
policies/SAs parsed by the codec, the backend's policies shown by iproute2, SPI reservations,
ACQUIRE multicasts for real traffic, /proc/net/xfrm_stat under the manual's names, the kernel-without-
ESP error (and what an ESP kernel would show instead), and ``ipsecd run --dataplane xfrm`` in a
namespace. Run under ``flock /tmp/ipsecd-netns.lock``."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from ipaddress import ip_address, ip_network

import pytest

from ipsecd.dataplane.xfrm import backend as xb
from ipsecd.dataplane.xfrm import netlink as nl
from ipsecd.policy.events import Acquire
from ipsecd.policy.types import Action, Direction, IpsecProto, Level, Mode, PolicySpec, SaSpec, Selector
from tests.netns import InNetns, Pair, wait_for

pytestmark = pytest.mark.root

A, B = ip_address("10.231.0.1"), ip_address("10.231.0.2")


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair(f"ipsxf{os.getpid() % 10000}")
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def dp(pair: Pair) -> Iterator[xb.XfrmDataPlane]:
    with InNetns(pair.a):
        d = xb.XfrmDataPlane(probe=False)
    try:
        yield d
    finally:
        d.close()


def xfrm(pair: Pair, what: str, ns: str | None = None) -> str:
    return pair.run(ns or pair.a, "ip", "xfrm", what)


def dump(pair: Pair, kind: int) -> list[nl.Reply]:
    with InNetns(pair.a):
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, nl.NETLINK_XFRM)
    try:
        s.settimeout(5)
        s.send(nl.dump(kind, 1))
        replies: list[nl.Reply] = []
        while not any(r.kind == nl.NLMSG_DONE for r in replies):
            replies += nl.parse(s.recv(1 << 16))
        return [r for r in replies if r.kind != nl.NLMSG_DONE]
    finally:
        s.close()


def send_udp(ns: str, src: str, sport: int, dst: str, dport: int) -> None:
    with InNetns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((src, sport))
        try:
            s.sendto(b"x", (dst, dport))
        except OSError:  # larval drop may surface as EAGAIN: the packet still went through the SPD
            pass
    finally:
        s.close()


def release_at_least(major: int, minor: int) -> bool:
    return tuple(int(x) for x in re.findall(r"\d+", platform.release())[:2]) >= (major, minor)


def kernel_stats(pair: Pair, ns: str) -> dict[str, int]:
    out = pair.run(ns, "cat", "/proc/net/xfrm_stat")
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def test_iproute2_policies_and_states_parse(pair: Pair) -> None:
    run = pair.run
    run(
        pair.a,
        "ip",
        "xfrm",
        "policy",
        "add",
        "src",
        "10.1.0.0/24",
        "dst",
        "10.2.0.0/16",
        "proto",
        "tcp",
        "sport",
        "1234",
        "dport",
        "443",
        "dir",
        "out",
        "priority",
        "77",
        "tmpl",
        "src",
        "192.0.2.1",
        "dst",
        "192.0.2.2",
        "proto",
        "esp",
        "reqid",
        "9",
        "mode",
        "tunnel",
    )
    run(
        pair.a,
        "ip",
        "xfrm",
        "policy",
        "add",
        "src",
        "10.2.0.0/16",
        "dst",
        "10.1.0.0/24",
        "dir",
        "in",
        "tmpl",
        "src",
        "192.0.2.2",
        "dst",
        "192.0.2.1",
        "proto",
        "ah",
        "reqid",
        "9",
        "mode",
        "tunnel",
        "level",
        "use",
    )
    run(
        pair.a,
        "ip",
        "xfrm",
        "policy",
        "add",
        "src",
        "2001:db8:1::/48",
        "dst",
        "2001:db8:2::/64",
        "dir",
        "in",
        "action",
        "block",
    )
    run(
        pair.a,
        "ip",
        "xfrm",
        "policy",
        "add",
        "src",
        "10.5.0.0/16",
        "dst",
        "10.6.0.0/16",
        "proto",
        "udp",
        "dir",
        "fwd",
    )
    run(
        pair.a,
        "ip",
        "xfrm",
        "state",
        "allocspi",
        "src",
        "192.0.2.1",
        "dst",
        "192.0.2.2",
        "proto",
        "esp",
        "reqid",
        "9",
        "mode",
        "tunnel",
        "min",
        "0x4000",
        "max",
        "0x4000",
    )
    got = {
        (i.selector, i.direction): i
        for i in (nl.policy_info(r.body) for r in dump(pair, nl.XFRM_MSG_GETPOLICY))
    }
    tcp = got[
        (Selector(ip_network("10.1.0.0/24"), ip_network("10.2.0.0/16"), 6, 1234, 443), nl.XFRM_POLICY_OUT)
    ]
    assert (tcp.action, tcp.priority) == (nl.XFRM_POLICY_ALLOW, 77)
    assert tcp.templates == (nl.Template(ip_address("192.0.2.1"), ip_address("192.0.2.2"), 50, 9,
                                         nl.XFRM_MODE_TUNNEL, False),)
    use = got[(Selector(ip_network("10.2.0.0/16"), ip_network("10.1.0.0/24")), nl.XFRM_POLICY_IN)]
    assert use.templates == (nl.Template(ip_address("192.0.2.2"), ip_address("192.0.2.1"), 51, 9,
                                         nl.XFRM_MODE_TUNNEL, True),)
    v6 = got[(Selector(ip_network("2001:db8:1::/48"), ip_network("2001:db8:2::/64")), nl.XFRM_POLICY_IN)]
    assert (v6.action, v6.templates) == (nl.XFRM_POLICY_BLOCK, ())
    fwd = got[(Selector(ip_network("10.5.0.0/16"), ip_network("10.6.0.0/16"), 17), nl.XFRM_POLICY_FWD)]
    assert (fwd.action, fwd.templates) == (nl.XFRM_POLICY_ALLOW, ())
    [larval] = [nl.sa_info(r.body) for r in dump(pair, nl.XFRM_MSG_GETSA)]
    assert (larval.dst, larval.src, larval.spi, larval.proto, larval.reqid, larval.mode) == (
        ip_address("192.0.2.2"), ip_address("192.0.2.1"), 0x4000, 50, 9, nl.XFRM_MODE_TUNNEL)


def test_backend_policies_as_iproute2_shows_them_and_close_leaves_only_foreign(pair: Pair) -> None:
    pair.run(pair.a, "ip", "xfrm", "policy", "add", "src", "10.9.0.0/24", "dst", "10.8.0.0/24", "dir", "out")
    pair.run(
        pair.a,
        "ip",
        "xfrm",
        "state",
        "allocspi",
        "src",
        "10.231.0.1",
        "dst",
        "10.231.0.2",
        "proto",
        "esp",
        "reqid",
        "7",
        "min",
        "0x5000",
        "max",
        "0x5000",
    )
    before = xfrm(pair, "state")
    with InNetns(pair.a):
        dp = xb.XfrmDataPlane(probe=False)
    try:
        dp.add_policy(
            PolicySpec(
                "tun",
                0,
                Selector(ip_network("10.1.0.0/24"), ip_network("10.2.0.0/24"), 6, 0, 80),
                tunnel=True,
                sa_src=A,
                sa_dst=B,
            )
        )
        dp.add_policy(
            PolicySpec(
                "tr", 1, Selector(ip_network("10.231.0.1/32"), ip_network("10.231.0.2/32")), level=Level.USE
            )
        )
        dp.add_policy(
            PolicySpec(
                "drop", 2, Selector(ip_network("10.3.0.0/16"), ip_network("10.4.0.0/16")), Action.DISCARD
            )
        )
        dp.add_policy(
            PolicySpec("pass", 3, Selector(ip_network("10.5.0.0/16"), ip_network("10.6.0.0/16")), Action.NONE)
        )
        text = xfrm(pair, "policy")
        blocks = {b.split("\n")[0].strip() + " " + re.search(r"dir (\w+)", b)[1]: b  # type: ignore[index]
                  for b in re.split(r"\n(?=src )", text.strip())}
        base = xb.PRIORITY_BASE + xb.PRIORITY_FIRST
        out = blocks["src 10.1.0.0/24 dst 10.2.0.0/24 proto tcp dport 80 out"]
        assert (
            f"priority {base} " in out
            and "tmpl src 10.231.0.1 dst 10.231.0.2" in out
            and "mode tunnel" in out
        )
        reqid = int(re.search(r"reqid (\d+)", out)[1])  # type: ignore[index]
        assert xb.REQID_BASE <= reqid < xb.REQID_BASE + xb.REQID_SPAN
        for d in ("in", "fwd"):
            b = blocks[f"src 10.2.0.0/24 dst 10.1.0.0/24 proto tcp sport 80 {d}"]
            assert "tmpl src 10.231.0.2 dst 10.231.0.1" in b and f"reqid {reqid} " in b
        tr = blocks["src 10.231.0.1/32 dst 10.231.0.2/32 out"]
        assert "mode transport" in tr and "level use" in tr and f"priority {base + 1} " in tr
        assert "src 10.231.0.2/32 dst 10.231.0.1/32 fwd" not in blocks  # transport mode: no fwd
        assert "action block" in blocks["src 10.3.0.0/16 dst 10.4.0.0/16 out"]
        assert (
            "tmpl"
            not in blocks["src 10.5.0.0/16 dst 10.6.0.0/16 out"]
            + blocks["src 10.6.0.0/16 dst 10.5.0.0/16 in"]
        )
        assert "action block" not in blocks["src 10.5.0.0/16 dst 10.6.0.0/16 out"]
        for port in ("500", "4500"):  # IKE bypass, both families
            assert f"src 0.0.0.0/0 dst 0.0.0.0/0 proto udp sport {port} out" in blocks
            assert f"src ::/0 dst ::/0 proto udp dport {port} in" in blocks
        assert len(blocks) == 1 + 3 + 2 + 3 + 3 + 8
        with pytest.raises(nl.XfrmError, match="selector exists"):
            dp.add_policy(PolicySpec("dup", 9, Selector(ip_network("10.9.0.0/24"), ip_network("10.8.0.0/24")),
                                     Action.NONE))
        dp.del_policy("drop")
        assert "10.3.0.0/16" not in xfrm(pair, "policy")
        dp.get_spi(IpsecProto.ESP)
    finally:
        dp.close()
    assert xfrm(pair, "policy").split("\n")[0].strip() == "src 10.9.0.0/24 dst 10.8.0.0/24"
    assert xfrm(pair, "policy").count("src ") == 1 and xfrm(pair, "state") == before


def test_spi_reservations_live_in_the_kernel_and_flush_takes_only_ours(
    pair: Pair, dp: xb.XfrmDataPlane
) -> None:
    pair.run(
        pair.a,
        "ip",
        "xfrm",
        "state",
        "allocspi",
        "src",
        "10.231.0.2",
        "dst",
        "10.231.0.1",
        "proto",
        "esp",
        "reqid",
        "7",
        "min",
        "0x6000",
        "max",
        "0x6000",
    )
    spis = {dp.get_spi(IpsecProto.ESP) for _ in range(5)} | {dp.get_spi(IpsecProto.AH)}
    assert len(spis) == 6 and min(spis) >= xb.SPI_MIN
    mine = {i.spi: i for i in (nl.sa_info(r.body) for r in dump(pair, nl.XFRM_MSG_GETSA)) if i.reqid != 7}
    assert set(mine) == spis and all(i.reqid in dp._reqids and str(i.dst) == "0.0.0.0" for i in mine.values())
    spi = min(s for s, i in mine.items() if i.proto == 50)
    # Linux since "xfrm: Duplicate SPI Handling" (2025; 6.18 here) refuses the SPI for any other
    # destination too; older kernels hand it out again for another address
    taken = subprocess.run(
        [
            "ip",
            "-n",
            pair.a,
            "xfrm",
            "state",
            "allocspi",
            "src",
            "10.231.0.1",
            "dst",
            "10.231.0.2",
            "proto",
            "esp",
            "min",
            str(spi),
            "max",
            str(spi),
        ],
        capture_output=True,
        text=True,
    )
    if release_at_least(6, 18):
        assert taken.returncode != 0 and "No SPI available" in taken.stderr
    assert dp.query_sa(spi, Direction.IN) is None  # reserved, not installed
    dp.flush()
    left = [nl.sa_info(r.body) for r in dump(pair, nl.XFRM_MSG_GETSA)]
    assert [(i.spi, i.reqid) for i in left if i.spi] == [(0x6000, 7)]


def test_acquire_for_real_traffic_and_counters(pair: Pair, dp: xb.XfrmDataPlane) -> None:
    flow = Selector(ip_network("10.231.0.1/32"), ip_network("10.231.0.2/32"), 17, 40000, 9999)
    dp.add_policy(
        PolicySpec(
            "want",
            0,
            Selector(ip_network("10.231.0.1/32"), ip_network("10.231.0.2/32"), 17, 0, 9999),
            level=Level.UNIQUE,
        )
    )
    dp.add_policy(
        PolicySpec(
            "drop",
            1,
            Selector(ip_network("10.231.0.1/32"), ip_network("10.231.0.2/32"), 17, 0, 9998),
            Action.DISCARD,
        )
    )
    dp.add_policy(
        PolicySpec(
            "guard", 2, Selector(ip_network("10.231.0.1/32"), ip_network("10.231.0.2/32"), 17, 9997, 0)
        )
    )
    assert dp.statistics() == dict.fromkeys(xb.KERNEL_COUNTERS, 0)
    send_udp(pair.a, "10.231.0.1", 40000, "10.231.0.2", 9999)
    events: list[object] = []

    def polled() -> bool:
        events.extend(dp.poll_events())
        return bool(events)

    assert wait_for(polled, timeout=3)
    assert events == [Acquire("want", flow, Level.UNIQUE)]
    send_udp(pair.a, "10.231.0.1", 40001, "10.231.0.2", 9998)
    send_udp(pair.b, "10.231.0.2", 40002, "10.231.0.1", 9997)  # plain text where "guard" wants ESP inbound
    assert wait_for(lambda: dp.statistics()["in-template-mismatches"] >= 1, timeout=3)
    stats = dp.statistics()
    assert (
        stats["out-no-states"] >= 1
        and stats["out-policy-blocked"] == 1
        and stats["in-template-mismatches"] == 1
    )
    kernel = kernel_stats(pair, pair.a)
    assert stats == {name: kernel[k] for name, k in xb.KERNEL_COUNTERS.items()}


def test_prepared_ike_sockets_bypass_the_spd_and_the_natt_one_hands_esp_to_the_kernel(pair: Pair) -> None:
    marker = bytes(4)
    with InNetns(pair.a):
        dp = xb.XfrmDataPlane(probe=False, bypass_ports=())  # the sockets alone must let IKE through
        ike, plain = (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
        )
    with InNetns(pair.b):
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        xb.prepare_ike_socket(ike, natt=True)
        ike.bind(("10.231.0.1", 14500))
        plain.bind(("10.231.0.1", 14501))
        peer.bind(("10.231.0.2", 14500))
        for s in (ike, plain, peer):
            s.settimeout(2)
        dp.add_policy(
            PolicySpec("hosts", 0, Selector(ip_network("10.231.0.1/32"), ip_network("10.231.0.2/32")))
        )
        ike.sendto(marker + b"ike out", ("10.231.0.2", 14500))
        assert peer.recvfrom(100)[0] == marker + b"ike out"
        peer.sendto(marker + b"ike in", ("10.231.0.1", 14500))
        assert ike.recvfrom(100)[0] == marker + b"ike in"  # the non-ESP marker stays on
        # ESP-in-UDP (non-zero SPI) and a NAT-keepalive: the kernel takes both off the socket (with no
        # ESP protocol here the ESP one dies unseen, no xfrm counter moves)
        peer.sendto(b"\x00\x00\x12\x34" + bytes(20), ("10.231.0.1", 14500))
        peer.sendto(b"\xff", ("10.231.0.1", 14500))
        peer.sendto(b"plain in", ("10.231.0.1", 14501))  # the policy wants ESP from B
        plain.sendto(b"plain out", ("10.231.0.2", 14500))  # held for an SA that never comes
        assert wait_for(
            lambda: dp.statistics()["in-template-mismatches"] == 1 and dp.statistics()["out-no-states"] >= 1,
            timeout=3,
        )
        for s in (ike, plain, peer):
            s.settimeout(0.3)
            with pytest.raises(TimeoutError):
                s.recvfrom(100)
        with InNetns(pair.a):
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            xb.prepare_ike_socket(v6, natt=True)  # IPV6_XFRM_POLICY with an AF_INET6 selector
            assert v6.getsockopt(socket.IPPROTO_UDP, xb.UDP_ENCAP) == nl.UDP_ENCAP_ESPINUDP
        finally:
            v6.close()
    finally:
        for s in (ike, plain, peer):
            s.close()
        dp.close()


def test_kernel_without_esp_refuses_with_one_line_or_installs_every_algorithm(pair: Pair) -> None:
    try:
        with InNetns(pair.a):
            dp = xb.XfrmDataPlane()
    except xb.NoKernelIpsecError as e:
        assert str(e).startswith("the kernel has no ESP/AH transforms (XFRM_MSG_NEWSA: ")
        assert str(e).endswith("; use --dataplane tun") and "\n" not in str(e)
        assert xfrm(pair, "state") == "" and xfrm(pair, "policy") == ""
        return
    try:  # a kernel with ESP: the three algorithms go in as iproute2 shows them
        for spi, (encr, ekey, integ, ikey, shown) in enumerate([
                ("aes-128-gcm", 20, "null", 0, "aead rfc4106(gcm(aes))"),
                ("aes-256-cbc", 32, "sha256", 32, "auth-trunc hmac(sha256)"),
                ("chacha20poly1305", 36, "null", 0, "aead rfc7539esp(chacha20,poly1305)")], start=0x7000):
            dp.add_sa(SaSpec(spi, Direction.OUT, IpsecProto.ESP, Mode.TUNNEL, A, B, encr, bytes(ekey), integ,
                             bytes(ikey)))
            assert shown in xfrm(pair, "state")
    finally:
        dp.close()
    assert xfrm(pair, "state") == ""


def test_ipsecd_run_xfrm_in_a_namespace(pair: Pair, tmp_path: object) -> None:
    """The daemon with ``--dataplane xfrm`` inside the namespace: on a kernel without ESP it exits 1
    with the backend's one line, leaving no XFRM state behind."""
    cfg = f"{tmp_path}/empty.rsc"
    with open(cfg, "w", encoding="utf-8"):
        pass
    cmd = [sys.executable, "-m", "ipsecd", "--control", f"{tmp_path}/ctl", "run", "--config", cfg,
           "--dataplane", "xfrm", "--ike-port", "1500", "--natt-port", "14500"]
    proc = pair.popen(pair.a, *cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:  # a kernel with ESP: the daemon runs; stop it and check it cleaned up
        proc.terminate()
        proc.communicate(timeout=15)
        assert xfrm(pair, "state") == "" and xfrm(pair, "policy") == ""
        return
    assert proc.returncode == 1
    assert err.strip().splitlines()[-1] == ("ipsecd: data plane xfrm: the kernel has no ESP/AH transforms "
                                            "(XFRM_MSG_NEWSA: Requested type not found); use --dataplane tun")
    assert xfrm(pair, "state") == "" and xfrm(pair, "policy") == ""
