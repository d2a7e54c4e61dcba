"""Exchange collisions between two peers: RFC 7296 §2.8.1 (CHILD_SA rekey), §2.8.2 (IKE SA rekey),
§2.25 (rekey vs delete)."""

from __future__ import annotations

from collections.abc import Callable

from ipsecd.ike.events import ChildSaDeleted, ChildSaInstalled, IkeSaDeleted, IkeSaRekeyed, NegotiationFailed
from ipsecd.wire.enums import ExchangeType
from ipsecd.wire.ikev2.message import Message

from .conftest import Pair


def _up(p: Pair) -> None:
    p.pump()
    assert p.i.state == "established" and p.rsa.state == "established"


def _consistent_children(p: Pair) -> None:
    """Both ends hold the same CHILD_SAs with matching keys, one per configuration."""
    i, r = p.i.children, p.rsa.children
    assert len(i) == 1 and len(r) == 1
    ci, cr = next(iter(i.values())), next(iter(r.values()))
    assert ci.outbound.spi == cr.inbound.spi and ci.inbound.spi == cr.outbound.spi
    assert ci.outbound.encr_key == cr.inbound.encr_key and ci.inbound.encr_key == cr.outbound.encr_key


def test_child_rekey_collision_2_8_1(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    _up(p)
    old_i = next(iter(p.i.children))
    old_r = next(iter(p.rsa.children))
    p.i.rekey_child(old_i)
    p.rsa.rekey_child(old_r)
    p.pump()
    creates = [d for d, b in p.wire if Message.decode(b).header.exchange == ExchangeType.CREATE_CHILD_SA]
    assert creates.count("i>r") == 2 and creates.count("r>i") == 2  # both rekeys crossed and completed
    assert len(p.events("i", ChildSaInstalled)) == 3 and len(p.events("r", ChildSaInstalled)) == 3
    _consistent_children(p)
    assert old_i not in p.i.children and old_r not in p.rsa.children
    # the redundant pair is gone from both ends too
    assert len(p.events("i", ChildSaDeleted)) == 2 and len(p.events("r", ChildSaDeleted)) == 2


def test_ike_rekey_collision_2_8_2(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    _up(p)
    old_i, old_r = p.i.local_spi, p.rsa.local_spi
    p.i.rekey_ike()
    p.rsa.rekey_ike()
    p.pump()
    ri, rr = p.events("i", IkeSaRekeyed), p.events("r", IkeSaRekeyed)
    assert len(ri) == 1 and len(rr) == 1 and ri[0].old_spi == old_i and rr[0].old_spi == old_r
    # both ended on the same new IKE SA, and it works
    assert (p.i.spi_i, p.i.spi_r) == (p.rsa.spi_i, p.rsa.spi_r) and p.i.is_initiator != p.rsa.is_initiator
    assert not p.events("i", IkeSaDeleted) and not p.events("r", IkeSaDeleted)
    p.i.create_child(p.icfg.children[0])
    p.pump()
    assert len(p.events("r", ChildSaInstalled)) == 2


def test_child_rekey_vs_delete_2_25(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    _up(p)
    old_i = next(iter(p.i.children))
    p.i.tm.queue_child_delete([p.i.children[old_i]], "operator")
    p.i.children[old_i].deleting = True
    p.rsa.rekey_child(next(iter(p.rsa.children)))
    p.pump()
    assert not p.i.children and not p.rsa.children  # the delete won on both ends
    refused = p.events("r", NegotiationFailed)
    assert refused and refused[0].notify == "TEMPORARY_FAILURE" and not refused[0].fatal
    assert len(p.events("r", ChildSaInstalled)) == 1  # the rekey never installed anything
    assert p.events("i", NegotiationFailed)[0].notify == "TEMPORARY_FAILURE"  # the refusing side says why
    assert p.i.state == "established" and p.rsa.state == "established"
    p.advance(30.0)  # the failed rekey's retry finds nothing left to rekey
    assert not p.rsa.children and p.rsa.state == "established"


def test_ike_rekey_vs_delete(peer_pair: Callable[..., Pair]) -> None:
    """A full IKE SA delete while the peer rekeys it: the delete wins, nothing is left behind."""
    p = peer_pair()
    _up(p)
    p.rsa.rekey_ike()
    p.i.delete()
    p.pump()
    assert p.i.state == "closed" and p.events("r", IkeSaDeleted) and not p.r.by_spi
    assert not p.events("r", IkeSaRekeyed)


def test_exchange_outstanding_across_an_ike_rekey_moves_to_the_new_sa(peer_pair: Callable[..., Pair]) -> None:
    """The responder's own DPD is in flight when the peer rekeys the IKE SA: it goes out again on the
    new SA."""
    p = peer_pair()
    _up(p)
    held: list[bytes] = []

    def hold_r_info(direction: str, data: bytes) -> bool:
        m = Message.decode(data)
        if (
            direction == "r>i"
            and m.header.exchange == ExchangeType.INFORMATIONAL
            and not m.header.is_response
        ):
            held.append(data)
            return True
        return False

    p.drop = hold_r_info
    p.rsa.tm.queue_dpd()
    p.i.rekey_ike()
    p.pump()
    assert held and p.events("r", IkeSaRekeyed) and p.rsa.tm.active
    p.drop = lambda d, b: False
    p.advance(5.0)  # the retransmission now carries the new SA's SPIs and keys
    assert not p.rsa.tm.active and p.rsa.state == "established" and not p.events("r", IkeSaDeleted)


def _informational(p: Pair, spis: tuple[bytes, bytes]) -> list[tuple[str, bool]]:
    """(direction, is_response) of every INFORMATIONAL on the wire with these SPIs."""
    out = []
    for d, b in p.wire:
        h = Message.decode(b).header
        if h.exchange == ExchangeType.INFORMATIONAL and (h.spi_i, h.spi_r) == spis:
            out.append((d, h.is_response))
    return out


def test_ike_rekey_collision_redundant_sa_deleted_by_its_creator_2_8_2(
    peer_pair: Callable[..., Pair],
) -> None:
    """Both ends rekey the IKE SA at once: the SA created with the lowest nonce is redundant; the side
    that created it deletes it with an INFORMATIONAL DELETE on that SA, and the other side answers."""
    for first in ("i", "r"):  # either side's request goes out first
        p = peer_pair()
        _up(p)
        old = (p.i.spi_i, p.i.spi_r)
        seen: dict[tuple[bytes, bytes], set[str]] = {}
        (p.i if first == "i" else p.rsa).rekey_ike()
        (p.rsa if first == "i" else p.i).rekey_ike()
        p.pump()
        for d, b in p.wire:
            h = Message.decode(b).header
            seen.setdefault((h.spi_i, h.spi_r), set()).add(d)
        survivor = (p.i.spi_i, p.i.spi_r)
        assert survivor == (p.rsa.spi_i, p.rsa.spi_r) and survivor != old
        redundant = [s for s in seen if s not in (old, survivor) and s[1] != bytes(8)]
        assert len(redundant) == 1, seen  # the loser's SA: only its DELETE exchange ever used it
        exchange = _informational(p, redundant[0])
        # one DELETE, from the SA's creator (it initiated the losing rekey: it holds the I flag there)
        loser = "i>r" if any(d == "i>r" and not r for d, r in exchange) else "r>i"
        assert exchange == [(loser, False), ("r>i" if loser == "i>r" else "i>r", True)]
        creator = p.i if loser == "i>r" else p.rsa
        assert not creator.redundant  # answered: nothing left to retransmit
        assert not p.events("i", IkeSaDeleted) and not p.events("r", IkeSaDeleted)
        p.advance(200.0)  # no retransmission; the answering side forgets the redundant keys once no
        # retransmission can come any more (the retransmission schedule, 165 s)
        assert _informational(p, redundant[0]) == exchange
        assert not p.i.redundant and not p.rsa.redundant and list(p.r.by_spi) == [p.rsa.local_spi]
        assert p.i.state == "established" and p.rsa.state == "established"


def test_ike_rekey_collision_redundant_delete_retransmitted_until_answered(
    peer_pair: Callable[..., Pair],
) -> None:
    """The redundant SA's DELETE is lost once: its creator sends it again on the retransmission schedule."""
    p = peer_pair()
    _up(p)
    old = (p.i.spi_i, p.i.spi_r)
    lost: list[bytes] = []

    def lose_first_redundant_delete(d: str, data: bytes) -> bool:
        h = Message.decode(data).header
        if (
            h.exchange == ExchangeType.INFORMATIONAL
            and not h.is_response
            and h.message_id == 0
            and (h.spi_i, h.spi_r) != old
            and not lost
        ):
            lost.append(data)
            return True
        return False

    p.drop = lose_first_redundant_delete
    p.i.rekey_ike()
    p.rsa.rekey_ike()
    p.pump()
    assert lost and (p.i.redundant or p.rsa.redundant)
    p.advance(5.0)
    assert not p.i.redundant or not p.rsa.redundant  # the creator's was answered
    h = Message.decode(lost[0]).header
    assert [r for _, r in _informational(p, (h.spi_i, h.spi_r))] == [False, False, True]
    assert p.i.state == "established" and p.rsa.state == "established"
