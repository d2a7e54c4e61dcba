"""The ``ipsecd`` command line (DESIGN.md §4).

Global options (``--db``, ``--control``) are parsed here; every command lives in the area that owns
it and registers itself through a ``register(subparsers)`` function in that area's ``commands``
module (``mgmt.cli`` for mgmt, whose ``commands`` is the structured command layer), which sets
``func`` (``(args) -> int``) as the parser default. Exit status: 0 success,
1 refused command (one line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

#: Modules that contribute commands, in the order their commands appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = (
    "ipsecd.mgmt.cli",  # console, import, export, exec
    "ipsecd.crypto.commands",  # algorithms
    "ipsecd.daemon.commands",  # run, demo
    "ipsecd.dataplane.commands",  # dataplane (static keying, debug)
)


def default_db_path() -> str:
    """The configuration database: system-wide as root, per-user otherwise."""
    if os.geteuid() == 0:
        return "/var/lib/ipsecd/config.db"
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "ipsecd", "config.db")


def default_control_path() -> str:
    """The daemon's control socket (DESIGN.md §4)."""
    if os.geteuid() == 0:
        return "/run/ipsecd/control"
    base = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/ipsecd-{os.geteuid()}"
    return os.path.join(base, "ipsecd", "control")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipsecd", description="IPsec (IKEv2, ESP/AH) configured in RouterOS's /ip ipsec language."
    )
    parser.add_argument("--db", default=os.environ.get("IPSECD_DB") or default_db_path(),
                        help="SQLite configuration database (default: %(default)s)")
    parser.add_argument("--control", default=os.environ.get("IPSECD_CONTROL") or default_control_path(),
                        help="daemon control socket (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an area whose commands have not landed yet
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
