"""``ipsecd console``, ``ipsecd import FILE``, ``ipsecd export [show-sensitive]``, ``ipsecd exec CMD [--json]``.

DESIGN.md §4: each talks to a running daemon over the control socket when one listens, else works
on the database. Exit status 0 success, 1 refused command (one line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys

from .client import Target
from .errors import ConfigError
from .session import CommandResult
from .values import quote


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("console", help="interactive RouterOS-style console (completion, history)")
    p.set_defaults(func=_console)

    p = sub.add_parser("import", help="run a .rsc script atomically (nothing changes on the first error)")
    p.add_argument("file", metavar="FILE.rsc")
    p.set_defaults(func=_import)

    p = sub.add_parser("export", help="print the configuration as a script that import reproduces")
    p.add_argument("option", nargs="?", choices=["show-sensitive"], help="include secrets")
    p.set_defaults(func=_export)

    p = sub.add_parser("exec", help="run one console command")
    p.add_argument("line", metavar="CMD", help="e.g. '/ip ipsec peer print detail'")
    p.add_argument("--json", action="store_true", help="print output as a JSON array of objects")
    p.set_defaults(func=_exec)


def _emit(result: CommandResult) -> int:
    if result.stdout:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
    if result.stderr:
        sys.stderr.write(result.stderr)
    return result.rc


def _target(args: argparse.Namespace) -> Target:
    return Target(args.db, args.control)


def _run(args: argparse.Namespace, line: str, as_json: bool = False) -> int:
    try:
        return _emit(_target(args).execute(line, as_json))
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1


def _exec(args: argparse.Namespace) -> int:
    return _run(args, args.line, args.json)


def _export(args: argparse.Namespace) -> int:
    return _run(args, "/export" + (" show-sensitive" if args.option else ""))


def _import(args: argparse.Namespace) -> int:
    path = os.path.abspath(args.file)
    if not os.path.isfile(path):
        sys.stderr.write(f"import: no such file: {args.file}\n")
        return 1
    return _run(args, f"/import file-name={quote(path)}")


def _console(args: argparse.Namespace) -> int:
    from .console import run_console

    try:
        return run_console(_target(args))
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
