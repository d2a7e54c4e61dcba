"""Real RouterOS output and real-world-shaped exports (``tests/vectors/routeros/``, sources in its README).

Every export of the corpus is imported, exported, re-imported and compared; lines of menus ipsecd
does not model are skipped with one warning. Captured ``print`` output of real routers is compared
with ipsecd's, property by property and in order.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ipsecd.mgmt import Config, Session, open_config
from ipsecd.mgmt.schema import EXPORT_ORDER

from .conftest import run_ok

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "routeros"
CORPUS = sorted(VECTORS.glob("*.rsc"))
FOREIGN = {
    "v6-site-to-site-ikev1.rsc": [
        "/interface bridge",
        "/interface wireless security-profiles",
        "/ip address",
        "/ip firewall nat",
        "/system identity",
    ],
    "v7-site-to-site-ikev2.rsc": [
        "/interface bridge",
        "/interface list",
        "/interface bridge port",
        "/ip address",
        "/ip firewall filter",
        "/ip firewall nat",
        "/system clock",
        "/system identity",
    ],
    "v7-road-warrior-server-ikev2.rsc": ["/ip firewall filter"],
    "v7-road-warrior-client.rsc": ["/ip firewall address-list"],
    "v7-terse-whole-router.rsc": [
        "/interface bridge",
        "/interface l2tp-server",
        "/interface list",
        "/ip firewall filter",
        "/ip firewall mangle",
        "/system logging",
        "/system script",
        "/system identity",
    ],
}


def _state(config: Config) -> dict[str, list[dict[str, object]]]:
    snap = config.snapshot()
    return {
        path: [
            {p.name: row.get(p.name) for p in row._menu.props} | {"comment": row.comment}
            for row in snap.rows(path)
        ]
        for path in EXPORT_ORDER
    }


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_imports_exports_and_reimports_unchanged(path: Path) -> None:
    first = open_config(None)
    warnings = first.import_script(path.read_text(), path.name)
    skipped = [w for w in warnings if "skipped" in w]
    foreign = FOREIGN.get(path.name, [])
    assert len(skipped) == (1 if foreign else 0), warnings
    if foreign:
        assert skipped[0].endswith(": " + ", ".join(foreign))
    exported = run_ok(Session(first), "/export show-sensitive")
    second = open_config(None)
    second.import_script(exported, "export.rsc")
    assert run_ok(Session(second), "/export show-sensitive") == exported
    assert _state(second) == _state(first)
    for form in ("verbose", "terse"):
        again = open_config(None)
        again.import_script(run_ok(Session(first), f"/export {form} show-sensitive"), f"{form}.rsc")
        assert _state(again) == _state(first), form


def test_corpus_means_what_it_meant_on_the_router() -> None:
    def load(name: str) -> Config:
        config = open_config(None)
        config.import_script((VECTORS / name).read_text(), name)
        return config

    server = load("v7-road-warrior-server-ikev2.rsc").snapshot()
    conf = {r["name"]: r for r in server.rows("/ip ipsec mode-config")}["rw-conf"]
    assert conf["responder"] is True and conf["system-dns"] is False and conf["address-pool"] == "rw-pool"
    client = load("v7-road-warrior-client.rsc").snapshot()
    conf = {r["name"]: r for r in client.rows("/ip ipsec mode-config")}["hq-client"]
    assert conf["responder"] is False and conf["src-address-list"] == "local"
    s2s = load("v7-site-to-site-ikev2.rsc")
    proposal = {r["name"]: r for r in s2s.snapshot().rows("/ip ipsec proposal")}["to-branch"]
    assert proposal["auth-algorithms"] == ()  # "" is no integrity algorithm (AEAD), not the default sha1
    assert 'auth-algorithms="" enc-algorithms=aes-256-gcm' in run_ok(
        Session(s2s), "/ip ipsec proposal export"
    )
    assert [r["protocol"] for r in s2s.snapshot().rows("/ip ipsec policy")] == ["all", "all", "gre"]
    users = load("v6-road-warrior-xauth-ikev1.rsc").snapshot().rows("/ip ipsec user")
    assert [(u["name"], u["password"]) for u in users] == [("user1", "123"), ("user2", "234")]


# -- captured print output ----------------------------------------------------------------------------

_ROW = re.compile(r"^\s*(\d+)\s([A-Z*\s]*?)\s*(;;; (.*))?$")
_PAIR = re.compile(r'([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_print(text: str) -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    """(flags, comment, [(property, value) …]) per item of RouterOS ``print`` (detail-style) output."""
    rows: list[tuple[str, str | None, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(("Flags:", "/")):
            continue
        # the flags: RouterOS 6 runs them together (TX*), RouterOS 7 gives each flag group a column
        head = re.match(r"^\s*(\d+)\s([A-Z* ]*?)\s*(?=[a-z.]|;;;|$)", line)
        first = _PAIR.search(line)
        if head and (first is None or first.start() >= head.end()) and not line.startswith("       "):
            rest = line[head.end() :]
            comment = rest[4:].strip() if rest.startswith(";;; ") else None
            rows.append((head.group(2).replace(" ", ""), comment, []))
            if comment is not None:
                continue
            line = rest
        elif not rows:  # the rest of a Flags legend RouterOS 7 wraps
            continue
        rows[-1][2].extend((k, v.strip('"')) for k, v in _PAIR.findall(line))
    return rows


def _captured(name: str) -> dict[str, str]:
    """The capture's output blocks by command."""
    blocks: dict[str, str] = {}
    command = ""
    for line in (VECTORS / name).read_text().splitlines():
        if line.startswith("/"):
            command = line.strip()
            blocks[command] = ""
        else:
            blocks[command] += line + "\n"
    return blocks


