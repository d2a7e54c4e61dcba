"""FreeRADIUS-in-a-namespace harness (root only, stdlib only) for the RADIUS and EAP interop tests.

``FreeRadius(prefix)`` makes a network namespace ``<prefix><pid>`` with only its loopback up, copies
Debian's ``/etc/freeradius/3.0`` into a private directory owned by ``freerad`` (the daemon drops to
that user), and changes what the tests need:

* ``clients.conf``: one client, 127.0.0.1, with ``require_message_authenticator = yes`` (Debian's
  3.2.1 predates the Blast-RADIUS defaults, so the test turns it on);
* the ``eap`` module: EAP-MSCHAPv2 only (Debian ships no server certificate, so the default module
  with TLS methods would not load);
* the ``files`` users: :data:`USERS` with their reply attributes, and Message-Authenticator in
  every reply (what FreeRADIUS 3.2.5 does by default against Blast-RADIUS);
* no delay before an Access-Reject (``reject_delay = 0``);
* log, run and accounting directories inside the private directory, so the accounting ``detail``
  file can be read back.

The daemon runs ``freeradius -f -d <dir>`` inside the namespace and is stopped by its PID.
:meth:`FreeRadius.run` runs a coroutine on a thread that has entered the namespace, so the client
sockets live there too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from tests.netns import setns

DEBIAN_CONF = Path("/etc/freeradius/3.0")
BINARY = shutil.which("freeradius") or "/usr/sbin/freeradius"
SECRET = "interop-secret-7Hq"
USERS = {"alice": "s3cret-Pass", "bob": "other-Pass"}
ALICE_IP = "10.77.0.9"
ALICE_TIMEOUT = 3600
ALICE_CLASS = "ipsecd-class-1"

T = TypeVar("T")

_CLIENTS = f"""client ipsecd {{
    ipaddr = 127.0.0.1
    secret = {SECRET}
    require_message_authenticator = yes
    nas_type = other
}}
"""

_EAP = """eap {
    default_eap_type = mschapv2
    timer_expire = 60
    ignore_unknown_eap_types = no
    cisco_accounting_username_bug = no
    max_sessions = ${max_requests}
    mschapv2 {
        send_error = no
    }
}
"""


def available() -> str | None:
    """Why the FreeRADIUS tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not os.path.exists(BINARY) or not DEBIAN_CONF.is_dir():
        return "freeradius is not installed (setup.sh test installs it)"
    return None


def _users() -> str:
    # 3.2.1 signs a reply only when the reply list holds Message-Authenticator; 3.2.5's Blast-RADIUS
    # defaults sign every one. This DEFAULT gives every reply one, as a fixed server would.
    lines = ["DEFAULT\n\tMessage-Authenticator = 0x00,\n\tFall-Through = Yes"]
    for user, password in USERS.items():
        lines.append(f'{user} Cleartext-Password := "{password}"')
        if user == "alice":
            lines.append(f"\tFramed-IP-Address = {ALICE_IP},\n\tSession-Timeout = {ALICE_TIMEOUT},"
                         f'\n\tClass = "{ALICE_CLASS}"')
    return "\n".join(lines) + "\n"


class FreeRadius:
    """One FreeRADIUS 3.2 in its own namespace; ``close()`` stops it by PID and removes everything."""

    def __init__(self, prefix: str = "eapr", ns: str | None = None) -> None:
        """``ns``: run in that existing namespace (beside an ipsecd gateway), which is left to its
        owner; by default a namespace of its own is made and removed."""
        self.own_ns = ns is None
        self.ns = ns or f"{prefix}{os.getpid() % 100000}"
        self.dir = Path(tempfile.mkdtemp(prefix="ipsecd-freeradius-"))
        self.conf = self.dir / "conf"
        self.log = self.dir / "radiusd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        try:
            if self.own_ns:
                subprocess.run(["ip", "netns", "add", self.ns], check=True, capture_output=True)
            subprocess.run(["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"], check=True)
            self._configure()
            self._start()
        except BaseException:
            self.close()
            raise

    def _configure(self) -> None:
        shutil.copytree(DEBIAN_CONF, self.conf, symlinks=True)
        (self.conf / "clients.conf").write_text(_CLIENTS)
        eap = self.conf / "mods-enabled" / "eap"
        eap.unlink()
        eap.write_text(_EAP)
        (self.conf / "mods-config" / "files" / "authorize").write_text(_users())
        for sub in ("log", "run", "log/radacct"):
            (self.dir / sub).mkdir(exist_ok=True)
        conf = (self.conf / "radiusd.conf").read_text()
        conf = conf.replace("logdir = /var/log/freeradius", f"logdir = {self.dir}/log")
        conf = conf.replace("run_dir = ${localstatedir}/run/${name}", f"run_dir = {self.dir}/run")
        conf = conf.replace("reject_delay = 1", "reject_delay = 0")  # a test needs no brute-force brake
        (self.conf / "radiusd.conf").write_text(conf)
        os.chmod(self.dir, 0o755)
        subprocess.run(["chown", "-R", "freerad:freerad", str(self.dir)], check=True)

    def _start(self) -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, BINARY, "-f", "-l", "stdout", "-d", str(self.conf)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while b"Ready to process requests" not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"freeradius did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def detail(self) -> str:
        """Every accounting detail file FreeRADIUS wrote, concatenated."""
        return "".join(p.read_text() for p in sorted((self.dir / "log" / "radacct").rglob("detail*")))

    def run(self, coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``coro()`` in a fresh event loop on a thread inside the namespace."""
        result: list[T] = []
        error: list[BaseException] = []

        def body() -> None:
            fd = os.open(f"/var/run/netns/{self.ns}", os.O_RDONLY)
            try:
                setns(fd)
                result.append(asyncio.run(coro()))
            except BaseException as exc:
                error.append(exc)
            finally:
                os.close(fd)

        thread = threading.Thread(target=body)
        thread.start()
        thread.join()
        if error:
            raise error[0]
        return result[0]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # `ip netns exec` exec()s freeradius: this is its PID
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.own_ns:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

