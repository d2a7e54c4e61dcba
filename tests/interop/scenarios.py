"""RouterOS scripts for ipsecd and matching swanctl connections for charon, per interop scenario.

ipsecd always sits in the right namespace, charon in the left one (``sswan.Topology``). Names of
RouterOS properties are those of the manual; strongSwan proposal keywords are swanctl's.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.interop.sswan import Topology, swanctl_connection

PSK = "interop-psk-0123456789abcdef"


@dataclass(frozen=True)
class Proposals:
    """One proposal set, in both languages."""

    name: str
    # RouterOS profile (phase 1) and proposal (phase 2)
    enc_algorithm: str
    hash_algorithm: str
    dh_group: str
    enc_algorithms: str
    auth_algorithms: str
    pfs_group: str
    # swanctl
    ike: str
    esp: str


#: The manual's defaults (profile aes-128/sha1/modp1024,modp2048; proposal aes-*-cbc/sha1, PFS
#: modp1024), an AEAD suite on ECP, and ChaCha20-Poly1305 on Curve25519.
DEFAULTS = Proposals(
    "defaults",
    "aes-128",
    "sha1",
    "modp2048,modp1024",
    "aes-256-cbc,aes-192-cbc,aes-128-cbc",
    "sha1",
    "modp1024",
    ike="aes128-sha1-modp2048",
    esp="aes128-sha1-modp1024",
)
GCM_ECP384 = Proposals(
    "gcm-ecp384",
    "aes-256",
    "sha256",
    "ecp384",
    "aes-256-gcm",
    "null",
    "ecp384",
    ike="aes256-sha256-ecp384",
    esp="aes256gcm16-ecp384",
)
CHACHA_X25519 = Proposals(
    "chacha-x25519",
    "aes-256",
    "sha256",
    "x25519",
    "chacha20poly1305",
    "null",
    "none",
    ike="aes256-sha256-x25519",
    esp="chacha20poly1305",
)  # RouterOS has no x25519 PFS
PROPOSAL_SETS = (DEFAULTS, GCM_ECP384, CHACHA_X25519)


def ipsecd_site_rsc(topo: Topology, p: Proposals = DEFAULTS, *, passive: bool = False, lifetime: str = "1d",
                    sa_lifetime: str = "30m", dpd: str = "disable-dpd", dpd_failures: int = 5,
                    peer_address: str | None = None, v6: bool = False, inner6: bool | None = None) -> str:
    """ipsecd (right) ⇄ charon (left): LAN /32 to LAN /32, PSK with FQDN identities. ``v6``: the
    peers talk IPv6; ``inner6`` (default: as ``v6``): the LANs are the IPv6 /128s."""
    left, right = topo.left, topo.right
    peer_addr = peer_address or (f"{left.wan6}/128" if v6 else f"{topo.left_seen_by_right}/32")
    src, dst = (f"{right.lan6}/128", f"{left.lan6}/128") if (v6 if inner6 is None else inner6) else \
        (f"{right.lan}/32", f"{left.lan}/32")
    return f"""\
/ip ipsec profile add name=interop enc-algorithm={p.enc_algorithm} hash-algorithm={p.hash_algorithm} \\
    dh-group={p.dh_group} lifetime={lifetime} dpd-interval={dpd} dpd-maximum-failures={dpd_failures} \\
    nat-traversal=yes
/ip ipsec peer add name=sswan address={peer_addr} profile=interop exchange-mode=ike2 \\
    passive={"yes" if passive else "no"}
/ip ipsec identity add peer=sswan auth-method=pre-shared-key secret="{PSK}" \\
    my-id=fqdn:right.test remote-id=fqdn:left.test
/ip ipsec proposal add name=interop enc-algorithms={p.enc_algorithms} \\
    auth-algorithms={p.auth_algorithms} pfs-group={p.pfs_group} lifetime={sa_lifetime}
