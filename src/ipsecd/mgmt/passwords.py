"""Users, groups and services (``/user``, ``/user group``, ``/ip service``): their vocabulary and passwords.

The menus themselves sit in :mod:`.schema` with every other one (issue 14); this module holds what
they need that is not a menu: the policy words, the service table and the password hashing.

The menus are RouterOS's, so a whole-router export that configures services and users imports
unchanged. ``/ip service`` has RouterOS's fixed rows (one per service; they are set, enabled and
disabled, never added or removed); ipsecd serves ``api``, ``api-ssl``, ``www`` (REST over HTTP) and
``www-ssl`` (REST over HTTPS) and only stores ``telnet``, ``ssh``, ``winbox`` and ``ftp``. Unlike a
router fresh from the factory every service starts disabled: a daemon that opened management ports
nobody asked for would surprise; ``/ip service enable api`` turns one on.

Passwords are kept only as salted scrypt hashes (RFC 7914): :class:`PasswordHash` turns the text a
user writes into ``$scrypt$ln=14,r=8,p=1$<salt>$<hash>``, so neither the store, ``print`` nor
``export show-sensitive`` ever holds the password itself. Text already in that form is kept as it
is, so an ``export show-sensitive`` imports back with the same passwords.

``/user group`` carries RouterOS's policy words; ipsecd gives them this meaning: ``read`` may print,
``write`` may change configuration, ``policy`` may change ``/user``, ``/user group`` and
``/ip service``, ``sensitive`` sees secrets, ``api`` may log in over the API protocol, ``rest-api``
over REST. The factory groups are RouterOS's ``read``, ``write`` and ``full``; the factory user is
``admin`` in ``full`` with *no password*, as on a router — set one before enabling a service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from .values import ValueParseError, ValueType

#: RouterOS's user group policies (``/user group policy``).
POLICIES = ("api", "dude", "ftp", "local", "password", "policy", "read", "reboot", "rest-api", "romon",
            "sensitive", "sniff", "ssh", "telnet", "test", "web", "winbox", "write")
_READ = ("api", "ftp", "local", "password", "read", "reboot", "rest-api", "romon", "sniff", "ssh", "telnet",
         "test", "web", "winbox")
#: RouterOS's factory groups and their policies.
FACTORY_GROUPS = (("read", _READ), ("write", (*_READ, "write")),
                  ("full", tuple(p for p in POLICIES if p != "dude")))

#: (service, RouterOS's port); the first four are served by ipsecd, the others only stored.
SERVICES = (("api", 8728), ("api-ssl", 8729), ("www", 80), ("www-ssl", 443), ("ftp", 21), ("ssh", 22),
            ("telnet", 23), ("winbox", 8291))
SERVED = ("api", "api-ssl", "www", "www-ssl")

_SCRYPT_LOG_N, _SCRYPT_R, _SCRYPT_P = 14, 8, 1
_HASHED = re.compile(
    r"\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/=]{1,64})\$([A-Za-z0-9+/=]{1,128})"
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The stored form of ``password``: scrypt with a fresh 16-octet salt."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=1 << _SCRYPT_LOG_N, r=_SCRYPT_R,
                            p=_SCRYPT_P, maxmem=64 * 1024 * 1024, dklen=32)
    return f"$scrypt$ln={_SCRYPT_LOG_N},r={_SCRYPT_R},p={_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant-time compare).

    No stored hash means the empty password (RouterOS's factory ``admin``)."""
    if stored is None:
        return hmac.compare_digest(password.encode("utf-8"), b"")
    m = _HASHED.fullmatch(stored)
    if m is None:
        return False
    ln, r, p = int(m[1]), int(m[2]), int(m[3])
    if not (10 <= ln <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    salt, want = base64.b64decode(m[4]), base64.b64decode(m[5])
    got = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=1 << ln, r=r, p=p,
                         maxmem=256 * 1024 * 1024, dklen=len(want))
    return hmac.compare_digest(got, want)


class PasswordHash(ValueType):
    """A password, kept as its salted hash (see the module docstring)."""

    def parse(self, text: str) -> str:
        if len(text) > 256:
            raise ValueParseError(self.describe())
        return text if _HASHED.fullmatch(text) else hash_password(text)

    def describe(self) -> str:
        return "string of 0..256 characters"
