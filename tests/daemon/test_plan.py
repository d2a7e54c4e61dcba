"""Configuration rows → peer plans → IkeConfig/ChildConfig (the manual's property semantics)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from ipsecd.daemon.plan import IDENTITY, PEER, POLICY, PROFILE, PlanError, build_plan
from ipsecd.ike.v1.config import ExchangeMode, ProposalCheck
from ipsecd.policy.types import Mode

DEFAULT_PROFILE = {
    "name": "default",
    "enc-algorithm": "aes-128",
    "hash-algorithm": "sha1",
    "dh-group": "modp1024,modp2048",
    "lifetime": "1d",
    "dpd-interval": "2m",
    "prf-algorithm": "auto",
    "nat-traversal": "yes",
}
DEFAULT_PROPOSAL = {
    "name": "default",
    "enc-algorithms": "aes-256-cbc,aes-192-cbc,aes-128-cbc",
    "auth-algorithms": "sha1",
    "pfs-group": "modp1024",
    "lifetime": "30m",
}


def _rows(**extra: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {
        "/ip ipsec profile": [
            DEFAULT_PROFILE,
            {
                "name": "fast",
                "enc-algorithm": ["aes-256"],
                "hash-algorithm": "sha256",
                "dh-group": ["x25519"],
                "lifetime": 3600,
                "dpd-interval": "disable-dpd",
                "dpd-maximum-failures": 2,
                "prf-algorithm": "sha512",
            },
        ],
        "/ip ipsec proposal": [
            DEFAULT_PROPOSAL,
            {
                "name": "gcm",
                "enc-algorithms": "aes-256-gcm",
                "auth-algorithms": "null",
                "pfs-group": "none",
                "lifetime": "5m",
            },
        ],
        "/ip ipsec peer": [
            {
                ".id": "*1",
                "name": "site",
                "address": "192.0.2.2/32",
                "exchange-mode": "ike2",
                "profile": "default",
            },
            {".id": "*2", "name": "v1", "address": "192.0.2.3/32", "exchange-mode": "main"},
            {
                ".id": "*3",
                "name": "rw",
                "exchange-mode": "ike2",
                "passive": "yes",
                "profile": "fast",
                "send-initial-contact": "no",
            },
            {".id": "*4", "name": "off", "address": "192.0.2.9", "exchange-mode": "ike2", "disabled": True},
        ],
        "/ip ipsec identity": [
            {"peer": "site", "secret": "0x00ff10", "my-id": "fqdn:a.example", "remote-id": "fqdn:b.example"},
            {"peer": "rw", "secret": "plain text", "mode-config": "rw", "generate-policy": "port-strict"},
            {"peer": "v1", "secret": "x"},
        ],
        "/ip ipsec policy": [
            {
                ".id": "*0",
                "template": "yes",
                "src-address": "::/0",
                "dst-address": "::/0",
                "group": "default",
            },
            {
                ".id": "*5",
                "peer": "site",
                "tunnel": "yes",
                "src-address": "10.1.0.0/24",
                "dst-address": "10.2.0.0/24",
                "proposal": "default",
            },
            {
                ".id": "*6",
                "peer": "site",
                "src-address": "10.1.0.1/32",
                "dst-address": "10.2.0.1/32",
                "protocol": "udp",
                "dst-port": "1701",
                "proposal": "gcm",
            },
            {
                ".id": "*7",
                "peer": "site",
                "src-address": "10.1.0.0/24",
                "dst-address": "10.3.0.0/24",
                "action": "none",
            },
        ],
    }
    rows.update(extra)
    return rows


def test_plan_from_rows() -> None:
    plan = build_plan(_rows())
    assert [p.endpoint.name for p in plan.peers] == ["site", "v1", "rw"]
    assert plan.skipped == ()
    site = plan.by_name("site")
    assert site is not None
    assert site.psk == b"\x00\xff\x10" and site.my_id == "fqdn:a.example"
    assert site.endpoint.address == ipaddress.ip_network("192.0.2.2/32") and not site.endpoint.passive
    (prop,) = site.ike_proposals
    assert (prop.encr, prop.integ, prop.prf, prop.dh) == (
        ("aes-128",),
        ("sha1",),
        ("sha1",),
        ("modp1024", "modp2048"),
    )
    assert site.lifetime == 86400 and site.dpd_interval == 120 and site.retransmit_tries == 5
    tunnel, transport = site.children
    assert tunnel.mode is Mode.TUNNEL and tunnel.policy_id == "*5" and tunnel.lifetime == 1800
    assert tunnel.proposals[0].pfs == "modp1024" and tunnel.proposals[0].integ == ("sha1",)
    assert str(tunnel.selector.src) == "10.1.0.0/24"  # src-address is our side
    assert transport.mode is Mode.TRANSPORT and transport.selector.protocol == 17
    assert transport.selector.dst_port == 1701 and transport.proposals[0].integ == ()
    assert transport.proposals[0].pfs == "none" and transport.lifetime == 300
    cfg = site.ike_config(("192.0.2.1", 500), ("192.0.2.2", 500), natt_port=4500, force_encap=True)
    assert (
        cfg.credentials.shared_key(cfg.my_id, cfg.remote_id) == b"\x00\xff\x10"
        and cfg.force_encap
        and cfg.children == site.children
        and cfg.name == "site"
    )
    rw = plan.by_name("rw")
    assert rw is not None and rw.endpoint.address is None and rw.endpoint.passive
    assert rw.ike_proposals[0].prf == ("sha512",) and rw.dpd_interval is None and rw.lifetime == 3600
    assert rw.ike_config(("a", 1), ("b", 2), natt_port=4500, force_encap=False).retransmit.tries == 2
    assert rw.psk == b"plain text" and not rw.send_initial_contact and rw.generate_policy == "port-strict"


def test_refusals_name_the_object() -> None:
    with pytest.raises(PlanError, match="peer site: profile nope does not exist"):
        rows = _rows()
        rows["/ip ipsec peer"][0] = {**rows["/ip ipsec peer"][0], "profile": "nope"}
        build_plan(rows)
    with pytest.raises(PlanError, match="identity for peer site: secret is empty"):
        rows = _rows()
        rows["/ip ipsec identity"][0] = {"peer": "site", "secret": ""}
        build_plan(rows)
    rows = _rows()
    del rows["/ip ipsec identity"]
    assert build_plan(rows).peers == ()


def test_ddos_cookie_threshold_from_settings() -> None:
    assert build_plan(_rows()).cookie_threshold is None  # unset: the daemon's default applies
    rows = _rows(**{"/ip ipsec settings": [{"ddos-cookie-threshold": "7"}]})
    assert build_plan(rows).cookie_threshold == 7


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("icmpv6", 58),
        ("ipsec-esp", 50),
        ("ipsec-ah", 51),
        ("udp-lite", 136),
        ("gre", 47),
        ("all", 0),
        ("47", 47),
    ],
)
def test_every_protocol_the_schema_accepts_runs(name: str, number: int) -> None:
    """Issue 9: the plan asked the host's protocol database, which lacks RouterOS's names."""
    rows = _rows()
    rows["/ip ipsec policy"] = [
        {
            ".id": "*5",
            "peer": "site",
            "src-address": "10.1.0.0/24",
            "dst-address": "10.2.0.0/24",
            "protocol": name,
            "proposal": "default",
        }
    ]
    site = build_plan(rows).by_name("site")
    assert site is not None and site.children[0].selector.protocol == number


def test_a_peer_address_given_as_a_dns_name_is_planned_unresolved() -> None:
    rows = _rows()
    rows["/ip ipsec peer"] = [
        {
            ".id": "*1",
            "name": "site",
            "address": "branch1.sn.mynetname.net",
            "exchange-mode": "ike2",
            "profile": "default",
        }
    ]
    site = build_plan(rows).by_name("site")
    assert site is not None
    assert site.endpoint.hostname == "branch1.sn.mynetname.net"
    assert site.endpoint.address is None and site.endpoint.host is None


@pytest.mark.parametrize(
    ("mode_config", "responder", "requests"),
    [
        ("request-only", None, True),
        ("rw-client", "no", True),
        ("rw-server", "yes", False),
        ("none", None, False),
    ],
)
def test_a_client_with_its_own_responder_no_mode_config_requests_an_address(
    mode_config: str, responder: str | None, requests: bool
) -> None:
    """Issue 15: MikroTik's road-warrior client recipe adds a mode-config with responder=no; only the
    built-in request-only asked for an address."""
    rows = _rows(
        **{
            "/ip ipsec mode-config": [
                {"name": "rw-client", "responder": "no"},
                {"name": "rw-server", "responder": "yes", "address-pool": "p"},
            ],
            "/ip pool": [{"name": "p", "ranges": "10.9.0.2-10.9.0.9"}],
        }
    )
    rows["/ip ipsec identity"][0]["mode-config"] = mode_config
    site = build_plan(rows).by_name("site")
    assert site is not None
    config = site.ike_config(("192.0.2.1", 500), ("192.0.2.2", 500), natt_port=4500, force_encap=False)
    assert config.mode_config_request is requests


def test_the_plan_takes_the_configurations_typed_values() -> None:
    """Issue 9: what the configuration accepts, the daemon runs (the plan re-parsed text and refused
    protocol=icmpv6); a snapshot's rows give typed values, defaults filled in."""
    from ipsecd.mgmt.model import open_config

    config = open_config(None)
    config.import_script(
        "/ip ipsec peer add name=v6 address=2001:db8::2/128 exchange-mode=ike2\n"
        "/ip ipsec identity add peer=v6 secret=0x00ff\n"
        "/ip ipsec policy add peer=v6 src-address=2001:db8:1::/64 dst-address=2001:db8:2::/64 "
        "protocol=icmpv6 "
        "tunnel=yes\n",
        "x",
    )
    (peer,) = build_plan(config.snapshot()).peers
    (child,) = peer.children
    assert child.selector.protocol == 58 and child.mode is Mode.TUNNEL
    assert str(child.selector.src) == "2001:db8:1::/64" and child.lifetime == 1800.0
    assert peer.psk == b"\x00\xff" and peer.dpd_interval == 120.0 and peer.endpoint.port == 500
    assert peer.my_id == "auto" and peer.retransmit_tries == 5


