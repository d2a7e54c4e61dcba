from __future__ import annotations

import asyncio

from ipsecd.daemon.timers import Timers


def test_rearm_replaces_and_none_cancels() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        t = Timers(loop)
        fired: list[str] = []
        t.arm("a", t.now() + 0.05, lambda: fired.append("a1"))
        t.arm("a", t.now() + 0.01, lambda: fired.append("a2"))  # replaces a1
        t.arm("b", t.now() + 0.01, lambda: fired.append("b"))
        t.arm("b", None, lambda: fired.append("never"))
        assert len(t) == 1
        await asyncio.sleep(0.1)
        assert fired == ["a2"]
        assert len(t) == 0 and t.pending("a") is None
        t.arm("c", t.now() + 10, lambda: fired.append("c"))
        t.cancel_all()
        assert len(t) == 0

    asyncio.run(main())


def test_later_deadline_keeps_the_timer_and_fires_once_at_the_new_time() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        t = Timers(loop)
        fired: list[tuple[str, float]] = []
        start = t.now()
        t.arm("a", start + 0.02, lambda: fired.append(("a1", t.now())))
        t.arm("a", start + 0.08, lambda: fired.append(("a2", t.now())))  # later: the callback is a2's
        assert t.pending("a") == start + 0.08
        await asyncio.sleep(0.05)
        assert fired == [] and len(t) == 1  # the early wake-up only re-scheduled
        await asyncio.sleep(0.08)
        assert [name for name, _ in fired] == ["a2"] and fired[0][1] >= start + 0.08
        assert len(t) == 0
        # an earlier deadline after a later one still fires at the earlier time
        t.arm("b", t.now() + 10, lambda: fired.append(("b-late", t.now())))
        t.arm("b", t.now() + 0.01, lambda: fired.append(("b", t.now())))
        await asyncio.sleep(0.05)
        assert fired[-1][0] == "b" and len(t) == 0

    asyncio.run(main())
