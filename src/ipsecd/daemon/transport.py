"""IKE sockets: UDP 500 and UDP 4500 with the RFC 3948 demultiplexing.

* RFC 7296 §2.11 / §3.1: IKE runs over UDP 500; after NAT detection (§2.23) it floats to 4500, where
  every IKE message is preceded by the four-byte non-ESP marker (RFC 3948 §2.2) so it can be told
  from ESP-in-UDP, and a single ``0xFF`` byte is a NAT-keepalive (RFC 3948 §2.3) to be ignored.
* Sockets are bound per configured local address, or once on the wildcard addresses. With wildcard
  binds the address a datagram was *sent to* is needed (the IKE SA's local endpoint and the NAT
  detection hashes use it), so sockets read ``IP_PKTINFO``/``IPV6_PKTINFO`` and replies go out with
  the same ancillary data to pin the source address.
* Who owns 4500 (DESIGN.md §5): with the TUN data plane its worker owns the port and hands the IKE
  datagrams it finds (marker already checked) to :meth:`Transport.ike_from_dataplane`; the daemon then
  sends IKE over 4500 through the callback the data plane provides. With the memory data plane the
  daemon binds 4500 itself and passes ESP-in-UDP to ``on_esp``.

All I/O is non-blocking on the asyncio loop (``add_reader``); nothing here understands IKE.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable, Iterable
from typing import NamedTuple

from ipsecd.util.bounded import BoundedCache

log = logging.getLogger("ipsecd.transport")

NON_ESP_MARKER = b"\x00\x00\x00\x00"
NATT_KEEPALIVE = b"\xff"
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; Python 3.11 does not export it
_IN_PKTINFO = struct.Struct("=I4s4s")  # ipi_ifindex, ipi_spec_dst, ipi_addr
_IN6_PKTINFO = struct.Struct("=16sI")  # ipi6_addr, ipi6_ifindex
_MAX_DATAGRAM = 65535
_ADDR_CACHE = 4096  # remote endpoints remembered so datagrams from one peer share one address tuple

Addr = tuple[str, int]


class TransportError(Exception):
    """A socket could not be opened (address in use, permission, no such address)."""


class Datagram(NamedTuple):
    """One IKE message as received: payload without marker, both endpoints, which port it came on."""

    data: bytes
    local: Addr
    remote: Addr
    natt: bool  # arrived on the NAT-T port (after the non-ESP marker)


IkeHandler = Callable[[Datagram], None]
EspHandler = Callable[[bytes, Addr, Addr], None]
NattSender = Callable[[bytes, Addr, Addr], None]  # an IKE message (no marker), local, remote
KeepaliveSender = Callable[[Addr, Addr], None]  # a NAT-keepalive from local to remote, NAT-T socket
Observer = Callable[[bytes, bool], None]  # an IKE message (no marker), received?


def _family(host: str) -> int:
    """Address family of a numeric host (a colon only ever appears in IPv6 text)."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


SocketHook = Callable[[socket.socket, bool], None]
"""What a data plane does to each IKE socket once bound (``natt``: it is the NAT-T one) — the kernel
backend exempts it from the SPD and lets the kernel take the ESP-in-UDP arriving on it."""


