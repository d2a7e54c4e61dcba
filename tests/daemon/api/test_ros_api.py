"""The API protocol spoken by hand over a socket: every reply word as RouterOS sends it."""

from __future__ import annotations

import socket
import time

import pytest

from ipsecd.daemon.api import ros_api
from ipsecd.daemon.api.words import SentenceReader, encode_length, encode_sentence

from .conftest import Running


class Raw:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = SentenceReader()
        self.pending: list[list[str]] = []

    def send(self, *words: str) -> None:
        self.sock.sendall(encode_sentence(words))

    def sentence(self) -> list[str]:
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.pending += self.reader.feed(data)
        return self.pending.pop(0)

    def until_done(self) -> list[list[str]]:
        out = []
        while True:
            s = self.sentence()
            out.append(s)
            if s[0] in ("!done", "!fatal"):
                return out

    def talk(self, *words: str) -> list[list[str]]:
        self.send(*words)
        return self.until_done()


@pytest.fixture
def api(running: Running) -> Raw:
    raw = Raw(running.ports["api"])
    assert raw.talk("/login", "=name=admin", "=password=adminpw") == [["!done"]]
    return raw


def test_login_refused_before_and_legacy_challenge_trapped(running: Running) -> None:
    raw = Raw(running.ports["api"])
    assert raw.talk("/ip/ipsec/peer/print")[0][:1] == ["!trap"]
    got = raw.talk("/login")
    assert got[0][0] == "!trap" and "legacy" in got[0][2] and got[1] == ["!done"]
    got = raw.talk("/login", "=name=admin", "=password=wrong")
    assert got == [["!trap", "=category=4", "=message=invalid user name or password (6)"], ["!done"]]
    assert raw.talk("/login", "=name=admin", "=password=adminpw") == [["!done"]]


def test_three_failed_logins_close_the_connection(running: Running) -> None:
    raw = Raw(running.ports["api"])
    for _ in range(2):
        raw.talk("/login", "=name=admin", "=password=no")
    raw.send("/login", "=name=admin", "=password=no")
    assert raw.sentence()[0] == "!trap"
    assert raw.sentence() == ["!done"]
    assert raw.sentence() == ["!fatal", "too many failed logins"]


def test_add_print_set_remove_with_tags_proplist_and_queries(running: Running, api: Raw) -> None:
    got = api.talk("/ip/ipsec/peer/add", "=name=gw1", "=address=192.0.2.1", "=exchange-mode=ike2", ".tag=7")
    assert got[0][0] == "!done" and got[0][1].startswith("=ret=*") and got[0][2] == ".tag=7"
    new_id = got[0][1][len("=ret="):]
    api.talk("/ip/ipsec/peer/add", "=name=gw2", "=address=192.0.2.2", "=passive=true")
    rows = api.talk("/ip/ipsec/peer/print", "=.proplist=.id,name,passive")
    assert rows[:-1] == [["!re", f"=.id={new_id}", "=name=gw1", "=passive=false"],
                         ["!re", "=.id=" + rows[1][1][5:], "=name=gw2", "=passive=true"]]
    assert api.talk("/ip/ipsec/peer/print", "?passive=true", "=.proplist=name")[:-1] == [["!re", "=name=gw2"]]
    assert api.talk("/ip/ipsec/peer/print", "?name=gw1", "?name=gw2", "?#|", "=count-only=") == [
        ["!done", "=ret=2"]]
    assert api.talk("/ip/ipsec/peer/set", f"=.id={new_id}", "=local-address=192.0.2.254") == [["!done"]]
    assert api.talk("/ip/ipsec/peer/disable", "=numbers=gw2") == [["!done"]]
    assert "local-address=192.0.2.254" in running.console("/ip ipsec peer export")
    assert "disabled=yes" in running.console("/ip ipsec peer export")
    assert api.talk("/ip/ipsec/peer/get", f"=.id={new_id}", "=value-name=address") == [
        ["!done", "=ret=192.0.2.1/32"]]
    assert api.talk("/ip/ipsec/peer/remove", f"=.id={new_id}") == [["!done"]]
    assert "gw1" not in running.console("/ip ipsec peer print")


def test_errors_are_traps_with_the_console_message(running: Running, api: Raw) -> None:
    got = api.talk("/ip/ipsec/peer/add", "=name=x", "=port=99999")
    assert got[0][0] == "!trap"
    assert got[0][2] == '=message=/ip ipsec peer: invalid value for port: "99999" (allowed: integer 0..65535)'
    assert got[1] == ["!done"]
    assert api.talk("/ip/ipsec/peer/remove", "=.id=*999")[0][2].startswith(
        "=message=/ip ipsec peer: no such item"
    )
    assert api.talk("/ip/ipsec/nothing/print")[0][0] == "!trap"
    assert api.talk("/ip/ipsec/peer/print", "?#|")[0][0] == "!trap"
    assert api.talk("/ip/ipsec/peer/print", "bogus")[0][0] == "!trap"
    assert api.talk("/ip/ipsec/peer/print") == [["!done"]]  # nothing changed