RUNTIME = {"ph2-count"}  # live state: the capture's router had its tunnels up
RUNTIME_FLAGS = "A"


def _comparable(rows: list[tuple[str, str | None, list[tuple[str, str]]]]) -> list[object]:
    subst = {"x.y.z.": "203.0.113.", "w.x.z.": "198.51.100."}
    out: list[object] = []
    for flags, comment, pairs in rows:
        values = []
        for k, v in pairs:
            if k in RUNTIME:
                continue
            for a, b in subst.items():
                v = v.replace(a, b)
            values.append((k, v))
        out.append(("".join(sorted(f for f in flags if f not in RUNTIME_FLAGS)), comment, values))
    return out


@pytest.mark.parametrize(
    ("command", "ours"),
    [
        ("/ip ipsec profile print", "/ip ipsec profile print"),  # detail-style without ``detail`` on RouterOS
        ("/ip ipsec peer print", "/ip ipsec peer print detail"),
        ("/ip ipsec proposal print", "/ip ipsec proposal print detail"),
        (
            "/ip ipsec identity print",
            "/ip ipsec identity print detail show-sensitive",
        ),  # RouterOS 6 showed secrets
        ("/ip ipsec policy print", "/ip ipsec policy print detail"),
    ],
)
def test_print_matches_routeros6_capture(command: str, ours: str) -> None:
    config = open_config(None)
    config.import_script((VECTORS / "v6-gcp-site-to-site.rsc").read_text(), "v6-gcp-site-to-site.rsc")
    expected = _comparable(parse_print(_captured("v6-gcp-site-to-site.print.txt")[command]))
    got = _comparable(parse_print(run_ok(Session(config), ours)))
    assert got == expected


def _sa_row(
    spi: str, ends: tuple[str, str], algorithms: tuple[str, str], keys: tuple[str, str], lifetime: str
) -> dict[str, object]:
    """One installed SA as the daemon's runtime gives it: (enc, auth) algorithms and keys (hex)."""
    (enc, auth), (enc_key, auth_key) = algorithms, keys
    return {
        "spi": spi,
        "src-address": ends[0],
        "dst-address": ends[1],
        "state": "mature",
        "AH": "no",
        "ESP": "yes",
        "auth-algorithm": auth,
        "enc-algorithm": enc,
        "enc-key-size": len(enc_key) * 4,
        "auth-key": auth_key,
        "enc-key": enc_key,
        "add-lifetime": lifetime,
        "replay": 128,
        "hw-aead": "no",
        "seen-traffic": "no",
    }


