"""IKEv1 peers run by the daemon (issue 10): two in-process gateways from RouterOS scripts over
loopback UDP with the memory data plane — no ``exchange-mode`` (main, RouterOS's default),
``aggressive`` and ``base`` come up, carry echo traffic, show in the runtime views and go with
``kill-connections``; a phase-2 re-key moves traffic to new SAs and deletes the old ones."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from ipsecd.daemon.demo import GATEWAYS, Gateway, _until, demo_rsc, free_ports
from ipsecd.daemon.peers import Tracked
from ipsecd.ike.v1.sa import Ikev1Sa
from ipsecd.policy.types import Direction


def _rsc(me: str, ike: int, mode: str | None, profile: str, proposal: str = "lifetime=30m") -> str:
    """The demo's site-to-site script with an IKEv1 exchange-mode (None: the property left out),
    ``profile`` replacing the profile's lifetime and ``proposal`` the proposal's."""
    text = demo_rsc(me, ike).replace(" lifetime=1h", f" {profile}").replace(" lifetime=30m", f" {proposal}")
    return text.replace(" exchange-mode=ike2", f" exchange-mode={mode}" if mode else "")


async def _pair(
    mode: str | None, profile: str = "lifetime=1h", proposal: str = "lifetime=30m"
) -> tuple[Gateway, Gateway]:
    ike, natt = free_ports()
    a = Gateway("A", ike, natt, _rsc("A", ike, mode, profile, proposal))
    b = Gateway("B", ike, natt, _rsc("B", ike, mode, profile, proposal))
    await b.start()
    await a.start()
    await _until("both IPsec SAs", lambda: bool(a.children()) and bool(b.children()))
    return a, b


def _rows(gw: Gateway, menu: str) -> list[dict[str, str]]:
    reply = gw.execute(f"/ip ipsec {menu} print", True)
    assert reply.rc == 0, reply.stderr
    return json.loads(reply.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", [None, "aggressive", "base"])
def test_ikev1_modes_start_carry_traffic_and_show(mode: str | None, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        a, b = await _pair(mode)
        try:
            assert all(isinstance(t.sa, Ikev1Sa) for gw in (a, b) for t in gw.glue.tracked.values())
            assert await a.ping(GATEWAYS["B"][1], count=3) == (3, 3)
            (peer,) = _rows(b, "active-peers")
            assert peer["state"] == "established" and peer["side"] == "responder"
            assert peer["remote-address"] == GATEWAYS["A"][0] and peer["ph2-total"] == "1"
            (peer,) = _rows(a, "active-peers")
            assert peer["side"] == "initiator" and peer["spii"] and peer["spir"] != "0" * 16
            assert len(_rows(a, "installed-sa")) == 2 and len(_rows(b, "installed-sa")) == 2
            # kill-connections: A's DELETEs reach B; A (not passive) comes back by itself
            assert a.execute("/ip ipsec active-peers kill-connections", False).rc == 0
            await _until("the SAs to go", lambda: not b.children() and not a.children(), 5)
            await _until("A to re-initiate", lambda: bool(b.children()) and bool(a.children()), 10)
            assert await a.ping(GATEWAYS["B"][1], count=2) == (2, 2)
        finally:
            for gw in (a, b):
                await gw.daemon.stop()
        for gw in (a, b):
            assert gw.glue.tracked == {} and gw.glue.index.of_child == {}

    with caplog.at_level(logging.INFO, logger="ipsecd"):
        asyncio.run(main())
    said = [r.getMessage() for r in caplog.records]
    assert any(f"initiating IKEv1 ({mode or 'main'} mode)" in line for line in said)
    assert any("says it is" in line and "DPD" in line for line in said), said


def test_ikev1_phase2_rekey_moves_traffic_then_deletes_the_old_sa() -> None:
    async def main() -> None:
        a, b = await _pair(None)
        try:
            old = {c.inbound.spi for c in a.children()}
            (t,) = a.glue.tracked.values()
            t.sa.rekey_child(next(iter(old)))
            a.daemon.engine.pump(t.sa)
            await _until(
                "the re-key",
                lambda: bool(a.children()) and not old & {c.inbound.spi for c in a.children()},
                5,
            )
            await _until("B to delete the old SA", lambda: len(b.children()) == 1, 5)
            assert len(a.children()) == 1
            assert all(a.dataplane.query_sa(spi, Direction.IN) is None for spi in old)
            assert await a.ping(GATEWAYS["B"][1], count=3) == (3, 3)
        finally:
            for gw in (a, b):
                await gw.daemon.stop()

    asyncio.run(main())


def test_ikev1_phase1_is_rekeyed_before_its_lifetime_when_dpd_is_on(caplog: pytest.LogCaptureFixture) -> None:
    """Phase-1 lifetime 4 s with DPD: A negotiates a new ISAKMP SA (no INITIAL-CONTACT) at 85 % of
    it, which adopts the IPsec SA and re-keys it by quick mode; the old IPsec SA is DELETEd over the
    new ISAKMP SA, the old ISAKMP SA DELETEs itself alone at its lifetime."""

    async def main() -> None:
        a, b = await _pair(None, "lifetime=4s dpd-interval=2s")
        try:
            first = set(a.glue.tracked)
            await _until(
                "a new phase 1 with its IPsec SA while the old one lives",
                lambda: (
                    first & set(a.glue.tracked)
                    and any(
                        sa not in first and t.state == "established" and t.children
                        for sa, t in a.glue.tracked.items()
                    )
                ),
                6,
            )
            await _until("the old ISAKMP SA to go", lambda: not first & set(a.glue.tracked), 6)
            # the re-keyed IPsec SA goes REPLACED_GRACE after its successor came (over the new ISAKMP SA)
            await _until("one IPsec SA each", lambda: len(a.children()) == 1 and len(b.children()) == 1, 3)
            assert len(b.glue.tracked) == 1
            assert await a.ping(GATEWAYS["B"][1], count=2) == (2, 2)
        finally:
            for gw in (a, b):
                await gw.daemon.stop()

    with caplog.at_level(logging.INFO, logger="ipsecd"):
        asyncio.run(main())
    said = [r.getMessage() for r in caplog.records]
    assert any("re-keying phase 1" in line for line in said)
    assert not any("INITIAL_CONTACT" in line for line in said)


def _spis(gw: Gateway) -> set[int]:
    return {c.inbound.spi for c in gw.children()}


def _said(
    caplog: pytest.LogCaptureFixture, main: Callable[[Gateway, Gateway], Awaitable[None]], *pair: str
) -> list[str]:
    """Run ``main`` on a fresh pair (``_pair(None, *pair)``), stop both; the ipsecd log lines."""

    async def run() -> None:
        a, b = await _pair(None, *pair)
        try:
            await main(a, b)
        finally:
            for gw in (a, b):
                await gw.daemon.stop()

    with caplog.at_level(logging.INFO, logger="ipsecd"):
        asyncio.run(run())
    return [r.getMessage() for r in caplog.records]


def test_ikev1_ipsec_sas_outlive_phase1_and_a_new_phase1_rekeys_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Phase 1 lives 2 s without DPD (not re-keyed, as the manual says), the IPsec SAs 12 s: phase 1
    ends at both gateways, the IPsec SAs stay and carry traffic (``installed-sa`` lists them, no
    ``active-peers`` row); at their soft lifetime A negotiates a new phase 1 on demand, which adopts
    them, re-keys them by quick mode and deletes the old ones over the new ISAKMP SA."""

    async def main(a: Gateway, b: Gateway) -> None:
        first_a, first_b = _spis(a), _spis(b)
        await _until("phase 1 to end at both", lambda: not a.glue.tracked and not b.glue.tracked, 5)
        assert _spis(a) == first_a and _spis(b) == first_b
        assert not _rows(a, "active-peers") and len(_rows(b, "installed-sa")) == 2
        assert await a.ping(GATEWAYS["B"][1], count=2) == (2, 2)

        def rekeyed() -> bool:
            for gw in (a, b):  # what ``serve_until_stopped`` does every second: expiries
                gw.glue.on_dataplane_events()
            return (
                len(a.children()) == 1
                and len(b.children()) == 1
                and not (_spis(a) & first_a)
                and not (_spis(b) & first_b)
            )

        await _until("the re-key through a new phase 1", rekeyed, 14)
        assert not a.glue.runtime.detached.keys() & first_a  # type: ignore[union-attr]
        assert await a.ping(GATEWAYS["B"][1], count=2) == (2, 2)

    said = _said(caplog, main, "lifetime=2s dpd-interval=disable-dpd", "lifetime=12s")
    assert any("outlive the ISAKMP SA: kept to their lifetime" in line for line in said), said
    assert any("phase 1 has ended: negotiating a new one" in line for line in said), said
    assert not any("reached its hard lifetime" in line for line in said)


