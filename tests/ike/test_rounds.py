"""Tasks that span several rounds (libcharon's NEED_MORE): the same task objects on both sides carry
their state through consecutive exchanges of one type, as EAP does over IKE_AUTH."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ipsecd.ike.v2.task_manager import Exchange, TaskManager
from ipsecd.ike.v2.tasks.base import NEED_MORE, AwaitVerdict, Status, Task
from ipsecd.wire.enums import ExchangeType, NotifyType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload

from .conftest import Pair

ROUND = NotifyType(40961)  # private use (RFC 7296 §3.10.1)
ROUNDS = 3


class Rounds(Task):
    """Counts rounds on both sides; says NEED_MORE until the third."""

    made: list[Rounds] = []  # noqa: RUF012 -- the test reads which instances served

    def __init__(self, sa: Any) -> None:
        super().__init__(sa)
        self.round = 0
        self.seen: list[int] = []
        Rounds.made.append(self)

    def build_i(self, out: list[Payload]) -> None:
        self.round += 1
        out.append(NotifyPayload(ROUND, bytes([self.round])))

    def process_i(self, msg: Message) -> Status:
        n = msg.notify(ROUND)
        assert n is not None and n.data == bytes([self.round])
        return NEED_MORE if self.round < ROUNDS else None

    def process_r(self, msg: Message) -> None:
        n = msg.notify(ROUND)
        assert n is not None
        self.round = n.data[0]
        self.seen.append(self.round)

    def build_r(self, out: list[Payload]) -> Status:
        out.append(NotifyPayload(ROUND, bytes([self.round])))
        return NEED_MORE if self.round < ROUNDS else None


def test_need_more_keeps_the_tasks_for_the_next_rounds(
    peer_pair: Callable[..., Pair], monkeypatch: Any
) -> None:
    original = TaskManager._responder_tasks

    def responder_tasks(self: TaskManager, exchange: ExchangeType, msg: Message) -> list[Task]:
        if self.continuing is None and msg.notify(ROUND) is not None:
            return [Rounds(self.sa)]
        return original(self, exchange, msg)

    monkeypatch.setattr(TaskManager, "_responder_tasks", responder_tasks)
    Rounds.made.clear()
    p = peer_pair()
    p.pump()
    start = len(p.wire)
    task = Rounds(p.i)
    p.i.tm.enqueue(Exchange(ExchangeType.INFORMATIONAL, [task]))
    p.i.tm.kick(p.now)
    p.pump()
    mids = [(d, Message.decode(b).header.message_id) for d, b in p.wire[start:]]
    assert mids == [("i>r", 2), ("r>i", 2), ("i>r", 3), ("r>i", 3), ("i>r", 4), ("r>i", 4)]
    initiator, responder = Rounds.made
    assert initiator is task and task.round == ROUNDS
    assert responder.seen == [1, 2, 3]  # one responder task through all three rounds
    assert p.rsa.tm.continuing is None and not p.i.tm.busy()


class Checked(Task):
    """An initiator task whose response needs an outside verdict (as a certificate status check)."""

    def __init__(self, sa: Any) -> None:
        super().__init__(sa)
        self.token = object()
        self.result: object = None
        self.responded = 0

    def process_i(self, msg: Message) -> Status:
        self.responded += 1
        raise AwaitVerdict(self.token)

    def verdict(self, result: object) -> None:
        self.result = result


class After(Task):
    """The task after the one that waits: runs only once the verdict came."""

    def __init__(self, sa: Any) -> None:
        super().__init__(sa)
        self.ran = False

    def process_i(self, msg: Message) -> Status:
        self.ran = True
        return None


def test_initiator_task_waits_for_a_verdict_while_the_sa_answers(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    p.pump()
    checked, after = Checked(p.i), After(p.i)
    p.i.tm.enqueue(Exchange(ExchangeType.INFORMATIONAL, [checked, after]))
    later = Exchange(ExchangeType.INFORMATIONAL, [])
    p.i.tm.enqueue(later)  # the peer's window is 1: this one waits for the slot
    p.i.tm.kick(p.now)
    p.pump()
    assert checked.responded == 1 and not after.ran and p.i.tm.busy()
    start = len(p.wire)
    p.rsa.tm.queue_dpd()  # the responder asks: the waiting initiator answers
    p.pump()
    assert [d for d, _ in p.wire[start:]] == ["r>i", "i>r"] and not p.rsa.tm.busy()
    assert p.i.state == "established" and checked.result is None and later.mid == 0
    p.i.provide_verdict(checked.token, "good")
    p.pump()
    assert checked.result == "good" and after.ran and checked.responded == 1
    assert later.mid == 3 and not p.i.tm.busy()  # the queued exchange went once the slot was free
