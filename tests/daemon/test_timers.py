from __future__ import annotations

import asyncio

from ipsecd.daemon.timers import Timers


def test_rearm_replaces_and_none_cancels() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        t = Timers(loop)
        fired: list[str] = []
        t.arm("a", t.now() + 0.05, lambda _k: fired.append("a1"))
        t.arm("a", t.now() + 0.01, lambda _k: fired.append("a2"))  # replaces a1
        t.arm("b", t.now() + 0.01, lambda _k: fired.append("b"))
        t.arm("b", None, lambda _k: fired.append("never"))
        assert len(t) == 1
        await asyncio.sleep(0.1)
        assert fired == ["a2"]
        assert len(t) == 0 and t.pending("a") is None
        t.arm("c", t.now() + 10, lambda _k: fired.append("c"))
        t.cancel_all()
        assert len(t) == 0

    asyncio.run(main())


def test_later_deadline_keeps_the_timer_and_fires_once_at_the_new_time() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        t = Timers(loop)
        fired: list[tuple[str, float]] = []
        start = t.now()
        t.arm("a", start + 0.02, lambda _k: fired.append(("a1", t.now())))
        t.arm("a", start + 0.08, lambda _k: fired.append(("a2", t.now())))  # later: the callback is a2's
        assert t.pending("a") == start + 0.08
        await asyncio.sleep(0.05)
        assert fired == [] and len(t) == 1  # the early wake-up only re-scheduled
        await asyncio.sleep(0.08)
        assert [name for name, _ in fired] == ["a2"] and fired[0][1] >= start + 0.08
        assert len(t) == 0
        # an earlier deadline after a later one still fires at the earlier time
        t.arm("b", t.now() + 10, lambda _k: fired.append(("b-late", t.now())))
        t.arm("b", t.now() + 0.01, lambda _k: fired.append(("b", t.now())))
        await asyncio.sleep(0.05)
        assert fired[-1][0] == "b" and len(t) == 0

    asyncio.run(main())


def test_many_keys_fire_in_deadline_order_with_their_key_and_cancelled_ones_never() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        t = Timers(loop)
        fired: list[int] = []
        start = t.now()
        for k in range(300):  # enough cancelled keys to make the heap rebuild itself
            t.arm(k, start + 0.001 * (300 - k), fired.append)
        for k in range(0, 300, 2):
            t.cancel(k)
        for k in range(300, 600):  # stale heap items must not fire anything
            t.arm(k, start + 10, fired.append)
            t.cancel(k)
        assert len(t) == 150
        await asyncio.sleep(0.4)
        assert fired == list(range(299, 0, -2)) and len(t) == 0

    asyncio.run(main())


def test_a_failing_callback_does_not_stop_the_others(caplog: object) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        t = Timers(loop)
        fired: list[str] = []

        def boom(_key: object) -> None:
            raise RuntimeError("bug")

        t.arm("bad", t.now() + 0.01, boom)
        t.arm("good", t.now() + 0.01, fired.append)
        await asyncio.sleep(0.05)
        assert fired == ["good"]
        t.arm("later", t.now() + 0.01, fired.append)  # still scheduling after the failure
        await asyncio.sleep(0.05)
        assert fired == ["good", "later"]

    asyncio.run(main())