def test_digital_signature_identity_uses_the_certificate_store() -> None:
    """An identity with auth-method=digital-signature runs with the daemon's certificate store and
    its certificate=, remote-certificate= and match-by= (ipsecd.ike.auth.pubkey); without
    certificate= it is refused with one line."""
    from ipsecd.ike.v2.config import validate
    from ipsecd.pki.store import CertificateStore

    ident = {"peer": "site", "auth-method": "digital-signature", "certificate": "gw",
             "remote-certificate": "client", "match-by": "certificate"}
    rows = _rows()
    rows["/ip ipsec identity"] = [ident]
    site = build_plan(rows).by_name("site")
    assert site is not None and site.auth_method == "digital-signature"
    assert (site.certificate, site.remote_certificate, site.match_by) == ("gw", "client", "certificate")
    config = site.ike_config(("192.0.2.1", 500), ("192.0.2.2", 500), natt_port=4500, force_encap=False,
                             store=CertificateStore())
    use = config.credentials.certificate_use(config.my_id)
    assert config.auth_method == "digital-signature" and use is not None and use.certificate == "gw"
    with pytest.raises(Exception, match="identity certificate=gw: no certificate named 'gw': import or add"):
        validate(config)
    rows["/ip ipsec identity"] = [{"peer": "site", "auth-method": "digital-signature"}]
    with pytest.raises(
        PlanError, match="identity for peer site: auth-method=digital-signature needs certificate="
    ):
        build_plan(rows)


