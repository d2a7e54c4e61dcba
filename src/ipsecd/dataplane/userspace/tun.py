"""The TUN device and the policy routing that sends protected traffic into it (Linux, root).

- :func:`open_queue` opens one queue of a TUN device: ``IFF_TUN | IFF_NO_PI`` (IP packets, no
  4-byte packet-info header), ``IFF_MULTI_QUEUE`` (each worker reads its own queue; the kernel
  spreads flows over them) and ``IFF_VNET_HDR``, used for writing coalesced TCP (:mod:`.offload`).
  No TSO/checksum offload is enabled for reading: the kernel would then hand over 64 KB TCP
  super-packets that Python would have to re-segment and checksum (a checksum of 1400 bytes costs
  ~5 µs in Python, more than the kernel's segmentation saves), so reads stay MTU-sized and complete.
- :class:`Routing` does what strongSwan's kernel-libipsec does with table 220: routes for the remote
  selectors of the policies (tunnel mode: the remote subnet; transport mode: the peer host) through
  the TUN device in table ``table``, and a rule ``not fwmark MARK lookup table`` at priority
  ``table``, so everything the data plane's own sockets send (they carry ``MARK``: ESP, ESP-in-UDP,
  IKE on 4500, clear bypass) and the daemon's IKE from UDP ``ike_port`` (a rule one priority earlier
  sends it to ``main``) never loops back into the tunnel. Both rules exist for IPv4 and IPv6 (the
  outer and inner families are independent: IPv4 in IPv6 and IPv6 in IPv4 tunnels route alike).

Every command runs ``ip`` (iproute2); failures raise :class:`TunError` with ip's message.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import struct
import subprocess

TUNSETIFF = 0x400454CA
TUNSETQUEUE = 0x400454D9
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_MULTI_QUEUE = 0x0100
IFF_DETACH_QUEUE = 0x0400
IFF_VNET_HDR = 0x4000

#: fwmark the data plane's sockets carry; policy routing sends unmarked traffic to the TUN table.
DEFAULT_MARK = 0x1A2B
DEFAULT_TABLE = 220
TXQUEUELEN = 4096


class TunError(Exception):
    """A TUN device or route could not be set up (message says which command and why)."""


def ip(*args: str, check: bool = True) -> str:
    """Run ``ip ARGS``; raises :class:`TunError` with ip's own message when ``check`` and it fails."""
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and r.returncode:
        raise TunError(f"ip {' '.join(args)}: {r.stderr.strip() or r.returncode}")
    return r.stdout


def open_queue(name: str, multi_queue: bool = False) -> int:
    """One non-blocking file descriptor of TUN device ``name``: every packet read or written is
    preceded by a 10-byte ``virtio_net_hdr`` (:mod:`.offload`)."""
    if not 0 < len(name) < 16:
        raise TunError(f"TUN name {name!r} must be 1–15 characters")
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise TunError(f"/dev/net/tun: {e.strerror}") from None
    flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | (IFF_MULTI_QUEUE if multi_queue else 0)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), flags))
    except OSError as e:
        os.close(fd)
        raise TunError(f"TUNSETIFF {name}: {e.strerror}") from None
    return fd


def detach_queue(fd: int) -> None:
    """Keep ``fd``'s queue (and so the device) alive without the kernel steering packets to it."""
    fcntl.ioctl(fd, TUNSETQUEUE, struct.pack("16sH22x", b"", IFF_DETACH_QUEUE))


def _sysctl(path: str, value: str) -> None:
    if os.path.exists(path):
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise TunError(f"{path}: {e.strerror}") from None


