"""Vendor ID payload values IKEv1 peers exchange (RFC 2408 §3.16) and what they announce.

Most are MD5 digests of a text (the comments say which), some with version bytes appended:
RFC 3947 §3.1 and draft-ietf-ipsec-nat-t-ike-02/02n/03 (NAT-T), RFC 3706 §3.3 (DPD, version 1.0),
draft-beaulieu-ike-xauth (XAuth), Cisco Unity (the digest's last two bytes replaced by 1.0), the
strongSwan/Cisco IKE fragmentation VID, and the product VIDs of strongSwan and Microsoft
("MS NT5 ISAKMPOAKLEY" followed by a 4-byte Windows version).
"""

from __future__ import annotations

NATT_RFC3947 = bytes.fromhex("4a131c81070358455c5728f20e95452f")  # MD5("RFC 3947")
NATT_DRAFT_02 = bytes.fromhex("90cb80913ebb696e086381b5ec427b1f")  # MD5("draft-ietf-ipsec-nat-t-ike-02\n")
NATT_DRAFT_02N = bytes.fromhex("cd60464335df21f87cfdb2fc68b6a448")  # MD5("draft-ietf-ipsec-nat-t-ike-02")
NATT_DRAFT_03 = bytes.fromhex("7d9419a65310ca6f2c179d9215529d56")  # MD5("draft-ietf-ipsec-nat-t-ike-03")
DPD = bytes.fromhex("afcad71368a1f1c96b8696fc77570100")
XAUTH = bytes.fromhex("09002689dfd6b712")
CISCO_UNITY = bytes.fromhex("12f5f28c457168a9702d9fe274cc0100")
FRAGMENTATION = bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d3")  # MD5("FRAGMENTATION") [+ flags]
STRONGSWAN = bytes.fromhex("882fe56d6fd20dbc2251613b2ebe5beb")  # MD5("strongSwan")
MICROSOFT = bytes.fromhex("1e2b516905991c7d7c96fcbfb587e461")  # MD5("MS NT5 ISAKMPOAKLEY") + version

NATT_DRAFTS = (NATT_DRAFT_03, NATT_DRAFT_02N, NATT_DRAFT_02)

_EXACT = {
    NATT_RFC3947: "NAT-T (RFC 3947)", NATT_DRAFT_02: "NAT-T draft-02", NATT_DRAFT_02N: "NAT-T draft-02n",
    NATT_DRAFT_03: "NAT-T draft-03", DPD: "DPD", XAUTH: "XAuth", CISCO_UNITY: "Cisco Unity",
    STRONGSWAN: "strongSwan",
}
_PREFIX = ((MICROSOFT, "Microsoft"), (FRAGMENTATION, "IKE fragmentation"), (STRONGSWAN, "strongSwan"))


def describe(vid: bytes) -> str:
    """A name for a Vendor ID (for the log), or its hex when unknown."""
    name = _EXACT.get(vid)
    if name is not None:
        return name
    for prefix, label in _PREFIX:
        if vid.startswith(prefix):
            return label
    return "unknown " + vid[:32].hex()


def natt_flavour(vids: list[bytes]) -> bytes | None:
    """The NAT-T variant both sides speak: RFC 3947 before the newest draft the peer announced."""
    for candidate in (NATT_RFC3947, *NATT_DRAFTS):
        if candidate in vids:
            return candidate
    return None
