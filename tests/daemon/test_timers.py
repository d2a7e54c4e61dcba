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
