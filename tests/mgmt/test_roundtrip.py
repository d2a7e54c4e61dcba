"""Import → export → import reproduces the same export: every property of the manual's lists with an
example value, policy order, comments, disabled flags, changed default objects, and the example scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.mgmt import Config, ScriptError, Session, open_config
from ipsecd.mgmt.schema import EXPORT_ORDER, MENUS
from ipsecd.mgmt.script import logical_lines
from ipsecd.mgmt.values import Ref, quote

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.rsc"))

MANUAL = r"""
/ip pool
add name=overflow ranges=10.5.1.0/24
add name=rw-pool ranges=10.5.0.10-10.5.0.200,10.6.0.0/30 comment="client addresses" next-pool=overflow
/ip ipsec mode-config
set [ find default=yes ] split-include=10.0.0.0/8
add address-pool=rw-pool address-prefix-length=24 comment="road warriors" name=rw-cfg responder=yes \
    split-include=10.1.0.0/24,10.2.0.0/24 static-dns=10.1.0.1,10.1.0.2 \
    split-dns=corp.example,lab.example use-responder-dns=exclusively connection-mark=vpn-mark
add address=10.7.0.9 name=static-cfg system-dns=yes
add name=client-cfg responder=no src-address-list=vpn system-dns=no
/ip ipsec policy group
set [ find default=yes ] comment="the default group"
add comment="templates for clients" name=clients
/ip ipsec profile
set [ find default=yes ] dh-group=modp2048 enc-algorithm=aes-256,aes-128 dpd-interval=disable-dpd
add dh-group=ecp384,modp4096,x25519 dpd-interval=30s dpd-maximum-failures=10 enc-algorithm=camellia-256,3des \
    hash-algorithm=sha512 lifebytes=1000000 lifetime=8h name=strong nat-traversal=no proposal-check=strict \
    prf-algorithm=sha384 ppk=psk
/ip ipsec peer
add address=192.0.2.10/32 comment="branch office" exchange-mode=ike2 local-address=192.0.2.1 name=branch \
    port=4500 profile=strong send-initial-contact=no
add address=2001:db8::/32 disabled=yes exchange-mode=aggressive name=v6 passive=yes ppk-secret=0x0102030405
add exchange-mode=main name=any-peer
/ip ipsec proposal
set [ find default=yes ] enc-algorithms=aes-128-cbc lifetime=1h
add auth-algorithms=sha512,sha256 disabled=yes enc-algorithms=aes-256-gcm,aes-128-ctr,chacha20poly1305 \
    lifetime=1d name=fast pfs-group=ecp521 comment="no pfs"
add auth-algorithms=null enc-algorithms=null name=nothing pfs-group=none
/ip ipsec identity
add auth-method=pre-shared-key my-id=fqdn:gw.example.net peer=branch remote-id=user-fqdn:br@example.net \
    secret="a \"quoted\" secret" comment="psk identity"
add auth-method=eap-radius certificate=server-cert generate-policy=port-strict mode-config=rw-cfg \
    peer=any-peer policy-template-group=clients remote-id=ignore match-by=certificate \
    remote-certificate=client-ca notrack-chain=prerouting
add auth-method=eap eap-methods=eap-mschapv2,eap-tls password=p4ss username=alice peer=v6 \
    my-id=address:2001:db8::1 remote-id=key-id:abc disabled=yes
add auth-method=pre-shared-key-xauth secret=0xdeadbeef peer=v6 my-id=dn:CN=gw generate-policy=port-override \
    policy-template-group=none mode-config=request-only
/ip ipsec policy
set 0 dst-address=0.0.0.0/0 src-address=0.0.0.0/0 group=clients
add action=encrypt comment="lan to branch" dst-address=10.2.0.0/24 level=unique peer=branch proposal=fast \
    sa-dst-address=192.0.2.10 sa-src-address=192.0.2.1 src-address=10.1.0.0/24 tunnel=yes
add action=discard dst-address=10.3.0.0/16 dst-port=80 protocol=tcp src-address=10.1.0.0/24 src-port=1024 \
    disabled=yes
