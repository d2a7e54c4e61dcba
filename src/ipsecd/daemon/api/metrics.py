"""Prometheus metrics (text exposition format 0.0.4) from the daemon's runtime views.

Everything comes from what ``/ip ipsec statistics``, ``active-peers`` and ``installed-sa`` print
(the :class:`~ipsecd.mgmt.commands.RuntimeProvider` the console uses), so the metrics and the
console never disagree:

- ``ipsecd_xfrm_<counter>_total``: the manual's statistics counters (``in-no-states`` …);
- ``ipsecd_ike_sas{state=…}``: active peers by state; ``ipsecd_peer_{rx,tx}_{bytes,packets}_total``
  per peer (labels ``peer``, ``remote``);
- ``ipsecd_child_sas{state=…}``: installed SAs by state; ``ipsecd_sa_{bytes,packets}_total`` per SA
  (labels ``spi``, ``src``, ``dst``);
- ``ipsecd_events_total{event=…,reason=…}``: IKE events by kind, failures by their notify/reason;
- ``ipsecd_ike_sa_setup_seconds{side=…}``: a histogram of IKE SA setup times (first message to
  established: IKE_SA_INIT and IKE_AUTH with its CHILD_SA, or IKEv1 phase 1), by our side;
- ``ipsecd_api_*``: the management services' own counters (connections, refusals, failed logins).

Written here rather than with ``prometheus-client``: the format is a few lines of text and the
values are read fresh from the runtime on each scrape, which that library's registry model does not
fit without a custom collector of the same size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from ipsecd.daemon.runtime import Histogram
from ipsecd.mgmt.commands import RuntimeProvider
from ipsecd.mgmt.schema import STATISTICS_COUNTERS

Sample = tuple[Mapping[str, str], object]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: object) -> str:
    try:
        return str(int(str(value)))
    except ValueError:
        return "0"


def family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    """One metric family: HELP, TYPE and a line per sample."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")
    return lines


def _setup_histogram(by_side: Mapping[str, Histogram]) -> list[str]:
    name = "ipsecd_ike_sa_setup_seconds"
    lines = [f"# HELP {name} IKE SA setup time, first message to established, by our side",
             f"# TYPE {name} histogram"]
    for side, h in sorted(by_side.items()):
        for bound, n in zip(h.bounds, h.counts, strict=True):
            lines.append(f'{name}_bucket{{side="{_label(side)}",le="{bound}"}} {n}')
        lines.append(f'{name}_bucket{{side="{_label(side)}",le="+Inf"}} {h.count}')
        lines.append(f'{name}_sum{{side="{_label(side)}"}} {h.total:.6f}')
        lines.append(f'{name}_count{{side="{_label(side)}"}} {h.count}')
    return lines


def render(runtime: RuntimeProvider | None, api: Mapping[str, int],
           events: Mapping[tuple[str, str], int] | None = None) -> str:
    """The exposition text of one scrape."""
    stats = runtime.rows("/ip ipsec statistics") if runtime is not None else []
    counters = stats[0] if stats else {}
    peers = runtime.rows("/ip ipsec active-peers") if runtime is not None else []
    sas = runtime.rows("/ip ipsec installed-sa") if runtime is not None else []
    lines: list[str] = []
    for name in STATISTICS_COUNTERS:
        metric = "ipsecd_xfrm_" + name.replace("-", "_") + "_total"
        lines += family(metric, "counter", f"/ip ipsec statistics {name}", [({}, counters.get(name, 0))])
    by_state = Counter(str(p.get("state", "")) for p in peers)
    lines += family("ipsecd_ike_sas", "gauge", "IKE SAs (active peers) by state",
                    [({"state": s}, n) for s, n in sorted(by_state.items())])
    for direction in ("rx", "tx"):
        for unit in ("bytes", "packets"):
            lines += family(
                f"ipsecd_peer_{direction}_{unit}_total",
                "counter",
                f"{direction}-{unit} per active peer",
                [
                    (
                        {"peer": str(p.get("id", "")), "remote": str(p.get("remote-address", ""))},
                        p.get(f"{direction}-{unit}", 0),
                    )
                    for p in peers
                ],
            )
    sa_states = Counter(str(s.get("state", "")) for s in sas)
    lines += family("ipsecd_child_sas", "gauge", "installed SAs by state",
                    [({"state": s}, n) for s, n in sorted(sa_states.items())])
    for unit in ("bytes", "packets"):
        lines += family(f"ipsecd_sa_{unit}_total", "counter", f"current-{unit} per installed SA",
                        [({"spi": str(s.get("spi", "")), "src": str(s.get("src-address", "")),
                           "dst": str(s.get("dst-address", ""))}, s.get(f"current-{unit}", 0)) for s in sas])
    lines += family("ipsecd_events_total", "counter", "IKE events by kind and reason (failures by notify)",
                    [({"event": e, "reason": r}, n) for (e, r), n in sorted((events or {}).items())])
    lines += _setup_histogram(getattr(runtime, "setup_seconds", None) or {})
    for name, value in sorted(api.items()):
        lines += family(f"ipsecd_api_{name}_total", "counter", f"management services: {name}", [({}, value)])
    return "\n".join(lines) + "\n"
