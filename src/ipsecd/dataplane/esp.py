"""ESP (RFC 4303) for one SA: sans-I/O ``seal`` and ``open`` in transport and tunnel mode.

:class:`EspSa` is built from a :class:`~ipsecd.dataplane.base.SaSpec` and does all of RFC 4303 that is
per packet:

- **Modes** (RFC 4301 §5.1.2, RFC 4303 §3.1): tunnel mode wraps the whole inner IPv4/IPv6 packet
  (Next Header 4/41) under a new outer header of the SA's family (all four combinations); transport
  mode protects the upper-layer payload and keeps the original header, inserting ESP after IPv4's
  header or IPv6's Hop-by-Hop/Routing headers.
- **Sequence numbers and IVs** (§2.2, §3.3.3): the sender counts from 1, 32-bit or 64-bit with ESN
  (§2.2.1), and refuses to wrap. Counter-based modes (GCM, CTR, ChaCha20-Poly1305: RFC 4106 §3.1,
  RFC 3686 §3, RFC 7634 §2) use the 64-bit sequence number as their 8-byte IV, so a nonce can only
  repeat if a sequence number does — which the SA never allows. CBC IVs are random (RFC 3602 §2.3).
- **AAD/ICV input**: SPI ‖ seq (‖ seq-high first for AEAD with ESN, RFC 4106 §5) and, for separate
  integrity, the high sequence bits appended after the payload for the ICV only (§3.3.2.1).
- **Padding** (§2.4) to the cipher block (≥ 4 bytes) with 1, 2, 3 …, checked on input.
- **Inbound order** (§3.4): replay check → ICV verify/decrypt → padding check → window commit.
- **UDP encapsulation** (RFC 3948): with ``spec.encap`` the outer packet is IP ‖ UDP ‖ ESP.

Every failure raises one :mod:`ipsecd.dataplane.errors` exception (one statistics counter). The
payload-level :meth:`EspSa.seal_payload`/:meth:`EspSa.open_payload` skip the outer IP (and UDP)
header so a backend can send and receive through a socket.

Time never comes from a clock here: callers pass ``now`` for the per-SA last-used stamp.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from ipsecd.crypto.encr import AeadCipher, BlockCipher, esp_cipher
from ipsecd.crypto.errors import CryptoError
from ipsecd.crypto.integ import Integ, esp_integ
from ipsecd.dataplane.base import Direction, IpsecProto, Mode, SaSpec
from ipsecd.dataplane.errors import (
    ConfigError,
    DataplaneError,
    InHeaderError,
    NoStateError,
    OutError,
    OutStateExpiredError,
    OutStateModeError,
    OutStateProtocolError,
    SequenceOverflowError,
    StateExpiredError,
    StateMismatchError,
    StateModeError,
    StateProtocolError,
)
from ipsecd.dataplane.replay import ReplayWindow
from ipsecd.wire import esp as wesp
from ipsecd.wire import ip as wip
from ipsecd.wire import natt

_M32 = 0xFFFFFFFF


def _align(block_size: int) -> int:
    a = 4
    while a < block_size:
        a <<= 1
    return a


class EspSa:
    """One unidirectional ESP SA: keys, sequence counter or replay window, and per-SA counters."""

    __slots__ = (
        "_aad_esn",
        "_align",
        "_cipher",
        "_counter_iv",
        "_icv_size",
        "_ident",
        "_integ",
        "_iv_size",
        "_outer_proto",
        "_seq_max",
        "bytes",
        "dead",
        "dst",
        "encap",
        "esn",
        "invalid_packets",
        "last_used",
        "packets",
        "replay",
        "seq",
        "spec",
        "spi",
        "src",
        "tunnel",
        "v6",
    )

    def __init__(self, spec: SaSpec) -> None:
        if spec.proto is not IpsecProto.ESP:
            raise ConfigError(f"SA {spec.spi:#x} is {spec.proto.name}, not ESP")
        if isinstance(spec.src, IPv4Address) != isinstance(spec.dst, IPv4Address):
            raise ConfigError(f"SA {spec.spi:#x}: source and destination of different families")
        try:
            cipher = esp_cipher(spec.encr, spec.encr_key)
            integ = esp_integ(spec.integ, spec.integ_key)
        except CryptoError as e:
            raise ConfigError(f"SA {spec.spi:#x}: {e}") from e
        if cipher.aead and integ.icv_size:
            raise ConfigError(f"{spec.encr} is an AEAD: integrity must be null, not {spec.integ}")
        # null encryption / null integrity are None: the hot path skips them instead of calling identities
        self._cipher: AeadCipher | BlockCipher | None = None if cipher.alg.mode == "null" else cipher
        self._integ: Integ | None = integ if integ.icv_size else None
        if self._cipher is None and self._integ is None:
            raise ConfigError(f"SA {spec.spi:#x}: ESP with neither encryption nor integrity")
        self.spec = spec
        self.spi = spec.spi
        self.src = spec.src.packed
        self.dst = spec.dst.packed
        self.v6 = len(self.src) == 16
        self.tunnel = spec.mode is Mode.TUNNEL
        self.encap = spec.encap
        self.esn = spec.esn
        c = self._cipher
        self._iv_size = c.iv_size if c is not None else 0
        self._icv_size = c.icv_size if c is not None and c.aead else (self._integ.icv_size if self._integ else 0)
        self._align = _align(c.block_size if c is not None else 1)
        self._counter_iv = c is not None and (c.aead or c.alg.mode == "ctr")
        self._aad_esn = spec.esn
        self._seq_max = (1 << 64) - 1 if spec.esn else _M32
        self._outer_proto = wip.PROTO_UDP if spec.encap else wip.PROTO_ESP
        self._ident = 0
        self.seq = 0  # last sequence number sent (outbound)
        # Anti-replay needs integrity (RFC 4303 §3.3.3, §3.4.3): without an ICV an attacker sets the
        # sequence number, so an encryption-only SA keeps no window (ESN inference still runs).
        protected = self._icv_size > 0
        window = spec.replay_window if protected else 0
        self.replay = ReplayWindow(window, spec.esn) if spec.direction is Direction.IN else None
        self.bytes = 0
        self.packets = 0
        self.invalid_packets = 0
        self.last_used: float | None = None
        self.dead = False

    # --- outbound ------------------------------------------------------------------------------------

    def seal_esp(self, payload: bytes | memoryview, next_header: int) -> bytes:
        """The ESP packet (SPI … ICV) protecting ``payload`` whose type is ``next_header``."""
        if self.dead:
            raise OutStateExpiredError(f"SA {self.spi:#x} has expired")
        seq = self.seq + 1
        if seq > self._seq_max:
            raise SequenceOverflowError(f"SA {self.spi:#x}: sequence number space exhausted, rekey")
        self.seq = seq
        seql = seq & _M32
        hdr = wesp.HEADER.pack(self.spi, seql)
        n = len(payload)
        pad = -(n + 2) & (self._align - 1)
        plain = b"".join((payload, wesp.PAD[:pad], bytes((pad, next_header))))
        c = self._cipher
        try:
            if c is None:
                body = hdr + plain
            else:
                if c.aead:
                    iv = seq.to_bytes(8, "big")
                    aad = wesp.ESN_AAD.pack(self.spi, seq >> 32, seql) if self._aad_esn else hdr
                    return b"".join((hdr, iv, c.seal(iv, plain, aad)))
                if self._counter_iv:
                    iv = seq.to_bytes(8, "big")
                    body = b"".join((hdr, iv, c.encrypt(iv, plain)))
                else:  # CBC: IV ‖ ciphertext with an unpredictable IV (RFC 4303 §3.3.2)
                    body = hdr + c.encrypt_fresh_iv(plain)
            integ = self._integ
            if integ is None:
                return body
            icv = integ.compute(body + wesp.SEQ_HIGH.pack(seq >> 32) if self.esn else body)
        except CryptoError as e:
            raise OutStateProtocolError(f"SA {self.spi:#x}: {e}") from e
        return body + icv

    def seal_payload(self, inner: bytes, now: float | None = None) -> bytes:
        """ESP packet for an inner IP packet, without outer IP/UDP header (for a socket to send).

        Tunnel mode protects the whole packet; transport mode its upper-layer payload.
        """
        try:
            p = wip.parse(inner)
        except wip.IpHeaderError as e:
            raise OutStateModeError(f"not an IP packet: {e}") from e
        if self.tunnel:
            out = self.seal_esp(inner if p.length == len(inner) else inner[: p.length],
                                wip.PROTO_IPIP if p.version == 4 else wip.PROTO_IPV6)
        else:
            self._check_transport(p)
            out = self.seal_esp(memoryview(inner)[p.ins_off : p.length], inner[p.ins_nh_pos])
        self._account(p.length, now)
        return out

    def seal(self, inner: bytes, now: float | None = None) -> bytes:
        """The full outer packet (IP ‖ [UDP ‖] ESP) carrying ``inner``."""
        try:
            p = wip.parse(inner)
        except wip.IpHeaderError as e:
            raise OutStateModeError(f"not an IP packet: {e}") from e
        encap = self.encap
        if self.tunnel:
            if p.version == 4:
                esp = self.seal_esp(inner if p.length == len(inner) else inner[: p.length], wip.PROTO_IPIP)
                df = bool(inner[6] & 0x40)
            else:
                esp = self.seal_esp(inner if p.length == len(inner) else inner[: p.length], wip.PROTO_IPV6)
                df = False
            if encap is not None:
                esp = wip.udp_datagram(encap.sport, encap.dport, esp, self.src, self.dst)
            self._ident = ident = (self._ident + 1) & 0xFFFF
            try:
                hdr = wip.ip_header(self.src, self.dst, self._outer_proto, len(esp), tos=p.tos, df=df, ident=ident)
            except wip.IpHeaderError as e:
                raise OutError(f"SA {self.spi:#x}: {e}") from e
            self._account(p.length, now)
            return hdr + esp
        self._check_transport(p)
        esp = self.seal_esp(memoryview(inner)[p.ins_off : p.length], inner[p.ins_nh_pos])
        if encap is not None:
            esp = wip.udp_datagram(encap.sport, encap.dport, esp, p.src, p.dst)
        try:
            out = wip.splice(inner, p.ins_off, p.ins_nh_pos, self._outer_proto, esp)
        except wip.IpHeaderError as e:
            raise OutError(f"SA {self.spi:#x}: {e}") from e
        self._account(p.length, now)
        return out

    def _check_transport(self, p: wip.IpPacket) -> None:
        if (p.version == 6) != self.v6:
            raise OutStateModeError(f"SA {self.spi:#x}: transport mode cannot carry IPv{p.version} here")
        if p.fragment:
            raise OutStateModeError("transport mode applies before fragmentation, got a fragment")

    # --- inbound -------------------------------------------------------------------------------------

    def open_esp(self, esp: bytes | memoryview) -> tuple[int, bytes]:
        """Verify and decrypt one ESP packet (SPI … ICV): (next header, payload)."""
        if self.dead:
            raise StateExpiredError(f"SA {self.spi:#x} has expired")
        n = len(esp)
        if n < 8:
            raise InHeaderError(f"ESP packet of {n} bytes has no header")
        spi, seql = wesp.HEADER.unpack_from(esp)
        if spi != self.spi:
            raise NoStateError(f"SPI {spi:#x} is not this SA's ({self.spi:#x})")
        try:
            return self._open_esp(esp, n, seql)
        except DataplaneError:
            self.invalid_packets += 1
            raise

    def _open_esp(self, esp: bytes | memoryview, n: int, seql: int) -> tuple[int, bytes]:
        ivs, icvs = self._iv_size, self._icv_size
        if n < 8 + ivs + icvs + 2:
            raise StateProtocolError(f"ESP packet of {n} bytes too short for IV, trailer and ICV")
        replay = self.replay
        seq = replay.check(seql) if replay is not None else seql
        c = self._cipher
        try:
            if c is not None and c.aead:
                iv = bytes(esp[8 : 8 + ivs])
                aad = wesp.ESN_AAD.pack(self.spi, seq >> 32, seql) if self._aad_esn else bytes(esp[:8])
                plain = c.open(iv, bytes(esp[8 + ivs :]), aad)
            else:
                integ = self._integ
                if integ is not None:
                    body = bytes(esp[: n - icvs])
                    integ.verify(body + wesp.SEQ_HIGH.pack(seq >> 32) if self.esn else body, bytes(esp[n - icvs :]))
                if c is None:
                    plain = bytes(esp[8 : n - icvs])
                else:
                    ct = bytes(esp[8 + ivs : n - icvs])
                    if len(ct) % c.block_size:
                        raise StateProtocolError(f"ciphertext of {len(ct)} bytes is not a multiple of {c.block_size}")
                    plain = c.decrypt(bytes(esp[8 : 8 + ivs]), ct)
            end, nh = wesp.strip_trailer(plain)
        except (CryptoError, wesp.EspFormatError) as e:
            raise StateProtocolError(f"SA {self.spi:#x}: {e}") from e
        if replay is not None:
            replay.commit(seq)
        return nh, plain[:end]

    def open_payload(self, esp: bytes | memoryview, now: float | None = None) -> bytes:
        """The inner packet of an ESP packet received without its outer header (from a socket).

        Tunnel mode returns the decapsulated packet; transport mode rebuilds an IP header from the
        SA's addresses. A dummy packet (Next Header 59, RFC 4303 §2.6) yields ``b""``.
        """
        nh, payload = self.open_esp(esp)
        if self.tunnel:
            return self._inner(nh, payload, now)
        if nh == wesp.NEXT_HEADER_NONE:
            return b""
        try:
            hdr = wip.ip_header(self.src, self.dst, nh, len(payload))
        except wip.IpHeaderError as e:
            raise StateModeError(f"transport payload too large: {e}") from e
        self._account(len(hdr) + len(payload), now)
        return hdr + payload

    def open(self, outer: bytes, now: float | None = None) -> bytes:
        """The inner packet of a full outer packet (IP ‖ [UDP ‖] ESP) received on this SA."""
        try:
            p = wip.parse(outer)
        except wip.IpHeaderError as e:
            raise InHeaderError(str(e)) from e
        if p.fragment:
            raise InHeaderError("outer packet is a fragment: reassemble before ESP processing")
        if p.dst != self.dst:
            raise NoStateError(f"SA {self.spi:#x} is not for destination {p.dst.hex()}")
        off, end = p.l4_off, p.length
        if p.proto == wip.PROTO_UDP:
            if self.encap is None:
                raise StateMismatchError(f"SA {self.spi:#x} is not UDP-encapsulated, packet is")
            if end - off < 8 or wip.UDP.unpack_from(outer, off)[2] != end - off:
                raise InHeaderError("UDP header truncated or its length wrong")
            esp_off = off + 8
            if natt.classify(memoryview(outer)[esp_off:end]) is not natt.Kind.ESP:
                raise InHeaderError("UDP/4500 datagram is not ESP (IKE, keepalive or reserved SPI)")
        elif p.proto == wip.PROTO_ESP:
            if self.encap is not None:
                raise StateMismatchError(f"SA {self.spi:#x} is UDP-encapsulated, packet is raw ESP")
            esp_off = off
        else:
            raise NoStateError(f"IP protocol {p.proto} is not ESP")
        nh, payload = self.open_esp(memoryview(outer)[esp_off:end])
        if self.tunnel:
            return self._inner(nh, payload, now)
        if nh == wesp.NEXT_HEADER_NONE:
            return b""
        try:
            out = wip.splice(outer, off, p.nh_pos, nh, payload)
        except wip.IpHeaderError as e:
            raise StateModeError(str(e)) from e
        self._account(len(out), now)
        return out

    def _inner(self, nh: int, payload: bytes, now: float | None) -> bytes:
        if nh == wip.PROTO_IPIP or nh == wip.PROTO_IPV6:
            try:
                q = wip.parse(payload)
            except wip.IpHeaderError as e:
                self.invalid_packets += 1
                raise StateModeError(f"tunnel payload is not an IP packet: {e}") from e
            if (q.version == 4) != (nh == wip.PROTO_IPIP):
                self.invalid_packets += 1
                raise StateModeError(f"next header {nh} but an IPv{q.version} packet inside")
            self._account(q.length, now)
            return payload if q.length == len(payload) else payload[: q.length]
        if nh == wesp.NEXT_HEADER_NONE:
            return b""
        self.invalid_packets += 1
        raise StateModeError(f"tunnel-mode SA carries next header {nh}, not IPv4/IPv6")

    def _account(self, nbytes: int, now: float | None) -> None:
        self.bytes += nbytes
        self.packets += 1
        if now is not None:
            self.last_used = now