/ip ipsec policy add peer=sswan tunnel=yes src-address={src} dst-address={dst} proposal=interop
"""


def charon_site_conf(topo: Topology, p: Proposals = DEFAULTS, *, rekey_time: str = "0",
                     child_rekey: str = "0", dpd_delay: str = "0", start_action: str = "none",
                     v6: bool = False, inner6: bool | None = None) -> str:
    left, right = topo.left, topo.right
    wans = (left.wan6, right.wan6) if v6 else (left.wan, right.wan)
    ts = (f"{left.lan6}/128", f"{right.lan6}/128") if (v6 if inner6 is None else inner6) else \
        (f"{left.lan}/32", f"{right.lan}/32")
    return swanctl_connection(
        "net", local_addr=wans[0], remote_addr=wans[1], local_id="left.test", remote_id="right.test",
        local_ts=ts[0], remote_ts=ts[1], psk=PSK, proposals=p.ike,
        esp_proposals=p.esp, rekey_time=rekey_time, child_rekey=child_rekey, dpd_delay=dpd_delay,
        start_action=start_action,
        # explicit lifetimes: charon's defaults (10 % over the rekey time, random jitter) make
        # second-scale rekey tests expire SAs instead of rekeying them
        extra="" if rekey_time == "0" else "        over_time = 30s\n        rand_time = 0s\n",
        child_extra=""
        if child_rekey == "0"
        else "                life_time = 60s\n                rand_time = 0s\n",
    )


def ipsecd_roadwarrior_rsc(topo: Topology, pool: str = "10.243.0.10-10.243.0.20",
                           dns: str = "10.243.0.53") -> str:
    """ipsecd as road-warrior responder: mode-config lease from a pool, DNS, split-include of its LAN."""
    right = topo.right
    return f"""\
/ip pool add name=rw ranges={pool}
/ip ipsec mode-config add name=rw address-pool=rw address-prefix-length=32 split-include={right.lan}/32 \\
    static-dns={dns} responder=yes
/ip ipsec policy group add name=rw
/ip ipsec policy add group=rw template=yes src-address={right.lan}/32 dst-address=10.243.0.0/24
/ip ipsec profile add name=rw enc-algorithm=aes-256 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec peer add name=rw exchange-mode=ike2 passive=yes profile=rw
/ip ipsec identity add peer=rw auth-method=pre-shared-key secret="{PSK}" my-id=fqdn:right.test \\
    remote-id=fqdn:left.test mode-config=rw generate-policy=port-strict policy-template-group=rw
"""


def charon_roadwarrior_conf(topo: Topology) -> str:
    left, right = topo.left, topo.right
    return swanctl_connection(
        "net", local_addr=left.wan, remote_addr=right.wan, local_id="left.test", remote_id="right.test",
        local_ts="dynamic", remote_ts=f"{right.lan}/32", psk=PSK, proposals="aes256-sha256-ecp256",
        esp_proposals="aes256-sha1", vips="0.0.0.0")  # the default proposal of the template


def charon_roadwarrior_server_conf(
    topo: Topology, pool: str = "10.244.0.16/28", dns: str = "10.244.0.53"
) -> str:
    """charon (left) as the road-warrior gateway: any client with the PSK gets an address of ``pool``
    and ``dns``, and a CHILD_SA from its virtual IP to the left LAN."""
    left = topo.left
    conf = swanctl_connection(
        "rw", local_addr=left.wan, remote_addr="%any", local_id="left.test", remote_id="right.test",
        local_ts=f"{left.lan}/32", remote_ts="dynamic", psk=PSK, proposals="aes256-sha256-ecp256",
        esp_proposals="aes256gcm16", child="net", extra="        pools = rwpool\n")
    return conf + f"pools {{\n    rwpool {{\n        addrs = {pool}\n        dns = {dns}\n    }}\n}}\n"


def ipsecd_roadwarrior_client_rsc(topo: Topology) -> str:
    """ipsecd (right) as a RouterOS road-warrior client: ``mode-config=request-only``, a policy from
    anywhere to the gateway's LAN that the virtual IP narrows."""
    left = topo.left
    return f"""\
/ip ipsec profile add name=rw enc-algorithm=aes-256 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec proposal add name=rw enc-algorithms=aes-256-gcm pfs-group=none
/ip ipsec peer add name=gw address={left.wan}/32 profile=rw exchange-mode=ike2
/ip ipsec identity add peer=gw auth-method=pre-shared-key secret="{PSK}" my-id=fqdn:right.test \\
    remote-id=fqdn:left.test mode-config=request-only
/ip ipsec policy add peer=gw tunnel=yes src-address=0.0.0.0/0 dst-address={left.lan}/32 proposal=rw
"""
