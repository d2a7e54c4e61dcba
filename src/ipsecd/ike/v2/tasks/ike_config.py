"""Mode-config over the Configuration payload (RFC 7296 §2.19, §3.15) in IKE_AUTH.

Initiator (``mode-config=request-only``): CFG_REQUEST for INTERNAL_IP4_ADDRESS and INTERNAL_IP4_DNS
(the IP6 ones when the policy is IPv6);
the CFG_REPLY becomes a :class:`VirtualIpAssigned` event (and the address our TSi is narrowed to).
Responder: with a lease source configured (``mode-config`` with ``address-pool``), a CFG_REQUEST
gets INTERNAL_IP4/6_ADDRESS (+ NETMASK), INTERNAL_IP4/6_DNS and ``split-include`` as
INTERNAL_IP4_SUBNET; the child's TSi is narrowed to the address and TSr to the split-include.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_network
from typing import TYPE_CHECKING

from ipsecd.wire.enums import CfgAttr, CfgType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.cp import CpPayload

from ...events import AddressLeased, VirtualIpAssigned
from ..state import IkeState
from .base import NEED_MORE, Status, Task
from .ike_eap import defer

if TYPE_CHECKING:
    from ..config import ModeConfigLease
    from ..sa import IkeSa

_ADDR_V4, _ADDR_V6 = CfgAttr.INTERNAL_IP4_ADDRESS, CfgAttr.INTERNAL_IP6_ADDRESS
_DNS_V4, _DNS_V6 = CfgAttr.INTERNAL_IP4_DNS, CfgAttr.INTERNAL_IP6_DNS


def _addr(value: bytes) -> IPv4Address | IPv6Address | None:
    if len(value) == 4:
        return IPv4Address(value)
    if len(value) in (16, 17):  # IPv6 address (+ prefix length byte for INTERNAL_IP6_ADDRESS)
        return IPv6Address(value[:16])
    return None


class IkeConfigTask(Task):
    __slots__ = ("asked", "deferred", "lease")

    def __init__(self, sa: IkeSa) -> None:
        super().__init__(sa)
        self.lease: ModeConfigLease | None = None
        self.asked = False  # initiator: the request went in IKE_AUTH's first round (EAP has more)
        self.deferred: Message | None = None  # responder: IKE_AUTH's first request while EAP goes on

    def build_i(self, out: list[Payload]) -> None:
        cfg = self.sa.config
        if cfg.mode_config_request and not self.asked:
            self.asked = True
            v6 = bool(cfg.children) and cfg.children[0].selector.dst.version == 6
            want = [(_ADDR_V6, b""), (_DNS_V6, b"")] if v6 else [(_ADDR_V4, b""), (_DNS_V4, b"")]
            out.append(CpPayload(CfgType.CFG_REQUEST, want))

    def process_i(self, msg: Message) -> Status:
        if self.sa.state == IkeState.CONNECTING:
            return NEED_MORE  # EAP goes on: the reply comes in IKE_AUTH's last round
        cp = msg.get(CpPayload)
        if cp is None or cp.cfg_type != CfgType.CFG_REPLY or self.sa.state != IkeState.ESTABLISHED:
            return None
        addresses = tuple(a for v in cp.values(_ADDR_V4) + cp.values(_ADDR_V6) if (a := _addr(v)) is not None)
        dns = tuple(a for v in cp.values(_DNS_V4) + cp.values(_DNS_V6) if (a := _addr(v)) is not None)
        subnets = tuple(str(ip_network(f"{IPv4Address(v[:4])}/{IPv4Address(v[4:8])}", strict=False))
                        for v in cp.values(CfgAttr.INTERNAL_IP4_SUBNET) if len(v) == 8)
        self.sa.virtual_ips = addresses
        if addresses:
            self.sa.emit(VirtualIpAssigned(addresses, dns, subnets))
        return None

    def process_r(self, msg: Message) -> None:
        sa = self.sa
        now, self.deferred = defer(sa, msg, self.deferred)
        if now is None:
            return
        cp = now.get(CpPayload)
        if cp is None or cp.cfg_type != CfgType.CFG_REQUEST or sa.config.lease is None:
            return
        self.lease = sa.config.lease(sa.remote_id)
        if self.lease is not None:
            sa.lease = self.lease
            sa.emit(AddressLeased(self.lease.address, sa.remote_id))

    def build_r(self, out: list[Payload]) -> Status:
        if self.sa.state == IkeState.CONNECTING:
            return NEED_MORE  # EAP goes on: the reply goes in IKE_AUTH's last round
        lease = self.lease
        if lease is None:
            return None
        attrs: list[tuple[CfgAttr, bytes]] = []
        if lease.address.version == 4:
            mask = ip_network(f"0.0.0.0/{lease.prefix_length}").netmask.packed
            attrs += [(_ADDR_V4, lease.address.packed), (CfgAttr.INTERNAL_IP4_NETMASK, mask)]
        else:
            attrs.append((_ADDR_V6, lease.address.packed + bytes([lease.prefix_length])))
        attrs += [(_DNS_V4 if d.version == 4 else _DNS_V6, d.packed) for d in lease.dns]
        for prefix in lease.split_include:
            net = ip_network(prefix, strict=False)
            if net.version == 4:
                attrs.append((CfgAttr.INTERNAL_IP4_SUBNET, net.network_address.packed + net.netmask.packed))
            else:
                attrs.append(
                    (CfgAttr.INTERNAL_IP6_SUBNET, net.network_address.packed + bytes([net.prefixlen]))
                )
        out.append(CpPayload(CfgType.CFG_REPLY, attrs))
        return None
