"""AH (RFC 4302) for one SA: sans-I/O ``seal`` and ``open`` in transport and tunnel mode.

The ICV covers the IP header with its mutable fields zeroed (§3.3.3.1, rules in
:mod:`ipsecd.wire.ah`), the AH header with a zero ICV field, the payload, and with ESN the high 32 bits
of the sequence number appended for the computation only (§3.3.3.3.1). The ICV field is padded to
32 bits (IPv4) or 64 bits (IPv6, §2.6). Inbound order as for ESP: replay check → ICV → commit.
AH cannot cross a NAT (it covers the addresses), so an AH SA with UDP encapsulation is refused. For the
same reason there is no payload-level API as for ESP: the ICV covers the outer header, so a backend
sends AH packets whole (raw socket with IP_HDRINCL) and receives them whole.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from ipsecd.crypto.errors import CryptoError
from ipsecd.crypto.integ import Integ, esp_integ
from ipsecd.dataplane.errors import (
    ConfigError,
    DataplaneError,
    InHeaderError,
    NoStateError,
    OutError,
    OutStateExpiredError,
    OutStateModeError,
    OutStateProtocolError,
    StateExpiredError,
    StateModeError,
    StateProtocolError,
)
from ipsecd.dataplane.esp import packed_address
from ipsecd.dataplane.replay import ReplayWindow
from ipsecd.dataplane.seqlimit import Reserve, extend, space_end
from ipsecd.policy.types import Direction, IpsecProto, Mode, SaSpec
from ipsecd.wire import ah as wah
from ipsecd.wire import ip as wip

_M32 = 0xFFFFFFFF


class AhSa:
    """One unidirectional AH SA.

    Memory (issue 5), as for ESP: the spec (with the key) is shared, the addresses are shared bytes,
    and the integrity object (OpenSSL HMAC/CMAC contexts) is built on the SA's first packet."""

    __slots__ = (
        "_icv_size",
        "_integ",
        "bytes",
        "dead",
        "dst",
        "esn",
        "invalid_packets",
        "last_used",
        "packets",
        "replay",
        "reserve",
        "seq",
        "seq_limit",
        "spec",
        "spi",
        "src",
        "tunnel",
        "v6",
    )

    def __init__(self, spec: SaSpec) -> None:
        if spec.proto is not IpsecProto.AH:
            raise ConfigError(f"SA {spec.spi:#x} is {spec.proto.name}, not AH")
        if spec.encap is not None:
            raise ConfigError(f"SA {spec.spi:#x}: AH cannot be UDP-encapsulated (RFC 3948 covers ESP only)")
        if spec.encr != "null":
            raise ConfigError(f"SA {spec.spi:#x}: AH has no encryption, got {spec.encr}")
        if isinstance(spec.src, IPv4Address) != isinstance(spec.dst, IPv4Address):
            raise ConfigError(f"SA {spec.spi:#x}: source and destination of different families")
        try:  # built to check key and algorithm now; packets use the one built on first use
            integ = esp_integ(spec.integ, spec.integ_key)
        except CryptoError as e:
            raise ConfigError(f"SA {spec.spi:#x}: {e}") from e
        if not integ.icv_size:
            raise ConfigError(f"SA {spec.spi:#x}: AH needs an integrity algorithm")
        self._integ: Integ | None = None
        self._icv_size = integ.icv_size
        self.spec = spec
        self.spi = spec.spi
        self.src = packed_address(spec.src)
        self.dst = packed_address(spec.dst)
        self.v6 = len(self.src) == 16
        self.tunnel = spec.mode is Mode.TUNNEL
        self.esn = spec.esn
        self.seq = 0
        self.seq_limit = space_end(spec.esn)  # last one usable before reserve() (seqlimit)
        self.reserve: Reserve | None = None
        self.replay = ReplayWindow(spec.replay_window, spec.esn) if spec.direction is Direction.IN else None
        self.bytes = 0
        self.packets = 0
        self.invalid_packets = 0
        self.last_used: float | None = None
        self.dead = False

    def _mac(self) -> Integ:
        """The SA's integrity object, built on its first packet."""
        integ = self._integ
        if integ is None:
            integ = self._integ = esp_integ(self.spec.integ, self.spec.integ_key)
        return integ

    def _icv_input(self, hdr: bytes | bytearray, ah: bytes, payload: bytes | memoryview, seq: int, v6: bool,
                   sending: bool) -> bytes:
        """What the ICV covers (§3.3.3): zeroed-mutable header ‖ AH with zero ICV ‖ payload [‖ seq-high]."""
        z = bytearray(hdr)
        if v6:
            wah.zero_ipv6_mutable(z, len(z), sending)
        else:
            wah.zero_ipv4_mutable(z)
        tail = (seq >> 32).to_bytes(4, "big") if self.esn else b""
        return b"".join((z, ah, payload, tail))

    def seal(self, inner: bytes, now: float | None = None) -> bytes:
        """The full outer packet (IP ‖ AH ‖ payload) carrying ``inner``."""
        if self.dead:
            raise OutStateExpiredError(f"SA {self.spi:#x} has expired")
        try:
            p = wip.parse(inner)
        except wip.IpHeaderError as e:
            raise OutStateModeError(f"not an IP packet: {e}") from e
        seq = self.seq + 1
        if seq > self.seq_limit:
            extend(self, seq)
        if self.tunnel:
            v6 = self.v6
            nh = wip.PROTO_IPIP if p.version == 4 else wip.PROTO_IPV6
            payload: bytes | memoryview = inner if p.length == len(inner) else inner[: p.length]
        else:
            if (p.version == 6) != self.v6:
                raise OutStateModeError(f"SA {self.spi:#x}: transport mode cannot carry IPv{p.version} here")
            if p.fragment:
                raise OutStateModeError("transport mode applies before fragmentation, got a fragment")
            v6 = p.version == 6
            nh = inner[p.ins_nh_pos]
            payload = memoryview(inner)[p.ins_off : p.length]
        icvf = wah.icv_field_len(self._icv_size, v6)
        ah = wah.header(nh, self.spi, seq & _M32, icvf)
        try:
            if self.tunnel:
                df = p.version == 4 and bool(inner[6] & 0x40)
                # identification: the sequence number's low 16 bits, a per-SA counter as for ESP
                hdr: bytes | bytearray = wip.ip_header(
                    self.src,
                    self.dst,
                    wip.PROTO_AH,
                    len(ah) + len(payload),
                    tos=p.tos,
                    df=df,
                    ident=seq & 0xFFFF,
                )
            else:
                hdr = wip.rewrite_header(inner[: p.ins_off], p.ins_nh_pos, wip.PROTO_AH,
                                         p.ins_off + len(ah) + len(payload))
        except wip.IpHeaderError as e:
            raise OutError(f"SA {self.spi:#x}: {e}") from e
        try:
            icv = self._mac().compute(self._icv_input(hdr, ah, payload, seq, v6, True))
        except wah.AhFormatError as e:
            raise OutStateModeError(f"SA {self.spi:#x}: {e}") from e
        except CryptoError as e:
            raise OutStateProtocolError(f"SA {self.spi:#x}: {e}") from e
        self.seq = seq
        self.bytes += p.length
        self.packets += 1
        if now is not None:
            self.last_used = now
        return b"".join((hdr, ah[: wah.HEADER_LEN], icv, ah[wah.HEADER_LEN + len(icv) :], payload))

    def open(self, outer: bytes | bytearray | memoryview, now: float | None = None) -> bytes:
        """The inner packet of an outer packet (IP ‖ AH ‖ payload) received on this SA."""
        if type(outer) is not bytes:
            outer = bytes(outer)
        if self.dead:
            raise StateExpiredError(f"SA {self.spi:#x} has expired")
        try:
            p = wip.parse(outer)
        except wip.IpHeaderError as e:
            raise InHeaderError(str(e)) from e
        if p.fragment:
            raise InHeaderError("outer packet is a fragment: reassemble before AH processing")
        if p.proto != wip.PROTO_AH:
            raise NoStateError(f"IP protocol {p.proto} is not AH")
        if p.dst != self.dst:
            raise NoStateError(f"SA {self.spi:#x} is not for destination {p.dst.hex()}")
        off, end = p.l4_off, p.length
        try:
            nh, ahlen, spi, seql = wah.parse(outer, off, end)
        except wah.AhFormatError as e:
            raise InHeaderError(str(e)) from e
        if spi != self.spi:
            raise NoStateError(f"SPI {spi:#x} is not this SA's ({self.spi:#x})")
        try:
            return self._open(outer, p, nh, ahlen, seql, now)
        except DataplaneError:
            self.invalid_packets += 1
            raise

    def _open(
        self, outer: bytes, p: wip.IpPacket, nh: int, ahlen: int, seql: int, now: float | None
    ) -> bytes:
        off, end = p.l4_off, p.length
        icvs = self._icv_size
        if ahlen - wah.HEADER_LEN != wah.icv_field_len(icvs, p.version == 6):
            raise StateProtocolError(f"AH length {ahlen} does not fit a {icvs}-byte ICV")
        replay = self.replay
        seq = replay.check(seql) if replay is not None else seql
        icv_off = off + wah.HEADER_LEN
        ah = outer[off:icv_off] + bytes(ahlen - wah.HEADER_LEN)
        payload = memoryview(outer)[off + ahlen : end]
        try:
            data = self._icv_input(outer[:off], ah, payload, seq, p.version == 6, False)
        except wah.AhFormatError as e:
            raise InHeaderError(str(e)) from e
        try:
            self._mac().verify(data, outer[icv_off : icv_off + icvs])
        except CryptoError as e:
            raise StateProtocolError(f"SA {self.spi:#x}: {e}") from e
        if self.tunnel:
            if nh not in (wip.PROTO_IPIP, wip.PROTO_IPV6):
                raise StateModeError(f"tunnel-mode SA carries next header {nh}, not IPv4/IPv6")
            try:
                q = wip.parse(payload)
            except wip.IpHeaderError as e:
                raise StateModeError(f"tunnel payload is not an IP packet: {e}") from e
            if (q.version == 4) != (nh == wip.PROTO_IPIP):
                raise StateModeError(f"next header {nh} but an IPv{q.version} packet inside")
            out = bytes(payload[: q.length])
        else:
            try:
                out = wip.splice(outer, off, p.nh_pos, nh, payload)
            except wip.IpHeaderError as e:
                raise StateModeError(str(e)) from e
        if replay is not None:
            replay.commit(seq)
        self.bytes += len(out)
        self.packets += 1
        if now is not None:
            self.last_used = now
        return out
