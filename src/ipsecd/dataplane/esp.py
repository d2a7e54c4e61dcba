"""ESP (RFC 4303) for one SA: sans-I/O ``seal`` and ``open`` in transport and tunnel mode.

:class:`EspSa` is built from a :class:`~ipsecd.policy.types.SaSpec` and does all of RFC 4303 that is
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
- **UDP encapsulation** (RFC 3948): with ``spec.encap`` the outer packet is IP ‖ UDP ‖ ESP (zero UDP
  checksum over IPv4, §2.1). Transport mode behind a NAT does not fix up inner TCP/UDP checksums
  (§3.1.2); tunnel mode, the NAT-T case in practice, needs none.
- **DSCP/ECN** (RFC 4301 §5.1.2.1, RFC 6040 normal mode): the outer header copies the inner TOS/traffic
  class; on decapsulation an outer CE mark is carried to an ECN-capable inner packet.

Ownership (DESIGN.md §5): an EspSa is not thread-safe and needs no lock — exactly one data-plane
worker owns it and alone draws its sequence numbers (hence its counter IVs) and holds its window.

Every failure raises one :mod:`ipsecd.dataplane.errors` exception (one statistics counter). The
payload-level :meth:`EspSa.seal_payload`/:meth:`EspSa.open_payload` skip the outer IP (and UDP)
header so a backend can send and receive through a socket.

Time never comes from a clock here: callers pass ``now`` for the per-SA last-used stamp.

Speed: the common SA — tunnel mode with a 16-byte-ICV AEAD (AES-GCM, ChaCha20-Poly1305) — takes a
per-packet fast path with few Python-level operations (struct packs and unpacks of whole header runs,
shared trailer tables, the received trailer compared with the minimal one in one operation, no
intermediate call levels, no per-packet expiry check: an expired SA leaves the fast path); it is
checked byte for byte and error for error against the general path in
tests/dataplane/test_esp_fastpath.py. bench/dataplane_esp.py measures it against bare AESGCM (issue
4: at most 3×). ``cryptography``'s ``encrypt_into``/``decrypt_into`` are not used: with the bytes
this API returns they cost a buffer and a copy more (measured ~1.6 µs vs ~0.9 µs per 1400 bytes).

Memory (issue 5): see :class:`EspSa` — per SA only what is its own; layouts, addresses, trailer
tables and replay masks are shared, cipher objects and the outer header built on the first packet.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ipsecd.crypto.encr import AeadCipher, BlockCipher, esp_cipher
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
    StateMismatchError,
    StateModeError,
    StateProtocolError,
)
from ipsecd.dataplane.replay import ReplayWindow
from ipsecd.dataplane.seqlimit import Reserve, extend, space_end
from ipsecd.policy.types import Direction, IpsecProto, Mode, SaSpec
from ipsecd.wire import esp as wesp
from ipsecd.wire import ip as wip
from ipsecd.wire import natt

_M32 = 0xFFFFFFFF
_HEADER_PACK = wesp.HEADER.pack
_HEADER_UNPACK = wesp.HEADER.unpack_from
_ESN_AAD_PACK = wesp.ESN_AAD.pack
_SEQ_HIGH_PACK = wesp.SEQ_HIGH.pack
_HEADER_IV_PACK = wesp.HEADER_IV.pack
_HEADER_IV_UNPACK = wesp.HEADER_IV.unpack_from
#: ``wesp.IPV4_HEADER_IV`` with version/IHL and TOS, and TTL and protocol, as one 16-bit word each
#: (fewer fields per pack): the first 36 bytes of a raw-ESP tunnel packet.
_OUTER4_ESP_PACK = struct.Struct("!HHHHHH4s4sIIQ").pack
_TTL_ESP = 64 << 8 | wip.PROTO_ESP
_NONCE_PACK = wesp.AEAD_NONCE.pack
_IP_START = wip.IP_START.unpack_from
_IPV4_START = wip.IPV4_START.unpack_from
#: Version/IHL, TOS, total length, flags/fragment offset, protocol, destination of an IPv4 header and
#: the SPI, sequence number and IV after it: everything raw ESP's fast path reads, in one unpack.
_IPV4_ESP_START = struct.Struct("!BBHxxHxBxxxxxx4sIIQ").unpack_from
_strip_trailer = wesp.strip_trailer
_UDP, _ESP, _IPIP, _IPV6, _NONE = (
    wip.PROTO_UDP,
    wip.PROTO_ESP,
    wip.PROTO_IPIP,
    wip.PROTO_IPV6,
    wesp.NEXT_HEADER_NONE,
)


def _align(block_size: int) -> int:
    a = 4
    while a < block_size:
        a <<= 1
    return a


#: The fast path's trailers (16-byte-ICV AEADs pad to 4 bytes, RFC 4106 §3.2, RFC 7634 §3): tunnel
#: mode's trailer of every payload length modulo 4 for next header 4 and 41, shared by every SA.
_TR4 = tuple(wesp.trailer(n, _IPIP, 4) for n in range(4))
_TR6 = tuple(wesp.trailer(n, _IPV6, 4) for n in range(4))
#: An SA's salt until its first packet builds the cipher (the stand-in then supplies the real one).
_NO_SALT = bytes(4)


@lru_cache(maxsize=4096)
def packed_address(addr: IPv4Address | IPv6Address) -> bytes:
    """``addr.packed``, one bytes object per address: the thousands of SAs to one peer (and all SAs
    from our own address) share it instead of each holding a copy (issue 5, memory per SA)."""
    return addr.packed


class _Layout:
    """What every SA of one algorithm pair and address family shares: sizes, alignment, and the lazily
    filled trailer cache of the general path ((length mod alignment) << 8 | next header → trailer).
    Immutable apart from that cache, so one object serves thousands of SAs (issue 5: each SA keeps
    only what is its own — keys, counters, window).

    It also keeps what checking a new SA of the pair needs (issue 16): the algorithm pair was proven
    valid, with real cipher objects, when the layout was made, so a later SA only checks its key
    sizes and builds no OpenSSL object until its first packet."""

    __slots__ = ("align_mask", "counter_iv", "ct_off", "encr_keymat", "icv_size", "integ_key", "one_shot",
                 "trailers", "v6")

    def __init__(self, cipher: AeadCipher | BlockCipher, integ: Integ, v6: bool) -> None:
        self.encr_keymat = cipher.alg.keymat_size
        self.integ_key = integ.alg.key_size
        one_shot = cipher.one_shot() if isinstance(cipher, AeadCipher) else None
        self.one_shot = one_shot is not None and len(one_shot[1]) == 4
        self.ct_off = 8 + cipher.iv_size
        self.icv_size = cipher.icv_size if cipher.aead else integ.icv_size
        self.align_mask = _align(cipher.block_size) - 1
        self.counter_iv = cipher.alg.mode == "ctr"
        self.trailers: dict[int, bytes] = {}
        self.v6 = v6


_LAYOUTS: dict[tuple[str, str, bool], _Layout] = {}


def _layout(spec: SaSpec, v6: bool) -> _Layout:
    """The first SA of an algorithm pair and family (or one whose key sizes do not match the pair's):
    its keys and the pair are checked by building the real cipher objects (then dropped: packets use
    ones built on first use), and the layout is kept."""
    try:
        cipher = esp_cipher(spec.encr, spec.encr_key)
        integ = esp_integ(spec.integ, spec.integ_key)
    except CryptoError as e:
        raise ConfigError(f"SA {spec.spi:#x}: {e}") from e
    if cipher.aead and integ.icv_size:
        raise ConfigError(f"{spec.encr} is an AEAD: integrity must be null, not {spec.integ}")
    if cipher.alg.mode == "null" and not integ.icv_size:
        raise ConfigError(f"SA {spec.spi:#x}: ESP with neither encryption nor integrity")
    lay = _LAYOUTS[(spec.encr, spec.integ, v6)] = _Layout(cipher, integ, v6)
    return lay

#: An SA's general-path crypto, built on its first packet: (truncated-ICV AEAD wrapper, block cipher,
#: integrity), each None when the SA has none.
_Slow = tuple[AeadCipher | None, BlockCipher | None, Integ | None]


class EspSa:
    """One unidirectional ESP SA: keys, sequence counter or replay window, and per-SA counters.

    Memory (DESIGN.md §5, issue 5: ≤ 8 KB per tunnel at 10,000): an SA holds its spec (keys included,
    shared with the SAD record and the IKE layer, never copied), its counters and sequence state;
    what depends only on the algorithms, mode and family is a shared :class:`_Layout`, addresses are
    shared bytes (:func:`packed_address`), and every OpenSSL object (~2.5 KB of cipher contexts) and
    the outer header are built on the SA's first packet, so the idle SAs — most of them at 10,000
    tunnels — hold none.
    """

    __slots__ = (
        "_dead",
        "_fast",
        "_fast_full",
        "_lay",
        "_outer",
        "_raw",
        "_salt",
        "_slow",
        "bytes",
        "dst",
        "encap",
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
    )

    def __init__(self, spec: SaSpec) -> None:
        if spec.proto is not IpsecProto.ESP:
            raise ConfigError(f"SA {spec.spi:#x} is {spec.proto.name}, not ESP")
        if isinstance(spec.src, IPv4Address) != isinstance(spec.dst, IPv4Address):
            raise ConfigError(f"SA {spec.spi:#x}: source and destination of different families")
        self.src = packed_address(spec.src)
        self.dst = packed_address(spec.dst)
        v6 = len(self.src) == 16
        lay = _LAYOUTS.get((spec.encr, spec.integ, v6))
        if lay is None or len(spec.encr_key) != lay.encr_keymat or len(spec.integ_key) != lay.integ_key:
            lay = _layout(spec, v6)  # a new pair, or keys of the wrong size: checked (and refused) in full
        self._lay = lay
        self.spec = spec
        self.spi = spec.spi
        self.tunnel = tunnel = spec.mode is Mode.TUNNEL
        self.encap = spec.encap
        self.esn = spec.esn
        # The 16-byte-ICV AEADs (the common case) call the OpenSSL one-shot object directly, with its
        # nonce rule salt ‖ IV (RFC 4106 §4, RFC 7634 §2): the wrapper's checks are already made here
        # (IV always 8 bytes, lengths checked) and its extra call costs ~10 % of a 1400-byte packet.
        # Until the first packet the SA itself stands in for that object (:meth:`encrypt`,
        # :meth:`decrypt` build it and swap it in), so the per-packet path has no extra branch.
        # Everything else (CBC/CTR + HMAC, truncated-ICV GCM, NULL) uses ``_slow``, built the same way.
        self._raw: AESGCM | ChaCha20Poly1305 | EspSa | None = self if lay.one_shot else None
        self._salt = _NO_SALT
        self._slow: _Slow | None = None
        # The per-packet fast path (seal_payload, open_payload; seal and open for raw ESP over IPv4):
        # tunnel mode with a one-shot AEAD (aes-gcm, chacha20poly1305, both padding to 4 bytes);
        # everything else takes the general path (seal_esp, _open_at, _tunnel_payload).
        self._fast = self._raw is not None and tunnel and lay.align_mask == 3
        self._fast_full = self._fast and not v6 and spec.encap is None  # seal()'s own fast path
        self._outer: wip.OuterHeader | None = None  # built by the first seal that needs it
        self.seq = 0  # last sequence number sent (outbound)
        self.seq_limit = space_end(spec.esn)  # last one usable before reserve() (seqlimit)
        self.reserve: Reserve | None = None
        # Anti-replay needs integrity (RFC 4303 §3.3.3, §3.4.3): without an ICV an attacker sets the
        # sequence number, so an encryption-only SA keeps no window (ESN inference still runs).
        window = spec.replay_window if lay.icv_size else 0
        self.replay = ReplayWindow(window, spec.esn) if spec.direction is Direction.IN else None
        self.bytes = 0
        self.packets = 0
        self.invalid_packets = 0
        self.last_used: float | None = None
        self._dead = False

    @property
    def dead(self) -> bool:
        """Hard-expired (the processor sets it): every packet is refused (``*-state-expired``)."""
        return self._dead

    @dead.setter
    def dead(self, dead: bool) -> None:
        # the fast paths do not look at ``_dead``: an expired SA leaves them for the general path
        self._dead = dead
        if dead:
            self._fast = self._fast_full = False

    # --- objects built on first use ------------------------------------------------------------------

    def _one_shot(self) -> AESGCM | ChaCha20Poly1305:
        """The SA's OpenSSL one-shot AEAD, now in ``_raw`` with its salt in ``_salt``."""
        spec = self.spec
        cipher = esp_cipher(spec.encr, spec.encr_key)  # the key was checked when the SA was built
        one_shot = cipher.one_shot() if isinstance(cipher, AeadCipher) else None
        assert one_shot is not None  # the same spec gave one at construction
        self._raw, self._salt = one_shot
        return one_shot[0]

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """First-packet stand-in for the AEAD object's ``encrypt``: builds it (``nonce`` carries the
        placeholder salt, replaced by the real one) and encrypts."""
        raw = self._one_shot()
        return raw.encrypt(self._salt + nonce[4:], data, associated_data)

    def decrypt(
        self, nonce: bytes, data: bytes | memoryview, associated_data: bytes | memoryview | None
    ) -> bytes:
        """First-packet stand-in for the AEAD object's ``decrypt`` (see :meth:`encrypt`)."""
        raw = self._one_shot()
        return raw.decrypt(self._salt + nonce[4:], data, associated_data)

    def _load(self) -> _Slow:
        """The general path's crypto objects (``_slow``), built on the SA's first packet."""
        spec = self.spec
        cipher = esp_cipher(spec.encr, spec.encr_key)
        integ = esp_integ(spec.integ, spec.integ_key)
        slow = self._slow = (
            cipher if isinstance(cipher, AeadCipher) else None,
            cipher if isinstance(cipher, BlockCipher) and cipher.alg.mode != "null" else None,
            integ if integ.icv_size else None,
        )
        return slow

    def _outer_header(self) -> wip.OuterHeader:
        """The outer IP header builder of a sending SA (built by its first full-packet seal)."""
        o = self._outer
        if o is None:
            o = self._outer = wip.OuterHeader(
                self.src, self.dst, wip.PROTO_UDP if self.encap else wip.PROTO_ESP
            )
        return o

    # --- outbound ------------------------------------------------------------------------------------

    def seal_esp(self, payload: bytes | memoryview, next_header: int) -> bytes:
        """The ESP packet (SPI … ICV) protecting ``payload`` whose type is ``next_header``."""
        if self._dead:
            raise OutStateExpiredError(f"SA {self.spi:#x} has expired")
        seq = self.seq + 1
        if seq > self.seq_limit:
            extend(self, seq)
        self.seq = seq
        seql = seq & _M32
        hdr = _HEADER_PACK(self.spi, seql)
        lay = self._lay
        key = (len(payload) & lay.align_mask) << 8 | next_header
        trailer = lay.trailers.get(key)
        if trailer is None:  # padding depends only on the length modulo the alignment: cache it
            trailer = lay.trailers[key] = wesp.trailer(len(payload), next_header, lay.align_mask + 1)
        plain = payload + trailer if type(payload) is bytes else b"".join((payload, trailer))
        try:
            raw = self._raw
            if raw is not None:
                iv = seq.to_bytes(8, "big")
                aad = _ESN_AAD_PACK(self.spi, seq >> 32, seql) if self.esn else hdr
                return b"".join((hdr, iv, raw.encrypt(self._salt + iv, plain, aad)))
            aead, c, integ = self._slow or self._load()
            if aead is not None:
                iv = seq.to_bytes(8, "big")
                aad = _ESN_AAD_PACK(self.spi, seq >> 32, seql) if self.esn else hdr
                return b"".join((hdr, iv, aead.seal(iv, plain, aad)))
            if c is None:
                body = hdr + plain
            elif lay.counter_iv:
                iv = seq.to_bytes(8, "big")
                body = b"".join((hdr, iv, c.encrypt(iv, plain)))
            else:  # CBC: IV ‖ ciphertext with an unpredictable IV (RFC 4303 §3.3.2)
                body = hdr + c.encrypt_fresh_iv(plain)
            if integ is None:
                return body
            icv = integ.compute(body + _SEQ_HIGH_PACK(seq >> 32) if self.esn else body)
        except CryptoError as e:
            raise OutStateProtocolError(f"SA {self.spi:#x}: {e}") from e
        return body + icv

    def seal_payload(self, inner: bytes, now: float | None = None) -> bytes:
        """ESP packet for an inner IP packet, without outer IP/UDP header (for a socket to send).

        Tunnel mode protects the whole packet — whose version and length are all it needs, and must
        be consistent (RFC 4301 §5.1.2.1); transport mode protects its upper-layer payload.

        A tunnel-mode SA with a one-shot AEAD does it all here, without the per-call layers of
        :meth:`seal_esp` (each costs a noticeable share of a packet): the header and IV in one pack,
        the nonce in another, the trailer from a per-SA table, one concatenation for the plaintext
        and one for the result.
        """
        if not self._fast:
            return self._seal_payload_any(inner, now)
        try:
            b0, _, w2, w4, _ = _IP_START(inner)
        except struct.error:
            raise OutStateModeError(f"not an IPv4/IPv6 packet ({len(inner)} bytes)") from None
        n = len(inner)
        if 0x45 <= b0 <= 0x4F and 20 <= w2 <= n:  # IPv4, IHL >= 5, consistent total length
            total, trailer = w2, _TR4[w2 & 3]
        elif 0x60 <= b0 <= 0x6F and 40 + w4 <= n:  # IPv6, payload length within the buffer
            total = 40 + w4
            trailer = _TR6[total & 3]
        else:
            raise _inner_error(inner)
        seq = self.seq + 1
        if seq > self.seq_limit:
            extend(self, seq)
        self.seq = seq
        spi, seql = self.spi, seq & _M32
        ct = self._raw.encrypt(  # type: ignore[union-attr]  # _fast implies _raw
            _NONCE_PACK(self._salt, seq),
            (inner if total == n else inner[:total]) + trailer,
            _ESN_AAD_PACK(spi, seq >> 32, seql) if self.esn else _HEADER_PACK(spi, seql),
        )
        self.bytes += total
        self.packets += 1
        if now is not None:
            self.last_used = now
        return _HEADER_IV_PACK(spi, seql, seq) + ct

    def _seal_payload_any(self, inner: bytes, now: float | None) -> bytes:
        """:meth:`seal_payload` for every SA (any algorithm, either mode)."""
        if self.tunnel:
            try:
                b0, _, w2, w4, _ = _IP_START(inner)
            except struct.error:
                raise OutStateModeError(f"not an IPv4/IPv6 packet ({len(inner)} bytes)") from None
            n = len(inner)
            if 0x45 <= b0 <= 0x4F and 20 <= w2 <= n:
                total, nh = w2, _IPIP
            elif 0x60 <= b0 <= 0x6F and 40 + w4 <= n:
                total, nh = 40 + w4, _IPV6
            else:
                raise _inner_error(inner)
            out = self.seal_esp(inner if total == n else inner[:total], nh)
        else:
            p = self._transport_inner(inner)
            total = p.length
            out = self.seal_esp(memoryview(inner)[p.ins_off : total], inner[p.ins_nh_pos])
        self.bytes += total
        self.packets += 1
        if now is not None:
            self.last_used = now
        return out

    def seal(self, inner: bytes, now: float | None = None) -> bytes:
        """The full outer packet (IP ‖ [UDP ‖] ESP) carrying ``inner``.

        Tunnel mode over IPv4 with a one-shot AEAD and no UDP encapsulation (raw ESP between two
        gateways) is :meth:`seal_payload`'s fast path repeated here with the outer header, so that
        the outer IPv4 header, ESP header and IV are one pack and the packet one concatenation,
        instead of a call and a second copy of the ESP packet.
        """
        if self._fast_full:
            try:
                b0, b1, w2, w4, b6 = _IP_START(inner)
            except struct.error:
                raise OutStateModeError(f"not an IPv4/IPv6 packet ({len(inner)} bytes)") from None
            n = len(inner)
            if 0x45 <= b0 <= 0x4F and 20 <= w2 <= n:
                total, trailer = w2, _TR4[w2 & 3]
                tos, flags = b1, (b6 & 0x40) << 8  # copy DF (RFC 4301 §5.1.2.1)
            elif 0x60 <= b0 <= 0x6F and 40 + w4 <= n:
                total = 40 + w4
                trailer = _TR6[total & 3]
                tos, flags = ((b0 & 0x0F) << 4) | (b1 >> 4), 0
            else:
                raise _inner_error(inner)
            seq = self.seq + 1
            if seq > self.seq_limit:
                extend(self, seq)
            self.seq = seq
            spi, seql = self.spi, seq & _M32
            ct = self._raw.encrypt(  # type: ignore[union-attr]  # _fast_full implies _raw
                _NONCE_PACK(self._salt, seq),
                (inner if total == n else inner[:total]) + trailer,
                _ESN_AAD_PACK(spi, seq >> 32, seql) if self.esn else _HEADER_PACK(spi, seql),
            )
            length = 36 + len(ct)
            # Identification: the low 16 bits of the sequence number, a per-SA counter that never
            # repeats within 65536 packets (RFC 791, RFC 6864 §4.1), at no extra cost.
            ident = seq & 0xFFFF
            o = self._outer or self._outer_header()
            try:  # the total length's 16-bit field refuses a packet above 65535 bytes
                hdr = _OUTER4_ESP_PACK(
                    0x4500 | tos,
                    length,
                    ident,
                    flags,
                    _TTL_ESP,
                    (o.neg_base - tos - length - ident - flags) % 0xFFFF,
                    o.src,
                    o.dst,
                    spi,
                    seql,
                    seq,
                )
            except struct.error:
                raise OutError(f"SA {self.spi:#x}: IPv4 packet of {length} bytes exceeds 65535") from None
            self.bytes += total
            self.packets += 1
            if now is not None:
                self.last_used = now
            return hdr + ct
        encap = self.encap
        if self.tunnel:
            esp = self.seal_payload(inner, now)  # validates ``inner``: its header bytes are safe to read
            if inner[0] < 0x60:
                tos, flags = inner[1], (inner[6] & 0x40) << 8  # copy DF (RFC 4301 §5.1.2.1)
            else:
                tos, flags = ((inner[0] & 0x0F) << 4) | (inner[1] >> 4), 0
            if encap is not None:
                esp = wip.udp_datagram(encap.sport, encap.dport, esp, self.src, self.dst)
            try:  # identification as in the fast path above
                return self._outer_header().build(len(esp), tos, flags, self.seq & 0xFFFF) + esp
            except wip.IpHeaderError as e:
                raise OutError(f"SA {self.spi:#x}: {e}") from e
        p = self._transport_inner(inner)
        total = p.length
        esp = self.seal_esp(memoryview(inner)[p.ins_off : total], inner[p.ins_nh_pos])
        if encap is not None:
            esp = wip.udp_datagram(encap.sport, encap.dport, esp, p.src, p.dst)
        try:
            out = wip.splice(inner, p.ins_off, p.ins_nh_pos, self._outer_header().proto, esp)
        except wip.IpHeaderError as e:
            raise OutError(f"SA {self.spi:#x}: {e}") from e
        self.bytes += total
        self.packets += 1
        if now is not None:
            self.last_used = now
        return out

    def _transport_inner(self, inner: bytes) -> wip.IpPacket:
        try:
            p = wip.parse(inner)
        except wip.IpHeaderError as e:
            raise OutStateModeError(f"not an IP packet: {e}") from e
        if (p.version == 6) != self._lay.v6:
            raise OutStateModeError(f"SA {self.spi:#x}: transport mode cannot carry IPv{p.version} here")
        if p.fragment:
            raise OutStateModeError("transport mode applies before fragmentation, got a fragment")
        return p

    # --- inbound -------------------------------------------------------------------------------------

    def open_esp(self, esp: bytes | memoryview) -> tuple[int, bytes]:
        """Verify and decrypt one ESP packet (SPI … ICV): (next header, payload)."""
        nh, plain, end = self._open_at(bytes(esp), 0, len(esp))
        return nh, plain[:end]

    def _open_at(self, buf: bytes, off: int, stop: int) -> tuple[int, bytes, int]:
        """Open the ESP packet at ``buf[off:stop]``: (next header, plaintext, payload length in it).

        One function on purpose: this is the per-packet path, and each call level costs. For the same
        reason the replay window is consulted only when it can refuse: without ESN, a number above
        the window's top is new by definition (it is what :meth:`ReplayWindow.check` returns)."""
        if self._dead:
            raise StateExpiredError(f"SA {self.spi:#x} has expired")
        if stop - off < 8:
            raise InHeaderError(f"ESP packet of {stop - off} bytes has no header")
        spi, seql = _HEADER_UNPACK(buf, off)
        if spi != self.spi:
            raise NoStateError(f"SPI {spi:#x} is not this SA's ({self.spi:#x})")
        lay = self._lay
        body = off + lay.ct_off  # start of the ciphertext
        replay = self.replay
        try:
            if stop - body < lay.icv_size + 2:
                raise StateProtocolError(
                    f"ESP packet of {stop - off} bytes too short for IV, trailer and ICV"
                )
            if replay is not None and (self.esn or seql <= replay.top):
                seq = replay.check(seql)
            else:
                seq = seql
            raw = self._raw
            try:
                if raw is not None:
                    plain = raw.decrypt(
                        self._salt + buf[off + 8 : body],
                        buf[body:stop],
                        _ESN_AAD_PACK(spi, seq >> 32, seql) if self.esn else buf[off : off + 8],
                    )
                else:
                    aead, c, integ = self._slow or self._load()
                    if aead is not None:
                        aad = _ESN_AAD_PACK(spi, seq >> 32, seql) if self.esn else buf[off : off + 8]
                        plain = aead.open(buf[off + 8 : body], buf[body:stop], aad)
                    else:
                        plain = self._open_block(buf, off, body, stop, seq, c, integ)
            except InvalidTag as e:
                raise StateProtocolError(f"SA {self.spi:#x}: ICV mismatch") from e
            except CryptoError as e:
                raise StateProtocolError(f"SA {self.spi:#x}: {e}") from e
        except DataplaneError:
            self.invalid_packets += 1
            raise
        nh, end = self._accept(plain, seq)
        return nh, plain, end

    def _accept(self, plain: bytes, seq: int) -> tuple[int, int]:
        """The end of inbound processing once the ICV verified (RFC 4303 §3.4.3, §3.4.4): the padding
        check (1, 2, 3 …, §2.4), then the window commit. (next header, payload length in ``plain``)."""
        try:
            end, nh = _strip_trailer(plain)
        except wesp.EspFormatError as e:
            self.invalid_packets += 1
            raise StateProtocolError(f"SA {self.spi:#x}: {e}") from e
        if self.replay is not None:
            self.replay.commit(seq)
        return nh, end

    def _open_block(self, buf: bytes, off: int, body: int, stop: int, seq: int, c: BlockCipher | None,
                    integ: Integ | None) -> bytes:
        """Separate integrity then decryption (RFC 4303 §3.4.4.1): verify the ICV first."""
        ct_end = stop - self._lay.icv_size
        if integ is not None:
            covered = buf[off:ct_end]
            integ.verify(covered + _SEQ_HIGH_PACK(seq >> 32) if self.esn else covered, buf[ct_end:stop])
        if c is None:
            return buf[body:ct_end]
        if (ct_end - body) % c.block_size:
            raise StateProtocolError(
                f"ciphertext of {ct_end - body} bytes is not a multiple of {c.block_size}"
            )
        return c.decrypt(buf[off + 8 : body], buf[body:ct_end])

    def open_payload(self, esp: bytes | memoryview, now: float | None = None, outer_tos: int = 0,
                     off: int = 0, stop: int | None = None) -> bytes:
        """The inner packet of an ESP packet received without its outer header (from a socket), or of
        the one at ``esp[off:stop]`` (how :meth:`open` passes the packet after its outer header).

        Tunnel mode returns the decapsulated packet; transport mode rebuilds an IP header from the
        SA's addresses. A dummy packet (Next Header 59, RFC 4303 §2.6) yields ``b""``. ``outer_tos``
        is the outer header's TOS/traffic class when the socket reports it (``IP_RECVTOS``), for the
        ECN rule of RFC 6040.

        A tunnel-mode SA with a one-shot AEAD (the common SA) does all of :meth:`_open_at`,
        :meth:`_tunnel_payload` and the counters here, in one frame: the same checks in the same
        order with the same errors, without two call levels and a tuple per packet. Packets that fail
        early (expired SA, too short) and inner packets that are not plainly valid get their precise
        verdict from those general methods.
        """
        if type(esp) is not bytes:
            esp = bytes(esp)
        if stop is None:
            stop = len(esp)
        if not self._fast or stop - off < 34:  # not fast (or expired), or too short for header, IV,
            return self._open_payload_any(esp, off, stop, now, outer_tos)  # trailer and ICV
        spi, seql, iv = _HEADER_IV_UNPACK(esp, off)
        if spi != self.spi:
            raise NoStateError(f"SPI {spi:#x} is not this SA's ({self.spi:#x})")
        return self._open_fast(esp, off, stop, seql, iv, now, outer_tos)

    def _open_fast(self, esp: bytes, off: int, stop: int, seql: int, iv: int, now: float | None,
                   outer_tos: int) -> bytes:
        """The fast path shared by :meth:`open_payload` and :meth:`open` once each has read the ESP
        header its own way: replay check, AEAD open, the common trailer, commit, counters."""
        replay = self.replay
        try:
            if replay is not None and (self.esn or seql <= replay.top):
                seq = replay.check(seql)
            else:
                seq = seql
            plain = self._raw.decrypt(  # type: ignore[union-attr]  # _fast implies _raw
                _NONCE_PACK(self._salt, iv),
                esp[off + 16 : stop],
                _ESN_AAD_PACK(self.spi, seq >> 32, seql) if self.esn else esp[off : off + 8],
            )
        except InvalidTag:
            self.invalid_packets += 1
            raise StateProtocolError(f"SA {self.spi:#x}: ICV mismatch") from None
        except DataplaneError:
            self.invalid_packets += 1
            raise
        # The common packet: an IPv4/IPv6 packet followed by exactly the trailer this implementation
        # (and most) sends, minimal padding 1, 2, 3 and next header 4/41. One comparison checks the
        # padding, the next header and that the packet fills the payload; anything else (more
        # padding, TFC padding, a dummy packet, an error) gets the general checks and verdicts.
        try:
            b0, _, w2, w4, _ = _IP_START(plain)
        except struct.error:
            b0 = 0
        if 0x45 <= b0 <= 0x4F and w2 >= 20 and plain[w2:] == _TR4[w2 & 3]:
            pass
        elif 0x60 <= b0 <= 0x6F and plain[40 + w4 :] == _TR6[w4 & 3]:
            w2 = 40 + w4
        else:
            return self._deliver(*self._accept(plain, seq), plain, now, outer_tos)
        if replay is not None:
            replay.commit(seq)
        out = plain[:w2]
        if outer_tos & 3 == 3:
            out = _mark_ce(out)
        self.bytes += w2
        self.packets += 1
        if now is not None:
            self.last_used = now
        return out

    def _open_payload_any(self, esp: bytes, off: int, stop: int, now: float | None, outer_tos: int) -> bytes:
        """:meth:`open_payload` for every SA (any algorithm, either mode)."""
        nh, plain, end = self._open_at(esp, off, stop)
        return self._deliver(nh, end, plain, now, outer_tos)

    def _deliver(self, nh: int, end: int, plain: bytes, now: float | None, outer_tos: int) -> bytes:
        """The inner packet of an opened payload (``plain[:end]``, next header ``nh``), counted."""
        if self.tunnel:
            out = self._tunnel_payload(nh, plain, end)
            if outer_tos & 3 == 3 and out:
                out = _mark_ce(out)
        elif nh == wesp.NEXT_HEADER_NONE:
            return b""
        else:
            try:
                out = wip.ip_header(self.src, self.dst, nh, end) + plain[:end]
            except wip.IpHeaderError as e:
                raise StateModeError(f"transport payload too large: {e}") from e
        if out:
            self.bytes += len(out)
            self.packets += 1
            if now is not None:
                self.last_used = now
        return out

    def open(self, outer: bytes | bytearray | memoryview, now: float | None = None) -> bytes:
        """The inner packet of a full outer packet (IP ‖ [UDP ‖] ESP) received on this SA."""
        if type(outer) is not bytes:  # a receive buffer: one copy, then everything below slices bytes
            outer = bytes(outer)
        n = len(outer)
        if self._fast_full and n >= 54:  # raw ESP in IPv4 without options to a fast-path SA:
            # open_payload's fast path for the packet after a 20-byte outer header, its header read
            # in the same unpack as the outer one (open_payload's own checks cost ~5 % of a packet)
            vihl, tos, stop, frag, proto, dst, spi, seql, iv = _IPV4_ESP_START(outer)
            if (vihl == 0x45 and proto == _ESP and not frag & 0x3FFF and 54 <= stop <= n
                    and dst == self.dst and spi == self.spi):
                return self._open_fast(outer, 20, stop, seql, iv, now, tos)
            # anything else (and its errors) below
        vihl, tos, stop, frag, proto = _IPV4_START(outer) if n >= 20 else (0, 0, 0, 0, 0)
        if vihl == 0x45 and not frag & 0x3FFF:
            # fast path: IPv4 without options, not a fragment; anything else goes through wip.parse
            if stop > n or stop < 20:
                raise InHeaderError(f"IPv4 total length {stop} invalid for {n} bytes")
            if not outer.startswith(self.dst, 16):
                raise NoStateError(f"SA {self.spi:#x} is not for destination {outer[16:20].hex()}")
            off, nh_pos = 20, 9
        else:
            try:
                p = wip.parse(outer)
            except wip.IpHeaderError as e:
                raise InHeaderError(str(e)) from e
            if p.fragment:
                raise InHeaderError("outer packet is a fragment: reassemble before ESP processing")
            if p.dst != self.dst:
                raise NoStateError(f"SA {self.spi:#x} is not for destination {p.dst.hex()}")
            proto, off, nh_pos, stop, tos = p.proto, p.l4_off, p.nh_pos, p.length, p.tos
        if proto == _UDP:
            if self.encap is None:
                raise StateMismatchError(f"SA {self.spi:#x} is not UDP-encapsulated, packet is")
            if stop - off < 8 or (outer[off + 4] << 8 | outer[off + 5]) != stop - off:
                raise InHeaderError("UDP header truncated or its length wrong")
            esp_off = off + 8
            if natt.classify(outer[esp_off : esp_off + 8]) is not natt.Kind.ESP:
                raise InHeaderError("UDP/4500 datagram is not ESP (IKE, keepalive or reserved SPI)")
        elif proto == _ESP:
            if self.encap is not None:
                raise StateMismatchError(f"SA {self.spi:#x} is UDP-encapsulated, packet is raw ESP")
            esp_off = off
        else:
            raise NoStateError(f"IP protocol {proto} is not ESP")
        if self._fast:
            return self.open_payload(outer, now, tos, esp_off, stop)
        nh, plain, end = self._open_at(outer, esp_off, stop)
        if self.tunnel:
            out = self._tunnel_payload(nh, plain, end)
            if tos & 3 == 3 and out:
                out = _mark_ce(out)
        elif nh == wesp.NEXT_HEADER_NONE:
            return b""
        else:
            try:
                out = wip.splice(outer, off, nh_pos, nh, memoryview(plain)[:end])
            except wip.IpHeaderError as e:
                raise StateModeError(str(e)) from e
        if out:
            self.bytes += len(out)
            self.packets += 1
            if now is not None:
                self.last_used = now
        return out

    def _tunnel_payload(self, nh: int, plain: bytes, end: int) -> bytes:
        """The inner packet of a tunnel-mode SA: Next Header 4/41 and a packet of that version whose
        header length fits the payload (RFC 4301 §5.1.2.1); ``b""`` for a dummy packet."""
        try:
            b0, _, w2, w4, _ = _IP_START(plain)
        except struct.error:
            b0 = w2 = w4 = 0
        if nh == _IPIP and 0x45 <= b0 <= 0x4F:
            total = w2
        elif nh == _IPV6 and 0x60 <= b0 <= 0x6F:
            total = 40 + w4
        elif nh == _NONE:
            return b""
        elif nh == _IPIP or nh == _IPV6:
            raise self._mode_error(
                f"next header {nh} but no IPv{4 if nh == _IPIP else 6} header in {end} bytes"
            )
        else:
            raise self._mode_error(f"tunnel-mode SA carries next header {nh}, not IPv4/IPv6")
        if total > end or total < 20:
            raise self._mode_error(f"inner packet length {total} does not fit the {end}-byte payload")
        return plain[:total]

    def _mode_error(self, msg: str) -> StateModeError:
        self.invalid_packets += 1
        return StateModeError(f"SA {self.spi:#x}: {msg}")


def _inner_error(inner: bytes) -> OutStateModeError:
    """Why ``inner`` cannot be carried in tunnel mode (for a packet already refused)."""
    n = len(inner)
    b0 = inner[0] if n else 0
    if not ((b0 >> 4 == 4 and n >= 20 and b0 & 0x0F >= 5) or (b0 >> 4 == 6 and n >= 40)):
        return OutStateModeError(f"not an IPv4/IPv6 packet ({n} bytes)")
    return OutStateModeError(f"IP length invalid for {n} bytes")


def _mark_ce(inner: bytes) -> bytes:
    """RFC 6040 §4.2 (normal mode, as Linux does it): congestion experienced on the outer header is
    carried to an ECN-capable inner packet; a Not-ECT inner packet is left as it is."""
    if inner[0] >> 4 == 4:
        if not inner[1] & 3:
            return inner
        ihl = (inner[0] & 0x0F) * 4
        hdr = bytearray(inner[:ihl])
        hdr[1] |= 3
        return bytes(wip.rewrite_header(hdr, 9, hdr[9], (inner[2] << 8) | inner[3])) + inner[ihl:]
    if not (inner[1] >> 4) & 3:
        return inner
    return inner[:1] + bytes((inner[1] | 0x30,)) + inner[2:]
