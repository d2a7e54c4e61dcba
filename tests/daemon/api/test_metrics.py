from __future__ import annotations

from ipsecd.daemon.api.metrics import render
from ipsecd.daemon.runtime import Histogram


class FakeRuntime:
    def rows(self, menu: str) -> list[dict[str, object]]:
        if menu.endswith("statistics"):
            return [{"in-no-states": 3, "out-policy-blocked": 1}]
        if menu.endswith("active-peers"):
            return [{"id": 'a"b', "state": "established", "remote-address": "192.0.2.1", "rx-bytes": 10,
                     "tx-packets": 2},
                    {"id": "c", "state": "starting", "remote-address": "192.0.2.2"}]
        if menu.endswith("installed-sa"):
            return [
                {"spi": "0x1", "state": "mature", "src-address": "a", "dst-address": "b", "current-bytes": 5}
            ]
        return []

    def command(self, menu: str, name: str, args: dict[str, str]) -> str:
        return ""


def test_exposition_from_the_runtime_views() -> None:
    text = render(FakeRuntime(), {"failed_logins": 4})
    lines = text.splitlines()
    assert "# TYPE ipsecd_xfrm_in_no_states_total counter" in lines
    assert "ipsecd_xfrm_in_no_states_total 3" in lines
    assert "ipsecd_xfrm_in_errors_total 0" in lines
    assert 'ipsecd_ike_sas{state="established"} 1' in lines
    assert 'ipsecd_peer_rx_bytes_total{peer="a\\"b",remote="192.0.2.1"} 10' in lines
    assert 'ipsecd_peer_tx_packets_total{peer="c",remote="192.0.2.2"} 0' in lines
    assert 'ipsecd_child_sas{state="mature"} 1' in lines
    assert 'ipsecd_sa_bytes_total{spi="0x1",src="a",dst="b"} 5' in lines
    assert "ipsecd_api_failed_logins_total 4" in lines
    assert text.endswith("\n")


def test_no_runtime_gives_zero_counters() -> None:
    assert "ipsecd_xfrm_out_policy_dead_total 0" in render(None, {})


def test_setup_time_histogram() -> None:
    """Issue 14: IKE SA setup times as a Prometheus histogram (cumulative buckets, sum, count)."""
    runtime = FakeRuntime()
    hist = Histogram()
    for seconds in (0.003, 0.2, 7.0):
        hist.observe(seconds)
    runtime.setup_seconds = {"initiator": hist}  # type: ignore[attr-defined]
    lines = render(runtime, {}).splitlines()
    name = "ipsecd_ike_sa_setup_seconds"
    assert f"# TYPE {name} histogram" in lines
    for le, n in (("0.005", 1), ("0.1", 1), ("0.25", 2), ("5.0", 2), ("10.0", 3), ("+Inf", 3)):
        assert f'{name}_bucket{{side="initiator",le="{le}"}} {n}' in lines
    assert f'{name}_sum{{side="initiator"}} 7.203000' in lines
    assert f'{name}_count{{side="initiator"}} 3' in lines
    assert not any(line.startswith(f"{name}_") for line in render(FakeRuntime(), {}).splitlines())