def test_ikev1_phase1_rekey_collision_keeps_one_isakmp_sa(caplog: pytest.LogCaptureFixture) -> None:
    """Both gateways start a new phase 1 at once (DPD on): each side keeps the ISAKMP SA with the lower
    cookie pair — the same one — and DELETEs the other; the IPsec SA moves to it and keeps carrying
    traffic."""

    async def main(a: Gateway, b: Gateway) -> None:
        (ta,), (tb,) = a.glue.tracked.values(), b.glue.tracked.values()
        old = {ta.sa.cky_i + ta.sa.cky_r}  # type: ignore[union-attr]
        # B is passive in the demo; a responder with DPD re-keys too when it may initiate
        tb.plan = replace(tb.plan, endpoint=replace(tb.plan.endpoint, passive=False))
        for gw, t in ((a, ta), (b, tb)):
            gw.glue._rekey_phase1(("phase1", t.sa))

        def live(gw: Gateway) -> dict[bytes, Tracked]:
            return {
                t.sa.cky_i + t.sa.cky_r: t  # type: ignore[union-attr]
                for t in gw.glue.tracked.values()
                if t.state == "established" and not t.sa.closed and t.sa.cky_i + t.sa.cky_r not in old  # type: ignore
            }

        await _until(
            "one new ISAKMP SA each, the same",
            lambda: len(live(a)) == 1 and live(a).keys() == live(b).keys(),
            8,
        )
        (ka,), (kb,) = live(a).values(), live(b).values()
        await _until("the IPsec SA on the kept one", lambda: bool(ka.children) and bool(kb.children))
        assert await a.ping(GATEWAYS["B"][1], count=2) == (2, 2)

    said = _said(caplog, main, "lifetime=1h dpd-interval=5s")
    assert any("phase-1 re-key collision" in line for line in said), said


