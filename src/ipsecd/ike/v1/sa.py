"""One IKEv1 ISAKMP SA as a sans-I/O object (DESIGN.md §3), satisfying ``ike.sa.IkeSaProtocol``.

It owns the datagrams of all exchanges on one cookie pair (RFC 2408 §3.1): phase 1 (main,
aggressive or base mode, Message ID 0), quick modes and informational exchanges (a Message ID each). It

* checks the cookies, decrypts with the IV of the exchange (``crypt``), and commits the IV only
  after the exchange accepted the message;
* answers a retransmitted message (recognised by the digest of its bytes) with the reply it sent
  the first time, and retransmits its own messages that await a reply (4 s × 1.8^n, as IKEv2);
* forgets a responder that never finished phase 1 after ``responder_timeout``;
* turns ``V1ProtocolError`` into a notification to the peer and a ``NegotiationFailed`` event;
* runs DPD (RFC 3706) and the phase-1 lifetime. IPsec SAs outlive the ISAKMP SA that made them (RFC
  2409 §5.5 keys them from SKEYID_d once; RouterOS and racoon keep them to their own lifetime): at
  the phase-1 lifetime, and when the peer DELETEs the ISAKMP SA (strongSwan does after it
  re-authenticated), the SA closes with ``children`` still holding them, for the daemon to hand to
  the successor ISAKMP SA (``adopt``) or keep until a new phase 1 re-keys them. A dead peer, a
  failed negotiation or our own ``delete`` take them along.

The router demultiplexes IKEv1 by cookies: an initiator SA answers on CKY-I (``local_spi``), a
responder on CKY-R; a retransmitted first message (CKY-R zero) must reach the responder SA by
CKY-I and the peer's address.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address, ip_network

from ipsecd.crypto.errors import CryptoError
from ipsecd.policy.types import IpsecProto, Selector
from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev1.enums import ExchangeType, NotifyType, ProtocolId
from ipsecd.wire.ikev1.header import FLAG_ENCRYPTION, HEADER_SIZE, Header
from ipsecd.wire.ikev1.message import assemble, decode_chain, encode_chain
from ipsecd.wire.ikev1.payloads import DeletePayload, NotifyPayload, Payload

from ..errors import InvalidMessageError
from ..events import (
    AuthenticationFailed,
    ChildSaDeleted,
    ChildSaInstalled,
    Event,
    IkeSaDeleted,
    IkeSaEstablished,
    NegotiationFailed,
    PeerDead,
)
from ..sa import Addr, Rng
from ..v2.config import ChildConfig, IkeConfig
from . import info
from .aggressive import AggressiveMode
from .base import BaseMode
from .config import ExchangeMode, Ikev1Options, V1ProtocolError
from .crypt import Phase1Keys
from .dpd import Dpd
from .exchange import Exchange, Outgoing
from .main import MainMode
from .phase1 import Phase1
from .quick import QuickMode
from .roadwarrior import RoadWarrior
from .transaction import Transaction

SpiAlloc = Callable[[IpsecProto], int]
ZERO = bytes(8)
REPLY_CACHE = 60.0
REPLACED_GRACE = 1.0  # seconds a re-keyed IPsec SA stays after its successor is installed
_AUTH_ERRORS = (NotifyType.INVALID_HASH_INFORMATION, NotifyType.AUTHENTICATION_FAILED,
                NotifyType.INVALID_ID_INFORMATION)
_PHASE1: dict[ExchangeMode, type[Phase1]] = {
    # seconds a reply stays ready for a retransmitted request
    ExchangeMode.MAIN: MainMode, ExchangeMode.AGGRESSIVE: AggressiveMode, ExchangeMode.BASE: BaseMode}


@dataclass(slots=True)
class _Pending:
    data: bytes
    at: float
    tries: int = 0


class Ikev1Sa:
    version = 1

    def __init__(
        self,
        config: IkeConfig,
        options: Ikev1Options,
        *,
        initiator: bool,
        rng: Rng,
        spi_alloc: SpiAlloc,
        now: float,
        addr: Addr,
        cky_i: bytes,
        cky_r: bytes = ZERO,
        auto_children: bool = True,
    ) -> None:
        self.config = config
        self.options = options
        self.initiator = initiator
        self.rng = rng
        self.spi_alloc = spi_alloc
        self.now = self.created = self.last_rx = now
        self.addr = addr
        self.cky_i, self.cky_r = cky_i, cky_r
        self.state = "connecting"  # connecting | established | closed
        self.keys: Phase1Keys | None = None
        self.phase1: Phase1 = _PHASE1[options.exchange_mode](self)
        self.exchanges: dict[int, Exchange] = {}  # quick modes by Message ID
        # inbound SPI -> (name, proto, outbound SPI)
        self.children: dict[int, tuple[str, IpsecProto, int]] = {}
        self.natt: bytes | None = None  # the NAT-T vendor ID both speak
        self.nat_local = self.nat_remote = False
        self.peer_dpd = False
        self.peer_vendors: tuple[str, ...] = ()
        self.peer_initial_contact = False
        self.local_id = self.remote_id = ""
        self.dpd: Dpd | None = None
        self.expire_at: float | None = None
        self.on_output: Callable[[Ikev1Sa], None] | None = None
        self.on_spi: Callable[[Ikev1Sa, bytes, bool], None] | None = None
        self._out: list[tuple[bytes, Addr]] = []
        self._events: list[Event] = []
        self._replies: dict[bytes, tuple[bytes | None, float]] = {}
        self._pending: dict[int, _Pending] = {}
        # an initiator starts a quick mode per policy once phase 1 is up, unless its owner does (the
        # daemon: a re-keyed phase 1 adopts the IPsec SAs that still live and re-keys only those due)
        self._children_started = not initiator or not auto_children
        self._dpd_sent = 0.0
        self._replacing: dict[int, int] = {}  # quick mode's Message ID -> inbound SPI it re-keys
        self._retiring: dict[int, float] = {}  # re-keyed inbound SPI -> when it is DELETEd
        # inbound SPIs of IPsec SAs whose quick mode the peer started: it re-keys them (``rekey_child``)
        self.answered: set[int] = set()
        self.virtual_ips: tuple[IPv4Address | IPv6Address, ...] = ()  # mode-config gave us these
        # XAuth and mode-config between phase 1 and the quick modes (road warriors), if configured
        self.rw = RoadWarrior(self) if RoadWarrior.needed(self) else None

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def initiate(cls, config: IkeConfig, options: Ikev1Options, *, rng: Rng, spi_alloc: SpiAlloc,
                 now: float, auto_children: bool = True) -> Ikev1Sa:
        sa = cls(config, options, initiator=True, rng=rng, spi_alloc=spi_alloc, now=now,
                 addr=(config.local, config.remote), cky_i=rng(8), auto_children=auto_children)
        sa._send(sa.phase1, sa.phase1.start())
        return sa

    @classmethod
    def respond(cls, config: IkeConfig, options: Ikev1Options, data: bytes, addr: Addr, *, rng: Rng,
                spi_alloc: SpiAlloc, now: float) -> Ikev1Sa | None:
        """The responder for a first message in the configured exchange mode, or None."""
        try:
            hdr = Header.decode(data)
        except WireError:
            return None
        mode = next((m for m, kind in _PHASE1.items() if kind.exchange_type == hdr.exchange), None)
        if hdr.message_id != 0 or hdr.cookie_r != ZERO or mode is None:
            return None
        if options.exchange_mode is not mode:
            return None  # the peer's exchange-mode is another one (RouterOS matches peers by it)
        return cls(config, options, initiator=False, rng=rng, spi_alloc=spi_alloc, now=now, addr=addr,
                   cky_i=hdr.cookie_i, cky_r=rng(8))

    # -- the protocol ----------------------------------------------------------------------------

    @property
    def local_spi(self) -> bytes:
        return self.cky_i if self.initiator else self.cky_r

    @property
    def closed(self) -> bool:
        return self.state == "closed"

    @property
    def natted(self) -> bool:
        return self.nat_local or self.nat_remote

    def idle(self) -> bool:
        return not self._out and not self._events

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.pop(0) if self._events else None

    def emit(self, event: Event) -> None:
        self._events.append(event)
        if self.on_output is not None:
            self.on_output(self)

    def provide_verdict(self, token: object, result: object) -> None:
        """RADIUS's answer on an XAuth user (``xauth-use-radius``); unknown tokens are ignored."""
        if self.rw is not None and not self.closed:
            self.rw.verdict(token, result)
            self._start_children()

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        self.now = now
        if self.closed:
            return
        try:
            hdr = Header.decode(data)
        except WireError:
            return
        if not self._ours(hdr):
            return
        digest = hashlib.sha1(data).digest()
        cached = self._replies.get(digest)
        if cached is not None:
            if cached[0] is not None:
                self._queue(cached[0])
            return
        try:
            self._dispatch(hdr, data, digest, addr)
        except (InvalidMessageError, WireError, CryptoError):
            return  # dropped: undecryptable or malformed (RFC 2408 §5.1 lets us stay silent)
        self._start_children()

    def _ours(self, hdr: Header) -> bool:
        if hdr.cookie_i != self.cky_i:
            return False
        if self.initiator and self.cky_r == ZERO:
            if hdr.message_id == 0 and hdr.cookie_r != ZERO and hdr.exchange == self.phase1.exchange_type:
                self.cky_r = hdr.cookie_r
                return True
            return hdr.exchange == ExchangeType.INFORMATIONAL  # a refusal of our first message
        return hdr.cookie_r == self.cky_r or (
            not self.initiator and hdr.cookie_r == ZERO and hdr.message_id == 0
        )

    def _dispatch(self, hdr: Header, data: bytes, digest: bytes, addr: Addr) -> None:
        mid = hdr.message_id
        if hdr.exchange == ExchangeType.INFORMATIONAL:
            self._informational(hdr, data)
            return
        exch: Exchange | None = None
        new = False
        if mid == 0 and hdr.exchange == self.phase1.exchange_type and not self.phase1.done:
            exch = self.phase1
        elif hdr.exchange == ExchangeType.QUICK and mid and self.state == "established":
            exch = self.exchanges.get(mid)
            if exch is None and hdr.encrypted and (self.rw is None or self.rw.ready):
                exch, new = QuickMode(self, mid), True  # kept only once its HASH(1) checked
        elif hdr.exchange == ExchangeType.TRANSACTION and mid and self.state == "established" and self.rw:
            exch = self.exchanges.get(mid)
            if exch is None and hdr.encrypted:
                exch, new = self.rw.incoming(mid), True
        if exch is None:
            return
        body = data[HEADER_SIZE:]
        try:
            payloads = self._open(hdr, body)
        except (InvalidMessageError, WireError):
            if new and self.keys is not None:
                self.keys.forget(mid)  # a forged Message ID leaves nothing behind
            if exch is not self.phase1 or self.keys is None:
                raise
            self._refuse(
                exch,
                V1ProtocolError(
                    NotifyType.PAYLOAD_MALFORMED,
                    "cannot decode the encrypted phase-1"
                    " message: the pre-shared keys probably differ (secret=)",
                ),
            )
            return
        try:
            out = exch.process(hdr, payloads)
        except V1ProtocolError as e:
            self._refuse(exch, e)
            return
        if new and not exch.done:
            self.exchanges[mid] = exch
        if hdr.encrypted and self.keys is not None:
            self.keys.advance(mid, body)
        self.last_rx = self.now
        if hdr.encrypted and addr != self.addr:
            self.addr = addr  # the peer floated to 4500 or its NAT mapping changed (authenticated)
        self._pending.pop(mid, None)
        reply = self._send(exch, out) if out is not None else None
        self._replies[digest] = (reply, self.now + REPLY_CACHE)
        if exch.done and mid:
            self.exchanges.pop(mid, None)
            if self.keys is not None and mid not in self._pending:
                self.keys.forget(mid)

    def _open(self, hdr: Header, body: bytes) -> list[Payload]:
        if not hdr.encrypted:
            return decode_chain(hdr.next_payload, body)
        if self.keys is None:
            raise InvalidMessageError("encrypted message before the keys exist")
        return decode_chain(hdr.next_payload, self.keys.open(hdr.message_id, body), padded=True)

    def _informational(self, hdr: Header, data: bytes) -> None:
        body = data[HEADER_SIZE:]
        if not hdr.encrypted:
            info.handle(self, decode_chain(hdr.next_payload, body), authenticated=False)
            return
        if self.keys is None or hdr.message_id == 0:
            return
        payloads = self._open(hdr, body)
        self.keys.forget(hdr.message_id)
        try:
            rest = info.verify(self, hdr.message_id, payloads)
        except V1ProtocolError:
            return
        self.last_rx = self.now
        info.handle(self, rest, authenticated=True)

    # -- sending ---------------------------------------------------------------------------------

    def _queue(self, data: bytes) -> None:
        self._out.append((data, self.addr))
        if self.on_output is not None:
            self.on_output(self)

    def _send(self, exch: Exchange, out: Outgoing) -> bytes:
        hdr = Header(self.cky_i, self.cky_r, 0, exch.exchange_type, out.flags, exch.message_id)
        first, chain = encode_chain(out.payloads)
        if out.encrypted:
            assert self.keys is not None
            hdr.flags |= FLAG_ENCRYPTION
            chain = self.keys.seal(exch.message_id, chain)
        data = assemble(hdr, first, chain)
        self._queue(data)
        if out.awaits_reply:
            self._pending[exch.message_id] = _Pending(data, self.now + self.config.retransmit.timeout)
        return data

    def start_exchange(self, exch: Exchange) -> None:
        """Send the first message of an exchange of ours (registered under its Message ID)."""
        self._send(exch, exch.start())

    def new_message_id(self) -> int:
        while True:
            mid = int.from_bytes(self.rng(4), "big")
            if mid and mid not in self.exchanges:
                return mid

    def send_info(self, payloads: list[Payload]) -> None:
        """One informational message: encrypted with HASH(1) once we have keys, else in clear."""
        mid = self.new_message_id()
        hdr = Header(self.cky_i, self.cky_r, 0, ExchangeType.INFORMATIONAL, 0, mid)
        if self.keys is None:
            first, chain = encode_chain(payloads)
        else:
            first, chain = encode_chain(info.protect(self, mid, payloads))
            hdr.flags |= FLAG_ENCRYPTION
            chain = self.keys.seal(mid, chain)
            self.keys.forget(mid)
        self._queue(assemble(hdr, first, chain))

    def send_notify(self, kind: NotifyType, protocol: ProtocolId, spi: bytes, data: bytes = b"") -> None:
        self.send_info([NotifyPayload(kind, spi, data, protocol)])

    # -- outcomes --------------------------------------------------------------------------------

    def float_if_natted(self) -> None:
        """RFC 3947 §4: with a NAT between us, the initiator moves to the NAT-T port."""
        if self.natted and self.initiator:
            (lhost, _), (rhost, _) = self.addr
            self.addr = ((lhost, self.config.natt_port), (rhost, self.config.natt_port))

    def check_hash(self, got: bytes, want: bytes) -> None:
        if not hmac.compare_digest(got, want):
            raise V1ProtocolError(NotifyType.INVALID_HASH_INFORMATION, "HASH mismatch", fatal=False)

    def phase1_complete(self, exch: Phase1, *, initial_contact: bool) -> None:
        algs = exch.algs
        assert algs is not None
        self.state = "established"
        self.expire_at = self.now + algs.lifetime if algs.lifetime else None
        if self.config.dpd_interval and self.peer_dpd:
            self.dpd = Dpd(self.config.dpd_interval, self.options.dpd_max_failures,
                           int.from_bytes(self.rng(4), "big") & 0x7FFFFFFF)
        self._pending.pop(0, None)
        event = IkeSaEstablished(
                self.local_spi,
                self.cky_r if self.initiator else self.cky_i,
                self.initiator,
                self.addr[0],
                self.addr[1],
                self.local_id,
                self.remote_id,
                algs.encr.profile_name or algs.encr.name,
                algs.hash.name,
                algs.hash.name,
                algs.group.name,
                self.nat_local,
                self.nat_remote,
                algs.lifetime,
                initial_contact=initial_contact or self.peer_initial_contact,
            )
        if self.rw is None or not self.rw.hold(event):
            self.emit(event)

    def _start_children(self) -> None:
        if self.rw is not None and not self.closed:
            self.rw.kick()
        waiting = self.rw is not None and not self.rw.ready  # XAuth or mode-config still to come
        if self._children_started or self.state != "established" or waiting:
            return
        self._children_started = True
        have = {name for name, _proto, _out in self.children.values()}  # adopted from a former phase 1
        for child in self.config.children:
            if child.name not in have:
                self.start_child(child)

    def start_children(self) -> None:
        """The owner's go for an SA made with ``auto_children=False`` (the daemon, once it handed the
        IPsec SAs of an earlier phase 1 to this one): a quick mode for each policy without an IPsec
        SA, as soon as XAuth and mode-config are done."""
        self._children_started = False
        self._start_children()

    def start_child(self, child: ChildConfig) -> int:
        """Start a quick mode for ``child`` (also the daemon's answer to an acquire); its Message ID."""
        mid = self.new_message_id()
        if self.virtual_ips:  # mode-config gave us an address: it is our side of every policy
            child = replace(child, selector=replace(child.selector, src=ip_network(self.virtual_ips[0])))
        exch = QuickMode(self, mid, child)
        self.exchanges[mid] = exch
        self._send(exch, exch.start())
        return mid

    def admit_proxies(self, proxies: tuple[Selector, Selector] | None) -> None:
        """A client we leased an address to negotiates quick modes for that address only (the
        policy generate-policy makes is for exactly it)."""
        lease = self.rw.lease if self.rw is not None else None
        if lease is None:
            return
        theirs = proxies[0].src if proxies is not None else ip_network(self.addr[1][0])
        if theirs != ip_network(lease.address):
            raise V1ProtocolError(NotifyType.INVALID_ID_INFORMATION,
                                  f"quick mode for {theirs}, but the client was given {lease.address}",
                                  fatal=False)

    def child_installed(self, mid: int, proto: IpsecProto, event: ChildSaInstalled, *,
                        answered: bool = False) -> None:
        """A quick mode's IPsec SAs go to the daemon; one that re-keys an older SA replaces it: the
        new SAs are installed first (our traffic moves to them), the old one is DELETEd
        ``REPLACED_GRACE`` later — after our third quick-mode message has reached the peer, so it
        installs the new SAs before it drops the old ones, and its packets still in flight on the old
        SA are received."""
        in_spi, out_spi = event.inbound.spi, event.outbound.spi
        self.children[in_spi] = (event.child, proto, out_spi)
        if answered:
            self.answered.add(in_spi)
        self.emit(event)
        old = self._replacing.pop(mid, None)
        if old is not None:
            self._retiring[old] = self.now + REPLACED_GRACE

    # -- what the daemon asks of every IKE SA (as ``IkeSa``) -----------------------------------------

    def create_child(self, child: ChildConfig) -> None:
        """An acquire for a policy without SA: a quick mode for it."""
        self.start_child(child)

    def creating_child(self, policy_id: str) -> bool:
        """A quick mode of ours for this policy is under way."""
        return any(isinstance(e, QuickMode) and e.initiator and e.child is not None
                   and e.child.policy_id == policy_id for e in self.exchanges.values())

    def rekey_child(self, in_spi: int) -> None:
        """The IPsec SA reached its soft lifetime: IKEv1 re-keys by a new quick mode for the same
        policy (RFC 2409 §5.5); the old SA is deleted once the new one is installed. Only the side
        that started the SA's quick mode re-keys it, as racoon does: both ends reach the soft lifetime
        together (the responder obeys the initiator's lifetime or told it a shorter one with
        RESPONDER-LIFETIME), and two re-keys would leave two SA pairs for one policy."""
        found = self.children.get(in_spi)
        if (found is None or self.state != "established" or in_spi in self._replacing.values()
                or in_spi in self._retiring or in_spi in self.answered):
            return
        child = next((c for c in self.config.children if c.name == found[0]), None)
        if child is not None:
            self._replacing[self.start_child(child)] = in_spi

    def traffic_seen(self, now: float) -> None:
        """ESP from the peer proves it alive: DPD waits (RFC 3706 §5.3: only idle SAs are checked)."""
        self.last_rx = max(self.last_rx, now)

    def connected(self, spi: bytes) -> None:
        for exch in list(self.exchanges.values()):
            if isinstance(exch, QuickMode) and exch.peer_spi.to_bytes(4, "big") == spi:
                exch.connected()
                if exch.done:
                    self.exchanges.pop(exch.message_id, None)

    def quick_refused(self, n: NotifyPayload) -> None:
        """An error notify for one of our quick modes (by our SPI, or the only one pending)."""
        mine = [e for e in self.exchanges.values() if isinstance(e, QuickMode) and e.initiator]
        match = [e for e in mine if e.my_spi.to_bytes(4, "big") == n.spi] or (mine if len(mine) == 1 else [])
        for exch in match:
            self._drop(exch)
        name = match[0].child.name if match and match[0].child is not None else "?"
        self.emit(NegotiationFailed("quick mode", n.notify_type.name,
                                    f"peer refused quick mode for {name} with {n.notify_type.name}", False))

    def _drop(self, exch: Exchange) -> None:
        self.exchanges.pop(exch.message_id, None)
        self._pending.pop(exch.message_id, None)
        if self.keys is not None and exch.message_id:
            self.keys.forget(exch.message_id)

    def _refuse(self, exch: Exchange, e: V1ProtocolError) -> None:
        phase1 = exch is self.phase1
        what = "phase 1" if phase1 else getattr(exch, "label", "quick mode")
        if e.notify != NotifyType.INVALID_HASH_INFORMATION or phase1:
            spi = self.cky_i + self.cky_r if phase1 else b""
            self.send_notify(e.notify, ProtocolId.ISAKMP, spi)
        if phase1:
            if self.keys is not None or e.notify in _AUTH_ERRORS:  # the PSK or the identity did not fit
                self.emit(AuthenticationFailed(self.addr[1], e.detail))
            self.fail(NegotiationFailed(what, e.notify.name, e.detail, True))
        else:
            self._drop(exch)
            self.emit(NegotiationFailed(what, e.notify.name, e.detail, False))

    def fail(self, event: Event) -> None:
        self.emit(event)
        self.close(str(getattr(event, "detail", "failed")))

    def close(self, reason: str, *, outlive: bool = False) -> None:
        """The ISAKMP SA ends. ``outlive``: its IPsec SAs stay in ``children`` for the daemon to hand
        on (phase-1 lifetime, the peer's DELETE of the ISAKMP SA); otherwise they go with it."""
        if self.closed:
            return
        for spi in list(self._retiring):  # replaced by a re-key: they go now, not with the others
            self.delete_child(spi, "re-keyed")
        self._retiring.clear()
        self.state = "closed"
        self._pending.clear()
        self._replacing.clear()
        if not outlive:
            self.children.clear()
        self.emit(IkeSaDeleted(self.local_spi, reason))

    def retire(self, reason: str) -> None:
        """End the ISAKMP SA alone: DELETE it (RFC 2408 §3.15; the peer's own copy goes) and leave its
        IPsec SAs to live on — at the phase-1 lifetime, or for a duplicate of a re-key collision."""
        if self.closed:
            return
        if self.keys is not None and self.state == "established":
            self.send_info([DeletePayload(ProtocolId.ISAKMP, [self.cky_i + self.cky_r])])
        self.close(reason, outlive=True)

    def adopt(self, in_spi: int, name: str, proto: IpsecProto, out_spi: int, answered: bool = False) -> None:
        """Take over an IPsec SA negotiated by an earlier ISAKMP SA with the same peer (re-keyed or
        expired phase 1): its DELETEs and re-keys now go through this one."""
        self.children[in_spi] = (name, proto, out_spi)
        if answered:
            self.answered.add(in_spi)

    def release(self, in_spi: int) -> tuple[str, IpsecProto, int, bool] | None:
        """Give up an IPsec SA another ISAKMP SA adopts (no DELETE: it lives on); what ``adopt`` takes."""
        self._retiring.pop(in_spi, None)
        found = self.children.pop(in_spi, None)
        if found is None:
            return None
        answered = in_spi in self.answered
        self.answered.discard(in_spi)
        return (*found, answered)

    def delete(self) -> None:
        """Kill the connection: DELETE our IPsec SAs and the ISAKMP SA (RFC 2408 §3.15)."""
        if self.closed:
            return
        if self.keys is not None and self.state == "established":
            for in_spi, (name, proto, out_spi) in list(self.children.items()):
                self.send_info([DeletePayload(ProtocolId.ESP if proto == IpsecProto.ESP else ProtocolId.AH,
                                              [in_spi.to_bytes(4, "big")])])
                self.emit(ChildSaDeleted(name, in_spi, out_spi, "deleted"))
            self.children.clear()
            self.send_info([DeletePayload(ProtocolId.ISAKMP, [self.cky_i + self.cky_r])])
        self.close("deleted")

    def delete_child(self, in_spi: int, reason: str = "deleted") -> None:
        """DELETE one IPsec SA (expiry, kill, re-key); the ISAKMP SA stays."""
        found = self.children.pop(in_spi, None)
        if found is None:
            return
        name, proto, out_spi = found
        if self.keys is not None and not self.closed:
            self.send_info([DeletePayload(ProtocolId.ESP if proto == IpsecProto.ESP else ProtocolId.AH,
                                          [in_spi.to_bytes(4, "big")])])
        self.emit(ChildSaDeleted(name, in_spi, out_spi, reason))

    # -- timers ----------------------------------------------------------------------------------

    def _dpd_due(self) -> float | None:
        if self.dpd is None or self.state != "established":
            return None
        return max(self.last_rx, self._dpd_sent) + self.dpd.interval

    def get_timer(self) -> float | None:
        if self.closed:
            return None
        due = [p.at for p in self._pending.values()]
        if self.state == "connecting" and not self.initiator:
            due.append(self.created + self.options.responder_timeout)
        if self.expire_at is not None:
            due.append(self.expire_at)
        if (d := self._dpd_due()) is not None:
            due.append(d)
        due.extend(self._retiring.values())
        if self.rw is not None and (t := self.rw.timer()) is not None:
            due.append(t)
        return min(due) if due else None

    def handle_timer(self, now: float) -> None:
        self.now = now
        if self.closed:
            return
        if (
            self.state == "connecting"
            and not self.initiator
            and now >= self.created + self.options.responder_timeout
        ):
            self.close("phase 1 not completed in time")
            return
        if self.expire_at is not None and now >= self.expire_at:
            self.retire("phase 1 lifetime expired")  # its IPsec SAs live on (module docstring)
            return
        for spi in [spi for spi, at in self._retiring.items() if at <= now]:
            del self._retiring[spi]
            self.delete_child(spi, "re-keyed")
        self._retransmit(now)
        if self.rw is not None and not self.closed:
            self.rw.on_timer(now)
        if not self.closed and (d := self._dpd_due()) is not None and now >= d:
            self._dpd(now)
        self._replies = {k: v for k, v in self._replies.items() if v[1] > now}

    def _retransmit(self, now: float) -> None:
        rt = self.config.retransmit
        for mid, p in list(self._pending.items()):
            if p.at > now:
                continue
            if p.tries >= rt.tries:
                del self._pending[mid]
                if mid == 0:
                    self.fail(
                        PeerDead(self.addr[1], f"no answer to phase 1 after {rt.tries} retransmissions")
                    )
                    return
                exch = self.exchanges.get(mid)
                if isinstance(exch, Transaction):  # XAuth or mode-config went unanswered
                    self.fail(NegotiationFailed(exch.label, "TIMEOUT", "no answer from the peer", True))
                    return
                if exch is not None:
                    self._drop(exch)
                self.emit(NegotiationFailed("quick mode", "TIMEOUT", "no answer to quick mode", False))
                continue
            p.tries += 1
            p.at = now + rt.timeout * rt.base ** p.tries
            self._queue(p.data)

    def _dpd(self, now: float) -> None:
        assert self.dpd is not None
        if self.dpd.missed():
            self.fail(PeerDead(self.addr[1], f"no DPD answer after {self.dpd.failures} tries"))
            return
        self._dpd_sent = now
        seq = self.dpd.next_seq()
        self.send_notify(
            NotifyType.R_U_THERE, ProtocolId.ISAKMP, self.cky_i + self.cky_r, seq.to_bytes(4, "big")
        )

