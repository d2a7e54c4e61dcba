"""A peer ``address=`` may be a DNS name (issue 15: dynamic DNS site-to-site), as on RouterOS 7."""

from __future__ import annotations

import ipaddress

import pytest

from ipsecd.mgmt.model import open_config
from ipsecd.mgmt.values import PROTOCOL_NUMBERS, PROTOCOLS, HostOrPrefix, ValueParseError


def test_an_import_with_a_dns_name_peer_succeeds_and_exports_it() -> None:
    config = open_config(None)
    config.import_script(
        "/ip ipsec peer add name=b1 address=Branch1.sn.mynetname.net exchange-mode=ike2\n", "x"
    )
    row = config.snapshot().rows("/ip ipsec peer")[0]
    assert row["address"] == "branch1.sn.mynetname.net"


@pytest.mark.parametrize(
    "text", ["10.0.0.300", "-a.example", "a..b", "host", "a_b.example", "x" * 64 + ".net", "10.0.0.0/33", ""]
)
def test_what_is_neither_prefix_nor_host_name_is_refused(text: str) -> None:
    with pytest.raises(ValueParseError):
        HostOrPrefix().parse(text)


def test_prefixes_stay_prefixes() -> None:
    assert HostOrPrefix().parse("10.0.0.1") == ipaddress.ip_network("10.0.0.1/32")
    assert HostOrPrefix().parse("gw.example.") == "gw.example"


def test_every_protocol_name_has_its_number() -> None:
    assert set(PROTOCOLS) == set(PROTOCOL_NUMBERS)
    assert PROTOCOL_NUMBERS["icmpv6"] == 58 and PROTOCOL_NUMBERS["udp-lite"] == 136
