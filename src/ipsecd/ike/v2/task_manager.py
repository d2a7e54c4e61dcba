"""Queues exchanges, runs their tasks, keeps the message-ID windows and retransmits (RFC 7296 §2.1–§2.3).

* Message-ID windows (§2.3) are properties of the SA: ``sa.window`` is how many of the peer's
  requests we accept at once (announced with SET_WINDOW_SIZE by the ``ike_window`` task when above
  1), ``sa.peer_window`` how many of ours may be outstanding (the peer's announcement; 1 until then).
  Concurrent exchanges are those that only touch CHILD_SAs (create, rekey, delete) and DPD; the
  handshake, an IKE SA rekey and an IKE SA delete run alone. A request in
  [next expected, next expected + window) is processed, in any order; one already answered gets its
  cached response again without being processed twice (§2.1); anything else is dropped.
* Retransmission with back-off: strongSwan's 4 s × 1.8^n with 5 retransmissions; then the exchange
  failed, and for an established SA the peer is dead (§2.4).
* Responder tasks are picked by exchange type and content (§1.3: an SA payload of protocol IKE is an
  IKE SA rekey, a REKEY_SA notify a CHILD_SA rekey).
* IKE fragmentation (RFC 7383), once negotiated: an encrypted message larger than the path allows is
  sent, and retransmitted, as all its SKF fragments; fragments received are verified one by one and
  reassembled (``fragments.py``) before the message is processed like any other. A retransmitted
  request we already answered gets the cached response again only for its fragment 1 (§2.6.1), so
  that a request of n fragments does not cost n responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ipsecd.wire.enums import ExchangeType, NotifyType, ProtocolId
from ipsecd.wire.errors import UnsupportedCriticalPayloadError, WireError
from ipsecd.wire.ikev2.header import FLAG_INITIATOR, FLAG_RESPONSE, Header
from ipsecd.wire.ikev2.message import Message, decode_chain
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload
from ipsecd.wire.ikev2.payloads.sa import SaPayload
from ipsecd.wire.ikev2.payloads.skf import SkfPayload
from ipsecd.wire.ikev2.rules import check_payloads

from ..errors import IkeProtocolError, InvalidMessageError
from ..events import NegotiationFailed, PeerDead
from .fragments import Reassembly, accepts, fragment_limit
from .state import IkeState
from .tasks.base import NEED_MORE, AwaitVerdict, Retry, Task
from .tasks.child_create import ChildCreate
from .tasks.child_delete import ChildDelete
from .tasks.child_rekey import ChildRekey
from .tasks.ike_auth import IkeAuth
from .tasks.ike_cert import IkeCert, IkeCertAuth
from .tasks.ike_config import IkeConfigTask
from .tasks.ike_cookie import IkeCookie
from .tasks.ike_delete import IkeDelete
from .tasks.ike_dpd import IkeDpd
from .tasks.ike_frag import IkeFrag
from .tasks.ike_init import IkeInit
from .tasks.ike_natd import IkeNatd
from .tasks.ike_rekey import IkeRekey
from .tasks.ike_window import IkeWindow

if TYPE_CHECKING:
    from ..sa import Addr
    from .child import ChildSa
    from .config import ChildConfig
    from .sa import IkeSa


@dataclass(slots=True)
class Exchange:
    type: ExchangeType
    tasks: list[Task]
    mid: int = 0
    packets: tuple[bytes, ...] = ()  # the request as sent: one datagram, or its SKF fragments
    tries: int = 0
    deadline: float = 0.0  # the next retransmission, or while ``waiting`` the verdict's deadline
    waiting: Waiting | None = None  # its response is in, a task waits for an outside verdict


@dataclass(slots=True)
class Waiting:
    """Our request's response whose processing waits for an outside verdict (a ``process_i`` raised
    ``AwaitVerdict``): the task that asked, by index, and what the rest of the exchange needs."""

    token: object
    msg: Message
    index: int  # the task after the one that waits
    more: list[Task]  # tasks before it that said NEED_MORE


@dataclass(slots=True)
class Parked:
    """A request whose answer waits for an outside verdict (``AwaitVerdict``): the task that asked,
    by index, and what the rest of the exchange needs to go on."""

    token: object
    header: Header
    msg: Message
    tasks: list[Task]
    index: int
    addr: Addr


# ``active`` while nothing is outstanding (most of an SA's life): one shared empty dict, never
# written to, instead of one per SA. Replaced by a dict of its own when an exchange starts.
_IDLE: dict[int, Exchange] = {}
# ``queue`` while nothing waits, likewise: written only through ``enqueue``, which gives the SA a
# list of its own; ``kick`` hands the shared one back when the queue drains
_NO_QUEUE: list[Exchange] = []


def _answer_to(answers: tuple[int | bytes | tuple[bytes, ...], ...], mid: int) -> tuple[bytes, ...] | None:
    """The datagrams of our cached response to request ``mid`` (``TaskManager.answers``), if any."""
    for i in range(0, len(answers), 2):
        if answers[i] == mid:
            response = answers[i + 1]
            if isinstance(response, bytes):
                return (response,)
            assert isinstance(response, tuple)
            return response
    return None


def _exclusive(ex: Exchange) -> bool:
    """An exchange that runs alone: the handshake, an IKE SA rekey or delete (they change the SA)."""
    return ex.type in (ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH) or any(
        isinstance(t, IkeRekey | IkeDelete) for t in ex.tasks)


class TaskManager:
    __slots__ = (
        "active",
        "answers",
        "continuing",
        "defrag_req",
        "defrag_resp",
        "graced",
        "last_tx",
        "mid_in",
        "mid_out",
        "parked",
        "queue",
        "sa",
    )

    def __init__(self, sa: IkeSa) -> None:
        self.sa = sa
        self.queue: list[Exchange] = _NO_QUEUE  # exchanges of ours not started yet
        self.active: dict[int, Exchange] = _IDLE  # our outstanding requests by message ID
        self.mid_out = 0  # the message ID of our next request
        self.mid_in = 0  # the lowest message ID of the peer's not yet answered
        # our responses to the last ``window`` requests, for retransmissions (§2.1), flat: message ID,
        # response, message ID, response … (one object per SA, not one more per answer); a response
        # is its datagram, or the tuple of its SKF fragments
        self.answers: tuple[int | bytes | tuple[bytes, ...], ...] = ()
        # the peer's fragmented request and response being reassembled (RFC 7383), None mostly
        self.defrag_req: Reassembly | None = None
        self.defrag_resp: Reassembly | None = None
        self.last_tx = sa.now
        self.graced = False  # this generation's hard expiry was already put off once for a late rekey
        self.parked: Parked | None = None  # a request waiting for provide_verdict
        self.continuing: tuple[ExchangeType, list[Task]] | None = None  # responder tasks that said NEED_MORE

    # -- queueing (initiator) ----------------------------------------------------------------

    def initiate_ike(self, now: float) -> None:
        sa = self.sa
        self.enqueue(
            Exchange(
                ExchangeType.IKE_SA_INIT, [IkeCookie(sa), IkeInit(sa), IkeNatd(sa), IkeFrag(sa), IkeCert(sa)]
            )
        )
        auth: list[Task] = [IkeAuth(sa), IkeCertAuth(sa), IkeConfigTask(sa), IkeWindow(sa)]
        if sa.config.children:
            auth.append(ChildCreate(sa, sa.config.children[0]))
        self.enqueue(Exchange(ExchangeType.IKE_AUTH, auth))
        for child in sa.config.children[1:]:
            self.queue_child_create(child)
        self.kick(now)

    def queue_child_create(self, child: ChildConfig, rekey: ChildSa | None = None) -> None:

        task = ChildRekey(self.sa, rekey) if rekey is not None else ChildCreate(self.sa, child)
        self.enqueue(Exchange(ExchangeType.CREATE_CHILD_SA, [task]))
        self.kick(self.sa.now)

    def creating(self, policy_id: str) -> bool:
        """A CHILD_SA for ``policy_id`` is queued or being negotiated (not a rekey): a repeated
        Acquire must not start a second one."""
        exchanges = [*self.active.values(), *self.queue]
        return any(
            isinstance(t, ChildCreate)
            and t.rekey is None
            and t.config is not None
            and t.config.policy_id == policy_id
            for x in exchanges
            for t in x.tasks
        )

    def queue_child_delete(self, children: list[ChildSa], reason: str) -> None:

        self.enqueue(Exchange(ExchangeType.INFORMATIONAL, [ChildDelete(self.sa, children, reason)]))
        self.kick(self.sa.now)

    def queue_ike_delete(self, rekeyed: bool = False, expired: bool = False) -> None:
        """Delete the IKE SA; ``rekeyed``: only the old one, the new generation takes over after;
        ``expired``: the lifetime of this generation ran out (never carried over to a rekeyed one)."""

        if self.sa.state != IkeState.ESTABLISHED:
            self.sa.close("deleted before it was established")
            return
        if rekeyed:
            self.enqueue(Exchange(ExchangeType.INFORMATIONAL, [IkeDelete(self.sa, rekeyed=True)]), first=True)
        else:
            self.queue = _NO_QUEUE
            self.enqueue(Exchange(ExchangeType.INFORMATIONAL, [IkeDelete(self.sa, expired=expired)]))
        self.kick(self.sa.now)

    def rekey_underway(self) -> bool:
        """An IKE SA rekey of ours is queued or outstanding, or a rekeyed SA waits to take over."""
        sa = self.sa
        if sa.pending is not None or sa.switch_pending:
            return True
        exchanges = [*self.queue, *self.active.values()]
        return any(
            isinstance(t, IkeRekey) or (isinstance(t, IkeDelete) and t.rekeyed)
            for ex in exchanges
            for t in ex.tasks
        )

    def active_ike_rekey(self) -> IkeRekey | None:
        """Our own IKE SA rekey awaiting its response (a collision partner, §2.8.2)."""

        return next((t for ex in self.active.values() for t in ex.tasks if isinstance(t, IkeRekey)), None)

    def reset_windows(self) -> None:
        """A new IKE SA generation starts its message IDs at zero (§2.18); an exchange of ours still
        outstanding on the old SA is started again on the new one."""
        self.mid_out = self.mid_in = 0
        self.answers = ()
        self.defrag_req = self.defrag_resp = None
        self.graced = False
        restart = [Exchange(ex.type, ex.tasks) for _, ex in sorted(self.active.items())]
        self.active = _IDLE
        # the old generation's lifetime ended with it: its expiry DELETE must not hit the new SA
        queue = [
            ex
            for ex in (*restart, *self.queue)
            if not any(isinstance(t, IkeDelete) and t.expired for t in ex.tasks)
        ]
        self.queue = queue or _NO_QUEUE

    def queue_ike_rekey(self) -> None:

        self.enqueue(Exchange(ExchangeType.CREATE_CHILD_SA, [IkeRekey(self.sa)]))
        self.kick(self.sa.now)

    def queue_dpd(self) -> None:

        self.enqueue(Exchange(ExchangeType.INFORMATIONAL, [IkeDpd(self.sa)]))
        self.kick(self.sa.now)

    def enqueue(self, ex: Exchange, first: bool = False) -> None:
        """Queue ``ex`` to start when the window allows (``first``: before anything queued)."""
        if self.queue is _NO_QUEUE:
            self.queue = []
        if first:
            self.queue.insert(0, ex)
        else:
            self.queue.append(ex)

    def busy(self) -> bool:
        return bool(self.active) or bool(self.queue)

    def kick(self, now: float) -> None:
        """Start queued exchanges, in order, as far as the peer's window and exclusivity allow."""
        sa = self.sa
        while self.queue and sa.state != IkeState.CLOSED:
            ex = self.queue[0]
            if (
                ex.type not in (ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH)
                and sa.state != IkeState.ESTABLISHED
            ):
                return
            if self.active and (
                _exclusive(ex)
                or self.mid_out >= min(self.active) + sa.peer_window
                or any(_exclusive(x) for x in self.active.values())
            ):
                return
            self.queue.pop(0)
            if not self.queue:
                self.queue = _NO_QUEUE
            ex.mid = self.mid_out
            self.mid_out += 1
            if self.active is _IDLE:
                self.active = {}
            self.active[ex.mid] = ex
            self._send_request(ex, now)

    def _send_request(self, ex: Exchange, now: float) -> None:
        sa = self.sa
        payloads: list[Payload] = []
        try:
            for task in ex.tasks:
                task.build_i(payloads)
        except IkeProtocolError as e:  # we cannot make this request (no usable signature method)
            sa.fail(ex.type, e.notify.name, e.detail)
            return
        flags = FLAG_INITIATOR if sa.is_initiator else 0
        header = Header(sa.spi_i, sa.spi_r or bytes(8), 0, ex.type, flags, ex.mid)
        if ex.type == ExchangeType.IKE_SA_INIT:
            sa.init_request = Message(header, payloads).encode()
            ex.packets = (sa.init_request,)
        else:
            ex.packets = self._seal(header, payloads)
        ex.tries = 0
        ex.deadline = now + sa.config.retransmit.timeout
        self.last_tx = now
        for packet in ex.packets:
            sa.send(packet, sa.addr)

    def _seal(self, header: Header, payloads: list[Payload]) -> tuple[bytes, ...]:
        """An encrypted message as it goes out: one SK datagram, or SKF fragments when both sides
        support them and it is larger than the path allows (RFC 7383 §2.5)."""
        sa = self.sa
        assert sa.protection is not None
        if not sa.fragmentation:
            return (sa.protection.seal(header, payloads),)
        local, remote = sa.addr
        limit = fragment_limit(sa.config.fragment_size, remote[0], local[1] == sa.config.natt_port)
        return sa.protection.seal_fragments(header, payloads, limit)

    def _open(self, msg: Message, data: bytes, response: bool) -> list[Payload] | None:
        """The inner payloads of an encrypted message; None while ``msg`` is a fragment of a message
        not yet complete (or one to ignore). Errors as ``Protection.unseal``: a fragment that does
        not verify is never kept (RFC 7383 §2.6)."""
        sa = self.sa
        assert sa.protection is not None
        frag = msg.payloads[-1] if msg.payloads else None
        if not isinstance(frag, SkfPayload):
            return sa.protection.unseal(data, msg)
        current = self.defrag_resp if response else self.defrag_req
        into = accepts(current, msg.header.message_id, frag.total, sa.now) if sa.fragmentation else None
        if into is None:
            sa.n_dropped += 1
            return None
        plain = sa.protection.unseal_fragment(data, frag)
        done = None
        if not into.add(frag.number, frag.first_inner, plain):
            into = None  # over the memory bound: the whole message is given up
            sa.n_dropped += 1
        elif into.complete:
            done, into = into, None
        if response:
            self.defrag_resp = into
        else:
            self.defrag_req = into
        return None if done is None else decode_chain(done.first_inner, done.assemble())

    # -- responses -------------------------------------------------------------------------

    def on_response(self, msg: Message, data: bytes, addr: Addr) -> None:
        sa = self.sa
        ex = self.active.get(msg.header.message_id)
        if ex is None or msg.header.exchange != ex.type or ex.waiting is not None:
            sa.n_dropped += 1  # unasked for, or a copy of the response whose verdict we wait for
            return
        try:
            if ex.type == ExchangeType.IKE_SA_INIT:
                payloads = msg.payloads
            else:
                opened = self._open(msg, data, True)
                if opened is None:  # a fragment kept (or ignored): the message is not complete
                    return
                payloads = opened
            check_payloads(ex.type, True, payloads)
        except WireError:
            sa.n_dropped += 1
            return
        if ex.type == ExchangeType.IKE_SA_INIT:
            sa.init_response = data
        else:
            sa.addr = addr  # authenticated: the peer's current address (§2.23)
        sa.last_rx = sa.now
        self._process_response(ex, Message(msg.header, payloads), 0, [])

    def _process_response(
        self, ex: Exchange, inner: Message, start: int, more: list[Task], verdict: tuple[object] | None = None
    ) -> None:
        """Run the initiator tasks from ``start`` on the response (after the outside ``verdict`` for
        the one before, when it waited for one) and finish the exchange; an ``AwaitVerdict`` keeps
        the exchange in its window slot, without retransmissions, until ``provide_verdict``."""
        sa = self.sa
        if verdict is not None:
            try:
                ex.tasks[start - 1].verdict(verdict[0])
            except IkeProtocolError as e:  # the verdict refuses the response
                sa.fail(ex.type, e.notify.name, e.detail)
            if sa.state == IkeState.CLOSED:
                self.active = _IDLE
                return
        for k in range(start, len(ex.tasks)):
            task = ex.tasks[k]
            try:
                if task.process_i(inner) is NEED_MORE:
                    more.append(task)
            except AwaitVerdict as wait:
                ex.waiting = Waiting(wait.token, inner, k + 1, more)
                ex.deadline = sa.now + sa.config.retransmit.total()  # as long as a lost response takes
                return
            except Retry:
                if ex.type != ExchangeType.IKE_SA_INIT:  # that exchange is done: the retry is a new one
                    del self.active[ex.mid]
                    ex.mid = self.mid_out
                    self.mid_out += 1
                    self.active[ex.mid] = ex
                self._send_request(ex, sa.now)
                return
            if sa.state == IkeState.CLOSED:
                self.active = _IDLE
                return
        self.active.pop(ex.mid, None)
        if not self.active:
            self.active = _IDLE
        if more:  # another round of this exchange (EAP): it goes before anything queued
            self.enqueue(Exchange(ex.type, more), first=True)
        elif ex.type == ExchangeType.IKE_AUTH:
            sa.finish_handshake()
        if sa.switch_pending:
            sa.switch_pending = False
            sa.switch_generation()
        self.kick(sa.now)

    # -- requests --------------------------------------------------------------------------

    def _responder_tasks(self, exchange: ExchangeType, msg: Message) -> list[Task]:
        sa = self.sa
        if self.continuing is not None and self.continuing[0] == exchange:
            return self.continuing[1]
        if exchange == ExchangeType.IKE_SA_INIT:
            return [IkeInit(sa), IkeNatd(sa), IkeFrag(sa), IkeCert(sa)]
        if exchange == ExchangeType.IKE_AUTH:
            return [IkeAuth(sa), IkeCertAuth(sa), IkeConfigTask(sa), IkeWindow(sa), ChildCreate(sa, None)]
        if exchange == ExchangeType.CREATE_CHILD_SA:
            sa_payload = msg.get(SaPayload)
            if sa_payload is not None and any(p.protocol == ProtocolId.IKE for p in sa_payload.proposals):
                return [IkeRekey(sa)]
            return [ChildCreate(sa, None)]
        return [IkeDelete(sa), ChildDelete(sa, [], "deleted by the peer")]

    def on_request(self, msg: Message, data: bytes, addr: Addr) -> None:
        sa = self.sa
        h = msg.header
        mid = h.message_id
        cached = _answer_to(self.answers, mid)
        if cached is not None:
            last = msg.payloads[-1] if msg.payloads else None
            if isinstance(last, SkfPayload) and last.number != 1:
                return  # the whole request was retransmitted: its fragment 1 brings the answer
            sa.n_retransmits += 1
            for packet in cached:
                sa.send(packet, addr)
            return
        if self.parked is not None and mid == self.parked.header.message_id:
            sa.n_retransmits += 1  # still waiting for the verdict: the answer comes with it
            return
        if not self.mid_in <= mid < self.mid_in + sa.window or (
            mid != self.mid_in and sa.state != IkeState.ESTABLISHED
        ):
            sa.n_dropped += 1
            return
        if h.exchange == ExchangeType.IKE_SA_INIT:
            if sa.is_initiator or sa.keys is not None:
                sa.n_dropped += 1
                return
            payloads = msg.payloads
            sa.spi_i = h.spi_i
            sa.init_request = data
            sa.addr = addr
        else:
            if sa.protection is None:
                sa.n_dropped += 1
                return
            try:
                opened = self._open(msg, data, False)  # InvalidMessageError: dropped silently
            except UnsupportedCriticalPayloadError as e:
                self._respond(
                    h, [NotifyPayload(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, bytes([e.payload_type]))], addr
                )
                return
            except WireError:
                raise InvalidMessageError("undecodable SK content") from None
            if opened is None:  # a fragment kept (or ignored): the request is not complete
                return
            payloads = opened
            if sa.state == IkeState.CONNECTING and h.exchange != ExchangeType.IKE_AUTH:
                sa.n_dropped += 1
                return
        sa.last_rx = sa.now
        if h.exchange != ExchangeType.IKE_SA_INIT:
            sa.addr = addr  # an authenticated request: follow the peer's NAT mapping (§2.23)
        inner = Message(h, payloads)
        try:
            check_payloads(h.exchange, False, payloads)
        except WireError as e:
            self._answer_refused(h, addr, e)
            return
        self._answer(h, inner, self._responder_tasks(h.exchange, inner), 0, addr)

    def _answer(
        self,
        h: Header,
        inner: Message,
        tasks: list[Task],
        start: int,
        addr: Addr,
        verdict: tuple[object] | None = None,
    ) -> None:
        """Run the responder tasks from ``start`` (after the outside ``verdict`` for the one before,
        when it waited for one) and send the response; an ``AwaitVerdict`` parks the request."""
        sa = self.sa
        fatal = False
        out: list[Payload] = []
        more: list[Task] = []
        try:
            if verdict is not None:
                tasks[start - 1].verdict(verdict[0])
            for k in range(start, len(tasks)):
                try:
                    tasks[k].process_r(inner)
                except AwaitVerdict as wait:
                    self.parked = Parked(wait.token, h, inner, tasks, k + 1, addr)
                    return
            more = [task for task in tasks if task.build_r(out) is NEED_MORE]
        except IkeProtocolError as e:
            out = [NotifyPayload(e.notify, e.data)]
            fatal = e.fatal
            if h.exchange == ExchangeType.IKE_SA_INIT:
                fatal = True
            if h.exchange != ExchangeType.IKE_AUTH and e.notify != NotifyType.INVALID_KE_PAYLOAD:
                # the operator's line: what the peer asked for and why we refused (IKE_AUTH reports its own)
                sa.emit(NegotiationFailed(h.exchange.name, e.notify.name, e.detail, fatal=fatal))
        except WireError as e:
            self._answer_refused(h, addr, e)
            return
        self.continuing = (h.exchange, more) if more else None
        self._respond(h, out, addr, init_error=fatal and h.exchange == ExchangeType.IKE_SA_INIT)
        self._after_answer(h, fatal)

    def _answer_refused(self, h: Header, addr: Addr, e: WireError) -> None:
        """A request that breaks the payload rules: INVALID_SYNTAX, fatal during the handshake."""
        fatal = h.exchange in (ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH)
        if fatal:
            self.sa.emit(NegotiationFailed(h.exchange.name, "INVALID_SYNTAX", str(e), fatal=True))
        self._respond(
            h,
            [NotifyPayload(NotifyType.INVALID_SYNTAX)],
            addr,
            init_error=fatal and h.exchange == ExchangeType.IKE_SA_INIT,
        )
        self._after_answer(h, fatal)

    def _after_answer(self, h: Header, fatal: bool) -> None:
        sa = self.sa
        if h.exchange == ExchangeType.IKE_AUTH and sa.state == IkeState.ESTABLISHED:
            sa.finish_handshake()
        if fatal:
            sa.close(f"{h.exchange.name} refused")
        elif sa.switch_pending:
            sa.switch_pending = False
            sa.switch_generation()
            self.kick(sa.now)

    def provide_verdict(self, token: object, result: object) -> None:
        """The outside verdict for a parked request (responder) or a response waiting in its
        exchange (initiator): that exchange goes on; unknown tokens are ignored."""
        if self.sa.state == IkeState.CLOSED:
            return
        parked = self.parked
        if parked is not None and parked.token == token:
            self.parked = None
            self._answer(parked.header, parked.msg, parked.tasks, parked.index, parked.addr, (result,))
            return
        for ex in self.active.values():
            waiting = ex.waiting
            if waiting is not None and waiting.token == token:
                ex.waiting = None
                self._process_response(ex, waiting.msg, waiting.index, waiting.more, (result,))
                return

    def _respond(self, h: Header, payloads: list[Payload], addr: Addr, init_error: bool = False) -> None:
        sa = self.sa
        flags = FLAG_RESPONSE | (FLAG_INITIATOR if sa.is_initiator else 0)
        spi_r = bytes(8) if init_error else sa.spi_r
        header = Header(sa.spi_i, spi_r, 0, h.exchange, flags, h.message_id)
        if h.exchange == ExchangeType.IKE_SA_INIT:
            packet = Message(header, payloads).encode()
            if not init_error:
                sa.init_response = packet
            packets: tuple[bytes, ...] = (packet,)
        else:
            packets = self._seal(header, payloads)
        answers = (*self.answers, h.message_id, packets[0] if len(packets) == 1 else packets)
        answered = set(answers[::2])
        while self.mid_in in answered:
            self.mid_in += 1
        keep = self.mid_in - sa.window  # the answers a retransmission can still ask for
        kept: list[int | bytes | tuple[bytes, ...]] = []
        for i in range(0, len(answers), 2):
            m = answers[i]
            if isinstance(m, int) and m >= keep:
                kept += answers[i : i + 2]
        self.answers = tuple(kept)
        for packet in packets:
            sa.send(packet, addr)

    def unsupported_critical(self, data: bytes, addr: Addr, payload_type: int) -> None:
        """An unknown critical payload outside SK: only an IKE_SA_INIT request can be answered."""
        sa = self.sa
        try:
            h = Header.decode(data)
        except WireError:
            return
        if h.is_response or h.exchange != ExchangeType.IKE_SA_INIT or sa.is_initiator or h.message_id != 0:
            sa.n_dropped += 1
            return
        self._respond(
            h,
            [NotifyPayload(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, bytes([payload_type & 0xFF]))],
            addr,
            init_error=True,
        )
        sa.close("unsupported critical payload")

    # -- time ------------------------------------------------------------------------------

    def next_timeout(self) -> float | None:
        active = self.active
        if not active:
            return None
        if len(active) == 1:
            return next(iter(active.values())).deadline
        return min(ex.deadline for ex in active.values())

    def on_timer(self, now: float) -> None:
        sa = self.sa
        rt = sa.config.retransmit
        for ex in [x for x in self.active.values() if now >= x.deadline]:
            if ex.waiting is not None:
                self._no_verdict(ex)
                return
            if ex.tries < rt.tries:
                ex.tries += 1
                sa.n_retransmits += 1
                ex.deadline = now + rt.timeout * rt.base**ex.tries
                for packet in ex.packets:
                    sa.send(packet, sa.addr)
            else:
                self._give_up(ex)
                return

    def _give_up(self, ex: Exchange) -> None:
        """No response after every retransmission: the exchange failed, the peer is dead (§2.4)."""
        sa = self.sa
        rt = sa.config.retransmit
        self.active = _IDLE
        for task in ex.tasks:
            task.failed("no response")
        detail = f"no response to {ex.type.name} after {rt.tries} retransmissions"
        if sa.state == IkeState.ESTABLISHED:
            sa.emit(PeerDead(sa.addr[1], detail))
        else:
            sa.emit(NegotiationFailed(ex.type.name, "TIMEOUT", detail, fatal=True))
        sa.close(detail)

    def _no_verdict(self, ex: Exchange) -> None:
        """The outside verdict on a response did not come in time: the exchange failed; the IKE SA
        goes (with a DELETE when established: the peer took the exchange as done)."""
        sa = self.sa
        detail = f"no verdict on the {ex.type.name} response within {sa.config.retransmit.total():.0f} s"
        for task in ex.tasks:
            task.failed(detail)
        sa.emit(NegotiationFailed(ex.type.name, "TIMEOUT", detail, fatal=True))
        if sa.state == IkeState.ESTABLISHED:
            self.active.pop(ex.mid, None)
            if not self.active:
                self.active = _IDLE
            self.queue_ike_delete()
        else:
            self.active = _IDLE
            sa.close(detail)

    def maintenance(self, now: float) -> None:
        """Lifetimes (rekey, hard expiry), IKE SA rekey and DPD, whatever is due at ``now``."""
        sa = self.sa
        expired = [c for c in sa.children.values() if now >= c.expire_at and not c.deleting]
        if expired:
            for c in expired:
                c.deleting = True
            self.queue_child_delete(expired, "hard lifetime expired")
        for child in list(sa.children.values()):
            if not child.rekeying and not child.deleting and now >= child.rekey_at:
                child.rekeying = True
                self.queue_child_create(child.config, rekey=child)
        if sa.expire_at is not None and now >= sa.expire_at:
            if self.rekey_underway() and not self.graced:
                # a late rekey (retransmitted, or waiting for the old SA's DELETE) still replaces this
                # SA; its switch restarts the lifetime. Once only: a rekey that never completes ends it.
                self.graced = True
                sa.expire_at = now + sa.config.retransmit.total()
            else:
                sa.expire_at = None
                self.queue_ike_delete(
                    expired=True
                )  # never rekeyed within the lifetime (the peer kept refusing)
                return
        if sa.rekey_at is not None and now >= sa.rekey_at:
            sa.rekey_at = None
            self.queue_ike_rekey()
        dpd = sa.config.dpd_interval
        if dpd and not self.busy() and now >= max(sa.last_rx, self.last_tx) + dpd:
            self.queue_dpd()
        self.kick(now)