def test_ikev1_peers_run_with_their_mode_and_profile_settings() -> None:
    """exchange-mode main (the default: no property at all), aggressive and base are IKEv1 peers: the
    plan carries the mode, the profile's lifebytes/proposal-check/dpd-maximum-failures and the AH
    policies; ike2 peers have no IKEv1 options; base mode takes no signatures."""
    rows = _rows()
    v1 = build_plan(rows).by_name("v1")
    assert v1 is not None and v1.v1 is not None and v1.endpoint.exchange_mode == "main"
    assert v1.v1.exchange_mode is ExchangeMode.MAIN and v1.v1.proposal_check is ProposalCheck.OBEY
    site = build_plan(rows).by_name("site")
    assert site is not None and site.v1 is None
    rows[PEER] = [{"name": "d", "address": "192.0.2.9/32"},
                  {"name": "b", "address": "192.0.2.8/32", "exchange-mode": "base"}]
    rows[IDENTITY] = [{"peer": "d", "secret": "x"}, {"peer": "b", "auth-method": "digital-signature",
                                                     "certificate": "c"}]
    rows[PROFILE] = [{"name": "default", "lifebytes": "1000", "proposal-check": "claim",
                      "dpd-maximum-failures": "3"}]
    rows[POLICY] = [{".id": "*9", "peer": "d", "src-address": "10.0.0.0/24", "dst-address": "10.1.0.0/24",
                     "ipsec-protocols": "ah", "tunnel": "yes"}]
    plan = build_plan(rows)
    (d,) = plan.peers
    assert d.endpoint.exchange_mode == "main" and d.v1 is not None
    assert (d.v1.lifebytes, d.v1.proposal_check, d.v1.dpd_max_failures) == (1000, ProposalCheck.CLAIM, 3)
    assert d.v1.ah == {"d/*9"} and [c.name for c in d.children] == ["d/*9"]
    assert plan.skipped == ("peer b: exchange-mode=base with auth-method=digital-signature is not "
                            "supported; set exchange-mode=main or aggressive; not started",)


