"""MemoryDataPlane as a DataPlane: SPIs, SA install/query/update/delete/flush, statistics names,
policies, and the static-keying loader that feeds any backend."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ipsecd.dataplane.base import DataPlane
from ipsecd.dataplane.commands import StaticConfigError, load_static
from ipsecd.dataplane.memory import MemoryDataPlane, connect
from ipsecd.dataplane.stats import COUNTER_NAMES
from ipsecd.policy.types import Direction, IpsecProto, Lifetime
from tests.dataplane.test_processor import GW_A, GW_B, H_A, H_B, KEY_AB, gateways, packet, sa


def test_is_a_dataplane() -> None:
    dp: DataPlane = MemoryDataPlane()
    assert list(dp.statistics()) == list(COUNTER_NAMES)


def test_get_spi_is_fresh_and_never_reserved() -> None:
    dp = MemoryDataPlane()
    dp.add_sa(sa(0x7777, Direction.IN, GW_A, GW_B, KEY_AB, None))
    spis = {dp.get_spi(IpsecProto.ESP) for _ in range(200)}
    assert len(spis) == 200 and min(spis) >= 256 and 0x7777 not in spis


def test_query_update_delete_flush() -> None:
    a, b = gateways()
    a.send(packet(H_A, H_B))
    connect(a, b)
    st = b.query_sa(0x1001, Direction.IN)
    assert st is not None and st.current_packets == 1 and st.state == "mature"
    assert b.query_sa(0x1001, Direction.OUT) is None
    b.update_sa(replace(sa(0x1001, Direction.IN, GW_A, GW_B, KEY_AB, "p"), lifetime=Lifetime(hard_bytes=1)))
    assert b.poll_events()[0].spi == 0x1001  # hard expiry by bytes applied at the next check
    b.flush()
    assert b.query_sa(0x2002, Direction.OUT) is None
    a.del_sa(0x1001, Direction.OUT)
    assert a.query_sa(0x1001, Direction.OUT) is None


def test_static_keying_document() -> None:
    doc = {
        "policies": [{"id": "p1", "src": "10.1.0.0/24", "dst": "10.2.0.0/24", "tunnel": True}],
        "sas": [
            {
                "spi": "0x1001",
                "direction": "out",
                "mode": "tunnel",
                "src": GW_A,
                "dst": GW_B,
                "enc-algorithm": "aes-128-gcm",
                "enc-key": KEY_AB.hex(),
                "policy": "p1",
                "udp-encap": True,
            }
        ],
    }
    policies, sas = load_static(doc)
    dp = MemoryDataPlane()
    for p in policies:
        dp.add_policy(p)
    for s in sas:
        dp.add_sa(s)
    dp.send(packet(H_A, H_B))
    assert len(dp.wire) == 1 and sas[0].encap is not None and sas[0].spi == 0x1001


@pytest.mark.parametrize(("doc", "where"), [
    ({"policies": [{"src": "10.1.0.0/33", "dst": "10.2.0.0/24"}]}, "policy #0"),
    ({"sas": [{"spi": "0x10", "direction": "sideways"}]}, "sa #0"),
    ({"sas": [{"direction": "in"}]}, "sa #0"),
])
def test_static_keying_errors_name_the_entry(doc: dict[str, object], where: str) -> None:
    with pytest.raises(StaticConfigError, match=where):
        load_static(doc)