def configure(name: str, mtu: int, addresses: list[str]) -> None:
    """Bring the device up with ``mtu`` and ``addresses``. IPv6 stays off until an IPv6 address or
    route needs it (:func:`enable_ipv6`), and even then no link-local address is generated
    (``addr_gen_mode`` none): without one the kernel sends no router solicitation, DAD or MLD
    report of its own into the tunnel, which the worker would read as if it were traffic."""
    _sysctl(f"/proc/sys/net/ipv6/conf/{name}/addr_gen_mode", "1")
    if any(":" in a for a in addresses):
        enable_ipv6(name)
    else:
        _sysctl(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "1")
    # decrypted packets arrive on the TUN from addresses routed elsewhere too
    _sysctl(f"/proc/sys/net/ipv4/conf/{name}/rp_filter", "0")
    # a deeper queue than the default 500 rides out the moments the worker is descheduled instead of
    # dropping (each drop halves a TCP sender's window)
    ip("link", "set", "dev", name, "mtu", str(mtu), "txqueuelen", str(TXQUEUELEN), "up")
    for a in addresses:
        ip("addr", "add", a, "dev", name)


def enable_ipv6(name: str) -> None:
    """Turn IPv6 on for the device (for an IPv6 route or address through it; see :func:`configure`)."""
    _sysctl(f"/proc/sys/net/ipv6/conf/{name}/accept_ra", "0")
    _sysctl(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "0")


def host_prefix(address: str) -> str:
    """``address`` as a one-host prefix (``/32`` or ``/128``), the form a virtual IP is installed in."""
    return f"{address}/{ipaddress.ip_address(address).max_prefixlen}"


def local_address_in(net: ipaddress.IPv4Network | ipaddress.IPv6Network,
                     prefer: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None) -> str | None:
    """A non-loopback address of this host inside ``net`` (the source to route tunnel traffic from):
    ``prefer`` (the SA's local endpoint) when it is one, else the first found; None if there is none."""
    data = json.loads(ip("-j", "addr", "show") or "[]")
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for link in data:
        for a in link.get("addr_info", []):
            try:
                addr = ipaddress.ip_address(a["local"])
            except (KeyError, ValueError):
                continue
            if (
                addr.version == net.version
                and addr in net
                and not addr.is_loopback
                and not addr.is_link_local
            ):
                found.append(addr)
    if prefer is not None and prefer in found:
        return str(prefer)
    return str(found[0]) if found else None


class Routing:
    """Policy routing into the TUN device (see the module docstring); :meth:`close` undoes it all."""

    def __init__(
        self, dev: str, table: int = DEFAULT_TABLE, mark: int = DEFAULT_MARK, ike_port: int = 500
    ) -> None:
        self.dev = dev
        self.table = str(table)
        self.mark = mark
        self.ike_port = ike_port
        self._routes: dict[str, tuple[str, ...]] = {}
        self._rules: list[tuple[str, ...]] = []

    def setup(self) -> None:
        for fam in ("-4", "-6"):
            bypass = (
                fam,
                "rule",
                "add",
                "pref",
                str(int(self.table) - 1),
                "ipproto",
                "udp",
                "sport",
                str(self.ike_port),
                "lookup",
                "main",
            )
            rule = (
                fam,
                "rule",
                "add",
                "pref",
                self.table,
                "not",
                "fwmark",
                hex(self.mark),
                "lookup",
                self.table,
            )
            for r in (bypass, rule):
                # the same rule left behind by an ipsecd that died without closing (SIGKILL, crash):
                # it is this configuration's own (same preference, selector and table), so it goes
                ip(*r[:2], "del", *r[3:], check=False)
                ip(*r)
                self._rules.append(r)

    def add_route(self, key: str, dst: str, src: str | None) -> None:
        """Route ``dst`` (a prefix) through the TUN device in the table, from ``src`` when given."""
        if key in self._routes:
            return
        if ":" in dst:
            enable_ipv6(self.dev)
        args = ("route", "replace", dst, "dev", self.dev, "table", self.table) + (("src", src) if src else ())
        ip(*args)
        self._routes[key] = ("route", "del", dst, "dev", self.dev, "table", self.table)

    def del_route(self, key: str) -> None:
        args = self._routes.pop(key, None)
        if args is not None:
            ip(*args, check=False)

    def close(self) -> None:
        for key in list(self._routes):
            self.del_route(key)
        for r in reversed(self._rules):
            ip(*r[:2], "del", *r[3:], check=False)
        self._rules.clear()
