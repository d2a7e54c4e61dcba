"""EAP over IKEv2 against strongSwan 5.9 and FreeRADIUS 3.2, in namespaces, with traffic (issue 13).

* strongSwan as the road warrior (``eap-mschapv2``, Debian's libcharon-extauth-plugins) → ipsecd
  as an ``auth-method=eap-radius`` gateway with a certificate (gw-rsa, SAN gw.example.com) →
  FreeRADIUS in ipsecd's namespace (127.0.0.1, ``require_message_authenticator = yes``); a wrong
  password is refused and ipsecd's log says why.
* ipsecd as the ``auth-method=eap`` client (eap-mschapv2) → strongSwan as the gateway with its
  certificate and a local EAP-MSCHAPv2 secret.

One topology, one FreeRADIUS and one charon serve the module (charon's connections are reloaded per
test); each test runs its own ipsecd.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ipsecd.pki.store import CertificateStore
from ipsecd.wire import radius
from tests.interop import freeradius as fr
from tests.interop.scenarios import DEFAULTS, ipsecd_site_rsc
from tests.interop.sswan import Charon, Ipsecd, Topology, wait_until
from tests.netns import setns

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "strongswan-pki"
GW_ID = "gw.example.com"


class Setup:
    def __init__(self, topo: Topology, radius: fr.FreeRadius, charon: Charon) -> None:
        self.topo, self.radius, self.charon = topo, radius, charon


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    why = fr.available()
    if why:
        pytest.skip(why)
    workdir = tmp_path_factory.mktemp("eap")
    with Topology("ipeap") as topo:
        radius = fr.FreeRadius(ns=topo.right.name)
        try:
            charon = Charon(topo.left, workdir, plugins="eap-identity eap-mschapv2", install_vip=True)
            for sub in ("x509ca", "x509", "rsa"):
                (charon.swanctl_dir / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(VECTORS / "ca.crt", charon.swanctl_dir / "x509ca" / "ca.crt")
            shutil.copy(VECTORS / "gw-rsa.crt", charon.swanctl_dir / "x509" / "gw-rsa.crt")
            shutil.copy(VECTORS / "gw-rsa.key", charon.swanctl_dir / "rsa" / "gw-rsa.key")
            charon.start()
            try:
                yield Setup(topo, radius, charon)
            finally:
                charon.stop()
        finally:
            radius.close()


def charon_conf(topo: Topology, local: str, remote: str, password: str, *, vip: bool = False) -> str:
    """One charon connection to ipsecd with the ``local`` and ``remote`` authentication rounds, the
    EAP secret of alice and (``vip``) a virtual IP its traffic comes from."""
    left, right = topo.left, topo.right
    vips = "        vips = 0.0.0.0\n" if vip else ""
    return f"""\
connections {{
    net {{
        version = 2
        local_addrs = {left.wan}
        remote_addrs = {right.wan}
        proposals = {DEFAULTS.ike}
        rekey_time = 0
        mobike = no
{vips}        local {{
{local}
        }}
        remote {{
{remote}
        }}
        children {{
            net {{
                mode = tunnel
                local_ts = {"dynamic" if vip else left.lan + "/32"}
                remote_ts = {right.lan}/32
                rekey_time = 0
                esp_proposals = {DEFAULTS.esp}
            }}
        }}
    }}
}}
secrets {{
    eap-alice {{
        id = alice
        secret = "{password}"
    }}
}}
"""


def client_conf(topo: Topology, password: str, *, vip: bool = False) -> str:
    """charon as the road warrior: EAP-MSCHAPv2 as alice, the gateway by its certificate."""
    eap = "            auth = eap-mschapv2\n            eap_id = alice"
    return charon_conf(topo, eap, f"            auth = pubkey\n            id = {GW_ID}", password, vip=vip)


def gateway_conf(topo: Topology) -> str:
    """charon as the gateway: its certificate, the client by EAP-MSCHAPv2 with a local secret."""
    cert = f"            auth = pubkey\n            certs = gw-rsa.crt\n            id = {GW_ID}"
    eap = "            auth = eap-mschapv2\n            eap_id = %any"
    return charon_conf(topo, cert, eap, fr.USERS["alice"])


def ipsecd_rsc(topo: Topology, identity: str, *, passive: bool, extra: str = "") -> str:
    """The interop site configuration with ``identity`` instead of its PSK identity."""
    rsc = ipsecd_site_rsc(topo, DEFAULTS, passive=passive)
    head, _, rest = rsc.partition("/ip ipsec identity add")
    _, _, tail = rest.partition("/ip ipsec proposal")
    return f"{head}/ip ipsec identity add peer=sswan {identity}\n/ip ipsec proposal{tail}{extra}"


RADIUS = f"/radius add service=ipsec address=127.0.0.1 secret={fr.SECRET} timeout=1s\n"


def road_warrior_rsc(topo: Topology) -> str:
    """An eap-radius road-warrior gateway: mode-config from a pool (the RADIUS server's
    Framed-IP-Address wins), generated policies, accounting with an Interim-Update every 2 s."""
    return f"""\
