"""The data plane's sockets: UDP/4500 with GSO/GRO batching, raw ESP/AH, and a raw IP sender.

- **UDP/4500** (RFC 3948): :func:`natt_socket` binds the NAT-T port (``SO_REUSEPORT`` so each worker
  may hold one; the kernel keeps one peer's 4-tuple on one of them), enables ``UDP_GRO`` (one
  ``recvmsg`` returns a batch of equal-sized datagrams of one sender, split by
  :func:`~ipsecd.wire.natt.segments`) and carries the data plane's fwmark so policy routing never
  sends it into the TUN device. :class:`GsoSender` batches equal-sized ESP payloads to one peer into a
  single ``sendmsg`` with ``UDP_SEGMENT``: the kernel cuts it into separate datagrams, each its own
  ESP packet that fits the path MTU — no outer fragmentation, one syscall per batch.
- **Raw ESP/AH** (IP protocols 50/51): :func:`raw_socket` receives the packets of that protocol (the
  kernel here has no ESP/AH handler, so the raw socket is the only consumer). The two families differ
  (RFC 3542 §3): an IPv4 raw socket hands over the whole packet, IP header included; an IPv6 raw
  socket hands over only what follows the IPv6 header (and the extension headers the kernel
  processed) — the addresses come from the sender address and ``IPV6_PKTINFO``
  (:func:`recv_raw6`), which is all AH needs to rebuild the header its ICV covers (every other field
  of it is mutable or implied, RFC 4302 §3.3.3.1.2).
- :func:`hdrincl_socket` sends complete IP packets as given (raw ESP, AH, packets a policy lets
  through in clear): ``IP_HDRINCL`` for IPv4; for IPv6, Linux sets the same header-included mode on
  an ``IPPROTO_RAW`` socket (``inet6_create``).
"""

from __future__ import annotations

import socket
import struct

from ipsecd.wire import ip as wip

SOL_UDP = 17
UDP_SEGMENT = 103
UDP_GRO = 104
#: Linux caps a GSO send at 64 segments and 64 KB.
GSO_MAX_SEGMENTS = 64
GSO_MAX_BYTES = 65000
IP_PKTINFO = 8  # Linux; Python 3.11's socket module does not export it
_U16 = struct.Struct("=H")
_INT = struct.Struct("=i")
_IN_PKTINFO = struct.Struct("=I4s4s")  # ipi_ifindex, ipi_spec_dst, ipi_addr (the header's destination)
_IN6_PKTINFO = struct.Struct("=16sI")  # ipi6_addr, ipi6_ifindex


def _mark(s: socket.socket, mark: int) -> None:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)


def natt_socket(port: int, mark: int, v6: bool = False, reuseport: bool = True) -> socket.socket:
    """The UDP NAT-T socket (non-blocking, GRO on, fwmark ``mark``). It reports the address each
    datagram was sent to (``IP_PKTINFO``/``IPV6_RECVPKTINFO``): IKE replies leave from it (issue 9)."""
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if v6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else:
            s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        if reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        _mark(s, mark)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        s.setsockopt(SOL_UDP, UDP_GRO, 1)
        s.bind(("::" if v6 else "0.0.0.0", port))
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


def raw_socket(proto: int, mark: int, v6: bool = False) -> socket.socket:
    """Raw socket receiving ESP (50) or AH (51): whole IPv4 packets, or IPv6 payloads with the
    destination address reported (``IPV6_RECVPKTINFO``)."""
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW, proto)
    try:
        _mark(s, mark)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        if v6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


def hdrincl_socket(mark: int, v6: bool = False) -> socket.socket:
    """Raw socket that sends complete IPv4 or IPv6 packets as given (header included)."""
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        _mark(s, mark)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


