"""A model of the kernel's NETLINK_XFRM side for backend unit tests (no root, any kernel).

It keeps SAs by (destination, SPI, protocol) and policies by (direction, selector) as the kernel
does, answers requests with data messages and acks/errnos, and lets a test multicast ACQUIRE/EXPIRE
messages to the backend's event socket. The real kernel's behaviour these rules copy (ALLOCSPI works
without ESP, NEWSA answers EPROTONOSUPPORT without it, EEXIST/ESRCH/ENOENT) is checked against the
kernel itself in test_kernel.py.
"""

from __future__ import annotations

import errno
import struct
from collections import deque

from ipsecd.dataplane.xfrm import netlink as nl

_HDR = nl.NLMSGHDR


def _msg(kind: int, seq: int, body: bytes, flags: int = 0) -> bytes:
    return _HDR.pack(_HDR.size + len(body), kind, flags, seq, 0) + body


class FakeKernel:
    def __init__(self, *, esp: bool = True) -> None:
        self.esp = esp
        self.sas: dict[tuple[bytes, int, int], bytes] = {}  # (daddr, spi, proto) -> usersa_info + attrs
        self.policies: dict[tuple[int, bytes], bytes] = {}  # (dir, selector) -> userpolicy_info + attrs
        self.requests: list[int] = []
        self.next_spi = 0x1000
        self.multicast: deque[bytes] = deque()
        self.deny = 0  # errno every request gets (EPERM: not root)

    def socket(self, groups: int = 0) -> FakeSocket:
        return FakeSocket(self, groups)

    def add_foreign_sa(self, daddr: bytes, spi: int, reqid: int) -> None:
        info = bytearray(nl.USERSA_INFO.size)
        nl.USERSA_INFO.pack_into(
            info,
            0,
            bytes(56),
            nl.XFRM_ID.pack(daddr.ljust(16, b"\0"), struct.unpack("=I", spi.to_bytes(4, "big"))[0], 50),
            bytes(16),
            bytes(64),
            bytes(32),
            bytes(12),
            0,
            reqid,
            2,
            1,
            0,
            0,
        )
        self.sas[(daddr.ljust(16, b"\0"), spi, 50)] = bytes(info)

    def _sa_key(self, info: bytes) -> tuple[bytes, int, int]:
        daddr, spi, proto = nl.XFRM_ID.unpack_from(info, 56)
        return daddr, int.from_bytes(struct.pack("=I", spi), "big"), proto

    def handle(self, data: bytes) -> list[bytes]:
        _n, kind, flags, seq, _pid = _HDR.unpack_from(data)
        body = data[_HDR.size:]
        self.requests.append(kind)
        if self.deny:
            return [self._ack(seq, self.deny)]
        if flags & nl.NLM_F_DUMP == nl.NLM_F_DUMP:
            items = self.sas.values() if kind == nl.XFRM_MSG_GETSA else self.policies.values()
            reply = nl.XFRM_MSG_NEWSA if kind == nl.XFRM_MSG_GETSA else nl.XFRM_MSG_NEWPOLICY
            return [_msg(reply, seq, b) for b in items] + [_msg(nl.NLMSG_DONE, seq, bytes(4))]
        if kind == nl.XFRM_MSG_ALLOCSPI:
            info = bytearray(body[:nl.USERSA_INFO.size])
            daddr, _spi, proto = nl.XFRM_ID.unpack_from(info, 56)
            spi = self.next_spi
            self.next_spi += 0x111
            nl.XFRM_ID.pack_into(info, 56, daddr, struct.unpack("=I", spi.to_bytes(4, "big"))[0], proto)
            self.sas[(daddr, spi, proto)] = bytes(info)
            return [_msg(nl.XFRM_MSG_NEWSA, seq, bytes(info)), self._ack(seq)]
        if kind in (nl.XFRM_MSG_NEWSA, nl.XFRM_MSG_UPDSA):
            if not self.esp:
                return [self._ack(seq, errno.EPROTONOSUPPORT, "Requested type not found")]
            key = self._sa_key(body)
            if kind == nl.XFRM_MSG_NEWSA and key in self.sas:
                return [self._ack(seq, errno.EEXIST)]
            if kind == nl.XFRM_MSG_UPDSA and key not in self.sas:
                return [self._ack(seq, errno.ESRCH)]
            self.sas[key] = body
            return [self._ack(seq)]
        if kind in (nl.XFRM_MSG_DELSA, nl.XFRM_MSG_GETSA):
            daddr, spi, _fam, proto = nl.USERSA_ID.unpack_from(body)
            key = (daddr, int.from_bytes(struct.pack("=I", spi), "big"), proto)
            if key not in self.sas:
                return [self._ack(seq, errno.ESRCH)]
            if kind == nl.XFRM_MSG_GETSA:
                return [_msg(nl.XFRM_MSG_NEWSA, seq, self.sas[key]), self._ack(seq)]
            del self.sas[key]
            return [self._ack(seq)]
        if kind == nl.XFRM_MSG_NEWPOLICY:
            pkey = (nl.USERPOLICY_INFO.unpack_from(body)[5], body[:56])
            if pkey in self.policies:
                return [self._ack(seq, errno.EEXIST)]
            self.policies[pkey] = body
            return [self._ack(seq)]
        if kind == nl.XFRM_MSG_DELPOLICY:
            sel, _index, direction = nl.USERPOLICY_ID.unpack_from(body)
            if self.policies.pop((direction, sel), None) is None:
                return [self._ack(seq, errno.ENOENT)]
            return [self._ack(seq)]
        return [self._ack(seq, errno.EOPNOTSUPP)]

    @staticmethod
    def _ack(seq: int, code: int = 0, text: str = "") -> bytes:
        body = struct.pack("=i", -code) + _HDR.pack(16, 0, 0, seq, 0)
        flags = 0x100
        if text:
            raw = text.encode() + b"\0"
            body += struct.pack("=HH", 4 + len(raw), nl.NLMSGERR_ATTR_MSG) + raw + bytes(-len(raw) % 4)
            flags |= nl.NLM_F_ACK_TLVS
        return _msg(nl.NLMSG_ERROR, seq, body, flags)


class FakeSocket:
    """What the backend uses of a netlink socket: send/recv/settimeout/setblocking/close."""

    def __init__(self, kernel: FakeKernel, groups: int) -> None:
        self.kernel = kernel
        self.groups = groups
        self.queue: deque[bytes] = deque()
        self.closed = False

    def send(self, data: bytes) -> int:
        self.queue.extend(self.kernel.handle(data))
        return len(data)

    def recv(self, _n: int) -> bytes:
        if self.groups:
            if not self.kernel.multicast:
                raise BlockingIOError
            return self.kernel.multicast.popleft()
        return self.queue.popleft()

    def settimeout(self, _t: float) -> None:
        pass

    def setblocking(self, _b: bool) -> None:
        pass

    def close(self) -> None:
        self.closed = True
