"""IKE SA rekey with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18).

The request carries an SA payload of protocol IKE with the initiator's new 8-byte SPI, a nonce and a
KE payload; SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) and SK_* follow with the new SPIs. The
new IKE SA belongs to whoever initiated the rekey (its I flag). CHILD_SAs move over; the rekey
initiator then deletes the old IKE SA, and each side switches to the new SA when that DELETE
exchange is done (``IkeSa.switch_generation``), so the old keys finish the old SA's last exchange.

Collisions (§2.8.2): when both ends rekey at once, each answers the other's request and so learns all
four nonces; the new SA created with the lowest nonce is redundant. Both ends reach the same verdict:
the winner's initiator deletes the old SA, the other side takes the winner's SA over when that
DELETE arrives. The redundant SA is never used: its creator deletes it with an INFORMATIONAL DELETE
and the other end answers it (``redundant.py``).
A rekey request while our own finished rekey awaits its DELETE gets TEMPORARY_FAILURE (§2.25.2);
if our own request was refused that way, the peer's rekey we answered is the one that goes ahead.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ipsecd.crypto import keymat
from ipsecd.crypto.errors import CryptoError, UnknownAlgorithmError
from ipsecd.crypto.ke import KeyExchange, new_ke
from ipsecd.wire.enums import DhGroup, ExchangeType, NotifyType, ProtocolId, TransformType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.sa import Proposal, SaPayload
from ipsecd.wire.ikev2.payloads.simple import KePayload, NoncePayload

from ...errors import IkeProtocolError
from ...events import NegotiationFailed
from ..proposals import IkeAlgs, explain, ike_algs, ike_proposals, proposal_contains, select
from ..state import IkeState
from .base import Retry, Task
from .ike_init import NONCE_SIZE

if TYPE_CHECKING:
    from ..sa import Generation, IkeSa


class IkeRekey(Task):
    __slots__ = ("chosen", "collision", "group", "ke", "my_public", "new_spi", "nonce", "offered")

    def __init__(self, sa: IkeSa) -> None:
        super().__init__(sa)
        self.new_spi = b""
        self.nonce = b""
        self.collision: Generation | None = None  # the peer's simultaneous rekey, which we answered
        self.ke: KeyExchange | None = None
        self.offered: list[Proposal] = []
        self.chosen: Proposal | None = None
        self.my_public = b""
        self.group = sa.algs.group.id if sa.algs else 0  # our KE guess: the current group first

    def _derive(self, algs: IkeAlgs, shared: bytes, ni: bytes, nr: bytes, spi_i: bytes, spi_r: bytes,
                initiator: bool) -> Generation:
        sa = self.sa
        assert sa.algs is not None and sa.keys is not None
        skeyseed = keymat.ikev2_rekey_skeyseed(sa.algs.prf, sa.keys.sk_d, shared, ni, nr)
        return sa.new_generation(algs, skeyseed, ni, nr, spi_i, spi_r, initiator)

    def _retry_later(self) -> None:
        """Try again after a random delay (do not collide again), but within the SA's lifetime: a short
        profile lifetime still gets several attempts before its hard expiry deletes the SA."""
        sa = self.sa
        delay = 10.0 + sa.rng(1)[0] / 16.0
        if sa.expire_at is not None:
            delay = min(delay, max(1.0, (sa.expire_at - sa.now) / 2))
        sa.rekey_at = sa.now + delay

    # -- initiator ---------------------------------------------------------------------------

    def build_i(self, out: list[Payload]) -> None:
        sa = self.sa
        assert sa.algs is not None
        self.new_spi = sa.rng(8)
        self.nonce = sa.rng(NONCE_SIZE)
        group = self.group
        self.offered = ike_proposals(sa.config.proposals, spi=self.new_spi)
        for p in self.offered:  # the current group first: it is the one our KE payload is for
            dhs = sorted(p.of_type(TransformType.DH), key=lambda t: t.id != group)
            p.transforms = [t for t in p.transforms if t.type != TransformType.DH] + dhs
        self.ke = new_ke(group, sa.rng)
        out += [
            SaPayload(self.offered),
            NoncePayload(self.nonce),
            KePayload(DhGroup(group), self.ke.public_value()),
        ]

    def process_i(self, msg: Message) -> None:
        sa = self.sa
        invalid_ke = msg.notify(NotifyType.INVALID_KE_PAYLOAD)
        if invalid_ke is not None and len(invalid_ke.data) == 2 and self.collision is None:
            wanted = struct.unpack("!H", invalid_ke.data)[0]
            if wanted != self.group and any(
                t.id == wanted for p in self.offered for t in p.of_type(TransformType.DH)
            ):
                self.group = wanted
                raise Retry
        err = msg.error_notify()
        if err is not None:
            if self.collision is not None:  # §2.25.2: the peer's rekey, which we answered, goes ahead
                sa.pending = self.collision
                return
            sa.emit(
                NegotiationFailed(
                    ExchangeType.CREATE_CHILD_SA.name,
                    err.type.name,
                    "the peer refused to rekey the IKE SA; retrying later",
                    fatal=False,
                )
            )
            self._retry_later()
            return
        sa_p, ke_p, nonce_p = msg.get(SaPayload), msg.get(KePayload), msg.get(NoncePayload)
        try:
            if sa_p is None or ke_p is None or nonce_p is None or len(sa_p.proposals) != 1:
                raise UnknownAlgorithmError("IKE rekey response lacks SA, KE or nonce")
            chosen = sa_p.proposals[0]
            if not proposal_contains(self.offered, chosen) or len(chosen.spi) != 8:
                raise UnknownAlgorithmError("the responder chose an IKE proposal we did not offer")
            algs = ike_algs(chosen)
            assert self.ke is not None
            if ke_p.group != self.ke.group or algs.group.id != self.ke.group:
                raise UnknownAlgorithmError("KE for another group")
            shared = self.ke.compute_shared(ke_p.data)
        except CryptoError as e:
            sa.emit(
                NegotiationFailed(ExchangeType.CREATE_CHILD_SA.name, "INVALID_SYNTAX", str(e), fatal=False)
            )
            self._retry_later()
            return
        mine = self._derive(algs, shared, self.nonce, nonce_p.data, self.new_spi, chosen.spi, initiator=True)
        theirs = self.collision
        if theirs is not None and min(mine.nonce_i, mine.nonce_r) < min(theirs.nonce_i, theirs.nonce_r):
            sa.pending = theirs  # ours holds the lowest nonce: redundant; the peer deletes the old SA
            sa.add_redundant(mine)  # and we, its creator, delete the redundant one
            return
        if theirs is not None:
            sa.add_redundant(theirs)  # the peer deletes it: we answer that DELETE
        sa.pending = mine
        sa.tm.queue_ike_delete(rekeyed=True)

    # -- responder ---------------------------------------------------------------------------

    def process_r(self, msg: Message) -> None:
        sa = self.sa
        if sa.pending is not None or sa.state != IkeState.ESTABLISHED:
            raise IkeProtocolError(NotifyType.TEMPORARY_FAILURE, "IKE SA rekey or delete already in progress")
        sa_p, ke_p, nonce_p = msg.get(SaPayload), msg.get(KePayload), msg.get(NoncePayload)
        assert sa_p is not None and nonce_p is not None
        if ke_p is None:
            raise IkeProtocolError(NotifyType.INVALID_SYNTAX, "IKE rekey without KE")
        ours = ike_proposals(sa.config.proposals)
        chosen = select(ours, [p for p in sa_p.proposals if len(p.spi) == 8])
        if chosen is None:
            raise IkeProtocolError(
                NotifyType.NO_PROPOSAL_CHOSEN, f"IKE rekey: {explain(sa_p.proposals, ours, esp=False)}"
            )
        algs = ike_algs(chosen)
        if ke_p.group != algs.group.id:
            raise IkeProtocolError(
                NotifyType.INVALID_KE_PAYLOAD,
                "IKE rekey KE for another group",
                struct.pack("!H", algs.group.id),
            )
        self.ke = new_ke(algs.group.id, sa.rng)
        try:
            self.my_public, shared = self.ke.respond(ke_p.data)
        except CryptoError as e:
            raise IkeProtocolError(NotifyType.INVALID_SYNTAX, f"bad KE: {e}") from None
        self.new_spi = sa.rng(8)
        self.nonce = sa.rng(NONCE_SIZE)
        self.chosen = Proposal(chosen.number, ProtocolId.IKE, self.new_spi, chosen.transforms)
        gen = self._derive(algs, shared, nonce_p.data, self.nonce, chosen.spi, self.new_spi, initiator=False)
        own = sa.tm.active_ike_rekey()
        if own is not None:
            own.collision = gen  # §2.8.2: decided when our own response arrives
        else:
            sa.pending = gen

    def build_r(self, out: list[Payload]) -> None:
        assert self.chosen is not None and self.ke is not None
        out += [
            SaPayload([self.chosen]),
            NoncePayload(self.nonce),
            KePayload(DhGroup(self.ke.group), self.my_public),
        ]
