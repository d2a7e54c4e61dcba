"""The IKE SA's state table (ike/v2/state.py), driven by hypothesis as h11 drives its own: the table
alone, and a real pair of SAs under random operator actions, losses and time."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ipsecd.ike.v2.state import TRANSITIONS, IkeState, IkeStateError, Trigger, transition

from .conftest import Pair, configs

ORDER = {IkeState.CONNECTING: 0, IkeState.ESTABLISHED: 1, IkeState.DELETING: 2, IkeState.CLOSED: 3}


def test_table_shape() -> None:
    # CLOSED is absorbing, nothing leads back to CONNECTING, only IKE_AUTH leads out of it
    assert not [k for k in TRANSITIONS if k[0] is IkeState.CLOSED]
    assert IkeState.CONNECTING not in TRANSITIONS.values()
    assert {t for (s, t) in TRANSITIONS if s is IkeState.CONNECTING} == {
        Trigger.AUTHENTICATED,
        Trigger.CLOSED,
    }
    with pytest.raises(IkeStateError):
        transition(IkeState.CONNECTING, Trigger.GENERATION_SWITCHED)
    assert IkeState.ESTABLISHED == "established"  # StrEnum: logs and views read it as before


class TableMachine(RuleBasedStateMachine):
    """Any trigger in any state: the table's answer or IkeStateError with the state unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.state = IkeState.CONNECTING
        self.seen = [self.state]

    @rule(trigger=st.sampled_from(list(Trigger)))
    def fire(self, trigger: Trigger) -> None:
        before = self.state
        try:
            self.state = transition(self.state, trigger)
        except IkeStateError:
            assert (before, trigger) not in TRANSITIONS and self.state is before
            return
        assert self.state is TRANSITIONS[before, trigger]
        self.seen.append(self.state)

    @invariant()
    def never_backwards(self) -> None:
        assert all(ORDER[a] <= ORDER[b] for a, b in itertools.pairwise(self.seen))


TestTable = TableMachine.TestCase
TestTable.settings = settings(max_examples=50, deadline=None)


class PairMachine(RuleBasedStateMachine):
    """Two real SAs: rekeys from either side (collisions included), child rekeys, deletes, lost
    datagrams and time. Every state change goes through the table, so a transition it lacks would
    raise IkeStateError out of the SA; the states only ever move forward."""

    def __init__(self) -> None:
        super().__init__()
        i, r = configs()
        self.p = Pair(i, r)
        self.p.pump()
        self.history: dict[str, list[IkeState]] = {"i": [self.p.i.state]}
        self.lossy = False

    def _sas(self) -> list[Any]:
        return [self.p.i, *self.p.r.sas()]

    def _live(self) -> bool:
        return self.p.i.state == IkeState.ESTABLISHED and any(
            sa.state == IkeState.ESTABLISHED for sa in self.p.r.sas()
        )

    @precondition(lambda self: self._live())
    @rule(side=st.sampled_from(["i", "r", "both"]))
    def rekey_ike(self, side: str) -> None:
        if side in ("i", "both"):
            self.p.i.rekey_ike()
        if side in ("r", "both"):
            for sa in self.p.r.sas():
                sa.rekey_ike()
                self.p.r.touch(sa)
        self.p.pump()

    @precondition(lambda self: self._live() and bool(self.p.i.children))
    @rule()
    def rekey_child(self) -> None:
        self.p.i.rekey_child(next(iter(self.p.i.children)))
        self.p.pump()

    @precondition(lambda self: self._live())
    @rule(side=st.sampled_from(["i", "r"]))
    def delete(self, side: str) -> None:
        for sa in [self.p.i] if side == "i" else self.p.r.sas():
            sa.delete()
            self.p.r.touch(sa)
        self.p.pump()

    @rule(lossy=st.booleans())
    def network(self, lossy: bool) -> None:
        self.lossy = lossy
        self.p.drop = (lambda d, b: True) if lossy else (lambda d, b: False)

    @rule(seconds=st.sampled_from([1.0, 5.0, 30.0, 200.0]))
    def advance(self, seconds: float) -> None:
        self.p.advance(seconds)

    @invariant()
    def states_move_forward(self) -> None:
        self.history["i"].append(self.p.i.state)
        seen = self.history["i"]
        assert all(ORDER[a] <= ORDER[b] for a, b in itertools.pairwise(seen))
        assert all(isinstance(sa.state, IkeState) for sa in self._sas())


TestPair = PairMachine.TestCase
TestPair.settings = settings(
    max_examples=25, stateful_step_count=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
