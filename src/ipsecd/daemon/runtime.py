"""Runtime state the daemon shows: ``active-peers``, ``installed-sa``, ``statistics``, policy fields.

The configuration model (mgmt) prints read-only runtime menus by asking the daemon for rows through
its ``RuntimeProvider`` protocol (``rows(menu)``, ``command(menu, name, args)``). This module keeps
the records those rows come from — one :class:`PeerRecord` per IKE SA and one :class:`ChildRecord`
per CHILD_SA — and renders them with every read-only property the manual lists for the menu.
Byte/packet counters of installed SAs come from the data plane (``query_sa``), never from guesses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ipsecd.dataplane.base import DataPlane
from ipsecd.ike.v2.sa import IkeSa
from ipsecd.mgmt.values import format_seconds
from ipsecd.pki.store import CertificateStore
from ipsecd.policy.types import IpsecProto, Level, Mode, SaSpec

from . import keylog

Row = dict[str, object]


def ros_duration(seconds: float) -> str:
    """RouterOS time notation of a (possibly fractional or negative) span: ``1w2d3h4m5s``, ``0s``."""
    return format_seconds(max(0, int(seconds)))


#: Upper bounds (seconds) of the IKE SA setup-time histogram's buckets: a LAN handshake takes
#: milliseconds, one over a lossy path waits for retransmissions (1 s, 1.8 s, … in strongSwan's schedule).
SETUP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(slots=True)
class Histogram:
    """Observations counted into cumulative buckets, as a Prometheus histogram exposes them."""

    bounds: tuple[float, ...] = SETUP_BUCKETS
    counts: list[int] = field(init=False)  # per bound, cumulative
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        self.total += value
        self.count += 1
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1


#: Policy ids of the policies generate-policy makes (the daemon's glue names them so).
DYNAMIC_PREFIX = "dynamic:"
#: Their level: RouterOS generates them ``level=unique`` (one SA each; tests/vectors/routeros/v7-hub-spoke).
DYNAMIC_LEVEL = Level.UNIQUE


def _yn(flag: bool) -> str:
    return "yes" if flag else "no"


@dataclass(slots=True)
class ChildRecord:
    """One CHILD_SA: its two unidirectional SAs as installed, and the policy it serves."""

    inbound: SaSpec
    outbound: SaSpec
    policy_id: str | None
    installed_at: float  # daemon clock
    wall_installed_at: float  # time.time(), for ``addtime``
    rekey_at: float | None  # daemon clock of the soft expiry
    seen_packets: int = 0  # inbound packets when last read (DPD waits while they move, RFC 7296 §2.4)


@dataclass(slots=True)
class DetachedChild:
    """An IKEv1 IPsec SA whose ISAKMP SA ended before it (phase-1 lifetime, the peer's DELETE of the
    ISAKMP SA): it carries traffic to its own lifetime, or until a new ISAKMP SA with the same peer
    (address and identity) adopts it. ``installed-sa`` lists it; ``active-peers`` has no row for it,
    as RouterOS shows phase 1 there."""

    peer: str  # configured peer name
    remote: str  # the peer's host
    remote_id: str
    name: str  # the policy's ChildConfig name
    proto: IpsecProto
    record: ChildRecord
    answered: bool = False  # the peer started its quick mode (and re-keys it)


@dataclass(slots=True)
class PeerRecord:
    """One IKE SA as ``/ip ipsec active-peers`` shows it."""

    key: int  # stable id of the IKE SA object
    peer: str  # configured peer name
    local: tuple[str, int]
    remote: tuple[str, int]
    side: str  # initiator | responder
    state: str = "connecting"
    natt: bool = False
    established_at: float | None = None
    last_seen: float | None = None
    dynamic_address: str | None = None
    spi_i: bytes = b""
    spi_r: bytes = b""
    ike_rx_bytes: int = 0
    ike_rx_packets: int = 0
    ike_tx_bytes: int = 0
    ike_tx_packets: int = 0
    children: dict[int, ChildRecord] = field(default_factory=dict)  # by inbound SPI


class Runtime:
    """Records plus the RuntimeProvider interface the mgmt ``Session`` calls."""

    def __init__(self, dataplane: DataPlane, clock: Callable[[], float],
                 kill_connections: Callable[[], int], flush: Callable[[], int],
                 peer_rows: Callable[[], list[Row]] = list) -> None:
        self.dataplane = dataplane
        self.clock = clock
        self.peers: dict[int, PeerRecord] = {}
        self.detached: dict[int, DetachedChild] = {}  # by inbound SPI
        self._kill_connections = kill_connections
        self._peer_rows = peer_rows  # /ip ipsec peer's runtime fields (current-address) by .id
        self._flush = flush
        self.certificates: CertificateStore | None = None  # the daemon's store: mgmt's /certificate
        # IKE SA setup time, first message to established, by side (initiator, responder): metrics
        self.setup_seconds: dict[str, Histogram] = {}

    # -- RuntimeProvider -------------------------------------------------------------------------

    @staticmethod
    def _menu(menu: Any) -> str:
        text = menu if isinstance(menu, str) else " ".join(menu)
        return text.replace("/", " ").split()[-1] if text.strip() else ""

    def rows(self, menu: Any) -> list[Row]:
        name = self._menu(menu)
        if name == "active-peers":
            return self.active_peer_rows()
        if name == "installed-sa":
            return self.installed_sa_rows()
        if name == "statistics":
            return [dict(self.dataplane.statistics())]
        if name == "policy":
            return self.policy_rows()
        if name == "peer":
            return self._peer_rows()
        return []

    def command(self, menu: Any, name: str, args: Any = None) -> str:
        menu_name = self._menu(menu)
        if menu_name == "active-peers" and name == "kill-connections":
            n = self._kill_connections()
            return f"{n} connection(s) killed"
        if menu_name == "installed-sa" and name == "flush":
            n = self._flush()
            return f"{n} SA(s) flushed"
        if menu_name == "installed-sa" and name == "wireshark-keys":
            children = self.child_specs()
            return keylog.esp_sa(spec for _, child in children for spec in (child.outbound, child.inbound))
        if menu_name == "active-peers" and name == "wireshark-keys":
            return keylog.ikev2_decryption_table(
                (rec.spi_i, rec.spi_r, sa.algs, sa.keys)
                for rec in self.peers.values()
                if isinstance(sa := getattr(rec, "sa", None), IkeSa) and sa.algs and sa.keys
            )
        raise KeyError(f"no runtime command {menu_name} {name}")

    def established(self, rec: PeerRecord, started: float) -> None:
        """An IKE SA is up: its setup time (from ``started``, when its first message went or came)."""
        if rec.established_at is not None:
            seconds = max(0.0, rec.established_at - started)
            self.setup_seconds.setdefault(rec.side, Histogram()).observe(seconds)

    # -- rows ---------------------------------------------------------------------------------------

    def _sa_counters(self, spec: SaSpec) -> tuple[int, int]:
        st = self.dataplane.query_sa(spec.spi, spec.direction)
        return (st.current_bytes, st.current_packets) if st else (0, 0)

    def active_peer_rows(self) -> list[Row]:
        now = self.clock()
        rows = []
        for rec in self.peers.values():
            rx_b, rx_p = rec.ike_rx_bytes, rec.ike_rx_packets
            tx_b, tx_p = rec.ike_tx_bytes, rec.ike_tx_packets
            for child in rec.children.values():
                b, p = self._sa_counters(child.inbound)
                rx_b, rx_p = rx_b + b, rx_p + p
                b, p = self._sa_counters(child.outbound)
                tx_b, tx_p = tx_b + b, tx_p + p
            row: Row = {
                "id": rec.peer,
                "local-address": rec.local[0],
                "local-port": rec.local[1],
                "remote-address": rec.remote[0],
                "port": rec.remote[1],
                "spii": rec.spi_i.hex(),
                "spir": rec.spi_r.hex(),
                "state": rec.state,
                "side": rec.side,
                "responder": _yn(rec.side == "responder"),
                "natt-peer": _yn(rec.natt),
                "ph2-total": len(rec.children),
                "uptime": ros_duration(now - rec.established_at) if rec.established_at is not None else "0s",
                "last-seen": ros_duration(now - rec.last_seen) if rec.last_seen is not None else "",
                "rx-bytes": rx_b,
                "rx-packets": rx_p,
                "tx-bytes": tx_b,
                "tx-packets": tx_p,
            }
            if rec.dynamic_address:
                row["dynamic-address"] = rec.dynamic_address
            rows.append(row)
        return rows

    def installed_sa_rows(self) -> list[Row]:
        now = self.clock()
        rows = []
        for _peer, child in self.child_specs():
            for spec in (child.outbound, child.inbound):
                st = self.dataplane.query_sa(spec.spi, spec.direction)
                life = spec.lifetime
                rows.append(
                    {
                        "spi": f"0x{spec.spi:X}",
                        "src-address": spec.src.compressed,
                        "dst-address": spec.dst.compressed,
                        "state": st.state if st else "dead",
                        "AH": _yn(spec.proto is IpsecProto.AH),
                        "ESP": _yn(spec.proto is IpsecProto.ESP),
                        "auth-algorithm": spec.integ,
                        "enc-algorithm": spec.encr,
                        "enc-key-size": len(spec.encr_key) * 8,
                        "auth-key": spec.integ_key.hex(),
                        "enc-key": spec.encr_key.hex(),
                        "current-bytes": st.current_bytes if st else 0,
                        "current-packets": st.current_packets if st else 0,
                        "invalid-packets": st.invalid_packets if st else 0,
                        "seen-traffic": _yn(st is not None and st.last_used is not None),
                        "replay": spec.replay_window,
                        "add-lifetime": "/".join(
                            ros_duration(x) for x in (life.soft_seconds, life.hard_seconds)
                        ),
                        "addtime": time.strftime(
                            "%Y-%m-%d %H:%M:%S", time.localtime(child.wall_installed_at)
                        ),
                        "expires-in": ros_duration(child.rekey_at - now)
                        if child.rekey_at is not None
                        else "",
                        "hw-aead": "no",
                    }
                )
        return rows

    def policy_rows(self) -> list[Row]:
        """Runtime fields of policies, keyed by the configuration policy id (``.id``), then the
        policies generate-policy made for live CHILD_SAs (``dynamic=yes``: whole rows, which
        ``print`` lists after the configured ones with the D flag, as RouterOS does)."""
        counts: dict[str, int] = {}
        ends: dict[str, tuple[str, str]] = {}  # a configured policy's SA ends, as RouterOS 7 prints them
        dynamic: list[Row] = []
        for peer, child in self.child_specs():
            out = child.outbound
            if (
                out.policy_id is not None
                and out.policy_id.startswith(DYNAMIC_PREFIX)
                and out.selector is not None
            ):
                sel = out.selector
                dynamic.append(
                    {
                        ".id": out.policy_id,
                        "dynamic": "yes",
                        "peer": peer,
                        "tunnel": _yn(out.mode is Mode.TUNNEL),
                        "src-address": str(sel.src),
                        "src-port": str(sel.src_port or "any"),
                        "dst-address": str(sel.dst),
                        "dst-port": str(sel.dst_port or "any"),
                        "protocol": str(sel.protocol or "all"),
                        "action": "encrypt",
                        "level": DYNAMIC_LEVEL.value,
                        "ipsec-protocols": out.proto.name.lower(),
                        "sa-src-address": out.src.compressed,
                        "sa-dst-address": out.dst.compressed,
                        "active": "yes",
                        "ph2-state": "established",
                        "ph2-count": 1,
                    }
                )
            elif child.policy_id is not None:
                counts[child.policy_id] = counts.get(child.policy_id, 0) + 1
                ends[child.policy_id] = (out.src.compressed, out.dst.compressed)
        return [
            {".id": pid, "active": "yes", "ph2-state": "established", "ph2-count": n,
             "sa-src-address": ends[pid][0], "sa-dst-address": ends[pid][1]}
            for pid, n in counts.items()
        ] + dynamic

    def child_specs(self) -> list[tuple[str, ChildRecord]]:
        """Every installed IPsec SA pair with its peer's name: those of IKE SAs, then the detached ones."""
        out = [(rec.peer, child) for rec in self.peers.values() for child in rec.children.values()]
        out += [(d.peer, d.record) for d in self.detached.values()]
        return out

    def remove_detached(self, inbound_spi: int) -> DetachedChild | None:
        d = self.detached.pop(inbound_spi, None)
        if d is not None:
            for spec in (d.record.inbound, d.record.outbound):
                self.dataplane.del_sa(spec.spi, spec.direction)
        return d

    def remove_child(self, rec: PeerRecord, inbound_spi: int) -> ChildRecord | None:
        child = rec.children.pop(inbound_spi, None)
        if child is not None:
            for spec in (child.inbound, child.outbound):
                self.dataplane.del_sa(spec.spi, spec.direction)
        return child
