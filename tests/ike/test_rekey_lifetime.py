"""IKE SA rekey near the profile lifetime (RFC 7296 §2.18): the old SA's hard expiry belongs to the old
SA only. A rekey that is slow (a lost request, retransmitted after the old SA's lifetime ran out) must
not end with a DELETE for the new IKE SA, which then has to live through its own lifetimes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from ipsecd.ike.events import IkeSaDeleted, IkeSaRekeyed, NegotiationFailed
from ipsecd.ike.v2.config import IkeProposal
from ipsecd.wire.enums import ExchangeType
from ipsecd.wire.ikev2.message import Message

from .conftest import Pair, configs


def _pair(peer_pair: Callable[..., Pair], lifetime: float, rekeyer: str) -> Pair:
    """``rekeyer`` holds the short profile lifetime, so its rekey comes first; the other side's is long."""
    i, r = configs()
    short, long = {"lifetime": lifetime}, {"lifetime": 10 * lifetime}
    p = peer_pair(
        replace(i, **(short if rekeyer == "i" else long)), replace(r, **(short if rekeyer == "r" else long))
    )
    p.pump()
    assert p.i.state == "established" and p.rsa.state == "established"
    return p


def _drop_first_rekey_request(rekeyer: str) -> Callable[[str, bytes], bool]:
    """Lose the rekeyer's first CREATE_CHILD_SA request (only IKE rekeys happen: child lifetimes are long)."""
    direction = "i>r" if rekeyer == "i" else "r>i"
    dropped: list[bytes] = []

    def drop(d: str, data: bytes) -> bool:
        h = Message.decode(data).header
        if (
            not dropped
            and d == direction
            and h.exchange == ExchangeType.CREATE_CHILD_SA
            and not h.is_response
        ):
            dropped.append(data)
            return True
        return False

    return drop


def _same_sa(p: Pair) -> None:
    assert p.i.state == "established" and p.rsa.state == "established"
    assert (p.i.spi_i, p.i.spi_r) == (p.rsa.spi_i, p.rsa.spi_r)


@pytest.mark.parametrize("lifetime", [9.0, 12.0, 15.0, 20.0])
@pytest.mark.parametrize("rekeyer", ["i", "r"])
@pytest.mark.parametrize("slow", [False, True])
def test_rekey_near_lifetime_keeps_the_new_sa(
    peer_pair: Callable[..., Pair], lifetime: float, rekeyer: str, slow: bool
) -> None:
    p = _pair(peer_pair, lifetime, rekeyer)
    if slow:  # the first rekey request is lost: the retransmission (4 s) lands after the old SA's lifetime
        p.drop = _drop_first_rekey_request(rekeyer)
    for _ in range(4):  # several lifetimes: each new SA rekeys in its turn and is never deleted
        p.advance(lifetime)
        _same_sa(p)
    p.advance(5.0)
    _same_sa(p)
    assert not p.events("i", IkeSaDeleted) and not p.events("r", IkeSaDeleted)
    rekeys = p.events(rekeyer, IkeSaRekeyed)
    assert len(rekeys) >= 4 and len(p.events("r" if rekeyer == "i" else "i", IkeSaRekeyed)) == len(rekeys)
    assert len({e.new_spi for e in rekeys}) == len(rekeys)  # a new IKE SA every time, the last one in use
    assert rekeys[-1].new_spi == (p.i if rekeyer == "i" else p.rsa).local_spi
    assert len(p.i.children) == 1 and len(p.rsa.children) == 1


def test_refused_rekeys_are_retried_within_the_lifetime(peer_pair: Callable[..., Pair]) -> None:
    """A refused rekey is tried again before the hard lifetime, so a short profile lifetime gets several
    attempts before the "deleted at its lifetime if every rekey failed" rule applies."""
    p = _pair(peer_pair, 20.0, "i")
    accepting = p.rsa.config
    p.rsa.config = replace(
        accepting, proposals=(IkeProposal(("aes-256",), ("sha512",), ("sha512",), ("modp2048",)),)
    )

    def refusals() -> list[NegotiationFailed]:
        return [e for e in p.events("i", NegotiationFailed) if e.exchange == "CREATE_CHILD_SA"]

    while len(refusals()) < 2:  # NO_PROPOSAL_CHOSEN, twice, and the SA stays up
        p.advance(0.25)
        assert p.i.state == "established" and p.now < 20.0
    assert not any(e.fatal for e in refusals())
    p.rsa.config = accepting
    while not p.events("i", IkeSaRekeyed):  # the next attempt, still within the lifetime, succeeds
        p.advance(0.25)
        assert p.now < 20.0
    p.advance(30.0)
    _same_sa(p)
    assert not p.events("i", IkeSaDeleted) and not p.events("r", IkeSaDeleted)


