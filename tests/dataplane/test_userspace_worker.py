"""The TUN worker's per-SA bookkeeping costs the same at 10,000 SAs as at one (issue 16): lifetimes
are kept in a deadline heap (the once-a-second tick looks only at the SAs that are due, not at every
SA), and installing or removing an SA drops only its own cached destination."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ipsecd.dataplane.userspace import channel
from ipsecd.dataplane.userspace.channel import DaemonEnd
from ipsecd.policy.events import HardExpire, SadEvent, SoftExpire
from ipsecd.policy.sad import Sad, SaRecord
from ipsecd.policy.types import Direction, Lifetime
from tests.dataplane.test_userspace_channel import ctrl_worker
from tests.dataplane.udp_pair import KEY_AB, gcm_sa


def test_the_tick_checks_only_the_sas_that_are_due_and_expires_them_soft_then_hard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    here, there = channel.pair()
    daemon, w = DaemonEnd(here), ctrl_worker(there)
    try:
        for spi in range(0x3000, 0x3000 + 500):  # no lifetime: never looked at
            daemon.post(1.0, "add_sa", gcm_sa(spi, Direction.IN, "192.0.2.2", "192.0.2.1", KEY_AB), 0, 0)
        timed = replace(gcm_sa(0x4000, Direction.OUT, "192.0.2.1", "192.0.2.2", KEY_AB),
                        lifetime=Lifetime(soft_seconds=10.0, hard_seconds=20.0))
        daemon.post(1.0, "add_sa", timed, 0, 0)
        w._ctrl_in()
        added = w.proc.sad.find(0x4000, Direction.OUT).add_time  # type: ignore[union-attr]
        checked: list[int] = []
        real = Sad.check

        def counted(self: Sad, rec: SaRecord, now: float) -> list[SadEvent]:
            checked.append(rec.spec.spi)
            return real(self, rec, now)

        monkeypatch.setattr(Sad, "check", counted)
        w._expire_due(added + 5)
        assert checked == [] and w.proc.poll_events() == []
        w._expire_due(added + 10.5)
        assert checked == [0x4000]
        assert [type(e) for e in w.proc.poll_events()] == [SoftExpire]
        w._expire_due(added + 20.5)
        assert checked == [0x4000, 0x4000]
        assert [type(e) for e in w.proc.poll_events()] == [HardExpire]
        w._expire_due(added + 60)
        assert len(checked) == 2 and w._deadlines == []
    finally:
        w.seqmap.close()
        daemon.close()
        there.close()


def test_installing_and_removing_an_sa_keeps_the_other_sas_cached_destinations() -> None:
    here, there = channel.pair()
    daemon, w = DaemonEnd(here), ctrl_worker(there)
    try:
        a = gcm_sa(0x5000, Direction.OUT, "192.0.2.1", "192.0.2.2", KEY_AB)
        daemon.post(1.0, "add_sa", a, 0, 0)
        w._ctrl_in()
        engine_a = w.proc.sad.find(0x5000, Direction.OUT).counters  # type: ignore[union-attr]
        w._dest[id(engine_a)] = (None, None, ("192.0.2.2", 4500))
        daemon.post(1.0, "add_sa", gcm_sa(0x5001, Direction.OUT, "192.0.2.1", "192.0.2.3", KEY_AB), 0, 0)
        daemon.post(1.0, "del_sa", 0x5001, Direction.OUT)
        w._ctrl_in()
        assert list(w._dest) == [id(engine_a)]
        daemon.post(1.0, "add_sa", replace(a, encr_key=bytes(20)), 0, 0)  # A replaced: its entry goes
        w._ctrl_in()
        assert w._dest == {}
    finally:
        w.seqmap.close()
        daemon.close()
        there.close()