/ip pool add name=rw ranges=10.77.0.100-10.77.0.110
/ip ipsec mode-config add name=rw address-pool=rw split-include={topo.right.lan}/32 responder=yes
/ip ipsec profile add name=interop enc-algorithm=aes-128 hash-algorithm=sha1 dh-group=modp2048
/ip ipsec proposal add name=interop enc-algorithms=aes-128-cbc auth-algorithms=sha1 pfs-group=modp1024
/ip ipsec policy group add name=rw
/ip ipsec policy add group=rw template=yes src-address={topo.right.lan}/32 dst-address=10.77.0.0/24 \\
    proposal=interop
/ip ipsec peer add name=rw exchange-mode=ike2 passive=yes profile=interop
/ip ipsec identity add peer=rw auth-method=eap-radius certificate=gw mode-config=rw \\
    generate-policy=port-strict policy-template-group=rw
/ip ipsec settings set accounting=yes interim-update=2s
{RADIUS}"""


def gateway(s: Setup, tmp_path: Path, rsc: str | None = None) -> Ipsecd:
    rsc = rsc or ipsecd_rsc(s.topo, "auth-method=eap-radius certificate=gw", passive=True, extra=RADIUS)
    ipsecd = Ipsecd(s.topo.right, tmp_path, rsc)
    store = CertificateStore(ipsecd.dir / "certificates")
    store.import_file(VECTORS / "ca.crt", name="ca", trusted=True)
    store.import_file(VECTORS / "gw-rsa.crt", name="gw")
    store.import_file(VECTORS / "gw-rsa.key")
    return ipsecd.start()


def diagnostics(s: Setup, ipsecd: Ipsecd) -> str:
    return (
        f"--- ipsecd ---\n{ipsecd.log_text()[-6000:]}\n--- charon ---\n{s.charon.log_text()[-6000:]}"
        f"\n--- freeradius ---\n{s.radius.log.read_text()[-3000:]}"
    )


@contextmanager
def watching(s: Setup, ipsecd: Ipsecd, stub: StubRadius | None = None) -> Iterator[None]:
    """Run a test's body: on failure print what each daemon logged; always stop ipsecd, charon's SAs
    (and the stub RADIUS server)."""
    try:
        yield
    except BaseException:
        print(diagnostics(s, ipsecd))
        raise
    finally:
        if stub is not None:
            stub.close()
        s.charon.terminate_all()
        ipsecd.stop()


def sa_pair(ipsecd: Ipsecd) -> bool:
    return ipsecd.exec("/ip ipsec installed-sa print count-only").stdout.strip() == "2"


def test_strongswan_road_warrior_through_ipsecd_to_freeradius(setup: Setup, tmp_path: Path) -> None:
    s = setup
    s.charon.load(client_conf(s.topo, fr.USERS["alice"]))
    ipsecd = gateway(s, tmp_path)
    with watching(s, ipsecd):
        s.charon.initiate("net")
        wait_until("ipsecd to install the SA pair", lambda: sa_pair(ipsecd), 20)
        assert s.topo.left.ping(s.topo.right.lan, src=s.topo.left.lan, count=3) == (3, 3)
        sa = s.charon.list_sas()[0]
        assert sa["remote-id"] == GW_ID and sa["state"] == "ESTABLISHED"
        log = s.charon.log_text()
        assert "EAP method EAP_MSCHAPV2 succeeded, MSK established" in log
        assert f"authentication of '{GW_ID}' with RSA" in log


def test_road_warrior_gets_the_radius_address_and_is_accounted(setup: Setup, tmp_path: Path) -> None:
    """Framed-IP-Address becomes the client's virtual IP; FreeRADIUS' detail file holds Start,
    Interim-Update and Stop for alice with the Access-Accept's Class and the tunnel's traffic."""
    s = setup
    s.charon.load(client_conf(s.topo, fr.USERS["alice"], vip=True))
    ipsecd = gateway(s, tmp_path, road_warrior_rsc(s.topo))
    before = s.radius.detail()
    with watching(s, ipsecd):
        s.charon.initiate("net")
        vips = s.charon.list_sas()[0].get("local-vips")
        assert vips == [fr.ALICE_IP]
        wait_until("ipsecd to install the SA pair", lambda: sa_pair(ipsecd), 20)
        assert s.topo.left.ping(s.topo.right.lan, src=fr.ALICE_IP, count=5) == (5, 5)
        wait_until("an Interim-Update", lambda: "Interim-Update" in s.radius.detail()[len(before) :], 10)
        s.charon.terminate_all()
        wait_until(
            "the Stop record", lambda: "Acct-Status-Type = Stop" in s.radius.detail()[len(before) :], 10
        )
        records = s.radius.detail()[len(before) :].split("\n\n")
        stop = next(r for r in records if "Acct-Status-Type = Stop" in r)
        for want in (
            'User-Name = "alice"',
            f"Framed-IP-Address = {fr.ALICE_IP}",
            "Acct-Terminate-Cause = User-Request",
        ):
            assert want in stop, stop
        assert fr.ALICE_CLASS.encode().hex() in stop or fr.ALICE_CLASS in stop, stop
        octets = int(re.search(r"Acct-Input-Octets = (\d+)", stop).group(1))  # type: ignore[union-attr]
        packets = int(re.search(r"Acct-Input-Packets = (\d+)", stop).group(1))  # type: ignore[union-attr]
        assert packets >= 5 and octets >= 5 * 84, stop  # five echo requests (84-octet IP packets) at least
        assert any("Acct-Status-Type = Start" in r for r in records)


def test_local_eap_users_without_radius(setup: Setup, tmp_path: Path) -> None:
    """Beyond RouterOS: /ip ipsec settings eap-local-users=yes, the user in /ip ipsec user, no RADIUS."""
    s = setup
    s.charon.load(client_conf(s.topo, "local-Pass-9"))
    local = (
        "/ip ipsec settings set eap-local-users=yes\n/ip ipsec user add name=alice password=local-Pass-9\n"
    )
    ipsecd = gateway(
        s, tmp_path, ipsecd_rsc(s.topo, "auth-method=eap-radius certificate=gw", passive=True, extra=local)
    )
    before = s.radius.log.read_text()
    with watching(s, ipsecd):
        s.charon.initiate("net")
        wait_until("ipsecd to install the SA pair", lambda: sa_pair(ipsecd), 20)
        assert s.topo.left.ping(s.topo.right.lan, src=s.topo.left.lan, count=3) == (3, 3)
        assert "EAP method EAP_MSCHAPV2 succeeded, MSK established" in s.charon.log_text()
        assert s.radius.log.read_text() == before  # FreeRADIUS was not asked


class StubRadius:
    """A RADIUS server in the gateway's namespace that never answers (``silent``) or answers every
    request with an Access-Accept signed with another secret (a forged or damaged reply)."""

    def __init__(self, ns: str, *, silent: bool) -> None:
        self.silent = silent
        self.received = 0
        ready = threading.Event()
        self.stopping = threading.Event()
        self.port = 0

        def serve() -> None:
            fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
            try:
                setns(fd)
            finally:
                os.close(fd)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", 0))
                sock.settimeout(0.1)
                self.port = sock.getsockname()[1]
                ready.set()
                while not self.stopping.is_set():
                    try:
                        data, addr = sock.recvfrom(4096)
                    except TimeoutError:
                        continue
                    self.received += 1
                    if not self.silent:
                        sock.sendto(
                            radius.build_reply(b"not-the-secret", data, radius.Code.ACCESS_ACCEPT, []), addr
                        )

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(5)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)


@pytest.mark.parametrize("silent", [True, False], ids=["silent", "forged"])
def test_a_radius_server_without_a_verified_answer_refuses_the_client(
    setup: Setup, tmp_path: Path, silent: bool
) -> None:
    s = setup
    stub = StubRadius(s.topo.right.name, silent=silent)
    s.charon.load(client_conf(s.topo, fr.USERS["alice"]))
    extra = f"/radius add service=ipsec address=127.0.0.1 authentication-port={stub.port} secret=x\n"
    ipsecd = gateway(
        s, tmp_path, ipsecd_rsc(s.topo, "auth-method=eap-radius certificate=gw", passive=True, extra=extra)
    )
    with watching(s, ipsecd, stub):
        with pytest.raises(RuntimeError):
            s.charon.initiate("net", timeout_ms=8000)
        # meanwhile the daemon's loop kept serving (its control socket answers)
        assert ipsecd.exec("/ip ipsec peer print count-only").stdout.strip() == "1"
        wait_until("ipsecd's refusal", lambda: "authentication failed" in ipsecd.log_text())
        log = ipsecd.log_text()
        line = next(x for x in log.splitlines() if "authentication failed" in x)
        want = f"no RADIUS server answered the Access-Request: 127.0.0.1:{stub.port} no verified answer in 3"
        assert want in line, line
        if not silent:
            assert "Response Authenticator does not verify" in log
        assert stub.received >= 3 and not sa_pair(ipsecd)


def test_a_wrong_password_is_refused_and_explained(setup: Setup, tmp_path: Path) -> None:
    s = setup
    s.charon.load(client_conf(s.topo, "not-the-password"))
    ipsecd = gateway(s, tmp_path)
    with watching(s, ipsecd):
        with pytest.raises(RuntimeError):
            s.charon.initiate("net", timeout_ms=10000)
        wait_until("ipsecd's refusal", lambda: "authentication failed" in ipsecd.log_text())
        line = next(x for x in ipsecd.log_text().splitlines() if "authentication failed" in x)
        assert "EAP user alice: the RADIUS server rejected the client (Access-Reject" in line, line
        assert not sa_pair(ipsecd)


def test_ipsecd_eap_client_to_a_strongswan_gateway(setup: Setup, tmp_path: Path) -> None:
    s = setup
    s.charon.load(gateway_conf(s.topo))
    rsc = ipsecd_rsc(
        s.topo,
        f"auth-method=eap eap-methods=eap-mschapv2 username=alice password={fr.USERS['alice']}"
        f" remote-id=fqdn:{GW_ID}",
        passive=False,
    )
    ipsecd = Ipsecd(s.topo.right, tmp_path, rsc)
    CertificateStore(ipsecd.dir / "certificates").import_file(VECTORS / "ca.crt", name="ca", trusted=True)
    ipsecd.start()
    with watching(s, ipsecd):
        wait_until("ipsecd to install the SA pair", lambda: sa_pair(ipsecd), 20)
        assert s.topo.left.ping(s.topo.right.lan, src=s.topo.left.lan, count=3) == (3, 3)
        log = s.charon.log_text()
        assert "EAP method EAP_MSCHAPV2 succeeded, MSK established" in log
        assert "authentication of '10." in log and "with EAP successful" in log