def test_aggressive_mode_chooses_the_peer_by_the_initiators_id() -> None:
    """B has two aggressive peers for A's address: the first (a decoy with another remote-id and
    secret) would win by address alone; the initiator's ID in the first message picks gw-A."""

    async def main() -> None:
        ike, natt = free_ports()
        rsc_b = _rsc("B", ike, "aggressive", "lifetime=1h")
        peer_line = next(line for line in rsc_b.splitlines() if line.startswith("/ip ipsec peer add"))
        decoy = (
            peer_line.replace("name=gw-A", "name=decoy")
            + '\n/ip ipsec identity add peer=decoy secret="not-the-demo-secret" remote-id=fqdn:other.demo\n'
        )
        a = Gateway("A", ike, natt, _rsc("A", ike, "aggressive", "lifetime=1h"))
        b = Gateway("B", ike, natt, rsc_b.replace(peer_line, decoy + peer_line))
        await b.start()
        await a.start()
        try:
            await _until("both IPsec SAs", lambda: bool(a.children()) and bool(b.children()))
            (t,) = b.glue.tracked.values()
            assert t.peer == "gw-A"
            assert await a.ping(GATEWAYS["B"][1], count=2) == (2, 2)
        finally:
            for gw in (a, b):
                await gw.daemon.stop()

    asyncio.run(main())


def test_ikev1_responder_generates_the_policy_from_a_template() -> None:
    """generate-policy=port-strict on an IKEv1 responder without a policy for the initiator: the quick
    mode's proxy IDs are admitted by the template, a dynamic policy for exactly them is installed for
    the SA's life (RouterOS's L2TP/road-warrior set-up), traffic flows, and it goes with the SA."""

    async def main() -> None:
        ike, natt = free_ports()
        rsc_b = _rsc("B", ike, None, "lifetime=1h")
        policy = next(line for line in rsc_b.splitlines() if line.startswith("/ip ipsec policy add"))
        template = (
            "/ip ipsec policy add template=yes group=default src-address=10.10.2.0/24 "
            "dst-address=10.10.1.0/24 proposal=demo"
        )
        rsc_b = rsc_b.replace(policy, template).replace(
            "remote-id=", "generate-policy=port-strict remote-id="
        )
        a = Gateway("A", ike, natt, _rsc("A", ike, None, "lifetime=1h"))
        b = Gateway("B", ike, natt, rsc_b)
        await b.start()
        await a.start()
        try:
            await _until("both IPsec SAs", lambda: bool(a.children()) and bool(b.children()))
            (dyn,) = [r for r in _rows(b, "policy") if r.get("dynamic") == "yes"]
            assert (dyn["src-address"], dyn["dst-address"]) == ("10.10.2.1/32", "10.10.1.1/32")
            assert await a.ping(GATEWAYS["B"][1], count=2) == (2, 2)
            assert a.execute("/ip ipsec active-peers kill-connections", False).rc == 0
            await _until(
                "the SA and its policy to go",
                lambda: not [r for r in _rows(b, "policy") if r.get("dynamic") == "yes"],
                5,
            )
        finally:
            for gw in (a, b):
                await gw.daemon.stop()

    asyncio.run(main())
