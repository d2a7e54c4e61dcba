"""Logging users in for the API protocol and REST: ``/user`` rows, scrypt hashes, failure limits.

A login names a user and a password and comes from a source address over a service. It succeeds
when the user exists and is enabled, the source lies in the user's ``address`` list (when set), the
group grants the service's policy (``api`` for the API protocol, ``rest-api`` for REST) and the
password matches its stored hash.

Failures are logged with the source address and the (escaped) name, and limited per source: after
:data:`MAX_FAILURES` failures within :data:`WINDOW` seconds a source is refused without a password
check until the window has passed, and its further failures are not logged line by line. The
per-source record is a :class:`~ipsecd.util.bounded.BoundedCache`, so spoofed or many sources cost
a fixed amount of memory.

Checking a scrypt hash costs ~50 ms on purpose; REST sends the password with every request, so a
successful check is remembered (keyed by an HMAC of name and password under a key that lives only
in this process, never the password itself) for as long as the stored hash does not change.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from ipsecd.mgmt.model import Config
from ipsecd.mgmt.passwords import check_password, hash_password
from ipsecd.util.bounded import BoundedCache

from .backend import User

log = logging.getLogger("ipsecd.api")

MAX_FAILURES = 5
WINDOW = 60.0  # seconds
SOURCES = 4096  # sources remembered
SERVICE_POLICY = {"api": "api", "api-ssl": "api", "www": "rest-api", "www-ssl": "rest-api"}


class LoginRefused(Exception):
    """The login failed; ``str()`` is what the client is told (the same for every cause)."""


@dataclass(slots=True)
class _Failures:
    count: int = 0


def _escape(text: str) -> str:
    """A name as a client sent it, safe on one log line."""
    return ascii(text)[1:-1]


class Authenticator:
    def __init__(self, config: Config, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._failures: BoundedCache[str, _Failures] = BoundedCache(SOURCES, WINDOW, clock=clock)
        self._verified: BoundedCache[bytes, str] = BoundedCache(256)
        self._key = os.urandom(32)
        self.failed = 0  # logins refused, for the metrics
        self._decoy_hash: str | None = None

    async def login(self, name: str, password: str, source: str, service: str) -> User:
        """The user, or :class:`LoginRefused` (see the module docstring).

        Runs on the event loop, which alone touches the per-source records and the cache; only the
        scrypt check (~50 ms) goes to a worker thread."""
        fails = self._failures.peek(source)
        if fails is not None and fails.count >= MAX_FAILURES:
            self._refused(source, name, "too many failed logins")
        found = self._lookup(name, source, service)
        if found is None:  # as slow as a real check: which names exist does not show in the timing
            await asyncio.to_thread(self._decoy_check, password)
            self._refused(source, name, "invalid user name or password")
        policies, stored = found
        key = hmac.new(self._key, f"{name}\0{password}".encode(), hashlib.sha256).digest()
        if self._verified.get(key) != stored:
            if not await asyncio.to_thread(check_password, stored or None, password):
                self._refused(source, name, "invalid user name or password")
            self._verified[key] = stored
        return User(name, policies)

    def _refused(self, source: str, name: str, why: str) -> NoReturn:
        self.failed += 1
        fails = self._failures.get(source)
        if fails is None:
            fails = self._failures[source] = _Failures()
        fails.count += 1
        if fails.count <= MAX_FAILURES:
            log.warning("login failure for user %s from %s: %s", _escape(name), source, why)
        if fails.count == MAX_FAILURES:
            log.warning("%d failed logins from %s: refusing it for %d s without logging each", fails.count,
                        source, WINDOW)
        raise LoginRefused("invalid user name or password (6)")

    def _decoy_check(self, password: str) -> None:
        if self._decoy_hash is None:
            self._decoy_hash = hash_password(os.urandom(16).hex())
        check_password(self._decoy_hash, password)

    def _lookup(self, name: str, source: str, service: str) -> tuple[frozenset[str], str] | None:
        """(the group's policies, the stored hash or "") of an enabled user who may use ``service``
        from ``source``; None otherwise."""
        snap = self.config.snapshot()
        row = next((r for r in snap.rows("/user") if r.text("name") == name), None)
        if row is None or row.disabled:
            return None
        allowed = row["address"]
        if allowed:
            addr = ipaddress.ip_address(source)
            if not any(addr in net for net in allowed):
                return None
        group = next((g for g in snap.rows("/user group") if g.text("name") == row.text("group")), None)
        policies = frozenset(group["policy"] or ()) if group is not None else frozenset()
        if SERVICE_POLICY.get(service, service) not in policies:
            return None
        return policies, row.text("password") or ""