add action=none dst-address=10.4.0.0/16 protocol=47 src-address=10.1.0.0/24 ipsec-protocols=ah level=use
add dst-address=10.8.0.0/24 group=clients proposal=fast src-address=10.1.0.0/24 template=yes
/ip ipsec key psk
add id=client-key-id-0001 key=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\
0011223344556677\
8899aabbccddeeff00112233445566778899aabbccddeeff peer=branch
/ip ipsec settings
set accounting=no interim-update=5m xauth-use-radius=yes ddos-cookie-threshold=500 eap-local-users=yes
/ip ipsec key qkd
set enabled=yes kme-id=kme1 peer-sae-id=sae2 address=qkd.example certificate=qkd-cert cache-size=8 \
    key-size=256
/ip ipsec user
add address=10.5.9.7 comment="xauth user" disabled=yes name=alice password=wonder
/radius
add accounting-backup=yes accounting-port=1646 address=10.5.9.1 authentication-port=1645 called-id=gw \
    comment="user manager" disabled=yes domain=example.net realm=corp secret=radsecret \
    service=ipsec,ppp src-address=10.5.9.2 timeout=1s500ms
/user group
add name=ops policy=read,write,api,rest-api skin=ops comment="automation"
/user
add name=robot group=ops password=s3cret address=10.0.0.0/8,::1 comment="ansible" disabled=yes
/ip service
set api-ssl port=18729 address=10.0.0.0/8 certificate=api-cert tls-version=only-1.2 max-sessions=4 vrf=main \
    comment="automation" disabled=no
set www vrf=mgmt
"""


def everything(session: Session) -> dict[str, object]:
    out: dict[str, object] = {}
    for path in EXPORT_ORDER:
        out[path] = json.loads(session.execute(f"{path} print show-sensitive", True).stdout)
    return out


def round_trip(script: str, sensitive: bool = True) -> tuple[str, str, Config, Config]:
    first = open_config(None)
    first.import_script(script, "in.rsc")
    exported = Session(first).execute("/export" + (" show-sensitive" if sensitive else "")).stdout
    second = open_config(None)
    second.import_script(exported, "export.rsc")
    again = Session(second).execute("/export" + (" show-sensitive" if sensitive else "")).stdout
    return unfolded(exported), unfolded(again), first, second


def unfolded(export: str) -> str:
    """The export with RouterOS's 80-column folds joined, so assertions see whole lines."""
    return "".join(line + "\n" for _, line in logical_lines(export))


def test_manual_examples_round_trip() -> None:
    exported, again, first, second = round_trip(MANUAL)
    assert exported == again
    a, b = everything(Session(first)), everything(Session(second))
    for (
        path
    ) in EXPORT_ORDER:  # the same objects with the same values, order, comments, flags (ids may differ)
        strip = lambda rows: [{k: v for k, v in r.items() if k != ".id"} for r in rows]  # noqa: E731
        assert strip(a[path]) == strip(b[path]), path  # type: ignore[arg-type]
    assert "policy\nset 0 dst-address=0.0.0.0/0 group=clients src-address=0.0.0.0/0" in exported
    assert (
        "set [ find default=yes ] dh-group=modp2048 dpd-interval=disable-dpd enc-algorithm=aes-256,aes-128"
        in exported
    )
    assert 'comment="lan to branch"' in exported and "disabled=yes" in exported


def test_manual_examples_cover_every_writable_property() -> None:
    config = open_config(None)
    config.import_script(MANUAL, "in.rsc")
    exported = unfolded(Session(config).execute("/export show-sensitive").stdout)
    sections: dict[str, str] = {}
    current = ""
    for line in exported.splitlines():
        if line.startswith("/"):
            current = line
        else:
            sections[current] = sections.get(current, "") + " " + line
    for path in EXPORT_ORDER:
        menu = MENUS[path]
        for prop in menu.writable:
            if isinstance(prop.type, Ref) and prop.type.menu not in EXPORT_ORDER:
                continue  # keys (identity key/remote-key) are never exported, as on RouterOS: see below
            assert f" {prop.name}=" in sections.get(path, ""), (path, prop.name)


