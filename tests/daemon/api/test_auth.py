from __future__ import annotations

import asyncio
import logging

import pytest

from ipsecd.daemon.api.auth import MAX_FAILURES, WINDOW, Authenticator, LoginRefused
from ipsecd.daemon.api.backend import Backend, User
from ipsecd.daemon.api.server import ApiOptions, ApiServers
from ipsecd.mgmt import open_config

from .conftest import free_port

SETUP = """
/user set admin password=pw
/user add name=net group=full password=pw address=10.0.0.0/8
/user add name=off group=full password=pw disabled=yes
/user group add name=apionly policy=api,read
/user add name=api group=apionly password=pw
"""


def login(a: Authenticator, name: str, password: str, source: str, service: str) -> User:
    return asyncio.run(a.login(name, password, source, service))


@pytest.fixture
def auth() -> tuple[Authenticator, list[float]]:
    config = open_config(None)
    config.import_script(SETUP, "t.rsc")
    now = [0.0]
    return Authenticator(config, clock=lambda: now[0]), now


def test_who_may_log_in_where(auth: tuple[Authenticator, list[float]]) -> None:
    a, _ = auth
    assert login(a, "admin", "pw", "127.0.0.1", "api").policies >= {"read", "write", "sensitive"}
    assert login(a, "net", "pw", "10.1.2.3", "www").name == "net"
    assert login(a, "api", "pw", "127.0.0.1", "api-ssl").policies == {"api", "read"}
    for name, source, service in [("net", "192.0.2.1", "api"), ("off", "127.0.0.1", "api"),
                                  ("api", "127.0.0.1", "www"), ("nobody", "127.0.0.2", "api")]:
        with pytest.raises(LoginRefused):
            login(a, name, "pw", source, service)
    with pytest.raises(LoginRefused):
        login(a, "admin", "wrong", "127.0.0.3", "api")


def test_failures_are_logged_escaped_and_limited_per_source(auth: tuple[Authenticator, list[float]],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    a, now = auth
    caplog.set_level(logging.WARNING, "ipsecd.api")
    for _ in range(MAX_FAILURES + 5):
        with pytest.raises(LoginRefused):
            login(a, "evil\nname", "x", "192.0.2.7", "api")
    assert len(caplog.records) == MAX_FAILURES + 1  # one line each, then one saying it stops
    assert "evil\\nname" in caplog.records[0].getMessage() and "192.0.2.7" in caplog.records[0].getMessage()
    with pytest.raises(LoginRefused):  # the right password does not help while the source is refused
        login(a, "admin", "pw", "192.0.2.7", "api")
    assert login(a, "admin", "pw", "192.0.2.8", "api").name == "admin"  # other sources are not
    now[0] += WINDOW + 1
    assert login(a, "admin", "pw", "192.0.2.7", "api").name == "admin"
    assert a.failed == MAX_FAILURES + 6


def test_an_enabled_service_with_a_passwordless_user_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = open_config(None)
    config.import_script(f"/ip service set api disabled=no port={free_port()}\n", "t.rsc")
    caplog.set_level(logging.WARNING, "ipsecd.api")
    servers = ApiServers(config, Backend(config), ApiOptions(("127.0.0.1",)))

    async def once() -> None:
        await servers.apply(config.snapshot())
        await servers.close()

    asyncio.run(once())
    assert any("/user admin: no password" in r.getMessage() for r in caplog.records)