def test_a_policy_without_peer_belongs_to_the_peer_of_its_sa_addresses() -> None:
    """Issue 15: a RouterOS 6 export names no ``peer=`` on its policies, only ``sa-src-address`` and
    ``sa-dst-address`` (the captured GCP router had them active); the policy is the CHILD_SA of the
    peer whose address holds its SA destination and whose local-address, if set, is its SA source."""
    from ipsecd.mgmt.model import open_config

    config = open_config(None)
    config.import_script(
        "/ip ipsec peer add name=a address=192.0.2.0/24 local-address=198.51.100.1 exchange-mode=ike2\n"
        "/ip ipsec peer add name=b address=192.0.2.44/32 exchange-mode=ike2\n"
        "/ip ipsec identity add peer=a secret=x\n/ip ipsec identity add peer=b secret=y\n"
        "/ip ipsec policy add src-address=10.1.0.0/24 dst-address=10.2.0.0/24 tunnel=yes "
        "sa-src-address=198.51.100.9 sa-dst-address=192.0.2.44\n"
        "/ip ipsec policy add src-address=10.1.0.0/24 dst-address=10.3.0.0/24 tunnel=yes "
        "sa-src-address=198.51.100.1 sa-dst-address=192.0.2.44\n"
        "/ip ipsec policy add src-address=10.1.0.0/24 dst-address=10.4.0.0/24 tunnel=yes "
        "sa-src-address=198.51.100.1 sa-dst-address=203.0.113.1\n",
        "v6.rsc",
    )
    plan = build_plan(config.snapshot())
    a, b = plan.by_name("a"), plan.by_name("b")
    assert a is not None and b is not None
    assert [str(c.selector.dst) for c in a.children] == ["10.3.0.0/24"]  # local-address decides
    assert [str(c.selector.dst) for c in b.children] == ["10.2.0.0/24"]  # no local-address: any source


