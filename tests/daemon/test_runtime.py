"""Runtime rows: every manual property of active-peers / installed-sa, counters from the data plane."""

from __future__ import annotations

from ipaddress import ip_address

from ipsecd.daemon.runtime import ChildRecord, PeerRecord, Runtime, ros_duration
from ipsecd.policy.types import Direction, IpsecProto, Lifetime, Mode, SaSpec, SaState

ACTIVE_PEER_PROPS = {
    "local-address",
    "remote-address",
    "state",
    "side",
    "responder",
    "natt-peer",
    "ph2-total",
    "uptime",
    "port",
    "spii",
    "spir",
    "last-seen",
    "rx-bytes",
    "rx-packets",
    "tx-bytes",
    "tx-packets",
}
INSTALLED_SA_PROPS = {
    "AH",
    "ESP",
    "add-lifetime",
    "addtime",
    "auth-algorithm",
    "auth-key",
    "current-bytes",
    "dst-address",
    "enc-algorithm",
    "enc-key",
    "enc-key-size",
    "expires-in",
    "hw-aead",
    "replay",
    "spi",
    "src-address",
    "state",
    "current-packets",
    "invalid-packets",
    "seen-traffic",
}


class FakeDataPlane:
    def __init__(self) -> None:
        self.deleted: list[tuple[int, Direction]] = []

    def query_sa(self, spi: int, direction: Direction) -> SaState | None:
        n = 100 if direction is Direction.IN else 200
        return SaState(spi, direction, n * 10, n, 0, 0.0, None, "mature", 128)

    def del_sa(self, spi: int, direction: Direction) -> None:
        self.deleted.append((spi, direction))

    def statistics(self) -> dict[str, int]:
        return {"in-errors": 0, "out-no-states": 3}


def _spec(spi: int, d: Direction) -> SaSpec:
    a, b = ip_address("192.0.2.1"), ip_address("192.0.2.2")
    return SaSpec(
        spi,
        d,
        IpsecProto.ESP,
        Mode.TUNNEL,
        a if d is Direction.OUT else b,
        b if d is Direction.OUT else a,
        "aes-128-gcm",
        bytes(20),
        "null",
        b"",
        lifetime=Lifetime(1500, 1800),
    )


def test_rows() -> None:
    clock = [1000.0]
    killed: list[int] = []
    dp = FakeDataPlane()

    def kill() -> int:
        killed.append(1)
        return 1

    rt = Runtime(dp, lambda: clock[0], kill_connections=kill, flush=lambda: 2)  # type: ignore[arg-type]
    rec = PeerRecord(
        1,
        "to-b",
        ("192.0.2.1", 4500),
        ("192.0.2.2", 4500),
        "responder",
        state="established",
        natt=True,
        established_at=900.0,
        last_seen=995.0,
        ike_rx_bytes=7,
        ike_rx_packets=1,
    )
    rec.children[0x1000] = ChildRecord(
        _spec(0x1000, Direction.IN), _spec(0x2000, Direction.OUT), "*5", 900.0, 0.0, 2400.0
    )
    rt.peers[1] = rec
    (peer,) = rt.rows("/ip ipsec active-peers")
    assert ACTIVE_PEER_PROPS <= set(peer)
    assert peer["uptime"] == "1m40s" and peer["last-seen"] == "5s" and peer["natt-peer"] == "yes"
    assert (peer["rx-bytes"], peer["rx-packets"], peer["tx-bytes"], peer["tx-packets"]) == (
        1007,
        101,
        2000,
        200,
    )
    sas = rt.rows("installed-sa")
    assert len(sas) == 2 and all(INSTALLED_SA_PROPS <= set(r) for r in sas)
    assert sas[0]["spi"] == "0x2000" and sas[0]["enc-key-size"] == 160 and sas[0]["add-lifetime"] == "25m/30m"
    assert sas[0]["expires-in"] == "23m20s"
    assert rt.rows("statistics") == [{"in-errors": 0, "out-no-states": 3}]
    (pol,) = rt.rows("policy")  # the SA ends too: RouterOS 7 prints them for a peer-bound policy
    assert pol == {".id": "*5", "active": "yes", "ph2-state": "established", "ph2-count": 1,
                   "sa-src-address": sas[0]["src-address"], "sa-dst-address": sas[0]["dst-address"]}
    assert rt.command("active-peers", "kill-connections") == "1 connection(s) killed" and killed == [1]
    assert rt.command(("ip", "ipsec", "installed-sa"), "flush") == "2 SA(s) flushed"
    assert rt.remove_child(rec, 0x1000) is not None
    assert dp.deleted == [(0x1000, Direction.IN), (0x2000, Direction.OUT)]
    assert rt.rows("installed-sa") == []


def test_ros_duration() -> None:
    assert ros_duration(0) == "0s"
    assert ros_duration(694861) == "1w1d1h1m1s"
    assert ros_duration(-3) == "0s"
