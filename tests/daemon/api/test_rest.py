"""REST the way RouterOS's documentation drives it: Basic auth, JSON strings, every verb."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from .conftest import Running


def rest(running: Running, method: str, path: str, body: object = None, user: str = "admin:adminpw",
         service: str = "www") -> tuple[int, object]:
    scheme = "https" if service == "www-ssl" else "http"
    req = urllib.request.Request(
        f"{scheme}://127.0.0.1:{running.ports[service]}/rest{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": "Basic " + base64.b64encode(user.encode()).decode(),
            "Content-Type": "application/json",
        },
    )
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx if scheme == "https" else None) as resp:
            data = resp.read()
            return resp.status, json.loads(data) if data else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_every_verb(running: Running) -> None:
    status, peer = rest(running, "PUT", "/ip/ipsec/peer", {"name": "gw", "address": "192.0.2.1",
                                                            "exchange-mode": "ike2", "passive": False})
    assert status == 200 and isinstance(peer, dict)
    assert peer["name"] == "gw" and peer["address"] == "192.0.2.1/32" and peer["passive"] == "false"
    pid = peer[".id"]
    assert rest(running, "GET", f"/ip/ipsec/peer/{pid}")[1] == peer
    assert rest(running, "GET", "/ip/ipsec/peer/gw")[1] == peer  # names where RouterOS accepts them
    status, changed = rest(running, "PATCH", f"/ip/ipsec/peer/{pid}", {"port": 4500})
    assert status == 200 and isinstance(changed, dict) and changed["port"] == "4500"
    assert rest(running, "GET", "/ip/ipsec/peer?name=gw&.proplist=name,port")[1] == [
        {"name": "gw", "port": "4500"}
    ]
    assert rest(running, "GET", "/ip/ipsec/peer?name=nope")[1] == []
    status, rows = rest(
        running, "POST", "/ip/ipsec/peer/print", {".proplist": ["name"], ".query": ["port=4500"]}
    )
    assert (status, rows) == (200, [{"name": "gw"}])
    assert rest(running, "POST", "/ip/ipsec/peer/disable", {".id": pid}) == (200, [])
    assert "disabled=yes" in running.console("/ip ipsec peer export")
    assert rest(running, "DELETE", f"/ip/ipsec/peer/{pid}") == (204, None)
    assert rest(running, "GET", f"/ip/ipsec/peer/{pid}")[0] == 404
    status, settings = rest(running, "GET", "/ip/ipsec/settings")
    assert status == 200 and isinstance(settings, dict) and settings["accounting"] == "true"


def test_errors_as_routeros_returns_them_and_nothing_changes(running: Running) -> None:
    before = running.console("/export")
    assert rest(running, "PUT", "/ip/ipsec/peer", {"name": "x", "port": "99999"}) == (400, {
        "error": 400, "message": "Bad Request",
        "detail": '/ip ipsec peer: invalid value for port: "99999" (allowed: integer 0..65535)'})
    assert rest(running, "PATCH", "/ip/ipsec/peer/*77", {"port": "1"})[0] == 404
    assert rest(running, "GET", "/ip/ipsec/nothing")[0] == 400
    assert rest(running, "DELETE", "/ip/ipsec/proposal/default")[1]["detail"] == (  # type: ignore[index]
        "/ip ipsec proposal: cannot remove default item *2")
    assert running.console("/export") == before


def test_authentication_and_permissions(running: Running) -> None:
    assert rest(running, "GET", "/ip/ipsec/peer", user="admin:wrong") == (401, {"error": 401,
                                                                                "message": "Unauthorized"})
    assert rest(running, "GET", "/ip/ipsec/peer", user="reader:readpw") == (200, [])
    status, body = rest(running, "PUT", "/ip/ipsec/peer", {"name": "gw"}, user="reader:readpw")
    assert status == 403 and body == {
        "error": 403,
        "message": "Forbidden",
        "detail": "not enough permissions (9)",
    }
    assert "gw" not in running.console("/ip ipsec peer print")


def test_tls_service(running: Running) -> None:
    status, rows = rest(running, "GET", "/ip/ipsec/proposal?.proplist=name", service="www-ssl")
    assert (status, rows) == (200, [{"name": "default"}])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_as_the_routeros_documentation_shows_it(running: Running) -> None:
    url = f"https://127.0.0.1:{running.ports['www-ssl']}/rest/ip/ipsec/peer"
    out = subprocess.run(["curl", "-sk", "-u", "admin:adminpw", "-X", "PUT", url, "-H",
                          "content-type: application/json", "--data", '{"name":"c1","address":"192.0.2.9"}'],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert json.loads(out)["name"] == "c1"
    out = subprocess.run(["curl", "-sk", "-u", "admin:adminpw", url], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert [p["name"] for p in json.loads(out)] == ["c1"]


def raw_http(running: Running, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", running.ports["www"]), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


@pytest.mark.parametrize("data", [
    b"garbage\r\n\r\n",
    b"GET /rest/ip/ipsec/peer HTTP/1.1\r\nbad header\r\n\r\n",
    b"PUT /rest/ip/ipsec/peer HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
    b"PUT /rest/ip/ipsec/peer HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 2000 + b"\r\n",
])
def test_malformed_requests_are_refused_and_counted(running: Running, data: bytes) -> None:
    got = raw_http(running, data)
    assert got.startswith(b"HTTP/1.1 4") and b"Connection: close" in got
    assert running.servers.counters.malformed == 1


def test_malformed_input_is_logged_once_a_minute_per_source(running: Running,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "ipsecd.api")
    for _ in range(5):
        raw_http(running, b"garbage\r\n\r\n")
    assert running.servers.counters.malformed == 5
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 1


def test_keep_alive_serves_several_requests(running: Running) -> None:
    auth = base64.b64encode(b"admin:adminpw")
    one = b"GET /rest/ip/ipsec/proposal?.proplist=name HTTP/1.1\r\nAuthorization: Basic " + auth + b"\r\n\r\n"
    got = raw_http(running, one + one.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n"))
    assert got.count(b'[{"name":"default"}]') == 2


def test_metrics(running: Running) -> None:
    rest(running, "GET", "/ip/ipsec/peer", user="admin:bad")
    with urllib.request.urlopen(f"http://127.0.0.1:{running.ports['metrics']}/metrics", timeout=10) as resp:
        text = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "ipsecd_xfrm_in_no_states_total 0" in text
    assert "ipsecd_api_failed_logins_total 1" in text


def test_tls_versions_per_service(running: Running) -> None:
    running.console("/ip service set www-ssl tls-version=only-1.3")
    deadline = time.monotonic() + 10
    while True:  # the listener reopens on the configuration change
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        try:
            with socket.create_connection(("127.0.0.1", running.ports["www-ssl"]), timeout=5) as s, \
                    ctx.wrap_socket(s):
                pass
        except (ssl.SSLError, ConnectionError):
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert rest(running, "GET", "/ip/ipsec/proposal?.proplist=name", service="www-ssl")[0] == 200


def test_sessions_are_bounded_per_service(running: Running) -> None:
    idle = [socket.create_connection(("127.0.0.1", running.ports["metrics"]), timeout=10) for _ in range(16)]
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", running.ports["metrics"]), timeout=10) as extra:
            assert extra.recv(100) == b""  # closed at once
        assert running.servers.counters.refused == 1
    finally:
        for s in idle:
            s.close()


def test_export_over_rest(running: Running) -> None:
    rest(running, "PUT", "/ip/ipsec/peer", {"name": "gw"})
    rest(running, "PUT", "/ip/ipsec/identity", {"peer": "gw", "secret": "topsecret"})
    status, body = rest(running, "POST", "/export", {})
    assert status == 200 and isinstance(body, dict) and "/ip ipsec identity" in body["ret"]
    assert "topsecret" not in body["ret"]
    status, body = rest(running, "POST", "/export", {"show-sensitive": True})
    assert isinstance(body, dict) and "secret=topsecret" in body["ret"]
    assert rest(running, "POST", "/export", {"show-sensitive": True}, user="reader:readpw")[0] == 403


def test_menu_commands_move_and_runtime(running: Running) -> None:
    ids = []
    for net in ("10.1.0.0/16", "10.2.0.0/16"):
        status, pol = rest(
            running, "PUT", "/ip/ipsec/policy", {"dst-address": net, "src-address": "10.0.0.0/16"}
        )
        assert status == 200 and isinstance(pol, dict)
        ids.append(pol[".id"])
    assert rest(running, "POST", "/ip/ipsec/policy/move", {"numbers": ids[1], "destination": ids[0]}) == (
        200,
        [],
    )
    status, rows = rest(
        running, "POST", "/ip/ipsec/policy/print", {".proplist": ".id", ".query": ["template=false"]}
    )
    assert rows == [{".id": ids[1]}, {".id": ids[0]}]
    status, body = rest(running, "POST", "/ip/ipsec/active-peers/kill-connections", {})
    assert status == 400 and isinstance(body, dict) and "needs the running daemon" in body["detail"]
    assert rest(running, "GET", "/ip/ipsec/active-peers") == (200, [])


def test_policy_print_leaves_out_group_default_and_template_false(running: Running) -> None:
    """Issue 14: a policy's ``group=default`` and ``template=false`` are not in the API's rows (as
    community.routeros models RouterOS's: both absent-able), so ``api_modify`` can match the default
    template by ``group: default``; ``template=true`` is there, and queries still see both values."""
    status, rows = rest(running, "GET", "/ip/ipsec/policy")
    assert status == 200 and isinstance(rows, list)
    (template,) = [r for r in rows if r.get("template") == "true"]
    assert "group" not in template and template["src-address"] == "::/0"
    status, pol = rest(
        running, "PUT", "/ip/ipsec/policy", {"dst-address": "10.9.0.0/16", "src-address": "10.8.0.0/16"}
    )
    assert status == 200 and isinstance(pol, dict) and "template" not in pol and "group" not in pol
    query = {".proplist": ".id", ".query": ["group=default", "template=false"]}
    assert rest(running, "POST", "/ip/ipsec/policy/print", query) == (200, [{".id": pol[".id"]}])
