"""CHILD_SA rekey (RFC 7296 §1.3.3, §2.8) and its collision rule (§2.8.1).

A new CHILD_SA is created with REKEY_SA naming the old one; once it is installed, the initiator of
the rekey deletes the old one. When both ends rekey the same CHILD_SA at once, each ends up with two
new SAs: the one created with the lowest of the four nonces is redundant, and the peer that
initiated it deletes it (§2.8.1). If the peer deleted the old SA while our rekey was in flight, the
new SA is deleted as soon as it exists (§2.25.1); a TEMPORARY_FAILURE answer retries after a random
delay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...events import ChildSaRekeyed
from .child_create import ChildCreate

if TYPE_CHECKING:
    from ..child import ChildSa
    from ..sa import IkeSa


class ChildRekey(ChildCreate):
    __slots__ = ()

    def __init__(self, sa: IkeSa, old: ChildSa) -> None:
        super().__init__(sa, old.config, rekey=old)

    def installed(self, child: ChildSa) -> None:
        sa = self.sa
        old = self.rekey
        assert old is not None
        if old.inbound.spi not in sa.children:  # §2.25.1: the peer deleted it meanwhile
            child.deleting = True
            sa.tm.queue_child_delete([child], "rekey collided with a delete")
            return
        sa.emit(ChildSaRekeyed(child.config.name, old.inbound.spi, child.inbound.spi))
        if old.deleting:
            return
        # §2.8.1: if the peer rekeyed the same SA meanwhile, keep only the pair with the larger nonces.
        twins = [c for c in sa.children.values() if c is not child and c.replaces == old.inbound.spi]
        old.deleting = True
        doomed = [old]
        for twin in twins:
            lowest_mine = min(child.nonces)
            lowest_theirs = min(twin.nonces)
            if lowest_mine < lowest_theirs:
                doomed.append(child)  # ours holds the lowest nonce: we created the redundant one
        sa.tm.queue_child_delete(doomed, "rekeyed")

    def failed(self, reason: str) -> None:
        old = self.rekey
        if old is not None:
            old.rekeying = False
            old.rekey_at = self.sa.now + 10.0 + self.sa.rng(1)[0] / 16.0  # random delay: no new collision
