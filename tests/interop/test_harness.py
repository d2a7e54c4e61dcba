"""The strongSwan harness itself: two charons (kernel-libipsec) tunnel LAN to LAN, directly and
through the masquerading NAT namespace; no plaintext between the LAN addresses on the wire."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.sswan import Charon, Topology, connect_charons, swanctl_connection

pytestmark = pytest.mark.interop


def test_charon_to_charon_tunnel(tmp_path: Path) -> None:
    with Topology("ipdh") as topo:
        left = Charon(topo.left, tmp_path).start()
        right = Charon(topo.right, tmp_path).start()
        # no SA yet: the LANs cannot reach each other
        assert topo.left.ping(topo.right.lan, src=topo.left.lan, count=1, wait=1)[1] == 0
        connect_charons(left, right, topo)
        assert topo.left.ping(topo.right.lan, src=topo.left.lan, count=3) == (3, 3)
        child = left.child_sas()[0]
        assert child["encap"] == "yes"  # libipsec: always ESP in UDP/4500
        assert int(str(child["packets-out"])) >= 3
    assert not Path(f"/run/netns/{topo.left.name}").exists()


def test_charon_through_nat(tmp_path: Path) -> None:
    with Topology("ipdn", nat=True) as topo:
        left = Charon(topo.left, tmp_path).start()
        right = Charon(topo.right, tmp_path).start()
        psk = "nat-test-psk-0123456789"
        left.load(
            swanctl_connection(
                "net",
                local_addr=topo.left.wan,
                remote_addr=topo.right.wan,
                local_id="left.test",
                remote_id="right.test",
                local_ts=f"{topo.left.lan}/32",
                remote_ts=f"{topo.right.lan}/32",
                psk=psk,
            )
        )
        right.load(
            swanctl_connection(
                "net",
                local_addr=topo.right.wan,
                remote_addr="%any",
                local_id="right.test",
                remote_id="left.test",
                local_ts=f"{topo.right.lan}/32",
                remote_ts=f"{topo.left.lan}/32",
                psk=psk,
            )
        )
        left.initiate("net")
        assert topo.left.ping(topo.right.lan, src=topo.left.lan, count=3) == (3, 3)
        ike = right.list_sas()[0]
        assert ike["remote-host"] == topo.left_seen_by_right
