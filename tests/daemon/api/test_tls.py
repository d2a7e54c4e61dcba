"""``api-ssl``/``www-ssl`` with a certificate of the certificate store (issue 14): ``/ip service set
www-ssl certificate=NAME`` as on RouterOS. A client trusting only the store's CA verifies the chain
and the host name; a name with no certificate is refused at ``set``; a certificate without its key
is not served (one log line, no listener)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ipsecd.daemon.api.backend import Backend
from ipsecd.daemon.api.server import ApiOptions, ApiServers
from ipsecd.daemon.api.tls import generate_pem
from ipsecd.mgmt import Config, Session, open_config
from ipsecd.pki.store import CertificateStore

from .conftest import free_port, serve_in_thread


class Runtime:
    """The daemon's runtime as mgmt sees it: no live rows, the certificate store."""

    def __init__(self, store: CertificateStore) -> None:
        self.certificates = store

    def rows(self, menu: str) -> list[dict[str, object]]:
        return []

    def command(self, menu: str, name: str, args: dict[str, str]) -> str:
        return ""


@dataclass
class Served:
    config: Config
    session: Session
    servers: ApiServers
    loop: asyncio.AbstractEventLoop
    ca_pem: str
    ports: dict[str, int]

    def run(self, line: str) -> str:
        res = self.session.execute(line)
        assert res.rc == 0, res.stderr
        return res.stdout


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    store = CertificateStore(tmp_path / "certificates")
    config = open_config(None)
    session = Session(config, Runtime(store))
    for line in (
        "/certificate add name=ca common-name=ca key-usage=key-cert-sign,crl-sign",
        "/certificate sign ca",
        "/certificate add name=gw common-name=gw.example.com subject-alt-name=DNS:gw.example.com "
        "key-type=ec key-size=prime256v1",
        "/certificate sign gw ca=ca",
    ):
        assert session.execute(line).rc == 0, line
    ports = {name: free_port() for name in ("www-ssl", "api-ssl")}
    servers = ApiServers(config, Backend(config), ApiOptions(("127.0.0.1",)), certificates=store)
    loop, thread = serve_in_thread(servers)
    ca_pem = store.certificate("ca").public_bytes(Encoding.PEM).decode()
    yield Served(config, session, servers, loop, ca_pem, ports)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _handshake(port: int, ca_pem: str) -> list[tuple[str, str]]:
    """The verified server certificate's subject (name, value) pairs."""
    ctx = ssl.create_default_context(cadata=ca_pem)  # trusts the store's CA only; checks the name
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="gw.example.com") as tls,
    ):
        cert = tls.getpeercert()
    assert cert is not None
    return [pair for rdn in cert["subject"] for pair in rdn]  # type: ignore[misc]


def _wait_port(served: Served, name: str, up: bool) -> None:
    for _ in range(100):
        if (name in served.servers.ports()) == up:
            return
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.02), served.loop).result(5)
    raise AssertionError(f"{name} {'not listening' if up else 'still listening'}")


def test_service_serves_the_named_certificate_of_the_store(served: Served) -> None:
    for name in ("www-ssl", "api-ssl"):
        served.run(f"/ip service set {name} disabled=no port={served.ports[name]} certificate=gw")
        _wait_port(served, name, True)
        assert ("commonName", "gw.example.com") in _handshake(served.ports[name], served.ca_pem)
    out = served.run("/ip service print where name=www-ssl")
    assert " gw " in out


def test_generated_certificate_is_not_trusted_by_the_store_ca(served: Served) -> None:
    served.run(f"/ip service set www-ssl disabled=no port={served.ports['www-ssl']}")  # certificate=none
    _wait_port(served, "www-ssl", True)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(served.ports["www-ssl"], served.ca_pem)


def test_unknown_certificate_refused_and_keyless_one_not_served(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    res = served.session.execute("/ip service set www-ssl certificate=nosuch")
    assert res.rc == 1
    assert res.stderr == (
        "/ip service www-ssl: certificate=nosuch: no such certificate; import it first "
        "(/certificate import) or add and sign it\n"
    )
    assert served.run("/ip service get www-ssl certificate") == "none\n"
    store = served.servers.certificates
    assert store is not None
    bare = "bare"  # a certificate without its private key
    store.import_bytes(x509.load_pem_x509_certificate(generate_pem()).public_bytes(Encoding.PEM), "", bare)
    with caplog.at_level(logging.ERROR, "ipsecd.api"):
        served.run(f"/ip service set www-ssl disabled=no port={served.ports['www-ssl']} certificate={bare}")
        for _ in range(100):
            if any("not listening" in r.getMessage() for r in caplog.records):
                break
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0.02), served.loop).result(5)
    assert "www-ssl" not in served.servers.ports()
    (line,) = [r.getMessage() for r in caplog.records if "not listening" in r.getMessage()]
    assert line.startswith(f"/ip service www-ssl: certificate={bare}: ") and "private key" in line


def test_a_renewed_certificate_is_served_without_a_service_change(served: Served) -> None:
    """Issue 14: ``/certificate import name=gw`` of a new certificate (with its key) renews ``gw`` in
    the store; the running www-ssl serves it from the next handshake, with no /ip service change."""
    port = served.ports["www-ssl"]
    served.run(f"/ip service set www-ssl disabled=no port={port} certificate=gw")
    _wait_port(served, "www-ssl", True)
    assert ("commonName", "gw.example.com") in _handshake(port, served.ca_pem)
    served.run(
        "/certificate add name=next common-name=gw2.example.com subject-alt-name=DNS:gw.example.com "
        "key-type=ec key-size=prime256v1"
    )
    served.run("/certificate sign next ca=ca")
    store = served.servers.certificates
    assert store is not None
    p12 = store.export("next", "pkcs12", "renewal-pass")["next.p12"]
    served.run("/certificate remove next")
    assert store.import_bytes(p12, "renewal-pass", "gw").certificates == ["gw"]
    assert ("commonName", "gw2.example.com") in _handshake(port, served.ca_pem)
    # a client that sends no server name (it connects by address) gets the renewed one too
    ctx = ssl.create_default_context(cadata=served.ca_pem)
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        cert = tls.getpeercert()
    assert cert is not None and (("commonName", "gw2.example.com"),) in cert["subject"]
