"""IKEv1 road warriors (issue 11): XAuth and mode-config against strongSwan 5.9 in namespaces, TUN
data plane, real ICMP through the tunnel.

The gateway is RouterOS 6's road-warrior recipe as it stands in ``tests/vectors/routeros`` (main mode,
``passive=yes``, ``auth-method=pre-shared-key-xauth``, users in ``/ip ipsec user``, a mode-config
with a pool and split-include, ``generate-policy`` from a template). The client is strongSwan with
``auth = psk`` then ``auth = xauth`` (xauth-generic) and the unity plugin, ``remote_ts = 0.0.0.0/0``:
what the iOS/macOS "Cisco IPSec" profile and Android's "IPSec Xauth PSK" do — main mode, PSK then
XAuth (XAUTHInitPreShared, 65001), a mode-config pull of the address, DNS and the Unity split-include,
quick mode for the split-include subnet from the leased address. And the other way round: ipsecd as
the XAuth client (``passive=no``, ``username``/``password``, ``mode-config=request-only``) of a
strongSwan gateway (xauth-generic, a pool).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.interop import freeradius as fr
from tests.interop.sswan import REPO, Charon, Ipsecd, Netns, Topology, wait_until

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

PSK = "123456789"  # the recipe's
VECTOR = REPO / "tests" / "vectors" / "routeros" / "v6-road-warrior-xauth-ikev1.rsc"


def _gateway_rsc(topo: Topology, pool: str = "10.5.9.1-10.5.9.100") -> str:
    """The recipe, with the gateway's LAN as split-include and DNS added (the rest as written)."""
    rsc = VECTOR.read_text()
    assert "split-include=10.5.8.0/24" in rsc and "ranges=10.5.9.1-10.5.9.100" in rsc
    return rsc.replace(
        "split-include=10.5.8.0/24", f"split-include={topo.right.lan}/32 static-dns=10.5.9.53"
    ).replace("ranges=10.5.9.1-10.5.9.100", f"ranges={pool}")


def _client_conf(topo: Topology, user: str, password: str, *, pull: bool = True) -> str:
    """strongSwan as the XAuth client: PSK, then XAuth; a virtual IP; everything (0.0.0.0/0) through the
    tunnel, which the gateway's Unity split-include narrows."""
    left, right = topo.left, topo.right
    return f"""\
connections {{
    rw {{
        version = 1
        local_addrs = {left.wan}
        remote_addrs = {right.wan}
        proposals = aes128-sha1-modp2048,aes128-sha1-modp1024
        vips = 0.0.0.0
        pull = {"yes" if pull else "no"}
        rekey_time = 0
        dpd_delay = 0
        local-1 {{
            auth = psk
        }}
        local-2 {{
            auth = xauth
            xauth_id = {user}
        }}
        remote {{
            auth = psk
        }}
        children {{
            net {{
                local_ts = dynamic
                remote_ts = 0.0.0.0/0
                esp_proposals = aes128-sha1-modp1024
                rekey_time = 0
            }}
        }}
    }}
}}
secrets {{
    ike-gw {{
        secret = "{PSK}"
    }}
    xauth-user {{
        id = {user}
        secret = "{password}"
    }}
}}
"""


def _rows(ipsecd: Ipsecd, menu: str) -> list[dict[str, object]]:
    rows = json.loads(ipsecd.exec(f"/ip ipsec {menu} print", as_json=True).stdout)
    assert isinstance(rows, list)
    return rows


def _pings(ipsecd: Ipsecd, ns: Netns, dst: str, vip: str) -> None:
    """Once ipsecd has its SA pair (and the first packet has found its way), three pings from the
    virtual IP through the tunnel all come back."""
    wait_until("ipsecd's SA pair", lambda: len(_rows(ipsecd, "installed-sa")) == 2, 10, 0.1)
    ns.wait_ping(dst, vip, 10)
    assert ns.ping(dst, src=vip, count=3) == (3, 3)


def _diagnostics(charon: Charon, ipsecd: Ipsecd) -> str:
    return f"--- ipsecd log ---\n{ipsecd.log_text()[-8000:]}\n--- charon log ---\n{charon.log_text()[-8000:]}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One topology, ipsecd gateway (right) and strongSwan (left) for the gateway tests."""
    tmp = tmp_path_factory.mktemp("xauth-gw")
    with Topology("iv1x") as topo:
        ipsecd = Ipsecd(topo.right, tmp, _gateway_rsc(topo, "10.5.9.1-10.5.9.2")).start()
        charon = Charon(topo.left, tmp, install_vip=True, loglevel=2).start()
        yield topo, charon, ipsecd


