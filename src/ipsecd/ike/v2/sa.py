"""One IKEv2 SA as a sans-I/O object (DESIGN.md §3; RFC 7296).

Inputs: ``receive_datagram(data, addr, now)`` and ``handle_timer(now)``. Outputs:
``datagrams_to_send(now)``, ``next_event()``, ``get_timer()``. ``addr`` is the daemon's
``(local, remote)`` pair of ``(host, port)`` endpoints; the SA replies on the pair a request came
on and sends its own requests on its current pair, which moves to the NAT-T port after NAT
detection (RFC 7296 §2.23). Randomness (SPIs, nonces, IVs, DH keys) comes from the injected ``rng``,
inbound CHILD_SA SPIs from the injected ``spi_alloc``: the SA never touches the data plane.

The exchanges themselves are tasks (``tasks/``) run by :class:`~.task_manager.TaskManager`; this
class holds the state they share: SPIs, nonces, keys, children, addresses, and the output queues.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from ipsecd.crypto import keymat
from ipsecd.crypto.ke import KeyExchange
from ipsecd.policy.types import IpsecProto
from ipsecd.wire.enums import ExchangeType
from ipsecd.wire.errors import UnsupportedCriticalPayloadError, WireError
from ipsecd.wire.ikev2.message import Message

from ..errors import InvalidMessageError
from ..events import (
    ChildSaDeleted,
    Event,
    IkeSaDeleted,
    IkeSaRekeyed,
    NegotiationFailed,
)
from ..router import Router
from ..sa import Addr, ResponderFactory, Rng
from .child import ChildSa
from .config import ChildConfig, IkeConfig, ModeConfigLease
from .proposals import IkeAlgs
from .protect import Protection
from .redundant import RedundantSa
from .state import IkeState, Trigger, transition
from .task_manager import TaskManager

SpiAlloc = Callable[[IpsecProto], int]
HALF_OPEN_TIMEOUT = 30.0  # strongSwan's half_open_timeout: a responder waits this long for IKE_AUTH
REKEY_JITTER = 0.05  # rekeys come up to this share of the lifetime early, at random (strongSwan's rand_time)
# Every IKE SA starts with this (empty) table of §2.8.2 leftovers and gets a dict of its own on the
# first one: thousands of established SAs should not each carry an empty dict. Never add to it.
_NO_REDUNDANT: dict[bytes, RedundantSa] = {}


@dataclass(slots=True)
class Generation:
    """SPIs, role and keys of a rekeyed IKE SA waiting to take over (RFC 7296 §2.18)."""

    spi_i: bytes
    spi_r: bytes
    initiator: bool
    algs: IkeAlgs
    keys: keymat.IkeSaKeys = field(repr=False)
    nonce_i: bytes = field(repr=False)
    nonce_r: bytes = field(repr=False)


class IkeSa:
    """An IKE SA in either role; construct with :meth:`initiator` or :meth:`responder`. It follows
    the version-neutral :class:`~ipsecd.ike.sa.IkeSaProtocol`."""

    version = 2

    __slots__ = (
        "_events",
        "_out",
        "addr",
        "algs",
        "children",
        "config",
        "created",
        "expire_at",
        "fragmentation",
        "init_request",
        "init_response",
        "is_initiator",
        "ke",
        "keys",
        "last_rx",
        "lease",
        "local_id",
        "n_bad_integrity",
        "n_dropped",
        "n_retransmits",
        "nat_local",
        "nat_remote",
        "nonce_i",
        "nonce_r",
        "now",
        "on_output",
        "on_spi",
        "peer_window",
        "pending",
        "protection",
        "redundant",
        "rekey_at",
        "remote_id",
        "rng",
        "shared",
        "spi_alloc",
        "spi_i",
        "spi_r",
        "state",
        "switch_pending",
        "tm",
        "virtual_ips",
    )

    def __init__(self, config: IkeConfig, *, initiator: bool, rng: Rng, spi_alloc: SpiAlloc, now: float,
                 addr: Addr) -> None:
        self.config = config
        self.is_initiator = initiator  # original initiator of this IKE SA (the I flag)
        self.rng = rng
        self.spi_alloc = spi_alloc
        self.addr = addr
        self.created = now
        self.now = now
        self.last_rx = now
        self.spi_i = rng(8) if initiator else b""
        self.spi_r = b"" if initiator else rng(8)
        self.state = IkeState.CONNECTING  # see state.py: changed only through advance()
        self.nonce_i = b""
        self.nonce_r = b""
        self.init_request = b""  # our/their IKE_SA_INIT request as sent (AUTH signs it)
        self.init_response = b""
        self.ke: KeyExchange | None = None
        self.shared = b""
        self.algs: IkeAlgs | None = None
        self.keys: keymat.IkeSaKeys | None = None
        self.protection: Protection | None = None
        self.nat_local = False
        self.nat_remote = False
        self.fragmentation = False  # both sides announced RFC 7383 support in IKE_SA_INIT
        self.remote_id = ""
        self.local_id = ""
        self.children: dict[int, ChildSa] = {}
        self.lease: ModeConfigLease | None = None  # responder: the address we gave the peer
        self.virtual_ips: tuple[IPv4Address | IPv6Address, ...] = ()  # initiator: what we were given
        self.rekey_at: float | None = None
        self.expire_at: float | None = None  # profile lifetime: a rekey that never succeeds ends here
        self.switch_pending = False  # switch to ``pending`` once the current exchange is finished
        self.pending: Generation | None = None  # the rekeyed IKE SA, taken over after the old one's DELETE
        # §2.8.2 collision leftovers by our SPI, until deleted (see _NO_REDUNDANT)
        self.redundant: dict[bytes, RedundantSa] = _NO_REDUNDANT
        self.n_dropped = self.n_bad_integrity = self.n_retransmits = 0
        self.peer_window = 1  # our requests the peer takes at once (its SET_WINDOW_SIZE, RFC 7296 §2.3)
        # output queues, None while empty (most of an SA's life): no list per idle SA
        self._out: list[tuple[bytes, Addr]] | None = None
        self._events: list[Event] | None = None
        # called when a datagram or event is queued: lets the router visit only those
        self.on_output: Callable[[IkeSa], None] | None = None
        # called with (self, spi, present) as SPIs we answer on come and go (rekey, §2.8.2 leftovers)
        self.on_spi: Callable[[IkeSa, bytes, bool], None] | None = None
        self.tm = TaskManager(self)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def initiator(cls, config: IkeConfig, *, rng: Rng, spi_alloc: SpiAlloc, now: float) -> IkeSa:
        """A new IKE SA that starts IKE_SA_INIT and IKE_AUTH with the configured children."""
        sa = cls(config, initiator=True, rng=rng, spi_alloc=spi_alloc, now=now,
                 addr=(config.local, config.remote))
        sa.tm.initiate_ike(now)
        return sa

    @classmethod
    def responder(cls, config: IkeConfig, *, rng: Rng, spi_alloc: SpiAlloc, now: float, addr: Addr) -> IkeSa:
        """An IKE SA for an incoming IKE_SA_INIT; feed that request with :meth:`receive_datagram`."""
        return cls(config, initiator=False, rng=rng, spi_alloc=spi_alloc, now=now, addr=addr)

    @property
    def counters(self) -> dict[str, int]:
        """Messages dropped (malformed, unexpected), failing integrity, and retransmissions answered."""
        return {"dropped": self.n_dropped, "bad-integrity": self.n_bad_integrity,
                "retransmits": self.n_retransmits}

    @property
    def window(self) -> int:
        """The peer's requests we take at once (RFC 7296 §2.3; announced with SET_WINDOW_SIZE above 1)."""
        return self.config.window_size

    def advance(self, trigger: Trigger) -> None:
        """Move along the state table (state.py); a transition it lacks raises IkeStateError."""
        self.state = transition(self.state, trigger)

    @property
    def closed(self) -> bool:
        return self.state == IkeState.CLOSED

    @property
    def local_spi(self) -> bytes:
        return self.spi_i if self.is_initiator else self.spi_r

    @property
    def remote_spi(self) -> bytes:
        return self.spi_r if self.is_initiator else self.spi_i

    # -- the sans-I/O contract -------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        self.now = now
        if self.state == IkeState.CLOSED:
            return
        try:
            msg = Message.decode(data)
        except UnsupportedCriticalPayloadError as e:
            self.tm.unsupported_critical(data, addr, e.payload_type)
            return
        except WireError:
            self.n_dropped += 1
            if not self.is_initiator and not self.spi_i:  # a responder born of garbage: gone at once
                self.close("malformed IKE_SA_INIT")
            return
        h = msg.header
        if (
            self.redundant
            and (extra := self.redundant.get(h.spi_r if h.from_initiator else h.spi_i)) is not None
        ):
            self._on_redundant(extra, extra.receive(msg, data), addr)
            return
        if h.from_initiator == self.is_initiator:  # our own role's flag: a reflection, not the peer
            self.n_dropped += 1
            return
        if not self._spis_match(msg):
            self.n_dropped += 1
            return
        try:
            if h.is_response:
                self.tm.on_response(msg, data, addr)
            else:
                self.tm.on_request(msg, data, addr)
        except InvalidMessageError:
            self.n_bad_integrity += 1

    def _spis_match(self, msg: Message) -> bool:
        """Both SPIs are ours, or IKE_SA_INIT traffic before SPIr is settled (responses bring it)."""
        h = msg.header
        if not self.spi_i:  # a fresh responder adopts the initiator's SPI from its IKE_SA_INIT
            return h.exchange == ExchangeType.IKE_SA_INIT and not h.is_response and h.spi_r == bytes(8)
        if h.spi_i != self.spi_i:
            return False
        if h.spi_r == self.spi_r:
            return True
        if h.exchange != ExchangeType.IKE_SA_INIT:
            return False
        if self.is_initiator:  # the response that brings SPIr (a later copy would not match the keys)
            return h.is_response and self.keys is None
        # a retransmitted IKE_SA_INIT request still carries a zero SPIr: the task manager answers it
        # from its cache (RFC 7296 §2.1), although our keys already exist
        return not h.is_response and h.spi_r == bytes(8)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, None
        return out if out is not None else []

    def next_event(self) -> Event | None:
        events = self._events
        if events is None:
            return None
        event = events.pop(0)
        if not events:
            self._events = None
        return event

    def get_timer(self) -> float | None:
        if self.state == IkeState.CLOSED:
            return None
        due = self._maintenance_due()
        retransmit = self.tm.next_timeout()
        if retransmit is not None and (due is None or retransmit < due):
            due = retransmit
        for extra in self.redundant.values():
            if due is None or extra.deadline < due:
                due = extra.deadline
        return due

    def handle_timer(self, now: float) -> None:
        self.now = now
        if self.state == IkeState.CLOSED:
            return
        for extra in list(self.redundant.values()):
            self._on_redundant(extra, extra.on_timer(now), self.addr)
        self.tm.on_timer(now)
        if self.state == IkeState.ESTABLISHED:
            self.tm.maintenance(now)
        elif (
            self.state == IkeState.CONNECTING
            and not self.is_initiator
            and now >= self.created + HALF_OPEN_TIMEOUT
        ):
            self.close("half-open: no IKE_AUTH from the peer")

    def _maintenance_due(self) -> float | None:
        """The earliest of DPD, the IKE SA's rekey and expiry, its children's rekeys and expiries
        (the daemon asks after every message: no lists built)."""
        state = self.state
        if state == IkeState.CONNECTING and not self.is_initiator:
            return self.created + HALF_OPEN_TIMEOUT
        if state != IkeState.ESTABLISHED:
            return None
        due = self.rekey_at
        if self.expire_at is not None and (due is None or self.expire_at < due):
            due = self.expire_at
        dpd = self.config.dpd_interval
        if dpd and not self.tm.busy():
            at = max(self.last_rx, self.tm.last_tx) + dpd
            if due is None or at < due:
                due = at
        for child in self.children.values():
            if not child.deleting:
                at = child.expire_at if child.rekeying else min(child.rekey_at, child.expire_at)
                if due is None or at < due:
                    due = at
        return due

    # -- operations for the daemon -------------------------------------------------------------

    def provide_verdict(self, token: object, result: object) -> None:
        """An outside verdict a task waits for (DESIGN.md §3); its exchange goes on from here."""
        self.tm.provide_verdict(token, result)

    def delete(self) -> None:
        """Close the IKE SA with an INFORMATIONAL DELETE (shutdown, kill-connections)."""
        self.tm.queue_ike_delete()

    def create_child(self, child: ChildConfig) -> None:
        """Negotiate another CHILD_SA (an acquire for a policy without SA)."""
        self.tm.queue_child_create(child)

    def creating_child(self, policy_id: str) -> bool:
        """A CHILD_SA for this policy is already queued or in negotiation on this IKE SA."""
        return self.tm.creating(policy_id)

    def delete_child(self, inbound_spi: int, reason: str = "deleted") -> None:
        """Delete one CHILD_SA with an INFORMATIONAL DELETE (policy removed, installed-sa flush)."""
        child = self.children.get(inbound_spi)
        if child is not None and not child.deleting:
            child.deleting = True
            self.tm.queue_child_delete([child], reason)

    def rekey_child(self, inbound_spi: int) -> None:
        """Rekey a CHILD_SA now (the data plane reported its soft lifetime)."""
        child = self.children.get(inbound_spi)
        if child is not None:
            child.rekey_at = self.now
            self.tm.maintenance(self.now)

    def rekey_ike(self) -> None:
        """Rekey the IKE SA now (operator request; otherwise it happens at the profile lifetime)."""
        self.rekey_at = self.now
        self.tm.maintenance(self.now)

    def traffic_seen(self, now: float) -> None:
        """Inbound ESP from the peer proves liveness: DPD waits (RFC 7296 §2.4)."""
        self.last_rx = max(self.last_rx, now)

    # -- shared helpers for the tasks ------------------------------------------------------------

    def new_generation(
        self,
        algs: IkeAlgs,
        skeyseed: bytes,
        ni: bytes,
        nr: bytes,
        spi_i: bytes,
        spi_r: bytes,
        initiator: bool,
    ) -> Generation:
        """The rekeyed IKE SA's keys (§2.18); set as ``pending`` it takes over in
        :meth:`switch_generation`."""
        keys = keymat.ikev2_ike_sa_keys(
            algs.prf,
            skeyseed,
            ni,
            nr,
            spi_i,
            spi_r,
            algs.integ.key_size if algs.integ else 0,
            algs.encr.keymat_size,
            algs.prf.key_size,
        )
        return Generation(spi_i, spi_r, initiator, algs, keys, ni, nr)

    def switch_generation(self) -> None:
        """The old IKE SA's DELETE is done: continue as the new one (children stay)."""
        gen = self.pending
        if gen is None:
            return
        old = self.local_spi
        self.pending = None
        self.spi_i, self.spi_r, self.is_initiator = gen.spi_i, gen.spi_r, gen.initiator
        self.algs, self.keys = gen.algs, gen.keys  # its nonces were used up deriving those keys
        self.protection = Protection.for_role(gen.algs, gen.keys, gen.initiator, self.rng)
        self.tm.reset_windows()
        self.advance(Trigger.GENERATION_SWITCHED)
        self.start_lifetime()
        self._spi_moved(old, False)
        self._spi_moved(self.local_spi, True)
        self.emit(IkeSaRekeyed(old, self.local_spi))

    def add_redundant(self, gen: Generation) -> None:
        """Keep the redundant SA of a rekey collision until it is deleted (§2.8.2); its creator sends
        the DELETE now."""
        extra = RedundantSa(gen, self.rng, self.config.retransmit, self.now)
        if self.redundant is _NO_REDUNDANT:
            self.redundant = {}
        self.redundant[extra.local_spi] = extra
        self._spi_moved(extra.local_spi, True)
        if gen.initiator:
            self.send(extra.packet, self.addr)

    def _on_redundant(self, extra: RedundantSa, reply: bytes | None, addr: Addr) -> None:
        if reply is not None:
            self.send(reply, addr)
        if extra.done:
            del self.redundant[extra.local_spi]
            self._spi_moved(extra.local_spi, False)

    def _spi_moved(self, spi: bytes, present: bool) -> None:
        if self.on_spi is not None:
            self.on_spi(self, spi, present)

    def rekey_after(self, lifetime: float, share: float) -> float:
        """Seconds until an SA of ``lifetime`` is rekeyed: at ``share`` of it, less a random jitter of up
        to :data:`REKEY_JITTER` of it drawn from the injected RNG, so that two ends with the same
        lifetime (a peer we do not control, or many SAs started together) seldom rekey at once."""
        return lifetime * (share - REKEY_JITTER * int.from_bytes(self.rng(2), "big") / 65536)

    def start_lifetime(self) -> None:
        """Schedule the IKE SA rekey (the original initiator first, so both rarely collide) and expiry."""
        if self.config.lifetime:
            self.rekey_at = self.now + self.rekey_after(
                self.config.lifetime, 0.9 if self.is_initiator else 0.95
            )
            self.expire_at = self.now + self.config.lifetime

    def send(self, data: bytes, addr: Addr) -> None:
        if self._out is None:
            self._out = [(data, addr)]
        else:
            self._out.append((data, addr))
        if self.on_output is not None:
            self.on_output(self)

    def emit(self, event: Event) -> None:
        if self._events is None:
            self._events = [event]
        else:
            self._events.append(event)
        if self.on_output is not None:
            self.on_output(self)

    def idle(self) -> bool:
        """Nothing queued: no datagram to send, no event to read."""
        return self._out is None and self._events is None

    def finish_handshake(self) -> None:
        """IKE_AUTH is over: drop what only the handshake needed (RFC 7296 §2.15's signed octets,
        g^ir, our KE private key, the nonces and SK_pi/SK_pr). SK_d stays for CHILD_SA keys and the
        IKE SA rekey, SK_e/SK_a in the protection for every later exchange."""
        self.init_request = self.init_response = self.shared = self.nonce_i = self.nonce_r = b""
        self.ke = None
        k = self.keys
        if k is not None and k.sk_pi:
            self.keys = keymat.IkeSaKeys(k.sk_d, k.sk_ai, k.sk_ar, k.sk_ei, k.sk_er, b"", b"")

    def close(self, reason: str, *, notify_children: bool = True) -> None:
        """The IKE SA is gone: children go with it (RFC 7296 §1.4.1)."""
        if self.state == IkeState.CLOSED:
            return
        self.advance(Trigger.CLOSED)
        if notify_children:
            for spi, child in list(self.children.items()):
                self.emit(ChildSaDeleted(child.config.name, spi, child.outbound.spi, reason))
        self.children.clear()
        for extra_spi in self.redundant:
            self._spi_moved(extra_spi, False)
        self.redundant = _NO_REDUNDANT
        self.emit(IkeSaDeleted(self.local_spi, reason))

    def fail(self, exchange: ExchangeType, notify: str, detail: str) -> None:
        self.emit(NegotiationFailed(exchange.name, notify, detail, fatal=True))
        self.close(f"{exchange.name} failed: {notify}")


def responder_factory(
    config_for: Callable[[Addr], IkeConfig | None], *, rng: Rng, spi_alloc: SpiAlloc
) -> ResponderFactory:
    """The router's IKEv2 factory (``Router.register(2, …)``): ``config_for(addr)`` picks the peer's
    configuration, None refuses the request."""

    def make(data: bytes, addr: Addr, now: float) -> IkeSa | None:
        config = config_for(addr)
        if config is None:
            return None
        return IkeSa.responder(config, rng=rng, spi_alloc=spi_alloc, now=now, addr=addr)

    return make


def ikev2_router(
    config_for: Callable[[Addr], IkeConfig | None],
    *,
    rng: Rng,
    spi_alloc: SpiAlloc,
    now: float,
    **limits: Any,
) -> Router:
    """A :class:`~ipsecd.ike.router.Router` with the IKEv2 responder factory registered (tests,
    benchmarks)."""
    router = Router(rng=rng, now=now, **limits)
    router.register(2, responder_factory(config_for, rng=rng, spi_alloc=spi_alloc))
    return router
