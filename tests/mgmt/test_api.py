"""The daemon-facing API: typed snapshot rows, versions and listeners, and RuntimeProvider menus."""

from __future__ import annotations

import ipaddress
import json

from ipsecd.mgmt import Config, Session, Snapshot
from ipsecd.mgmt.values import Identity

from .conftest import run_ok


def test_rows_are_typed_with_defaults(config: Config) -> None:
    config.import_script(
        "/ip ipsec profile add name=p dh-group=ecp256,modp2048 dpd-interval=disable-dpd lifetime=8h\n"
        "/ip ipsec peer add name=gw address=192.0.2.0/24 exchange-mode=ike2 profile=p comment=hq "
        "disabled=yes\n"
        "/ip ipsec identity add peer=gw secret=0x0001ff my-id=address:192.0.2.1 remote-id=fqdn:peer.example\n"
        "/ip ipsec policy add peer=gw tunnel=yes src-address=10.1.0.0/24 dst-address=10.2.0.0/24 "
        "dst-port=443 protocol=tcp sa-dst-address=192.0.2.7\n/ip pool add name=pl ranges=10.9.0.1-10.9.0.9\n",
        "t.rsc",
    )
    snap = config.snapshot()
    prof = snap.rows("/ip ipsec profile")[1]
    assert prof["dh-group"] == ("ecp256", "modp2048") and prof["dpd-interval"] == "disable-dpd"
    assert (
        prof["lifetime"] == 8 * 3600 and prof["dpd-maximum-failures"] == 5 and prof["nat-traversal"] is True
    )
    default_prof = snap.rows("/ip ipsec profile")[0]
    assert default_prof.default and default_prof["dpd-interval"] == 120 and default_prof["lifetime"] == 86400
    peer = snap.rows("/ip ipsec peer")[0]
    assert peer.id.startswith("*") and peer.disabled and peer.comment == "hq"
    assert peer["address"] == ipaddress.ip_network("192.0.2.0/24") and peer["local-address"] is None
    assert peer["port"] == 500 and peer["exchange-mode"] == "ike2" and peer["passive"] is False
    ident = snap.rows("/ip ipsec identity")[0]
    assert ident["secret"] == b"\x00\x01\xff" and ident["my-id"] == Identity(
        "address", ipaddress.ip_address("192.0.2.1")
    )
    assert ident["remote-id"] == Identity("fqdn", "peer.example") and ident["peer"] == "gw"
    pol = snap.rows("/ip ipsec policy")[1]
    assert pol["src-port"] is None and pol["dst-port"] == 443 and pol["protocol"] == "tcp"
    assert pol["sa-src-address"] is None and pol["sa-dst-address"] == ipaddress.ip_address("192.0.2.7")
    assert pol["tunnel"] is True and pol["proposal"] == "default" and pol["level"] == "require"
    assert snap.rows("/ip pool")[0]["ranges"] == (
        (ipaddress.ip_address("10.9.0.1"), ipaddress.ip_address("10.9.0.9")),
    )


def test_snapshot_is_immutable_and_versions_increment(config: Config) -> None:
    seen: list[Snapshot] = []
    config.add_listener(seen.append)
    s0 = config.snapshot()
    session = Session(config)
    run_ok(session, "/ip ipsec peer add name=a")
    run_ok(session, "/ip ipsec peer print")  # read-only: no new version
    assert session.execute("/ip ipsec peer add name=a").rc == 1  # refused: no new version
    run_ok(session, "/ip ipsec peer set a port=4500")
    assert [s.version for s in seen] == [s0.version + 1, s0.version + 2]
    assert s0.rows("/ip ipsec peer") == ()
    assert (
        seen[0].rows("/ip ipsec peer")[0]["port"] == 500 and seen[1].rows("/ip ipsec peer")[0]["port"] == 4500
    )
    assert config.snapshot() is seen[-1]


class FakeRuntime:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def rows(self, menu: str) -> list[dict[str, object]]:
        if menu == "/ip ipsec active-peers":
            return [{"id": "gw", "state": "established", "remote-address": "192.0.2.2", "responder": True,
                     "natt-peer": "no", "ph2-total": 1, "uptime": "5s"}]
        if menu == "/ip ipsec installed-sa":
            return [
                {
                    "spi": "0x1234",
                    "state": "mature",
                    "enc-key": "abcd",
                    "auth-key": "ef01",
                    "current-bytes": 10,
                }
            ]
        if menu == "/ip ipsec statistics":
            return [{"in-no-states": 3, "out-errors": 1}]
        if menu == "/ip ipsec policy":
            return [{".id": self.policy_id, "active": True, "ph2-state": "established", "ph2-count": 2}]
        return []

    def command(self, menu: str, name: str, args: dict[str, str]) -> str:
        self.calls.append((menu, name))
        return "1 connection(s) killed\n"

    policy_id = ""


def test_runtime_menus_from_provider(config: Config) -> None:
    rt = FakeRuntime()
    config.import_script("/ip ipsec policy add src-address=10.1.0.0/24 dst-address=10.2.0.0/24\n", "p.rsc")
    rt.policy_id = config.snapshot().rows("/ip ipsec policy")[1].id
    s = Session(config, rt)
    peers = json.loads(run_ok(s, "/ip ipsec active-peers print", True))
    assert peers[0]["id"] == "gw" and peers[0]["responder"] == "yes" and peers[0]["ph2-total"] == "1"
    table = run_ok(s, "/ip ipsec active-peers print")
    assert "established" in table and "R" in table.splitlines()[-1][:6]
    assert "abcd" not in run_ok(s, "/ip ipsec installed-sa print detail")
    assert 'enc-key="abcd"' in run_ok(s, "/ip ipsec installed-sa print detail show-sensitive")
    stats = json.loads(run_ok(s, "/ip ipsec statistics print", True))[0]
    assert stats["in-no-states"] == "3" and stats["out-errors"] == "1" and stats["in-errors"] == "0"
    assert len(stats) == 25
    pol = json.loads(run_ok(s, "/ip ipsec policy print", True))
    assert (pol[1]["active"], pol[1]["ph2-state"], pol[1]["ph2-count"]) == ("yes", "established", "2")
    assert (pol[0]["active"], pol[0]["ph2-count"]) == ("no", "0")
    assert "A" in run_ok(s, "/ip ipsec policy print").splitlines()[-1][:6]
    assert run_ok(s, "/ip ipsec active-peers kill-connections") == "1 connection(s) killed\n"
    assert rt.calls == [("/ip ipsec active-peers", "kill-connections")]


def test_runtime_menus_without_provider(session: Session) -> None:
    assert json.loads(run_ok(session, "/ip ipsec active-peers print", True)) == []
    assert json.loads(run_ok(session, "/ip ipsec installed-sa print", True)) == []
    stats = json.loads(run_ok(session, "/ip ipsec statistics print", True))[0]
    assert set(stats.values()) == {"0"}
    res = session.execute("/ip ipsec installed-sa flush")
    assert res.rc == 1 and "running daemon" in res.stderr
    assert session.execute("/ip ipsec active-peers add comment=x").rc == 1


def test_failing_listener_does_not_fail_the_command(config: Config) -> None:
    def boom(snapshot: Snapshot) -> None:
        raise RuntimeError("listener bug")

    got: list[int] = []
    config.add_listener(boom)
    config.add_listener(lambda snap: got.append(snap.version))
    res = Session(config).execute("/ip ipsec peer add name=a")
    assert res.rc == 0 and got == [config.snapshot().version]
