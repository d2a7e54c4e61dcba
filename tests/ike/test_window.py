"""The message-ID window as a property of the IKEv2 SA (RFC 7296 §2.3, SET_WINDOW_SIZE): concurrent
CREATE_CHILD_SA exchanges between two peers, answered in any order within the window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ipsecd.ike.events import ChildSaInstalled
from ipsecd.wire.enums import ExchangeType, NotifyType
from ipsecd.wire.ikev2.message import Message

from .conftest import FAST_RETRANSMIT, Pair, child, configs


def _children(n: int, swap: bool = False) -> tuple:
    nets = [(f"10.{10 + k}.0.0/16", f"10.{20 + k}.0.0/16") for k in range(n)]
    return tuple(child(f"c{k}", b, a) if swap else child(f"c{k}", a, b) for k, (a, b) in enumerate(nets))


def _pair(peer_pair: Callable[..., Pair], wi: int, wr: int) -> Pair:
    i, r = configs()
    i = replace(i, window_size=wi, retransmit=FAST_RETRANSMIT)
    r = replace(r, window_size=wr, retransmit=FAST_RETRANSMIT,
                children=r.children + _children(3, swap=True))
    p = peer_pair(i, r)
    p.pump()
    assert p.i.state == "established" and p.rsa.state == "established"
    return p


def _requests(p: Pair, start: int) -> list[tuple[str, int, bool]]:
    out = []
    for d, data in p.wire[start:]:
        h = Message.decode(data).header
        if h.exchange == ExchangeType.CREATE_CHILD_SA:
            out.append((d, h.message_id, h.is_response))
    return out


def test_set_window_size_is_announced_and_learnt(peer_pair: Callable[..., Pair]) -> None:
    p = _pair(peer_pair, 2, 4)
    assert (p.i.window, p.i.peer_window) == (2, 4) and (p.rsa.window, p.rsa.peer_window) == (4, 2)
    q = _pair(peer_pair, 1, 1)  # the default: nothing on the wire, one at a time
    assert q.i.peer_window == q.rsa.peer_window == 1
    assert not any(Message.decode(d).notify(NotifyType.SET_WINDOW_SIZE) for _, d in q.wire[:2])


def test_concurrent_create_child_sa_within_the_peers_window(peer_pair: Callable[..., Pair]) -> None:
    p = _pair(peer_pair, 1, 3)
    start = len(p.wire)
    for c in _children(3):
        p.i.create_child(c)
    p.pump()
    # three requests out before the first answer (the responder's window is 3), all answered
    assert _requests(p, start) == [("i>r", 2, False), ("i>r", 3, False), ("i>r", 4, False),
                                   ("r>i", 2, True), ("r>i", 3, True), ("r>i", 4, True)]
    assert len(p.events("i", ChildSaInstalled)) == 4 and len(p.events("r", ChildSaInstalled)) == 4
    assert len(p.i.children) == len(p.rsa.children) == 4


def test_window_bounds_the_outstanding_requests(peer_pair: Callable[..., Pair]) -> None:
    p = _pair(peer_pair, 1, 2)
    start = len(p.wire)
    for c in _children(3):
        p.i.create_child(c)
    p.pump()
    # two at once, the third only after the first answer
    assert _requests(p, start)[:3] == [("i>r", 2, False), ("i>r", 3, False), ("r>i", 2, True)]
    assert len(p.i.children) == 4


def test_requests_are_answered_out_of_order_and_retransmissions_from_the_cache(
        peer_pair: Callable[..., Pair]) -> None:
    p = _pair(peer_pair, 1, 3)
    start = len(p.wire)
    lost: list[int] = []

    def lose_first(d: str, data: bytes) -> bool:
        h = Message.decode(data).header
        if d == "i>r" and h.exchange == ExchangeType.CREATE_CHILD_SA and h.message_id == 2 and not lost:
            lost.append(2)
            return True
        return False

    p.drop = lose_first
    for c in _children(3):
        p.i.create_child(c)
    p.pump()
    assert [x for x in _requests(p, start) if x[2]] == [("r>i", 3, True), ("r>i", 4, True)]
    assert p.rsa.tm.mid_in == 2  # the lowest unanswered
    p.advance(1.5)  # the lost request is retransmitted and answered; the window moves on
    assert [x for x in _requests(p, start) if x[2]][-1] == ("r>i", 2, True)
    assert p.rsa.tm.mid_in == 5 and len(p.i.children) == 4
    # an answered request again: the cached response, not processed twice
    again = next(
        data for d, data in p.wire[start:] if d == "i>r" and Message.decode(data).header.message_id == 3
    )
    before = len(p.rsa.children)
    p.r.receive_datagram(again, (p.rcfg.local, p.icfg.local), p.now)
    ((resp, _),) = p.r.datagrams_to_send(p.now)
    assert Message.decode(resp).header.message_id == 3 and len(p.rsa.children) == before