def recv_raw6(s: socket.socket, proto: int) -> bytes | None:
    """One packet from an IPv6 raw socket of ``proto`` as a whole IPv6 packet (header rebuilt from
    the sender and ``IPV6_PKTINFO``; traffic class, flow label and hop limit, mutable in transit,
    left zero/64), or None when nothing is queued. A packet without its destination is dropped."""
    while True:
        try:
            data, anc, _flags, addr = s.recvmsg(65535, 64)
        except BlockingIOError:
            return None
        for level, kind, value in anc:
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(value) >= 16:
                src = socket.inet_pton(socket.AF_INET6, addr[0].partition("%")[0])
                return wip.ipv6_header(src, value[:16], proto, len(data)) + data


def recv_gro(s: socket.socket, bufsize: int = 65535) -> tuple[bytes, int, tuple[str, int], bytes] | None:
    """One ``recvmsg``: (data, GRO segment size or 0, sender, our address it was sent to — packed,
    empty when the kernel did not say) or None when nothing is queued."""
    try:
        data, anc, _flags, addr = s.recvmsg(bufsize, 128)
    except BlockingIOError:
        return None
    seg = 0
    local = b""
    for level, kind, value in anc:
        if level == SOL_UDP and kind == UDP_GRO:
            seg = _INT.unpack_from(value)[0] if len(value) >= 4 else _U16.unpack_from(value)[0]
        elif level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= _IN_PKTINFO.size:
            local = _IN_PKTINFO.unpack_from(value)[2]
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(value) >= _IN6_PKTINFO.size:
            local = _IN6_PKTINFO.unpack_from(value)[0]
    return data, seg, addr, local


def send_from(s: socket.socket, data: bytes, local: str | None, remote: tuple[str, int]) -> None:
    """Send ``data`` to ``remote`` from our address ``local`` (a wildcard-bound socket would let the
    route choose, and a peer that wrote to another of our addresses would drop the reply)."""
    if not local:
        s.sendto(data, remote)
    elif ":" in local:
        s.sendmsg([data], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO,
                            _IN6_PKTINFO.pack(socket.inet_pton(socket.AF_INET6, local), 0))], 0, remote)
    else:
        s.sendmsg(
            [data],
            [
                (
                    socket.IPPROTO_IP,
                    IP_PKTINFO,
                    _IN_PKTINFO.pack(0, socket.inet_pton(socket.AF_INET, local), bytes(4)),
                )
            ],
            0,
            remote,
        )


class GsoSender:
    """Collects ESP payloads for one socket and sends runs of equal size to one peer per ``sendmsg``.

    A run ends when the peer changes, a payload is larger than the run's segment size (a smaller
    one may close it: GSO's last segment may be short), it holds 64 segments or 64 KB, or on
    :meth:`flush` (the worker calls it when its TUN queue is empty)."""

    __slots__ = ("_addr", "_bufs", "_bytes", "_seg", "errors", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._bufs: list[bytes] = []
        self._addr: tuple[str, int] | None = None
        self._seg = 0
        self._bytes = 0
        self.errors = 0

    def add(self, data: bytes, addr: tuple[str, int]) -> None:
        n = len(data)
        bufs = self._bufs
        if bufs:
            # the worker passes one cached address tuple per SA: identity first, equality as fallback
            if (
                (addr is not self._addr and addr != self._addr)
                or n > self._seg
                or self._bytes + n > GSO_MAX_BYTES
            ):
                self.flush()
                bufs = self._bufs
                self._addr, self._seg = addr, n
        else:
            self._addr, self._seg = addr, n
        bufs.append(data)
        self._bytes += n
        if n < self._seg or len(bufs) >= GSO_MAX_SEGMENTS:
            self.flush()

    def flush(self) -> None:
        bufs = self._bufs
        if not bufs:
            return
        addr = self._addr
        assert addr is not None
        try:
            if len(bufs) == 1:
                self.sock.sendto(bufs[0], addr)
            else:
                self.sock.sendmsg(bufs, [(SOL_UDP, UDP_SEGMENT, _U16.pack(self._seg))], 0, addr)
        except OSError:
            self.errors += 1  # a full socket buffer drops like a full NIC queue would
        self._bufs = []
        self._bytes = 0