class _GcmSas:
    """The daemon's rows for the SA pair of ``v6-installed-sa-aes-gcm.print.txt`` (its names:
    ``aes-256-gcm`` with 36 bytes of key material, integrity ``null``)."""

    KEYS = (
        "2a217b491be5a5297a8a78759e940bc4677b59834630282a2a24baaf3198c6539cc435b0",
        "405b00868a64c35521ccfa6feac97316d19220bb4b7b3346964ad0dd0415a54d3ccda8ca",
    )

    def rows(self, menu: str) -> list[dict[str, object]]:
        if menu != "/ip ipsec installed-sa":
            return []
        ends = (("9.8.7.6", "2.3.4.5"), ("2.3.4.5", "9.8.7.6"))
        return [
            _sa_row(spi, e, ("aes-256-gcm", "null"), (key, ""), "6h24m8s/8h10s")
            for spi, e, key in zip(("0x6FFE0E4", "0xF315FE3C"), ends, self.KEYS, strict=True)
        ]

    def command(self, menu: str, name: str, args: dict[str, str]) -> str:
        return ""


def test_installed_sa_matches_routeros6_capture() -> None:
    session = Session(open_config(None), _GcmSas())
    expected = parse_print(_captured("v6-installed-sa-aes-gcm.print.txt")["/ip ipsec installed-sa print"])
    # RouterOS 6 printed keys; ipsecd (as RouterOS 7) shows them with show-sensitive only
    got = parse_print(run_ok(session, "/ip ipsec installed-sa print detail show-sensitive"))
    assert got == expected
    assert "enc-key=" not in run_ok(session, "/ip ipsec installed-sa print detail")


def _joined(text: str) -> str:
    """Print output with RouterOS's wrapping inside quoted values undone (a key split over lines)."""
    out: list[str] = []
    for line in text.splitlines():
        if out and out[-1].count('"') % 2:
            out[-1] += line.strip()
        else:
            out.append(line)
    return "\n".join(out) + "\n"


class _HubSpoke:
    """The daemon's rows behind ``v7-hub-spoke.print.txt`` (RouterOS 7.20.4): Spoke1's configured
    policy active and two it generated from the hub's split-include; the hub's SA pair and peer."""

    def __init__(self, policy_id: str, uptime: str = "5h9m14s") -> None:
        self.policy_id, self.uptime = policy_id, uptime

    def rows(self, menu: str) -> list[dict[str, object]]:
        ends = {"sa-src-address": "150.0.0.150", "sa-dst-address": "50.0.0.50"}
        if menu == "/ip ipsec policy":
            generated = [
                {
                    ".id": f"dynamic:{i}",
                    "dynamic": "yes",
                    "peer": "to-hub",
                    "tunnel": "yes",
                    "src-address": "172.16.0.2/32",
                    "src-port": "any",
                    "dst-address": dst,
                    "dst-port": "any",
                    "protocol": "all",
                    "action": "encrypt",
                    "level": "unique",
                    "ipsec-protocols": "esp",
                    "proposal": "hub-n-spoke-prop",
                    "ph2-state": "established",
                    "ph2-count": 1,
                    **ends,
                }
                for i, dst in enumerate(("172.16.0.0/24", "192.168.50.0/24"))
            ]
            return [
                {".id": self.policy_id, "active": "yes", "ph2-state": "established", "ph2-count": 1, **ends},
                *generated,
            ]
        if menu == "/ip ipsec installed-sa":
            keys = (
                (
                    "642751166df786565ca2e16a10ce4d7d647864354f4eca50490d58bde647ad9b",
                    "61a63f8976fa4d3fae084cb927cc835b0a0c74a1b1d2fc6630198d1f15019903",
                ),
                (
                    "3a53c91aaef317fb33ea80020286ec1abe07289564b70730f3045fb34ddf8588",
                    "c249a95e4afe58ac2e35ff971753d1246cc9055f99b31488c398ecf0d9441da0",
                ),
            )
            ends = (("150.0.0.150", "50.0.0.50"), ("50.0.0.50", "150.0.0.150"))
            return [
                _sa_row(spi, e, ("aes-256-cbc", "sha256"), k, "24m23s/30m29s")
                for spi, e, k in zip(("0xE841441", "0xE2829EA"), ends, keys, strict=True)
            ]
        if menu == "/ip ipsec active-peers":
            return [
                {
                    "id": "spoke1",
                    "local-address": "50.0.0.50",
                    "local-port": 4500,
                    "remote-address": "150.0.0.150",
                    "port": 4500,
                    "state": "established",
                    "side": "responder",
                    "responder": "yes",
                    "natt-peer": "no",
                    "dynamic-address": "172.16.0.2",
                    "uptime": self.uptime,
                    "last-seen": "3s",
                    "ph2-total": 3,
                    "spii": "341c6d6330c59831",
                    "spir": "16c05dd1993caee0",
                }
            ]
        return []

    def command(self, menu: str, name: str, args: dict[str, str]) -> str:
        return ""


