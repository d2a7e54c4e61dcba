"""XfrmDataPlane logic over a model of the kernel (fake_kernel.py): reqid binding of SAs to their
policy, SPI reservations, flush and close touching only ipsecd's objects, kernel events turned into
base.py events, query_sa from the kernel's counters, and the one-line errors."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from ipaddress import ip_address, ip_network

import pytest

from ipsecd.dataplane.xfrm import backend as xb
from ipsecd.dataplane.xfrm import netlink as nl
from ipsecd.policy.events import Acquire, EndpointChanged, HardExpire, SoftExpire
from ipsecd.policy.types import (
    Action,
    Direction,
    IpsecProto,
    Level,
    Lifetime,
    Mode,
    PolicySpec,
    SaSpec,
    Selector,
    UdpEncap,
)
from tests.dataplane.xfrm.fake_kernel import FakeKernel

LOCAL, REMOTE = ip_address("192.0.2.1"), ip_address("192.0.2.2")
SEL = Selector(ip_network("10.1.0.0/24"), ip_network("10.2.0.0/24"))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    k = FakeKernel()
    monkeypatch.setattr(xb, "_open", k.socket)
    return k


@pytest.fixture
def dp(kernel: FakeKernel) -> Iterator[xb.XfrmDataPlane]:
    d = xb.XfrmDataPlane(clock=Clock(), probe=False, bypass_ports=())
    yield d
    d.close()


def policy(pid: str = "p1", **kw: object) -> PolicySpec:
    # type: ignore[arg-type]
    return PolicySpec(pid, kw.pop("order", 2), kw.pop("selector", SEL), tunnel=kw.pop("tunnel", True),
                      sa_src=LOCAL, sa_dst=REMOTE, **kw)  # type: ignore[arg-type]


def spec(spi: int, direction: Direction, pid: str | None = "p1", **kw: object) -> SaSpec:
    src, dst = (LOCAL, REMOTE) if direction is Direction.OUT else (REMOTE, LOCAL)
    return SaSpec(
        spi,
        direction,
        IpsecProto.ESP,
        Mode.TUNNEL,
        src,
        dst,
        "aes-128-gcm",
        bytes(20),
        "null",
        b"",
        pid,
        **kw,
    )  # type: ignore[arg-type]


def kernel_sa(kernel: FakeKernel, dst: object, spi: int) -> nl.SaInfo:
    return nl.sa_info(kernel.sas[(ip_address(str(dst)).packed.ljust(16, b"\0"), spi, 50)])


def test_sas_carry_their_policys_reqid_and_inbound_replaces_the_reservation(dp: xb.XfrmDataPlane,
                                                                            kernel: FakeKernel) -> None:
    dp.add_policy(policy())
    templates = {nl.policy_info(b).templates[0].reqid for b in kernel.policies.values()}
    assert len(kernel.policies) == 3 and len(templates) == 1
    [reqid] = templates
    assert xb.REQID_BASE <= reqid < xb.REQID_BASE + xb.REQID_SPAN
    spi_in = dp.get_spi(IpsecProto.ESP)
    assert spi_in != dp.get_spi(IpsecProto.ESP) and spi_in >= 256
    placeholder = kernel_sa(kernel, "0.0.0.0", spi_in)
    assert placeholder.reqid in dp._reqids and placeholder.reqid != reqid
    dp.add_sa(spec(spi_in, Direction.IN))
    dp.add_sa(spec(0xBEEF, Direction.OUT))
    assert (bytes(16), spi_in, 50) not in kernel.sas  # the placeholder went
    assert kernel_sa(kernel, LOCAL, spi_in).reqid == reqid == kernel_sa(kernel, REMOTE, 0xBEEF).reqid
    # an SA without a (known) policy gets a reqid of its own, stable per daemon reqid
    dp.add_sa(spec(0x5001, Direction.OUT, None, reqid=4))
    dp.add_sa(spec(0x5002, Direction.OUT, "unknown", reqid=4))
    r1, r2 = kernel_sa(kernel, REMOTE, 0x5001).reqid, kernel_sa(kernel, REMOTE, 0x5002).reqid
    assert r1 == r2 != reqid and r1 in dp._reqids


def test_query_sa_reports_the_kernels_counters(dp: xb.XfrmDataPlane, kernel: FakeKernel,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    dp.add_sa(spec(0x2000, Direction.IN, replay_window=64))
    key = (LOCAL.packed.ljust(16, b"\0"), 0x2000, 50)
    body = bytearray(kernel.sas[key])
    struct.pack_into("=4Q", body, 160, 4242, 7, 1_700_000_000, 1_700_000_090)
    struct.pack_into("=3I", body, 192, 0, 1, 2)
    kernel.sas[key] = bytes(body)
    monkeypatch.setattr(time, "time", lambda: 1_700_000_100.0)
    assert isinstance(dp.clock, Clock)
    dp.clock.t = 2000.0
    st = dp.query_sa(0x2000, Direction.IN)
    assert st is not None
    assert (st.current_bytes, st.current_packets, st.invalid_packets, st.replay_window) == (4242, 7, 3, 64)
    assert st.add_time == 1000.0 and st.last_used == 1990.0 and st.state == "mature"
    assert dp.query_sa(0x2000, Direction.OUT) is None
    del kernel.sas[key]  # hard-expired in the kernel meanwhile
    assert dp.query_sa(0x2000, Direction.IN) is None
    dp.del_sa(0x2000, Direction.IN)  # ESRCH is not an error


def test_flush_and_close_touch_only_our_sas_and_policies(kernel: FakeKernel) -> None:
    kernel.add_foreign_sa(REMOTE.packed, 0x7777, 7)
    kernel.add_foreign_sa(REMOTE.packed, 0x7778, xb.REQID_BASE + 500)  # in the band, but not handed out here
    foreign = policy("foreign", selector=Selector(ip_network("10.9.0.0/24"), ip_network("10.8.0.0/24")))
    fsel = nl.policy_dirs(foreign)[0][1]
    kernel.handle(nl.new_policy(foreign, nl.XFRM_POLICY_OUT, fsel))
    dp = xb.XfrmDataPlane(probe=False)  # default bypass ports: 500 and 4500, both families, in and out
    assert len(kernel.policies) == 1 + 8
    dp.add_policy(policy())
    dp.get_spi(IpsecProto.ESP)
    dp.add_sa(spec(0x3000, Direction.OUT))
    dp.flush()
    assert set(k[1] for k in kernel.sas) == {0x7777, 0x7778}
    assert dp.query_sa(0x3000, Direction.OUT) is None
    dp.add_sa(spec(0x3001, Direction.OUT))
    dp.close()
    dp.close()  # idempotent
    assert set(k[1] for k in kernel.sas) == {0x7777, 0x7778}
    assert list(kernel.policies) == [(nl.XFRM_POLICY_OUT, nl.selector(fsel, socket.AF_INET))]


def test_policy_kinds(dp: xb.XfrmDataPlane, kernel: FakeKernel) -> None:
    dp.add_policy(policy("tmpl", template=True))
    dp.add_policy(policy("off", disabled=True))
    assert kernel.policies == {}
    dp.add_policy(policy("tr", tunnel=False))
    assert sorted(d for d, _ in kernel.policies) == [nl.XFRM_POLICY_IN, nl.XFRM_POLICY_OUT]  # no fwd
    dp.add_policy(policy("tr", tunnel=False, action=Action.DISCARD))  # same id again: replaced
    infos = [nl.policy_info(b) for b in kernel.policies.values()]
    assert len(infos) == 3 and all(i.action == nl.XFRM_POLICY_BLOCK and not i.templates for i in infos)
    assert {i.priority for i in infos} == {xb.PRIORITY_BASE + xb.PRIORITY_FIRST + 2}
    dp.del_policy("tr")
    dp.del_policy("tr")
    assert kernel.policies == {}


def test_policy_refused_midway_is_rolled_back(dp: xb.XfrmDataPlane, kernel: FakeKernel) -> None:
    p = policy()
    d, sel = nl.policy_dirs(p)[1]
    kernel.handle(nl.new_policy(p, d, sel))  # someone else's "in" policy with the same selector
    with pytest.raises(nl.XfrmError, match=r"policy p1 dir in: .*File exists.*selector exists"):
        dp.add_policy(p)
    assert list(kernel.policies) == [(d, nl.selector(sel, socket.AF_INET))]
    dp.close()
    assert len(kernel.policies) == 1  # never ours, never deleted


def expire(sa: SaSpec, *, hard: bool, nbytes: int) -> bytes:
    body = bytearray(nl.new_sa(sa)[nl.NLMSGHDR.size:nl.NLMSGHDR.size + nl.USERSA_INFO.size])
    struct.pack_into("=Q", body, 160, nbytes)
    payload = bytes(body) + bytes([hard]) + bytes(7)
    return nl.NLMSGHDR.pack(16 + len(payload), nl.XFRM_MSG_EXPIRE, 0, 0, 0) + payload


def test_expire_events(dp: xb.XfrmDataPlane, kernel: FakeKernel) -> None:
    life = Lifetime(soft_bytes=1000, hard_bytes=2000, soft_seconds=50, hard_seconds=60)
    sa_in, sa_out = spec(0x4000, Direction.IN, lifetime=life), spec(0x4001, Direction.OUT, lifetime=life)
    dp.add_sa(sa_in)
    dp.add_sa(sa_out)
    kernel.multicast.append(expire(sa_in, hard=False, nbytes=1000) + expire(sa_out, hard=False, nbytes=10))
    kernel.multicast.append(expire(spec(0x9999, Direction.IN), hard=True, nbytes=0))  # not ours
    assert dp.poll_events() == [
        SoftExpire(0x4000, Direction.IN, True),
        SoftExpire(0x4001, Direction.OUT, False),
    ]
    st = dp.query_sa(0x4000, Direction.IN)
    assert st is not None and st.state == "dying"
    kernel.multicast.append(expire(sa_out, hard=True, nbytes=2500))
    assert dp.poll_events() == [HardExpire(0x4001, Direction.OUT, True)]
    assert dp.query_sa(0x4001, Direction.OUT) is None and dp.poll_events() == []


def test_acquire_maps_the_template_reqid_to_the_policy(dp: xb.XfrmDataPlane, kernel: FakeKernel) -> None:
    p = policy(level=Level.UNIQUE)
    dp.add_policy(p)
    out_body = next(b for (d, _), b in kernel.policies.items() if d == nl.XFRM_POLICY_OUT)
    flow = Selector(ip_network("10.1.0.5/32"), ip_network("10.2.0.9/32"), 1)

    def acquire(pol_body: bytes) -> bytes:
        body = (
            nl.USER_ACQUIRE.pack(
                nl.XFRM_ID.pack(REMOTE.packed.ljust(16, b"\0"), 0, 50),
                LOCAL.packed.ljust(16, b"\0"),
                nl.selector(flow, socket.AF_INET),
                pol_body[: nl.USERPOLICY_INFO.size],
                0,
                0,
                0,
                1,
            )
            + pol_body[nl.USERPOLICY_INFO.size :]
        )
        return nl.NLMSGHDR.pack(16 + len(body), nl.XFRM_MSG_ACQUIRE, 0, 0, 0) + body

    stranger = nl.new_policy(p, nl.XFRM_POLICY_OUT, SEL, reqid=12345)[16:]
    kernel.multicast.extend([acquire(out_body), acquire(stranger)])
    assert dp.poll_events() == [Acquire("p1", flow, Level.UNIQUE)]
    dp.del_policy("p1")
    kernel.multicast.append(acquire(out_body))
    assert dp.poll_events() == []


def test_probe_without_esp_says_use_tun_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeKernel(esp=False)
    sockets = []

    def opener(groups: int = 0) -> object:
        sockets.append(kernel.socket(groups))
        return sockets[-1]

    monkeypatch.setattr(xb, "_open", opener)
    with pytest.raises(xb.NoKernelIpsecError) as e:
        xb.XfrmDataPlane()
    assert str(e.value) == ("the kernel has no ESP/AH transforms (XFRM_MSG_NEWSA: Requested type not found); "
                            "use --dataplane tun")
    assert kernel.sas == {} and kernel.policies == {} and all(s.closed for s in sockets)
    assert nl.XFRM_MSG_NEWPOLICY not in kernel.requests  # refused before the bypass policies


def test_add_sa_without_esp_and_other_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeKernel(esp=False)
    monkeypatch.setattr(xb, "_open", kernel.socket)
    with xb.XfrmDataPlane(probe=False, bypass_ports=()) as dp:
        with pytest.raises(
            xb.NoKernelIpsecError,
            match=r"^SA 0x00005000: the kernel has no ESP transform for "
            r"aes-128-gcm/null .*; use --dataplane tun$",
        ):
            dp.add_sa(spec(0x5000, Direction.OUT))
        assert dp.query_sa(0x5000, Direction.OUT) is None
        kernel.esp = True
        dp.add_sa(spec(0x5000, Direction.OUT))
        with pytest.raises(nl.XfrmError, match="SA 0x00005000: XFRM_MSG_NEWSA: File exists"):
            dp.add_sa(spec(0x5000, Direction.OUT))
        dp.update_sa(spec(0x5000, Direction.OUT, lifetime=Lifetime(hard_seconds=5)))
        assert kernel.requests[-1] == nl.XFRM_MSG_UPDSA
    kernel.deny = 1  # EPERM
    with pytest.raises(xb.KernelError, match=r"Operation not permitted.*run as root"):
        xb.XfrmDataPlane()


def test_a_silent_kernel_is_an_error(dp: xb.XfrmDataPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    def silent(_n: int) -> bytes:
        raise TimeoutError

    monkeypatch.setattr(dp._sock, "recv", silent)
    with pytest.raises(nl.XfrmError, match=r"^XFRM_MSG_ALLOCSPI: netlink: no answer$"):
        dp.get_spi(IpsecProto.ESP)
    monkeypatch.undo()


def test_statistics_use_the_manuals_names() -> None:
    assert list(xb.KERNEL_COUNTERS)[:3] == ["in-errors", "in-buffer-errors", "in-header-errors"]
    assert xb.KERNEL_COUNTERS["in-template-mismatches"] == "XfrmInTmplMismatch"
    assert xb.KERNEL_COUNTERS["out-bundle-errors"] == "XfrmOutBundleGenError"
    assert len(set(xb.KERNEL_COUNTERS.values())) == 25


def mapping(sa: SaSpec, old: tuple[str, int], new: tuple[str, int]) -> bytes:
    """An XFRM_MSG_MAPPING as the kernel multicasts it for inbound SA ``sa``."""
    body = nl.USER_MAPPING.pack(
        nl.sa_id(sa.dst, sa.spi, sa.proto),
        0,
        ip_address(old[0]).packed.ljust(16, b"\0"),
        ip_address(new[0]).packed.ljust(16, b"\0"),
        old[1].to_bytes(2, "big"),
        new[1].to_bytes(2, "big"),
    )
    assert len(body) == 64  # sizeof(struct xfrm_user_mapping)
    return nl.NLMSGHDR.pack(16 + len(body), nl.XFRM_MSG_MAPPING, 0, 0, 0) + body


def encap_ports(kernel: FakeKernel, dst: object, spi: int) -> tuple[int, int]:
    """(encap_sport, encap_dport) of a kernel SA."""
    body = kernel.sas[(ip_address(str(dst)).packed.ljust(16, b"\0"), spi, 50)]
    raw = nl.attributes(body, nl.USERSA_INFO.size)[nl.XFRMA_ENCAP]
    _type, sport, dport, _oa = nl.ENCAP_TMPL.unpack(raw)
    return socket.ntohs(sport), socket.ntohs(dport)


def test_nat_mapping_moves_the_pair_to_the_new_port_once(dp: xb.XfrmDataPlane, kernel: FakeKernel) -> None:
    """The kernel's MAPPING (sent after the packet's ICV and replay checks): a new port on the same
    address is followed by UPDSA of the inbound SA and of the outbound SAs of its reqid still sending
    to the old endpoint; the repeats the kernel sends per packet are reported once."""
    encap = UdpEncap(4500, 4500)
    dp.add_policy(policy())
    sa_in, sa_out = spec(0x5000, Direction.IN, encap=encap), spec(0x5001, Direction.OUT, encap=encap)
    other = spec(0x6001, Direction.OUT, pid="p2", encap=encap)  # another policy's SA to the same peer
    for sa in (sa_in, sa_out, other):
        dp.add_sa(sa)
    old, new = (str(REMOTE), 4500), (str(REMOTE), 40123)
    kernel.multicast.append(mapping(sa_in, old, new) + mapping(sa_in, old, new))
    assert dp.poll_events() == [EndpointChanged(0x5000, 0x5001, old, new)]
    assert encap_ports(kernel, LOCAL, 0x5000) == (40123, 4500)  # inbound: the peer's port is the source
    assert encap_ports(kernel, REMOTE, 0x5001) == (4500, 40123)
    assert encap_ports(kernel, REMOTE, 0x6001) == (4500, 4500)  # other reqid: untouched
    updates = kernel.requests.count(nl.XFRM_MSG_UPDSA)
    kernel.multicast.append(mapping(sa_in, old, new))
    assert dp.poll_events() == [] and kernel.requests.count(nl.XFRM_MSG_UPDSA) == updates
    # a new address cannot be moved in place (it is part of the SA's id): reported without out_spi
    moved = (str(REMOTE), 40123), ("198.51.100.7", 40123)
    kernel.multicast.append(mapping(sa_in, *moved))
    assert dp.poll_events() == [EndpointChanged(0x5000, None, *moved)]
    assert kernel.requests.count(nl.XFRM_MSG_UPDSA) == updates
    # not ours, or an outbound SA's id: ignored
    kernel.multicast.append(
        mapping(spec(0x7777, Direction.IN, encap=encap), old, new) + mapping(sa_out, old, new)
    )
    assert dp.poll_events() == []


def test_mapping_codec_reads_the_kernels_layout() -> None:
    body = (
        ip_address("192.0.2.1").packed.ljust(16, b"\0")
        + (0x1234ABCD).to_bytes(4, "big")
        + struct.pack("=HB", socket.AF_INET, 50)
        + b"\0"
        + struct.pack("=I", 7)
        + ip_address("192.0.2.2").packed.ljust(16, b"\0")
        + ip_address("203.0.113.5").packed.ljust(16, b"\0")
        + (4500).to_bytes(2, "big")
        + (61000).to_bytes(2, "big")
    )
    m = nl.mapping_info(body)
    assert (m.dst, m.spi, m.proto, m.reqid) == (ip_address("192.0.2.1"), 0x1234ABCD, 50, 7)
    assert (m.old, m.new) == (("192.0.2.2", 4500), ("203.0.113.5", 61000))
    with pytest.raises(nl.XfrmError):
        nl.mapping_info(body[:63])