def test_strongswan_xauth_client_gets_an_address_and_pings(gateway) -> None:  # type: ignore[no-untyped-def]
    topo, charon, ipsecd = gateway
    charon.load(_client_conf(topo, "user1", "123"))
    try:
        charon.initiate("net")
        (ike,) = charon.list_sas()
        assert ike["version"] == "1" and ike["state"] == "ESTABLISHED"
        vips = ike.get("local-vips")
        assert isinstance(vips, list) and len(vips) == 1 and vips[0] in ("10.5.9.1", "10.5.9.2"), vips
        vip = vips[0]
        # the Unity split-include narrowed the client's 0.0.0.0/0 to the gateway's LAN
        (child,) = charon.child_sas()
        assert child["remote-ts"] == [f"{topo.right.lan}/32"] and child["local-ts"] == [f"{vip}/32"]
        assert "10.5.9.53" in (charon.dir / "resolv.conf").read_text()  # INTERNAL_IP4_DNS
        _pings(ipsecd, topo.left, topo.right.lan, vip)
        (peer,) = _rows(ipsecd, "active-peers")
        assert peer["dynamic-address"] == vip and peer["side"] == "responder"
        policies = ipsecd.exec("/ip ipsec policy print").stdout
        assert f"{vip}/32" in policies  # generate-policy made the client's policy
        log = ipsecd.log_text()
        assert f"leased {vip} to user1" in log  # the lease is the XAuth user's
        assert "XAuth user user1" in log  # on the established line
        assert "123" not in log.replace("123456789", "")  # the user's password is never logged
        charon.terminate_all()
        wait_until("the gateway to forget the client", lambda: not _rows(ipsecd, "active-peers"), 10, 0.2)
    except BaseException:
        print(_diagnostics(charon, ipsecd))
        raise


def test_wrong_password_is_refused_and_logged(gateway) -> None:  # type: ignore[no-untyped-def]
    topo, charon, ipsecd = gateway
    charon.load(_client_conf(topo, "user2", "not-the-password"))
    try:
        with pytest.raises(RuntimeError):
            charon.initiate("net", timeout_ms=8000)
        wait_until("the refusal in the log", lambda: "XAuth user 'user2'" in ipsecd.log_text(), 10, 0.2)
        log = ipsecd.log_text()
        assert "not-the-password" not in log
        assert "wrong user name or password" in log
        wait_until("no SA left", lambda: not _rows(ipsecd, "active-peers"), 10, 0.2)
        assert _rows(ipsecd, "installed-sa") == []
    except BaseException:
        print(_diagnostics(charon, ipsecd))
        raise


def test_strongswan_push_mode_client_is_pushed_its_address(gateway) -> None:  # type: ignore[no-untyped-def]
    """strongSwan with ``pull = no`` waits for the gateway's SET: ipsecd pushes it when no REQUEST
    came within a second of XAuth."""
    topo, charon, ipsecd = gateway
    charon.load(_client_conf(topo, "user2", "234", pull=False))
    try:
        charon.initiate("net")
        (ike,) = charon.list_sas()
        vips = ike.get("local-vips")
        assert isinstance(vips, list) and len(vips) == 1 and vips[0] in ("10.5.9.1", "10.5.9.2"), vips
        _pings(ipsecd, topo.left, topo.right.lan, vips[0])
        assert "CPS(ADDR" in charon.log_text()  # the address came in a SET (pushed), not a REPLY
        charon.terminate_all()
        wait_until("the gateway to forget the client", lambda: not _rows(ipsecd, "active-peers"), 10, 0.2)
    except BaseException:
        print(_diagnostics(charon, ipsecd))
        raise


