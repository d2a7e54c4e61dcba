"""Telling systemd how the daemon is doing: ``sd_notify(3)``'s protocol without libsystemd.

Under ``Type=notify`` (``contrib/systemd/ipsecd.service``) systemd hands the daemon a datagram socket
in ``$NOTIFY_SOCKET``; ``READY=1`` once the sockets, the control socket and the services are up lets
units ordered after ipsecd start only then, ``STOPPING=1`` says the SAs are being deleted. A path
starting with ``@`` is in the abstract namespace. Without the variable nothing is sent; a socket that
cannot be reached costs one warning, never the daemon.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("ipsecd")


def notify(state: str) -> bool:
    """Send ``state`` (``READY=1``, ``STATUS=…`` lines) to systemd; whether it was sent."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("cannot notify systemd on %s: %s", path, exc.strerror or exc)
        return False
    return True