class _Endpoint:
    """One bound UDP socket.

    Received endpoints are shared objects: the local one per destination address (one per
    address of the host), the remote one per peer endpoint, so the IKE SAs that keep them (and
    their events and runtime records) hold references, not copies per datagram.
    """

    __slots__ = ("_locals", "_pktinfo", "_remotes", "bound", "family", "natt", "port", "sock", "wildcard")

    def __init__(self, host: str, port: int, natt: bool, prepare: SocketHook | None = None) -> None:
        self.family = _family(host)
        self.natt = natt
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
            sock.bind((host, port))
            if prepare is not None:
                prepare(sock, natt)
        except OSError as exc:
            sock.close()
            hint = (
                " (ports below 1024 need root: use --ike-port/--natt-port)"
                if exc.errno == errno.EACCES
                else ""
            )
            raise TransportError(f"cannot bind UDP {host}:{port}: {exc.strerror}{hint}") from exc
        sock.setblocking(False)
        self.sock = sock
        self.bound: Addr = sock.getsockname()[:2]
        self.port = self.bound[1]
        self.wildcard = ipaddress.ip_address(self.bound[0]).is_unspecified  # sends must pin their source
        # bounded: remote endpoints are the sender's choice (issue 17, finding 4)
        self._locals: BoundedCache[bytes, Addr] = BoundedCache(_ADDR_CACHE)  # packed destination -> local
        self._remotes: BoundedCache[object, Addr] = BoundedCache(_ADDR_CACHE)  # socket address -> remote
        self._pktinfo: BoundedCache[str, list[tuple[int, int, bytes]]] = BoundedCache(
            _ADDR_CACHE
        )  # source host

    def _local(self, anc: list[tuple[int, int, bytes]]) -> Addr:
        """Our endpoint a datagram was sent to, from its IP_PKTINFO/IPV6_PKTINFO."""
        for level, ctype, cdata in anc:
            if level == socket.IPPROTO_IP and ctype == _IP_PKTINFO and len(cdata) >= _IN_PKTINFO.size:
                packed, family = _IN_PKTINFO.unpack_from(cdata)[2], socket.AF_INET
            elif (
                level == socket.IPPROTO_IPV6
                and ctype == socket.IPV6_PKTINFO
                and len(cdata) >= _IN6_PKTINFO.size
            ):
                packed, family = _IN6_PKTINFO.unpack_from(cdata)[0], socket.AF_INET6
            else:
                continue
            local = self._locals.get(packed)
            if local is None:
                local = self._locals[packed] = (socket.inet_ntop(family, packed), self.port)
            return local
        return self.bound

    def recv_batch(self, limit: int) -> list[tuple[bytes, Addr, Addr]]:
        """Up to ``limit`` waiting datagrams as (data, local, remote); empty when there are none."""
        out: list[tuple[bytes, Addr, Addr]] = []
        recvmsg, remotes = self.sock.recvmsg, self._remotes
        for _ in range(limit):
            try:
                data, anc, _flags, sockaddr = recvmsg(_MAX_DATAGRAM, 64)
            except (BlockingIOError, InterruptedError):
                break
            remote = remotes.get(sockaddr)
            if remote is None:
                remote = remotes[sockaddr] = (sockaddr[0], sockaddr[1])
            out.append((data, self._local(anc) if anc else self.bound, remote))
        return out

    def send(self, data: bytes, local: Addr, remote: Addr) -> None:
        if not self.wildcard:
            self.sock.sendmsg([data], (), 0, remote)
            return
        anc = self._pktinfo.get(local[0])
        if anc is None:
            src = socket.inet_pton(self.family, local[0])
            anc = self._pktinfo[local[0]] = (
                [(socket.IPPROTO_IP, _IP_PKTINFO, _IN_PKTINFO.pack(0, src, b"\0" * 4))]
                if self.family == socket.AF_INET
                else [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, _IN6_PKTINFO.pack(src, 0))]
            )
        self.sock.sendmsg([data], anc, 0, remote)