def test_a_full_pool_is_refused_naming_the_pool(gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The pool has two addresses: user1 and user2 (two clients) get them, a third user is refused."""
    topo, charon, ipsecd = gateway
    try:
        for user, password in (("user1", "123"), ("user2", "234")):
            charon.load(_client_conf(topo, user, password))
            charon.initiate("net")
        time.sleep(0.2)
        assert len(_rows(ipsecd, "active-peers")) == 2
        ipsecd.exec('/ip ipsec user add name=user3 password="345"')
        wait_until("user3 to be known", lambda: "user3" in ipsecd.exec("/ip ipsec user print").stdout, 5, 0.2)
        charon.load(_client_conf(topo, "user3", "345"))
        with pytest.raises(RuntimeError):
            charon.initiate("net", timeout_ms=8000)
        wait_until("the refusal", lambda: "exhausted" in ipsecd.log_text(), 10, 0.2)
        assert "no address for user3: address pool 'ipsec-rw' is exhausted" in ipsecd.log_text()
        leased = sorted(
            str(p.get("dynamic-address")) for p in _rows(ipsecd, "active-peers") if p.get("dynamic-address")
        )
        assert leased == ["10.5.9.1", "10.5.9.2"]  # the two clients keep theirs
    except BaseException:
        print(_diagnostics(charon, ipsecd))
        raise


def _strongswan_gateway_conf(topo: Topology, *, pool: str = "10.244.0.16/28") -> str:
    """strongSwan (left) as an IKEv1 XAuth gateway: PSK, then XAuth (xauth-generic) against its
    secrets, a pool and DNS, a child from its LAN to the client's virtual IP."""
    left = topo.left
    return f"""\
connections {{
    gw {{
        version = 1
        local_addrs = {left.wan}
        remote_addrs = %any
        proposals = aes128-sha1-modp2048,aes128-sha1-modp1024
        pools = rwpool
        rekey_time = 0
        dpd_delay = 0
        local {{
            auth = psk
        }}
        remote-1 {{
            auth = psk
        }}
        remote-2 {{
            auth = xauth
        }}
        children {{
            net {{
                local_ts = {left.lan}/32
                remote_ts = dynamic
                esp_proposals = aes128-sha1-modp1024
                rekey_time = 0
            }}
        }}
    }}
}}
pools {{
    rwpool {{
        addrs = {pool}
        dns = 10.244.0.53
    }}
}}
secrets {{
    ike-any {{
        secret = "{PSK}"
    }}
    xauth-bob {{
        id = bob
        secret = "builder"
    }}
}}
"""


def _client_rsc(topo: Topology, password: str) -> str:
    """ipsecd (right) as RouterOS's XAuth client: passive=no, the identity's username/password,
    mode-config=request-only, a policy from anywhere to the gateway's LAN that the address narrows."""
    return f"""\
/ip ipsec peer add name=gw address={topo.left.wan}/32 exchange-mode=main
/ip ipsec identity add peer=gw auth-method=pre-shared-key-xauth secret="{PSK}" username=bob \\
    password="{password}" mode-config=request-only
/ip ipsec policy add peer=gw tunnel=yes src-address=0.0.0.0/0 dst-address={topo.left.lan}/32
"""


def test_ipsecd_as_xauth_client_of_a_strongswan_gateway(tmp_path: Path) -> None:
    with Topology("iv1c") as topo:
        charon = Charon(topo.left, tmp_path, loglevel=2).start()
        charon.load(_strongswan_gateway_conf(topo))
        ipsecd = Ipsecd(topo.right, tmp_path, _client_rsc(topo, "builder")).start()
        try:
            wait_until("charon's CHILD_SA", lambda: bool(charon.child_sas()), 20, 0.2)
            (ike,) = charon.list_sas()
            remote_vips = ike.get("remote-vips")
            assert isinstance(remote_vips, list) and len(remote_vips) == 1
            vip = remote_vips[0]
            assert str(vip).startswith("10.244.0.")
            assert ike.get("remote-xauth-id") == "bob" or "bob" in charon.log_text()
            (child,) = charon.child_sas()
            assert child["remote-ts"] == [f"{vip}/32"] and child["local-ts"] == [f"{topo.left.lan}/32"]
            assert f"{vip}/32" in topo.right.run("ip", "-4", "addr", "show").stdout  # on the TUN device
            _pings(ipsecd, topo.right, topo.left.lan, vip)
            (peer,) = _rows(ipsecd, "active-peers")
            assert peer["dynamic-address"] == vip and peer["side"] == "initiator"
            assert "builder" not in ipsecd.log_text()
        except BaseException:
            print(_diagnostics(charon, ipsecd))
            raise


def test_hybrid_gateway_signs_and_the_client_has_xauth_only(tmp_path: Path) -> None:
    """``auth-method=rsa-signature-hybrid`` (HybridInitRSA, 64221): ipsecd's gateway signs with its
    certificate from the store, strongSwan's client (``auth = xauth`` locally, ``auth = pubkey`` for
    the gateway, as strongSwan's hybrid does) checks it against its CA and logs in with XAuth only."""
    from ipsecd.pki.store import CertificateStore

    vectors = REPO / "tests" / "vectors" / "strongswan-pki"
    with Topology("iv1h") as topo:
        rsc = _gateway_rsc(topo).replace(
            "auth-method=pre-shared-key-xauth",
            "auth-method=rsa-signature-hybrid certificate=gw my-id=fqdn:gw.example.com",
        )
        ipsecd = Ipsecd(topo.right, tmp_path, rsc)
        store = CertificateStore(ipsecd.dir / "certificates")
        store.import_file(vectors / "ca.crt", name="ca", trusted=True)
        store.import_file(vectors / "gw-rsa.crt", name="gw")
        store.import_file(vectors / "gw-rsa.key")
        ipsecd.start()
        charon = Charon(topo.left, tmp_path, install_vip=True, loglevel=2)
        (charon.swanctl_dir / "x509ca").mkdir(parents=True, exist_ok=True)
        shutil.copy(vectors / "ca.crt", charon.swanctl_dir / "x509ca" / "ca.crt")
        charon.start()
        conf = _client_conf(topo, "user1", "123")
        conf = conf.replace("        local-1 {\n            auth = psk\n        }\n", "").replace(
            "        remote {\n            auth = psk\n        }",
            "        remote {\n            auth = pubkey\n            id = gw.example.com\n        }",
        )
        assert "auth = psk" not in conf
        charon.load(conf)
        try:
            charon.initiate("net")
            (ike,) = charon.list_sas()
            assert ike["state"] == "ESTABLISHED" and ike["remote-id"] == "gw.example.com"
            vips = ike.get("local-vips")
            assert isinstance(vips, list) and len(vips) == 1
            _pings(ipsecd, topo.left, topo.right.lan, vips[0])
            # no PSK anywhere: the client took the gateway's signature and XAuth alone admitted it
            assert "XAuth user user1" in ipsecd.log_text()
        except BaseException:
            print(_diagnostics(charon, ipsecd))
            raise


def test_xauth_users_from_freeradius(tmp_path: Path) -> None:
    """``/ip ipsec settings xauth-use-radius=yes``: the gateway checks the XAuth user with an
    Access-Request (User-Password) to FreeRADIUS; the Access-Accept's Framed-IP-Address is the
    client's address, an Accounting Start names the user; FreeRADIUS' reject refuses another."""
    why = fr.available()
    if why:
        pytest.skip(why)
    with Topology("iv1f") as topo:
        radius = fr.FreeRadius(ns=topo.right.name)
        try:
            rsc = _gateway_rsc(topo).replace("dst-address=10.5.9.0/24", "dst-address=10.77.0.0/24")
            rsc += (
                "/ip ipsec settings set xauth-use-radius=yes accounting=yes\n"
                f"/radius add service=ipsec address=127.0.0.1 secret={fr.SECRET} timeout=1s\n"
            )
            ipsecd = Ipsecd(topo.right, tmp_path, rsc).start()
            charon = Charon(topo.left, tmp_path, install_vip=True, loglevel=2).start()
            before = radius.detail()
            try:
                charon.load(_client_conf(topo, "alice", fr.USERS["alice"]))
                charon.initiate("net")
                (ike,) = charon.list_sas()
                assert ike.get("local-vips") == [fr.ALICE_IP]  # FreeRADIUS' Framed-IP-Address
                _pings(ipsecd, topo.left, topo.right.lan, fr.ALICE_IP)
                assert "is XAuth user alice (RADIUS accepted)" in ipsecd.log_text()
                wait_until(
                    "the Start record",
                    lambda: "Acct-Status-Type = Start" in radius.detail()[len(before) :],
                    10,
                    0.2,
                )
                assert 'User-Name = "alice"' in radius.detail()[len(before) :]
                charon.terminate_all()
                charon.load(_client_conf(topo, "bob", "not-bobs-password"))
                with pytest.raises(RuntimeError):
                    charon.initiate("net", timeout_ms=8000)
                wait_until(
                    "the refusal", lambda: "XAuth user 'bob': RADIUS reject" in ipsecd.log_text(), 10, 0.2
                )
                assert "not-bobs-password" not in ipsecd.log_text()
                assert fr.USERS["alice"] not in ipsecd.log_text()
            except BaseException:
                print(_diagnostics(charon, ipsecd))
                print(radius.log.read_text()[-3000:])
                raise
        finally:
            radius.close()