def test_identity_key_references_round_trip_where_the_keys_exist() -> None:
    keys = ("/ip ipsec key generate-key name=mine key-size=1024\n"
            "/ip ipsec key generate-key name=theirs key-size=1024\n")
    first = open_config(None)
    first.import_script(
        keys + "/ip ipsec peer add name=p\n"
        "/ip ipsec identity add auth-method=rsa-key key=mine remote-key=theirs peer=p\n",
        "k.rsc",
    )
    exported = Session(first).execute("/export").stdout
    assert "add auth-method=rsa-key key=mine peer=p remote-key=theirs" in exported
    assert "PRIVATE" not in exported and "/ip ipsec key\n" not in exported
    second = open_config(None)
    with pytest.raises(ScriptError):  # dangling references are refused ...
        second.import_script(exported, "export.rsc")
    second.import_script(keys, "keys.rsc")  # ... and fine once the keys exist
    second.import_script(exported, "export.rsc")
    assert Session(second).execute("/export").stdout == exported


def test_export_without_secrets_omits_them() -> None:
    exported, again, _, _ = round_trip(MANUAL, sensitive=False)
    assert exported == again
    assert "secret" not in exported and "password" not in exported and "0xdeadbeef" not in exported
    assert "ppk-secret" not in exported and "key=00112233" not in exported


def test_moved_default_policy_round_trips() -> None:
    script = ("/ip ipsec policy\nadd src-address=10.1.0.0/24 dst-address=10.2.0.0/24\n"
              "add src-address=10.3.0.0/24 dst-address=10.4.0.0/24\nmove 0 destination=2\n")
    exported, again, _first, second = round_trip(script)
    assert exported == again
    assert "move [ find default=yes ] destination=2" in exported
    order = [r["src-address"] for r in second.snapshot().rows("/ip ipsec policy")]
    assert [str(x) for x in order] == ["10.1.0.0/24", "::/0", "10.3.0.0/24"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_scripts_import_and_round_trip(path: Path) -> None:
    exported, again, first, _ = round_trip(path.read_text())
    assert exported == again
    assert first.snapshot().rows("/ip ipsec peer")


def _choice_props(path: str) -> list[tuple[str, tuple[str, ...]]]:
    from ipsecd.mgmt.values import Bool, Enum, EnumList

    menu = MENUS[path]
    return [(p.name, p.type.choices) for p in menu.writable if isinstance(p.type, Enum | EnumList | Bool)]


@st.composite
def random_scripts(draw: st.DrawFn) -> str:
    lines = []
    for path, n in (("/ip ipsec profile", 2), ("/ip ipsec proposal", 2), ("/ip ipsec peer", 3)):
        lines.append(path)
        for i in range(draw(st.integers(0, n))):
            pairs = [f"name={path.split()[-1]}{i}"]
            for name, choices in _choice_props(path):
                if draw(st.booleans()):
                    pairs.append(f"{name}={draw(st.sampled_from(choices))}")
            if MENUS[path].has_comment and draw(st.booleans()):
                pairs.append(f"comment={quote(draw(st.text(min_size=1, max_size=8)))}")
            lines.append("add " + " ".join(pairs))
    lines.append("/ip ipsec policy")
    for i in range(draw(st.integers(0, 4))):
        pairs = [f"src-address=10.{i}.0.0/16", f"dst-address=10.{i + 100}.0.0/16"]
        for name, choices in _choice_props("/ip ipsec policy"):
            if draw(st.booleans()):
                pairs.append(f"{name}={draw(st.sampled_from(choices))}")
        place = draw(st.integers(0, i + 1))
        lines.append("add " + " ".join(pairs) + (f" place-before={place}" if place <= i else ""))
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(random_scripts())
def test_random_configurations_round_trip(script: str) -> None:
    exported, again, first, second = round_trip(script)
    assert exported == again
    order = lambda c: [r.text("src-address") for r in c.snapshot().rows("/ip ipsec policy")]  # noqa: E731
    assert order(first) == order(second)
