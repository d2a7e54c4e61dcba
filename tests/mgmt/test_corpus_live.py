"""The site-to-site exports of ``tests/vectors/routeros/`` run live as tunnels (issue 15).

Each corpus file that describes a site-to-site tunnel is given to ``ipsecd run --config`` unchanged,
in a namespace that owns the addresses the export names (its WAN address and an address in each
policy's ``src-address``); the other namespace runs the export's mirror: the same file with the
peer's ``address``/``local-address``, the identities' ``my-id``/``remote-id`` and the policies'
source and destination swapped, and the peer made passive, so the corpus side initiates. Real ICMP
then crosses the tunnel between the two LANs of every policy ping can use.

The mirror is made through ipsecd's own command layer (import, ``set`` per row, ``export``), so
what runs on the far side is again an export a router could take.

The road-warrior files run the same way against the other end MikroTik's recipes describe: the
server file hands a client (its laptop identity, ``mode-config=request-only``) an address from its
pool; the client file (peer address a DNS name, resolved through the namespace's ``/etc/hosts``; a
``responder=no`` mode-config; templates with ``generate-policy``) gets one from a gateway. Pings go
from the virtual address. The IKEv1 XAuth file runs live in ``tests/interop/test_ikev1_xauth.py``,
unchanged, as the gateway of strongSwan XAuth clients.

One pair of namespaces serves the whole module (every address of every file on it); each test
starts and stops its two daemons.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ipsecd.mgmt import Session, Snapshot, open_config
from tests.interop.sswan import Ipsecd, Netns, netns_exists, sh, wait_until

from .conftest import run_ok

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "routeros"
LEFT, RIGHT = "ipd5cL", "ipd5cR"  # the corpus side, the mirror side
HOSTS = Path("/etc/netns") / LEFT / "hosts"  # ip netns exec binds it over the corpus side's /etc/hosts


@dataclass(frozen=True)
class Site:
    """A corpus file, the WAN address of each side, and (src, dst) host pairs ping can use."""

    file: str
    left_wan: str
    right_wan: str
    pings: tuple[tuple[str, str], ...]


SITES = (
    # IKEv2, AES-GCM proposal with auth-algorithms="", FQDN identities, a TCP/UDP-any and a GRE policy
    Site("v7-site-to-site-ikev2.rsc", "198.51.100.10", "203.0.113.20", (("192.168.88.1", "10.20.0.1"),)),
    # IKEv1 main mode, RouterOS 6: no exchange-mode, no policy peer= (matched by sa-dst-address)
    Site("v6-site-to-site-ikev1.rsc", "192.0.2.1", "192.0.2.44", (("10.1.101.1", "10.1.202.1"),)),
    # IKEv2 without NAT-T, two policies (level=unique) sharing one peer, the default policy disabled
    Site(
        "v6-gcp-site-to-site.rsc",
        "198.51.100.18",
        "203.0.113.108",
        (("10.10.89.1", "10.166.0.1"), ("10.10.80.1", "10.166.0.1")),
    ),
)


#: The road-warrior files: WAN addresses (the corpus side's, the other's) and the corpus side's
#: peer name for the other (the client file's DNS-name peer address, resolved by the namespace's
#: /etc/hosts as ``ip netns exec`` arranges it).
RW_WANS = ("203.0.113.77", "198.51.100.77")
RW_SERVER_LAN, RW_CLIENT_TARGET = "10.5.8.1", "10.9.9.1"
RW_HOSTS = f"{RW_WANS[1]} vpn.example.net\n"

#: The client the server file's identities expect (its laptop), written as MikroTik's client recipe.
RW_CLIENT = f"""\
/ip ipsec profile add name=c dh-group=ecp256 enc-algorithm=aes-256
/ip ipsec proposal add name=c auth-algorithms=sha256 pfs-group=none
/ip ipsec peer add name=gw address={RW_WANS[0]}/32 exchange-mode=ike2 profile=c
/ip ipsec identity add peer=gw my-id=user-fqdn:laptop@example.net secret=Rw.s3cret mode-config=request-only
/ip ipsec policy add peer=gw tunnel=yes src-address=0.0.0.0/0 dst-address=10.5.8.0/24 proposal=c
"""

#: The gateway the client file connects to: its pool, a responder mode-config, a template for 10/8.
RW_SERVER = """\
/ip pool add name=p ranges=172.22.0.10-172.22.0.20
/ip ipsec mode-config add name=m address-pool=p split-include=10.0.0.0/8
/ip ipsec policy group add name=g
/ip ipsec peer add name=rw exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=rw secret=Cl1ent.secret generate-policy=port-strict mode-config=m \\
    policy-template-group=g