def test_print_detail_matches_routeros7_capture() -> None:
    """Issue 15: RouterOS 7's ``print detail`` (a 7.20.4 capture), line for line where the capture
    has no key split inside quotes: a peer-bound policy prints ``tunnel`` after ``peer`` and the SA's
    ends from the live SA; the generated policies print after the default template and before the
    configured policy; one flag column per flag group (a generated, active policy shows D; the
    default template ``T  *``) under RouterOS 7's legend, wrapped after ``backup;``; items wrapped
    at 80 columns; installed SAs print the algorithm family with the key size apart; an active peer
    prints its local port as a first ``port=`` and its SPIs twice."""
    config = open_config(None)
    config.import_script((VECTORS / "v7-hub-spoke-spoke.rsc").read_text(), "v7-hub-spoke-spoke.rsc")
    configured = config.snapshot().rows("/ip ipsec policy")[1].id
    session = Session(config, _HubSpoke(configured))
    captured = _captured("v7-hub-spoke.print.txt")

    for command in ("/ip ipsec policy print detail", "/ip ipsec active-peers print detail"):
        assert run_ok(session, command).rstrip("\n") == captured[command].rstrip("\n"), command
    command = "/ip ipsec installed-sa print detail"
    ours = run_ok(session, command + " show-sensitive")
    expected = _joined(captured[command])
    assert parse_print(ours) == parse_print(expected)
    assert ours.splitlines()[0] == expected.splitlines()[0]
    # where no key is split, the lines are RouterOS's
    assert ours.splitlines()[1:3] == expected.splitlines()[1:3]
    # the daemon's strings RouterOS quotes: an SA's keys
    assert 'enc-key="642751166df786565ca2e16a10ce4d7d647864354f4eca50490d58bde647ad9b"' in ours


def test_table_print_matches_routeros7_capture() -> None:
    """Issue 15: RouterOS 7's table ``print`` (the same post, ``active-peers print``): the legend
    names only the flags the rows have, in capitals; a column per flag group in use; numbers
    right-aligned; the capture's columns."""
    # the capture's table was taken earlier in the tunnel's life than its detail print
    session = Session(open_config(None), _HubSpoke("*1", uptime="3h8m2s"))
    expected = _captured("v7-hub-spoke.print.txt")["/ip ipsec active-peers print"]
    got = run_ok(session, "/ip ipsec active-peers print")
    assert [line.rstrip() for line in got.splitlines()] == expected.splitlines()


def test_generated_policies_print_before_the_configured_ones_and_keep_their_numbers() -> None:
    """The generated policies take print numbers between the leading templates and the configured
    policies (as RouterOS lists them); ``set`` by number still reaches the configured item that
    number printed, refuses a generated one, and the configuration's own order is unchanged."""
    config = open_config(None)
    config.import_script((VECTORS / "v7-hub-spoke-spoke.rsc").read_text(), "v7-hub-spoke-spoke.rsc")
    before = [r.id for r in config.snapshot().rows("/ip ipsec policy")]
    session = Session(config, _HubSpoke(before[1]))
    run_ok(session, "/ip ipsec policy set 3 comment=mine")
    assert config.snapshot().rows("/ip ipsec policy")[1]["comment"] == "mine"
    res = session.execute("/ip ipsec policy set 1 comment=theirs")
    assert res.rc == 1 and "item 1 is a dynamic policy" in res.stderr
    assert [r.id for r in config.snapshot().rows("/ip ipsec policy")] == before
    run_ok(session, "/ip ipsec policy add src-address=10.9.0.0/24 dst-address=10.8.0.0/24 peer=to-hub")
    run_ok(session, "/ip ipsec policy move 4 destination=3")  # the new one before the configured one
    assert [str(r["src-address"]) for r in config.snapshot().rows("/ip ipsec policy")] == [
        "::/0",
        "10.9.0.0/24",
        "192.168.150.0/24",
    ]