class Transport:
    """The daemon's IKE sockets; ``on_ike`` gets every IKE message, ``on_esp`` ESP-in-UDP."""

    def __init__(
        self,
        on_ike: IkeHandler,
        on_esp: EspHandler | None = None,
        *,
        ike_port: int = 500,
        natt_port: int = 4500,
        local_addresses: Iterable[str] = (),
        own_natt: bool = True,
        prepare: SocketHook | None = None,
    ) -> None:
        self.on_ike = on_ike
        self.prepare = prepare
        self.on_esp = on_esp
        self.ike_port = ike_port
        self.natt_port = natt_port
        self.local_addresses = sorted(set(local_addresses))
        self.own_natt = own_natt
        self.natt_sender: NattSender | None = None  # set by a data plane that owns the NAT-T port
        self.keepalive_sender: KeepaliveSender | None = None  # likewise
        self.observer: Observer | None = None  # sees every IKE message in (True) and out (False)
        self._endpoints: list[_Endpoint] = []
        # (local host, natt, IPv6) -> socket
        self._picked: BoundedCache[tuple[str, bool, bool], _Endpoint | None] = BoundedCache(_ADDR_CACHE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.counters = {"rx": 0, "tx": 0, "keepalives": 0, "dropped": 0, "send-errors": 0}

    # -- life cycle ----------------------------------------------------------------------------

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind every socket; on any failure close those already bound and raise TransportError."""
        self._loop = loop
        hosts = self.local_addresses or ["0.0.0.0", "::"]
        try:
            for host in hosts:
                try:
                    eps = [_Endpoint(host, self.ike_port, natt=False, prepare=self.prepare)]
                    if self.own_natt:
                        eps.append(_Endpoint(host, self.natt_port, natt=True, prepare=self.prepare))
                except TransportError:
                    if host == "::" and not self.local_addresses:  # host without IPv6: IPv4 alone is fine
                        continue
                    raise
                for ep in eps:
                    self._endpoints.append(ep)
                    loop.add_reader(ep.sock.fileno(), self._readable, ep)
        except TransportError:
            self.close()
            raise
        if self.ike_port == 0 and self._endpoints:  # tests: ephemeral ports, keep what we got
            self.ike_port = self._endpoints[0].port
            natt = [ep for ep in self._endpoints if ep.natt]
            if natt:
                self.natt_port = natt[0].port

    def close(self) -> None:
        for ep in self._endpoints:
            if self._loop is not None:
                self._loop.remove_reader(ep.sock.fileno())
            ep.sock.close()
        self._endpoints.clear()
        self._picked.clear()

    @property
    def bound(self) -> list[tuple[Addr, bool]]:
        """(address, is_natt) of every open socket."""
        return [(ep.bound, ep.natt) for ep in self._endpoints]

    # -- receive -------------------------------------------------------------------------------

    def _readable(self, ep: _Endpoint) -> None:
        # a bounded batch so one busy socket cannot starve the loop
        if ep.natt:
            for data, local, remote in ep.recv_batch(64):
                self._natt_datagram(data, local, remote)
        else:
            for data, local, remote in ep.recv_batch(64):
                self._deliver(Datagram(data, local, remote, False))

    def _natt_datagram(self, data: bytes, local: Addr, remote: Addr) -> None:
        if data == NATT_KEEPALIVE:
            self.counters["keepalives"] += 1
        elif data[:4] == NON_ESP_MARKER:
            self._deliver(Datagram(data[4:], local, remote, True))
        elif len(data) >= 8 and self.on_esp is not None:  # SPI + sequence number at least
            self.on_esp(data, local, remote)
        else:
            self.counters["dropped"] += 1

    def ike_from_dataplane(self, data: bytes, local: Addr, remote: Addr) -> None:
        """An IKE message the data-plane worker received on 4500 (non-ESP marker removed)."""
        self._deliver(Datagram(data, local, remote, natt=True))

    def _deliver(self, dgram: Datagram) -> None:
        self.counters["rx"] += 1
        if self.observer is not None:
            self.observer(dgram.data, True)
        try:
            self.on_ike(dgram)
        except Exception:  # a bug in one exchange must not stop the socket for everyone
            log.exception("IKE message from %s:%d caused an internal error", *dgram.remote)

    # -- send ----------------------------------------------------------------------------------

    def send(self, data: bytes, local: Addr, remote: Addr) -> None:
        """Send one IKE message; on the NAT-T port (``local[1] == natt_port``) with the marker."""
        natt = local[1] == self.natt_port and self.natt_port != self.ike_port
        if self.observer is not None:
            self.observer(data, False)
        if natt and not self.own_natt:
            if self.natt_sender is None:
                self.counters["send-errors"] += 1
                log.warning("no NAT-T socket to send IKE to %s:%d", *remote)
                return
            self.natt_sender(data, local, remote)  # the socket's owner adds the marker
            self.counters["tx"] += 1
            return
        self._send_raw(NON_ESP_MARKER + data if natt else data, local, remote, natt)

    def send_keepalive(self, local: Addr, remote: Addr) -> None:
        """One NAT-keepalive (RFC 3948 §2.3: a single 0xFF byte) from the NAT-T port to ``remote``."""
        if self.own_natt:
            self._send_raw(NATT_KEEPALIVE, local, remote, natt=True)
        elif self.keepalive_sender is not None:
            self.keepalive_sender(local, remote)
            self.counters["tx"] += 1
        else:
            self.counters["send-errors"] += 1

    def send_esp(self, data: bytes, local: Addr, remote: Addr) -> None:
        """ESP-in-UDP from the NAT-T socket (memory data plane: the daemon carries its packets)."""
        self._send_raw(data, local, remote, natt=True)

    def _send_raw(self, data: bytes, local: Addr, remote: Addr, natt: bool) -> None:
        ep = self._pick(local, remote, natt)
        if ep is None:
            self.counters["send-errors"] += 1
            log.warning("no socket bound for %s:%d -> %s:%d", local[0], local[1], *remote)
            return
        try:
            ep.send(data, local, remote)
            self.counters["tx"] += 1
        except OSError as exc:
            self.counters["send-errors"] += 1
            log.warning("send to %s:%d failed: %s", remote[0], remote[1], exc.strerror)

    def _pick(self, local: Addr, remote: Addr, natt: bool) -> _Endpoint | None:
        key = (local[0], natt, ":" in remote[0])
        if key in self._picked:
            return self._picked.get(key)
        ep = self._picked[key] = self._choose(local, remote, natt)
        return ep

    def _choose(self, local: Addr, remote: Addr, natt: bool) -> _Endpoint | None:
        family = _family(remote[0])
        fallback = None
        for ep in self._endpoints:
            if ep.natt != natt or ep.family != family:
                continue
            if ep.bound[0] == local[0]:
                return ep
            if ep.wildcard:
                fallback = ep
        return fallback