def test_eap_radius_gateway_uses_the_radius_servers_for_ipsec() -> None:
    """auth-method=eap-radius runs with the enabled /radius entries whose service has ipsec, in
    order, timeout in milliseconds; without one it is refused with the command to add one."""
    rows = _rows(**{"/radius": [
        {"address": "10.0.0.7", "secret": "s1", "service": "ppp"},
        {"address": "10.0.0.8", "secret": "s2", "service": "ipsec,ppp", "timeout": "1s500ms",
         "authentication-port": "1645", "src-address": "10.0.0.1"},
        {"address": "10.0.0.9", "secret": "s3", "service": "ipsec", "disabled": "yes"},
        {"address": "10.0.0.10", "secret": "s4", "service": "ipsec"},
    ]})
    rows["/ip ipsec identity"][1] = {"peer": "rw", "auth-method": "eap-radius", "certificate": "gw"}
    plan = build_plan(rows)
    assert [(s.address, s.secret, s.timeout, s.authentication_port, s.src_address) for s in plan.radius] == [
        ("10.0.0.8", b"s2", 1.5, 1645, "10.0.0.1"), ("10.0.0.10", b"s4", 0.3, 1812, None)]
    rw = plan.by_name("rw")
    assert rw is not None and rw.auth_method == "eap-radius"
    del rows["/radius"]
    with pytest.raises(PlanError, match="eap-radius needs a RADIUS server: /radius add service=ipsec"):
        build_plan(rows)
    # beyond RouterOS: /ip ipsec settings eap-local-users=yes judges EAP against /ip ipsec user
    rows["/ip ipsec settings"] = [{"eap-local-users": "yes"}]
    rows["/ip ipsec user"] = [{"name": "alice", "password": "pw"}, {"name": "off", "password": "x",
                                                                    "disabled": "yes"}]
    rw = build_plan(rows).by_name("rw")
    assert rw is not None and rw.eap_local_users == (("alice", b"pw"),)
    config = rw.ike_config(("192.0.2.1", 500), ("192.0.2.2", 500), natt_port=4500, force_encap=False)
    assert config.eap_local and config.credentials.eap_secret("alice") == b"pw"
    assert config.credentials.eap_secret("off") is None


def test_eap_client_identity() -> None:
    """auth-method=eap: username=, password=, eap-methods (eap-mschapv2 runs) and a single-host peer."""
    from ipsecd.ike.v2.config import validate

    rows = _rows()
    rows["/ip ipsec identity"][0] = {"peer": "site", "auth-method": "eap", "username": "alice",
                                     "password": "pw", "eap-methods": "eap-tls,eap-mschapv2"}
    site = build_plan(rows).by_name("site")
    assert site is not None
    assert (site.eap_user, site.eap_password, site.eap_methods) == ("alice", b"pw", (13, 26))
    config = site.ike_config(("192.0.2.1", 500), ("192.0.2.2", 500), natt_port=4500, force_encap=False)
    assert config.eap_user == "alice" and config.credentials.eap_secret("alice") == b"pw"
    validate(config)
    for ident, why in [
        ({"username": "alice"}, "needs username= and password="),
        ({"username": "alice", "password": "pw"}, "eap-methods=eap-tls: ipsecd runs eap-mschapv2"),
    ]:
        rows["/ip ipsec identity"][0] = {"peer": "site", "auth-method": "eap", **ident}
        with pytest.raises(PlanError, match=why):
            build_plan(rows)
    rows["/ip ipsec identity"][0] = {"peer": "site", "auth-method": "eap", "username": "a", "password": "b",
                                     "eap-methods": "eap-mschapv2"}
    rows["/ip ipsec peer"][0] = {**rows["/ip ipsec peer"][0], "address": "192.0.2.0/24"}
    with pytest.raises(PlanError, match=r"needs the peer's address to be one host \(/32 or /128\)"):
        build_plan(rows)