/ip ipsec policy add group=g template=yes src-address=10.0.0.0/8 dst-address=172.22.0.0/24
"""


def mirror(text: str, name: str) -> str:
    """The export of ``text`` as seen from the other end of its tunnels (see the module docstring)."""
    config = open_config(None)
    config.import_script(text, name)
    session = Session(config)
    snap = config.snapshot()
    for row in snap.rows("/ip ipsec peer"):
        local = row.text("local-address") or _policy_sa_src(snap, row.text("name"), row["address"])
        remote = row["address"].network_address
        run_ok(session, f"/ip ipsec peer set {row.id} address={local}/32 local-address={remote} passive=yes")
    for row in snap.rows("/ip ipsec identity"):
        run_ok(
            session,
            f'/ip ipsec identity set {row.id} my-id="{row.text("remote-id")}" '
            f'remote-id="{row.text("my-id")}"',
        )
    for row in snap.rows("/ip ipsec policy"):
        if row.default or row["template"]:
            continue
        swapped = [
            f"src-address={row.text('dst-address')}",
            f"dst-address={row.text('src-address')}",
            f"src-port={row.text('dst-port')}",
            f"dst-port={row.text('src-port')}",
        ]
        if row["sa-src-address"] is not None:
            swapped += [
                f"sa-src-address={row.text('sa-dst-address')}",
                f"sa-dst-address={row.text('sa-src-address')}",
            ]
        run_ok(session, f"/ip ipsec policy set {row.id} " + " ".join(swapped))
    return run_ok(session, "/export show-sensitive")


def _policy_sa_src(snap: Snapshot, peer: str | None, address: ipaddress.IPv4Network) -> str:
    """A peer without ``local-address``: the ``sa-src-address`` of its policies (RouterOS 6 style)."""
    for row in snap.rows("/ip ipsec policy"):
        if row.text("peer") == peer or row["sa-dst-address"] == address.network_address:
            if row["sa-src-address"] is not None:
                return str(row["sa-src-address"])
    raise AssertionError(f"no local address for peer {peer}")


def test_mirror_swaps_the_ends() -> None:
    out = mirror((VECTORS / "v6-site-to-site-ikev1.rsc").read_text(), "v6")
    assert "address=192.0.2.1/32" in out and "local-address=192.0.2.44" in out and "passive=yes" in out
    assert "src-address=10.1.202.0/24" in out and "sa-dst-address=192.0.2.1" in out
    out = mirror((VECTORS / "v7-site-to-site-ikev2.rsc").read_text(), "v7")
    assert "my-id=fqdn:branch.example.net" in out and "remote-id=fqdn:hq.example.net" in out


@pytest.fixture(scope="module")
def spaces() -> Iterator[tuple[Netns, Netns]]:
    left, right = Netns(LEFT, iface=f"{LEFT}-eth"), Netns(RIGHT, iface=f"{RIGHT}-eth")
    try:
        for ns in (left, right):
            if netns_exists(ns.name):  # left over by a killed run: ours by name
                sh(["ip", "netns", "del", ns.name], check=False)
            sh(["ip", "netns", "add", ns.name])
            ns.run("ip", "link", "set", "lo", "up")
        sh(f"ip link add {left.iface} netns {LEFT} type veth peer name {right.iface} netns {RIGHT}".split())
        for side, ns in enumerate((left, right)):
            ns.run("ip", "link", "set", ns.iface, "up")
            for site in SITES:
                wans = (site.left_wan, site.right_wan)
                ns.run("ip", "addr", "replace", f"{wans[side]}/32", "dev", ns.iface)
                # the other side's WAN address is on the veth, reached from our own
                ns.run("ip", "route", "replace", f"{wans[1 - side]}/32", "dev", ns.iface, "src", wans[side])
                for pair in site.pings:
                    ns.run("ip", "addr", "replace", f"{pair[side]}/32", "dev", "lo")
            ns.run("ip", "addr", "replace", f"{RW_WANS[side]}/32", "dev", ns.iface)
            ns.run("ip", "route", "replace", f"{RW_WANS[1 - side]}/32", "dev", ns.iface, "src", RW_WANS[side])
            ns.run("ip", "addr", "replace", f"{(RW_SERVER_LAN, RW_CLIENT_TARGET)[side]}/32", "dev", "lo")
        HOSTS.parent.mkdir(parents=True, exist_ok=True)
        HOSTS.write_text(RW_HOSTS)
        for site in SITES:
            if left.ping(site.right_wan, src=site.left_wan, count=1, wait=3)[1] != 1:
                raise RuntimeError(f"{site.left_wan} cannot reach {site.right_wan}")
        yield left, right
    finally:
        for ns in (left, right):
            for p in reversed(ns.procs):
                p.stop(grace=3)
            if netns_exists(ns.name):
                sh(["ip", "netns", "del", ns.name], check=False)
        HOSTS.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            HOSTS.parent.rmdir()


@contextlib.contextmanager
def _daemons(spaces: tuple[Netns, Netns], first: Ipsecd, second: Ipsecd) -> Iterator[None]:
    """``first`` started, then ``second``; both logs printed if the body fails; both stopped after."""
    first.start()
    second.start()
    try:
        yield
    except BaseException:
        for daemon in (first, second):
            print(f"--- {daemon.ns.name} ---\n{daemon.log_text()[-5000:]}")
        raise
    finally:
        for daemon in (second, first):
            daemon.stop()
        for ns in spaces:
            ns.procs.clear()


def _pings_through(ns: Netns, src: str, dst: str) -> None:
    """Traffic from ``src`` reaches ``dst`` through the tunnel (once it is up), 3 of 3."""
    ns.wait_ping(dst, src, 20, 0.2, desc=f"the tunnel to carry a ping {src} -> {dst}")
    assert ns.ping(dst, src=src, count=3) == (3, 3)


@pytest.mark.parametrize("site", SITES, ids=lambda s: s.file.removesuffix(".rsc"))
def test_corpus_export_runs_as_a_tunnel(spaces: tuple[Netns, Netns], site: Site, tmp_path: Path) -> None:
    left, right = spaces
    text = (VECTORS / site.file).read_text()
    initiator = Ipsecd(left, tmp_path, text)
    with _daemons(spaces, Ipsecd(right, tmp_path, mirror(text, site.file)), initiator):
        for src, dst in site.pings:
            _pings_through(left, src, dst)
        peers = initiator.exec("/ip ipsec active-peers print").stdout
        assert site.right_wan in peers and "established" in peers


def _vip(daemon: Ipsecd) -> str:
    """The client's virtual address (active-peers dynamic-address), once it has one."""
    wait_until(
        "a virtual address",
        lambda: "dynamic-address=" in daemon.exec("/ip ipsec active-peers print detail").stdout,
        20,
    )
    text = daemon.exec("/ip ipsec active-peers print detail").stdout
    return next(w.split("=", 1)[1].strip('"') for w in text.split() if w.startswith("dynamic-address="))


@pytest.mark.parametrize(
    "corpus_is_server", [True, False], ids=["v7-road-warrior-server", "v7-road-warrior-client"]
)
def test_road_warrior_exports_run(
    spaces: tuple[Netns, Netns], corpus_is_server: bool, tmp_path: Path
) -> None:
    """The server file hands a client an address from its pool and carries its traffic to the split
    network; the client file (a DNS-name peer address, a responder=no mode-config, templates with
    generate-policy) gets one from a gateway and reaches the network its template names."""
    left, right = spaces
    name = "v7-road-warrior-server-ikev2.rsc" if corpus_is_server else "v7-road-warrior-client.rsc"
    corpus = Ipsecd(left, tmp_path, (VECTORS / name).read_text())
    other = Ipsecd(right, tmp_path, RW_CLIENT if corpus_is_server else RW_SERVER)
    server, client = (corpus, other) if corpus_is_server else (other, corpus)
    client_ns, target = (right, RW_SERVER_LAN) if corpus_is_server else (left, RW_CLIENT_TARGET)
    with _daemons(spaces, server, client):
        vip = _vip(client)
        assert vip.startswith("192.168.77." if corpus_is_server else "172.22.0.")
        _pings_through(client_ns, vip, target)
