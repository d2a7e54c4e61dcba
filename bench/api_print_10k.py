"""``print`` of 10,000 policies over the RouterOS API protocol and over REST, in requests per second.

The servers run in-process on loopback (a thread with its own event loop, as ``ipsecd run`` has one);
the client is a plain socket speaking the API protocol, and ``urllib`` for REST. The anchor, measured
in the same run, is the same ``print`` through mgmt's command layer without any protocol (what the
console's ``exec --json`` path costs), so the ratio shows what framing, HTTP and JSON add.
Usage: .venv/bin/python bench/api_print_10k.py [N]
"""

from __future__ import annotations

import base64
import socket
import sys
import time
import urllib.request
from pathlib import Path

from ipsecd.daemon.api.backend import Backend, Request, User
from ipsecd.daemon.api.server import ApiOptions, ApiServers
from ipsecd.daemon.api.words import SentenceReader, encode_sentence
from ipsecd.mgmt import open_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.daemon.api.conftest import free_port, serve_in_thread


def api_print(port: int, rounds: int) -> float:
    sock = socket.create_connection(("127.0.0.1", port))
    reader = SentenceReader()

    def talk(*words: str) -> int:
        sock.sendall(encode_sentence(words))
        n = 0
        while True:
            for s in reader.feed(sock.recv(1 << 20)):
                n += 1
                if s[0] == "!done":
                    return n

    talk("/login", "=name=admin", "=password=pw")
    start = time.perf_counter()
    for _ in range(rounds):
        talk("/ip/ipsec/policy/print")
    return (time.perf_counter() - start) / rounds


def rest_print(port: int, rounds: int) -> float:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/rest/ip/ipsec/policy",
                                 headers={"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()})
    start = time.perf_counter()
    for _ in range(rounds):
        with urllib.request.urlopen(req) as resp:
            resp.read()
    return (time.perf_counter() - start) / rounds


def main(n: int) -> None:
    config = open_config(None)
    lines = ["/user set admin password=pw", "/ip ipsec peer add name=p", "/ip ipsec policy"]
    lines += [
        f"add peer=p src-address=172.16.0.0/16 dst-address=10.{i // 65536}.{i // 256 % 256}.{i % 256}/32 "
        "tunnel=yes"
        for i in range(n)
    ]
    api_port, www_port = free_port(), free_port()
    lines += [
        f"/ip service set api disabled=no port={api_port}",
        f"/ip service set www disabled=no port={www_port}",
    ]
    config.import_script("\n".join(lines) + "\n", "bench.rsc")
    backend = Backend(config)
    user = User("admin", frozenset({"read", "write", "sensitive"}))
    start = time.perf_counter()
    backend.run(user, Request("/ip ipsec policy", "print"))
    anchor = time.perf_counter() - start
    serve_in_thread(ApiServers(config, backend, ApiOptions(("127.0.0.1",))))
    api = api_print(api_port, 3)
    rest = rest_print(www_port, 3)
    print(f"command layer print of {n} policies: {anchor * 1000:.0f} ms (anchor)")
    print(
        f"REST GET /rest/ip/ipsec/policy: {rest * 1000:.0f} ms = {1 / rest:.2f} requests/s "
        f"({rest / anchor:.2f}x the anchor)"
    )
    print(
        f"API /ip/ipsec/policy/print: {api * 1000:.0f} ms = {1 / api:.2f} requests/s "
        f"({api / anchor:.2f}x the anchor)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