def test_single_and_runtime_menus(api: Raw) -> None:
    rows = api.talk("/ip/ipsec/statistics/print")
    assert rows[0][0] == "!re" and "=in-no-states=0" in rows[0]
    rows = api.talk("/ip/ipsec/settings/getall")
    assert rows[0][0] == "!re" and "=xauth-use-radius=false" in rows[0]


def test_read_only_user_may_print_but_not_change(running: Running) -> None:
    raw = Raw(running.ports["api"])
    assert raw.talk("/login", "=name=reader", "=password=readpw") == [["!done"]]
    assert raw.talk("/ip/ipsec/proposal/print", "=.proplist=name")[0] == ["!re", "=name=default"]
    got = raw.talk("/ip/ipsec/peer/add", "=name=x")
    assert got[0] == ["!trap", "=category=4", "=message=not enough permissions (9)"]


def test_secrets_only_for_sensitive_users(running: Running, api: Raw) -> None:
    api.talk("/ip/ipsec/peer/add", "=name=gw")
    api.talk("/ip/ipsec/identity/add", "=peer=gw", "=secret=topsecret")
    assert "=secret=topsecret" in api.talk("/ip/ipsec/identity/print")[0]
    raw = Raw(running.ports["api"])
    raw.talk("/login", "=name=writer", "=password=writepw")
    row = raw.talk("/ip/ipsec/identity/print")[0]
    assert row[0] == "!re" and not any(w.startswith("=secret=") for w in row)
    assert raw.talk("/user/add", "=name=evil", "=group=full")[0][2] == "=message=not enough permissions (9)"


def test_listen_streams_changes_until_cancelled(running: Running, api: Raw) -> None:
    api.send("/ip/ipsec/peer/listen", ".tag=L")
    time.sleep(0.1)
    running.console("/ip ipsec peer add name=seen address=198.51.100.1")
    got = api.sentence()
    assert got[0] == "!re" and "=name=seen" in got and ".tag=L" in got
    running.console("/ip ipsec peer remove seen")
    got = api.sentence()
    assert got[0] == "!re" and "=.dead=yes" in got
    api.send("/cancel", "=tag=L", ".tag=C")
    assert [api.sentence() for _ in range(3)] == [
        ["!trap", "=category=2", "=message=interrupted", ".tag=L"], ["!done", ".tag=L"], ["!done", ".tag=C"]]


def test_broken_framing_gets_fatal_and_close(api: Raw) -> None:
    api.sock.sendall(b"\xf9")
    assert api.sentence()[0] == "!fatal"
    with pytest.raises(EOFError):
        api.sentence()


def test_quit_and_a_huge_word_prefix(running: Running, api: Raw) -> None:
    assert api.talk("/quit") == [["!fatal", "session terminated on request"]]
    raw = Raw(running.ports["api"])
    raw.sock.sendall(encode_length(1 << 30))
    assert raw.sentence()[0] == "!fatal"


def test_clients_that_never_log_in_are_closed(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = Raw(running.ports["api"])
    for _ in range(8):
        assert raw.talk("/ip/ipsec/peer/print")[0][:1] == ["!trap"]
    raw.send("/ip/ipsec/peer/print")
    assert raw.sentence() == ["!fatal", "too many commands before login"]
    monkeypatch.setattr(ros_api, "LOGIN_TIMEOUT", 0.2)
    idle = Raw(running.ports["api"])
    assert idle.sentence() == ["!fatal", "not logged in in time"]


def test_export_shows_secrets_only_when_asked_by_a_sensitive_user(running: Running, api: Raw) -> None:
    api.talk("/ip/ipsec/peer/add", "=name=gw")
    api.talk("/ip/ipsec/identity/add", "=peer=gw", "=secret=topsecret")
    (done,) = api.talk("/export")
    assert done[0] == "!done" and "/ip ipsec identity" in done[1] and "topsecret" not in done[1]
    assert "secret=topsecret" in api.talk("/ip/ipsec/identity/export", "=show-sensitive=")[0][1]
    raw = Raw(running.ports["api"])
    raw.talk("/login", "=name=reader", "=password=readpw")
    assert "topsecret" not in raw.talk("/export")[0][1]
    assert raw.talk("/export", "=show-sensitive=")[0][2] == "=message=not enough permissions (9)"
