"""IKEv1 phase 1 and its IPsec SAs over time: re-keys, collisions, and IPsec SAs that outlive phase 1.

IKEv1 re-keys phase 1 by negotiating a whole new ISAKMP SA (RFC 2409 has no re-key exchange), and
an IPsec SA does not depend on the ISAKMP SA that negotiated it: its keys come from SKEYID_d once.
RouterOS (racoon) keeps IPsec SAs to their own lifetime when phase 1 ends, and strongSwan moves them
to the new ISAKMP SA when it re-authenticates (``adopt_children_and_vips``). This module does both:

* **Adoption.** When an ISAKMP SA is established with a peer, it takes over the IPsec SAs of the
  older ISAKMP SAs with the same peer — same configured peer, same remote host and identity — and
  of the detached ones: the peer's DELETEs and our re-keys for them go through the new one. A
  phase 1 that carries INITIAL-CONTACT adopts nothing (the peer restarted; the glue drops the old).
  The side that initiated a phase-1 re-key also re-keys the adopted IPsec SAs (``established``).
* **Outliving.** An ISAKMP SA that reaches its lifetime (phase 1 not re-keyed: DPD disabled, as
  the manual says) DELETEs itself only; one the peer DELETEs closes too. Their IPsec SAs go to the
  newest ISAKMP SA with the peer, or stay *detached* (``Runtime.detached``, still in
  ``installed-sa``). A detached SA's soft expiry negotiates a new phase 1 on demand (when we may
  initiate: the peer has one address and is not passive) whose quick mode re-keys it; its hard
  expiry removes it.
* **Re-key timing.** With DPD enabled the initiator of a phase 1 negotiates its successor at
  ``INITIATOR_REKEY`` of its lifetime, the responder at ``RESPONDER_REKEY`` unless the peer did first
  (a newer ISAKMP SA exists by then): a responder-only peer is still re-keyed before expiry.
* **Collisions.** When both sides start a new phase 1 at once, two ISAKMP SAs come up whose
  negotiations overlapped. Both sides keep the one with the lower cookie pair (CKY-I | CKY-R is the
  same bytes at both ends, so they agree without talking) and retire the other with a DELETE; its
  IPsec SAs move to the kept one first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ipsecd.ike.v1.sa import Ikev1Sa

from .peers import PeerIndex, Tracked
from .plan import PeerPlan
from .runtime import DetachedChild, Runtime
from .sas import Policies

log = logging.getLogger("ipsecd")

INITIATOR_REKEY = 0.85  # share of a phase-1 lifetime after which its initiator negotiates the successor
RESPONDER_REKEY = 0.92  # ... and its responder, if the initiator has not by then


def _cookies(t: Tracked) -> bytes:
    sa = t.sa
    assert isinstance(sa, Ikev1Sa)
    return sa.cky_i + sa.cky_r


class Ikev1Succession:
    """What happens to IKEv1 IPsec SAs when ISAKMP SAs come and go (module docstring)."""

    def __init__(
        self,
        index: PeerIndex,
        runtime: Runtime,
        spd: Policies,
        initiate: Callable[[PeerPlan], None],
        now: Callable[[], float],
    ) -> None:
        self.index = index
        self.rt = runtime
        self.spd = spd
        self.initiate = initiate  # start a new phase 1 with the peer, without INITIAL-CONTACT
        self.now = now

    # -- who is whose successor -------------------------------------------------------------------

    @staticmethod
    def _same_peer(a: Tracked, b: Tracked) -> bool:
        return a.sa.addr[1][0] == b.sa.addr[1][0] and a.sa.remote_id == b.sa.remote_id

    def _established(self, peer: str, remote: str, remote_id: str) -> list[Tracked]:
        """The live, established ISAKMP SAs with that peer, the newest first."""
        found = [
            o
            for o in self.index.of(peer)
            if isinstance(o.sa, Ikev1Sa)
            and not o.sa.closed
            and o.record.state == "established"
            and o.sa.addr[1][0] == remote
            and o.sa.remote_id == remote_id
        ]
        return sorted(found, key=lambda o: o.established_at or 0.0, reverse=True)

    def superseded(self, t: Tracked) -> bool:
        """A newer phase 1 with the same peer was started after ``t`` (ours or the peer's re-key)."""
        return any(o is not t and o.started > t.started for o in self.index.of(t.peer))

    # -- moving IPsec SAs ---------------------------------------------------------------------------

    def _move(self, src: Tracked, dst: Tracked, spi: int) -> None:
        assert isinstance(src.sa, Ikev1Sa) and isinstance(dst.sa, Ikev1Sa)
        found = src.sa.release(spi)
        rec = src.record.children.pop(spi, None)
        if found is None or rec is None:
            return
        dst.sa.adopt(spi, *found)
        dst.record.children[spi] = rec
        self.index.of_child[spi] = dst

    def _attach(self, d: DetachedChild, dst: Tracked) -> None:
        assert isinstance(dst.sa, Ikev1Sa)
        spi = d.record.inbound.spi
        del self.rt.detached[spi]
        dst.sa.adopt(spi, d.name, d.proto, d.record.outbound.spi, d.answered)
        dst.record.children[spi] = d.record
        self.index.of_child[spi] = dst

    def hand_on(self, t: Tracked) -> int:
        """``t`` closed with IPsec SAs that outlive it: to the newest ISAKMP SA with the peer, or
        detached. Returns how many lived on."""
        sa = t.sa
        if not isinstance(sa, Ikev1Sa) or not sa.children:
            return 0
        heirs = [o for o in self._established(t.peer, sa.addr[1][0], sa.remote_id) if o is not t]
        moved = 0
        for spi in list(t.record.children):
            if spi not in sa.children:
                continue
            moved += 1
            if heirs:
                self._move(t, heirs[0], spi)
                continue
            found = sa.release(spi)
            assert found is not None
            name, proto, _out, answered = found
            rec = t.record.children.pop(spi)
            self.index.of_child.pop(spi, None)
            self.rt.detached[spi] = DetachedChild(t.peer, sa.addr[1][0], sa.remote_id, name, proto, rec,
                                                  answered)
        if moved:
            where = f"handed to ISAKMP SA {_cookies(heirs[0]).hex()}" if heirs else "kept to their lifetime"
            log.info("peer %s: %d IPsec SA(s) outlive the ISAKMP SA: %s", t.peer, moved, where)
        return moved

    # -- a new ISAKMP SA ----------------------------------------------------------------------------

    def established(self, t: Tracked, *, initial_contact: bool) -> None:
        """Adopt the peer's older IPsec SAs, settle a collision, start or re-key what is due.

        The initiator of a phase-1 re-key (the old ISAKMP SA still up) also re-keys the IPsec SAs it
        adopted, by quick mode over the new one: a peer that does not adopt them itself (strongSwan
        with ``unique=no``) drops them with the old ISAKMP SA when that is DELETEd, so they are
        replaced first; one that does (RouterOS, strongSwan ``unique=replace``) gets the DELETE of
        each old SA over the new ISAKMP SA. A phase 1 negotiated for a detached SA re-keys those due."""
        sa = t.sa
        assert isinstance(sa, Ikev1Sa)
        renew: set[int] = set()
        if not initial_contact:
            for o in self.index.of(t.peer):
                if o is not t and isinstance(o.sa, Ikev1Sa) and self._same_peer(o, t):
                    if not o.sa.closed:
                        renew.update(o.record.children)
                    for spi in list(o.record.children):
                        self._move(o, t, spi)
            for d in list(self.rt.detached.values()):
                if (d.peer, d.remote, d.remote_id) == (t.peer, sa.addr[1][0], sa.remote_id):
                    self._attach(d, t)
            if t.record.children:
                log.info(
                    "peer %s: ISAKMP SA %s adopts %d IPsec SA(s) of the ended or re-keyed phase 1",
                    t.peer,
                    _cookies(t).hex(),
                    len(t.record.children),
                )
        keeper = self._collision(t)
        if keeper is not t or not sa.initiator:
            return  # the responder leaves the re-keys to the side that negotiated phase 1 for them
        now = self.now()
        if sa.rw is None or sa.rw.ready:  # an XAuth client's quick modes wait for its mode-config
            for spi, rec in list(t.record.children.items()):
                if spi in renew or (rec.rekey_at is not None and rec.rekey_at <= now):
                    sa.rekey_child(spi)
        sa.start_children()

    def _collision(self, t: Tracked) -> Tracked:
        """Both sides started a new phase 1 at once (their negotiations overlapped): keep the lower
        cookie pair, retire the other. The one kept."""
        rivals = [
            o
            for o in self._established(t.peer, t.sa.addr[1][0], t.sa.remote_id)
            if o is not t and o.established_at is not None and o.established_at > t.started
        ]
        keeper = t
        for o in rivals:
            keep, lose = sorted((keeper, o), key=_cookies)
            for spi in list(lose.record.children):
                self._move(lose, keep, spi)
            log.info(
                "peer %s: phase-1 re-key collision: keeping ISAKMP SA %s, deleting %s",
                t.peer,
                _cookies(keep).hex(),
                _cookies(lose).hex(),
            )
            assert isinstance(lose.sa, Ikev1Sa)
            lose.sa.retire("duplicate ISAKMP SA of a phase-1 re-key collision")
            keeper = keep
        return keeper

    # -- the data plane's expiries of detached SAs ---------------------------------------------------

    def soft_expire(self, spi: int, peer: PeerPlan | None) -> None:
        """A detached IPsec SA is due for a re-key: over an ISAKMP SA with the peer if one is up
        (it adopts the SA), else a new phase 1 is negotiated whose establishment re-keys it — if we
        may initiate; otherwise the peer's re-key, or the hard lifetime, comes."""
        d = self.rt.detached.get(spi)
        if d is None or d.answered:
            return  # the peer started its quick mode: the peer re-keys it (``Ikev1Sa.rekey_child``)
        heirs = self._established(d.peer, d.remote, d.remote_id)
        if heirs:
            self._attach(d, heirs[0])
            heirs[0].sa.rekey_child(spi)
        elif (
            peer is not None
            and not self.index.of(d.peer)
            and not peer.endpoint.passive
            and peer.endpoint.host is not None
        ):
            log.info(
                "peer %s: IPsec SA 0x%08x is due for a re-key and phase 1 has ended: negotiating a new one",
                d.peer,
                spi,
            )
            self.initiate(peer)

    def detached_of(self, out_spi: int) -> int | None:
        """The inbound SPI of the detached SA pair whose outbound SPI is ``out_spi``."""
        return next((s for s, d in self.rt.detached.items() if d.record.outbound.spi == out_spi), None)

    def drop(self, spi: int, reason: str) -> bool:
        """Remove a detached SA pair from the data plane (hard expiry, flush, peer changed)."""
        d = self.rt.remove_detached(spi)
        if d is None:
            return False
        self.spd.drop_dynamic(spi)
        log.info("peer %s: IPsec SA 0x%08x/0x%08x removed: %s", d.peer, spi, d.record.outbound.spi, reason)
        return True

    def drop_peer(
        self, peer: str, reason: str, remote: str | None = None, remote_id: str | None = None
    ) -> None:
        """Every detached SA of ``peer`` (optionally: of that host and identity) goes."""
        for spi, d in list(self.rt.detached.items()):
            if d.peer == peer and remote in (None, d.remote) and remote_id in (None, d.remote_id):
                self.drop(spi, reason)
