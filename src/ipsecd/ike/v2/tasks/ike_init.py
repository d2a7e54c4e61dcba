"""IKE_SA_INIT: proposals, key exchange, nonces, SK_* keys (RFC 7296 §1.2, §2.6–§2.7, §2.14).

Initiator: offers the profile's proposals with a KE payload for its first group; an
INVALID_KE_PAYLOAD naming a group we offered restarts the exchange with that group (§1.2). Responder:
chooses by its own preference, answers INVALID_KE_PAYLOAD when the peer guessed another group, and
NO_PROPOSAL_CHOSEN (with the operator's explanation in the log) when nothing matches.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ipsecd.crypto import keymat, registry
from ipsecd.crypto.errors import CryptoError, UnknownAlgorithmError
from ipsecd.crypto.ke import new_ke
from ipsecd.wire.enums import DhGroup, ExchangeType, NotifyType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.sa import Proposal, SaPayload
from ipsecd.wire.ikev2.payloads.simple import KePayload, NoncePayload

from ...errors import IkeProtocolError
from ..proposals import describe, explain, ike_algs, ike_proposals, proposal_contains, select
from ..protect import Protection
from .base import Retry, Task

if TYPE_CHECKING:
    from ..sa import IkeSa

NONCE_SIZE = 32


def derive_ike_keys(sa: IkeSa) -> None:
    """SKEYSEED and SK_* (§2.14) from the SA's nonces, SPIs and shared secret; sets up protection."""
    assert sa.algs is not None
    algs = sa.algs
    skeyseed = keymat.ikev2_skeyseed(algs.prf, sa.nonce_i, sa.nonce_r, sa.shared)
    keys = keymat.ikev2_ike_sa_keys(algs.prf, skeyseed, sa.nonce_i, sa.nonce_r, sa.spi_i, sa.spi_r,
                                    algs.integ.key_size if algs.integ else 0, algs.encr.keymat_size,
                                    algs.prf.key_size)
    sa.keys = keys
    sa.protection = Protection.for_role(algs, keys, sa.is_initiator, sa.rng)


class IkeInit(Task):
    __slots__ = ("_my_public", "chosen", "group", "offered")

    def __init__(self, sa: IkeSa) -> None:
        super().__init__(sa)
        self._my_public = b""
        self.group = registry.group(self.sa.config.proposals[0].dh[0]).id if self.sa.config.proposals else 0
        self.offered: list[Proposal] = []
        self.chosen: Proposal | None = None

    # -- initiator ---------------------------------------------------------------------------

    def build_i(self, out: list[Payload]) -> None:
        sa = self.sa
        if sa.ke is None or sa.ke.group != self.group:
            sa.ke = new_ke(self.group, sa.rng)
        if not sa.nonce_i:
            sa.nonce_i = sa.rng(NONCE_SIZE)
        self.offered = ike_proposals(sa.config.proposals)
        out += [SaPayload(self.offered), KePayload(DhGroup(self.group), sa.ke.public_value()),
                NoncePayload(sa.nonce_i)]

    def process_i(self, msg: Message) -> None:
        sa = self.sa
        invalid_ke = msg.notify(NotifyType.INVALID_KE_PAYLOAD)
        if invalid_ke is not None and len(invalid_ke.data) == 2:
            wanted = struct.unpack("!H", invalid_ke.data)[0]
            offered = {t.id for p in self.offered for t in p.transforms if int(t.type) == registry.KE}
            if wanted in offered and wanted != self.group:
                self.group = wanted
                raise Retry
            sa.fail(ExchangeType.IKE_SA_INIT, "INVALID_KE_PAYLOAD",
                    f"peer wants dh-group #{wanted}, which we did not offer: add it to profile dh-group")
            return
        err = msg.error_notify()
        if err is not None:
            detail = f"peer refused our proposals (we offered {describe(self.offered)})"
            if err.type == NotifyType.NO_PROPOSAL_CHOSEN:
                detail += "; change profile enc-algorithm/hash-algorithm/dh-group to one the peer accepts"
            sa.fail(ExchangeType.IKE_SA_INIT, err.type.name, detail)
            return
        sa_p, ke_p, nonce_p = msg.get(SaPayload), msg.get(KePayload), msg.get(NoncePayload)
        assert sa_p is not None and ke_p is not None and nonce_p is not None  # rules checked them
        try:
            if len(sa_p.proposals) != 1 or not proposal_contains(self.offered, sa_p.proposals[0]):
                raise UnknownAlgorithmError("the responder chose a proposal we did not offer")
            sa.algs = ike_algs(sa_p.proposals[0])
            if sa.algs.group.id != self.group or ke_p.group != self.group:
                raise UnknownAlgorithmError(
                    f"the responder's KE is for group {int(ke_p.group)}, not {self.group}"
                )
            assert sa.ke is not None
            sa.shared = sa.ke.compute_shared(ke_p.data)
        except CryptoError as e:
            sa.fail(ExchangeType.IKE_SA_INIT, "INVALID_SYNTAX", str(e))
            return
        sa.spi_r = msg.header.spi_r
        sa.nonce_r = nonce_p.data
        derive_ike_keys(sa)

    # -- responder ---------------------------------------------------------------------------

    def process_r(self, msg: Message) -> None:
        sa = self.sa
        sa_p, ke_p, nonce_p = msg.get(SaPayload), msg.get(KePayload), msg.get(NoncePayload)
        assert sa_p is not None and ke_p is not None and nonce_p is not None
        ours = ike_proposals(sa.config.proposals)
        chosen = select(ours, sa_p.proposals)
        if chosen is None:
            raise IkeProtocolError(
                NotifyType.NO_PROPOSAL_CHOSEN,
                f"from {sa.addr[1][0]}: {explain(sa_p.proposals, ours, esp=False)}",
                fatal=True,
            )
        algs = ike_algs(chosen)
        if ke_p.group != algs.group.id:
            raise IkeProtocolError(
                NotifyType.INVALID_KE_PAYLOAD,
                f"peer sent KE for group {int(ke_p.group)}",
                struct.pack("!H", algs.group.id),
                fatal=True,
            )
        ke = new_ke(algs.group.id, sa.rng)
        try:
            my_public, sa.shared = ke.respond(ke_p.data)
        except CryptoError as e:
            raise IkeProtocolError(NotifyType.INVALID_SYNTAX, f"bad KE payload: {e}", fatal=True) from None
        sa.ke = ke
        sa.algs = algs
        sa.nonce_i = nonce_p.data
        sa.nonce_r = sa.rng(NONCE_SIZE)
        self.chosen = Proposal(chosen.number, chosen.protocol, b"", chosen.transforms)
        self._my_public = my_public

    def build_r(self, out: list[Payload]) -> None:
        sa = self.sa
        assert self.chosen is not None and sa.algs is not None
        out += [
            SaPayload([self.chosen]),
            KePayload(DhGroup(sa.algs.group.id), self._my_public),
            NoncePayload(sa.nonce_r),
        ]
        derive_ike_keys(sa)