def test_xauth_gateway_and_client_from_routeros_rows() -> None:
    """Issue 11: pre-shared-key-xauth on an IKEv1 peer: passive=yes is the gateway with the users of
    /ip ipsec user (enabled ones; a user's address), passive=no the client with the identity's
    username/password; no INITIAL-CONTACT; refused on ike2, without username= on a client, and with
    xauth-use-radius=yes without a /radius server, each in one line."""
    from ipsecd.mgmt.model import open_config

    config = open_config(None)
    config.import_script(
        "/ip ipsec peer add name=gw passive=yes\n"
        "/ip ipsec identity add peer=gw auth-method=pre-shared-key-xauth secret=s3cret\n"
        "/ip ipsec peer add name=cl address=192.0.2.7/32\n"
        "/ip ipsec identity add peer=cl auth-method=pre-shared-key-xauth secret=s3cret username=bob"
        " password=0x6869\n"
        "/ip ipsec peer add name=v2 address=192.0.2.8/32 exchange-mode=ike2\n"
        "/ip ipsec identity add peer=v2 auth-method=pre-shared-key-xauth secret=s3cret\n"
        "/ip ipsec user add name=alice password=wonder address=10.9.9.9\n"
        "/ip ipsec user add name=eve password=x disabled=yes\n",
        "x",
    )
    plan = build_plan(config.snapshot())
    gw, cl = plan.by_name("gw"), plan.by_name("cl")
    assert gw is not None and gw.v1 is not None and gw.v1.xauth is not None and gw.v1.xauth.server
    (alice,) = gw.v1.xauth.users
    assert (alice.name, alice.password, str(alice.address)) == ("alice", b"wonder", "10.9.9.9")
    assert int(gw.v1.phase1_auth) == 65001 and not gw.send_initial_contact
    assert cl is not None and cl.v1 is not None and cl.v1.xauth is not None and not cl.v1.xauth.server
    assert (cl.v1.xauth.username, cl.v1.xauth.password) == ("bob", b"hi")
    assert "wonder" not in repr(gw.v1) and "hi'" not in repr(cl.v1)
    assert plan.by_name("v2") is None and any("is IKEv1 only" in s for s in plan.skipped)
    config.import_script("/ip ipsec identity set [find peer=cl] username=\"\"\n", "x")
    with pytest.raises(PlanError, match="peer cl: auth-method=pre-shared-key-xauth with passive=no"):
        build_plan(config.snapshot())
    config.import_script(
        "/ip ipsec identity remove [find peer=cl]\n/ip ipsec settings set xauth-use-radius=yes\n", "x"
    )
    with pytest.raises(PlanError, match="xauth-use-radius=yes needs a RADIUS server: /radius add"):
        build_plan(config.snapshot())
    config.import_script("/radius add service=ipsec address=10.0.0.7 secret=s\n", "x")
    gw = build_plan(config.snapshot()).by_name("gw")
    assert gw is not None and gw.v1 is not None and gw.v1.xauth is not None and gw.v1.xauth.radius


def test_further_digital_signature_identities_of_a_peer_are_offered_by_certificate() -> None:
    """Several identities of one IKEv2 peer: the first runs as before, the further digital-signature
    ones come along in the IKE SA's configuration (IkeConfig.identities), in order, for the responder
    to pick by the peer's certificate; a further pre-shared-key identity is not among them."""
    from ipsecd.pki.store import CertificateStore

    rows = _rows()
    signing = {"peer": "site", "auth-method": "digital-signature", "certificate": "gw"}
    rows["/ip ipsec identity"] = [
        {**signing, "remote-id": "fqdn:a.example"},
        {"peer": "site", "auth-method": "pre-shared-key", "secret": "x"},
        {**signing, "remote-id": "fqdn:b.example"},
    ]
    site = build_plan(rows).by_name("site")
    assert site is not None and site.remote_id == "fqdn:a.example"
    assert [p.remote_id for p in site.identities] == ["fqdn:b.example"]
    config = site.ike_config(("192.0.2.1", 500), ("192.0.2.2", 500), natt_port=4500, force_encap=False,
                             store=CertificateStore())
    assert [c.remote_id for c in config.identities] == ["fqdn:b.example"]
    assert config.identities[0].auth_method == "digital-signature" and not config.identities[0].identities