def test_every_rekey_refused_deletes_the_sa_at_its_lifetime(peer_pair: Callable[..., Pair]) -> None:
    p = _pair(peer_pair, 20.0, "i")
    p.rsa.config = replace(
        p.rsa.config, proposals=(IkeProposal(("aes-256",), ("sha512",), ("sha512",), ("modp2048",)),)
    )
    p.advance(21.0)
    assert len([e for e in p.events("i", NegotiationFailed) if e.exchange == "CREATE_CHILD_SA"]) >= 2
    assert p.i.state == "closed" and p.events("r", IkeSaDeleted) and not p.events("i", IkeSaRekeyed)


def test_rekey_times_are_jittered_within_their_margins(peer_pair: Callable[..., Pair]) -> None:
    """Rekeys come at a random point (injected RNG) up to 5 % of the lifetime before the role's rekey
    time, drawn afresh for each SA: IKE SA at 85-90 % (original initiator) / 90-95 %, CHILD_SAs at
    80-85 % (their initiator) / 85-90 % of their lifetimes."""
    i, r = configs()
    kids_i = tuple(replace(c, lifetime=40.0) for c in i.children)
    kids_r = tuple(replace(c, lifetime=40.0) for c in r.children)
    p = peer_pair(replace(i, lifetime=100.0, children=kids_i), replace(r, lifetime=100.0, children=kids_r))
    p.pump()
    ike: dict[str, set[float]] = {"i": set(), "r": set()}
    kids: dict[bool, set[float]] = {True: set(), False: set()}
    for _ in range(40):
        p.advance(10.0)
        for sa in (p.i, p.rsa):
            if sa.expire_at is not None and sa.rekey_at is not None:
                ike["i" if sa.is_initiator else "r"].add(round((sa.expire_at - sa.rekey_at) / 100.0, 6))
            for c in sa.children.values():
                if not c.rekeying and not c.deleting:
                    kids[c.initiator].add(round((c.expire_at - c.rekey_at) / 40.0, 6))
    assert p.i.state == "established" and p.rsa.state == "established"
    assert not p.events("i", IkeSaDeleted) and not p.events("r", IkeSaDeleted)
    assert len(p.events("i", IkeSaRekeyed)) >= 3
    for margins, low in ((ike["i"], 0.10), (ike["r"], 0.05), (kids[True], 0.15), (kids[False], 0.10)):
        assert len(margins) >= 2  # a different jitter for each SA
        assert all(low <= m <= low + 0.05 for m in margins), margins


def test_rekey_that_never_completes_ends_the_sa_after_one_grace(peer_pair: Callable[..., Pair]) -> None:
    """The responder answered the peer's rekey but the DELETE of the old SA never comes (and it makes no
    rekey of its own): its hard expiry is put off once, by the retransmission schedule, then it goes."""
    i, r = configs()
    p = peer_pair(replace(i, lifetime=20.0), replace(r, lifetime=10_000.0))
    p.pump()

    def lose_informational_requests(d: str, data: bytes) -> bool:
        h = Message.decode(data).header
        return d == "i>r" and h.exchange == ExchangeType.INFORMATIONAL and not h.is_response

    p.drop = lose_informational_requests
    p.advance(19.0)  # the initiator's rekey went through; its DELETE of the old SA is lost
    rsa = p.rsa
    assert rsa.pending is not None and rsa.expire_at == 10_000.0
    rsa.expire_at = 20.0  # as if the responder's own lifetime ran out now
    p.r.touch(rsa)  # changed behind the router's back: its deadline moves
    p.advance(1.0)
    assert rsa.state == "established" and rsa.expire_at is not None and rsa.expire_at > 100.0  # one grace
    p.advance(rsa.expire_at - p.now + 1.0)
    assert rsa.state in ("deleting", "closed")  # no second grace: the SA is deleted at last
    p.advance(200.0)
    assert rsa.state == "closed" and not p.r.by_spi
