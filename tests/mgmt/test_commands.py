"""The structured command layer (DESIGN.md §3): calls in, rows/ids/values or typed errors out."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ipsecd.mgmt import Config, Session, Snapshot
from ipsecd.mgmt.commands import Call, Commands
from ipsecd.mgmt.errors import NoSuchItem, UnknownProperty
from ipsecd.mgmt.where import All, Compare, Not, Truthy

from .conftest import run_ok

SETUP = """/ip ipsec profile add name=p1 dpd-interval=30s
/ip ipsec peer
add name=a address=10.0.0.1/32 port=4500 comment=first
add name=b address=192.168.5.9/32 passive=yes
add name=c address=2001:db8::1/128 local-address=10.9.9.9
/ip ipsec identity add peer=a secret=PSKsecret
/ip ipsec policy
add src-address=10.1.0.0/24 dst-address=10.2.0.0/24 peer=a tunnel=yes protocol=gre
add src-address=172.16.0.0/16 dst-address=10.200.0.0/16 peer=b tunnel=yes
"""


@pytest.fixture
def loaded(config: Config) -> Config:
    config.import_script(SETUP, "setup.rsc")
    return config


def commands(config: Config) -> Commands:
    from ipsecd.mgmt.model import Txn

    return Commands(Txn(config.state, config.next_num))


def test_print_gives_rows_not_text(loaded: Config) -> None:
    out = commands(loaded).call(Call("/ip ipsec peer", "print"))
    assert out.rows is not None
    assert [r.values["name"] for r in out.rows] == ["a", "b", "c"]
    assert out.rows[0].comment == "first" and out.rows[1].values["passive"] == "yes"


def test_find_and_get_are_what_find_and_get_expressions_evaluate_to(loaded: Config) -> None:
    ex = commands(loaded)
    ids = ex.find("/ip ipsec peer", Compare("port", "=", "4500"))
    assert ids == [loaded.state["/ip ipsec peer"][0].id]
    assert ex.get("/ip ipsec peer", Compare("name", "=", "b"), "address") == "192.168.5.9/32"
    assert ex.get("/ip ipsec peer", "c", "local-address") == "10.9.9.9"
    assert ex.get("/ip ipsec peer", "a", "profile") == "default"  # defaults filled in
    whole = ex.get("/ip ipsec peer", "0", None)
    assert isinstance(whole, dict) and whole["name"] == "a" and whole["comment"] == "first"
    assert ex.get("/ip ipsec settings", None, "accounting") == "yes"
    with pytest.raises(NoSuchItem):
        ex.get("/ip ipsec peer", All(()), "address")  # three items: get needs one
    with pytest.raises(UnknownProperty):
        ex.get("/ip ipsec peer", "a", "no-such")


def test_add_returns_the_new_id_and_writes_in_the_transaction(config: Config) -> None:
    with config.transaction() as txn:
        out = Commands(txn).call(Call("/ip ipsec peer", "add", args={"name": "x", "address": "1.2.3.4"}))
    assert out.ids == [config.state["/ip ipsec peer"][-1].id]
    assert config.snapshot().rows("/ip ipsec peer")[-1]["name"] == "x"


def test_conditions_cannot_test_hidden_values(loaded: Config, session: Session) -> None:
    """Issue 17 finding 10: ``where secret~"^PSK"`` was a regular-expression oracle on a hidden secret."""
    for line in ('/ip ipsec identity print where secret~"^PSK"', '/ip ipsec identity print where secret="x"',
                 "/ip ipsec identity print where secret", '/ip ipsec identity find secret~"^P"',
                 '/ip ipsec identity set [ find secret~"^PSK" ] comment=hit'):
        res = session.execute(line)
        assert res.rc == 1 and "secret is a hidden value" in res.stderr, line
        assert res.stdout == ""
    with pytest.raises(UnknownProperty):
        commands(loaded).find("/ip ipsec identity", Not(Truthy("secret")))


@pytest.mark.parametrize(("cond", "names"), [
    ("address in 10.0.0.0/8", "a"),
    ("address in 2001:db8::/32", "c"),
    ("address in 0.0.0.0/0", "a,b"),
    ('name~"^[ab]$"', "a,b"),
    ("!passive", "a,c"),
    ("not passive", "a,c"),
    ("passive or port=4500", "a,b"),
    ("port>500", "a"),
    ("port<4500", "b,c"),
    ("port>=500 and port<=500", "b,c"),
    ("(name=a or name=b) and !(port=4500)", "b"),
    ("!(name=a or name=b)", "c"),
    ("not (passive or port=4500) or name=a", "a,c"),
    ("comment=first", "a"),
    ("disabled=no and !disabled", "a,b,c"),
])
def test_print_where_operators(loaded: Config, session: Session, cond: str, names: str) -> None:
    out = run_ok(session, f"/ip ipsec peer print as-value proplist=name where {cond}")
    assert ",".join(line.split("name=")[1] for line in out.splitlines()) == names


def test_where_compares_times_and_canonical_values(loaded: Config, session: Session) -> None:
    assert run_ok(session, "/ip ipsec profile print as-value proplist=name where dpd-interval<1m").endswith(
        ";name=p1\n"
    )
    assert run_ok(session, "/ip ipsec profile print as-value proplist=name where dpd-interval>1m").endswith(
        ";name=default\n"
    )
    assert run_ok(session, "/ip ipsec profile print count-only where dpd-interval=30") == "1\n"
    assert run_ok(session, "/ip ipsec policy print count-only where src-address in 10.0.0.0/8") == "1\n"
    assert run_ok(session, "/ip ipsec policy print count-only where dst-address in 10.0.0.0/8") == "2\n"


def test_listener_runs_on_its_own_thread_when_a_command_comes_from_another(loaded: Config) -> None:
    """A command from another thread (REST, a control client) hands the change to the daemon's loop."""
    seen: list[tuple[int, int]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def changed(snap: Snapshot) -> None:
            seen.append((threading.get_ident(), snap.version))
            done.set()

        loaded.add_listener(changed, dispatch=loop.call_soon_threadsafe)
        worker = threading.Thread(target=lambda: Session(loaded).execute("/ip ipsec peer set a port=600"))
        worker.start()
        await asyncio.wait_for(done.wait(), 5)
        worker.join()
        run_ok(Session(loaded), "/ip ipsec peer set a port=700")  # on the loop's thread: at once
        assert len(seen) == 2

    asyncio.run(main())
    me = threading.get_ident()
    assert [t for t, _ in seen] == [me, me]
    assert seen[1][1] == seen[0][1] + 1


def test_session_only_renders(loaded: Config, session: Session) -> None:
    """The console and ``exec --json`` show the same outcome."""
    text = run_ok(session, "/ip ipsec peer get [ find name=b ] address")
    assert text == "192.168.5.9/32\n"
    assert run_ok(session, "/ip ipsec peer get b address", as_json=True).strip().startswith("[")
    ids = run_ok(session, "/ip ipsec peer find where passive")
    assert ids.strip() == loaded.state["/ip ipsec peer"][1].id
