"""``ipsecd console``, ``import FILE``, ``export [show-sensitive]``, ``exec CMD [--json]``.

DESIGN.md §4: each talks to a running daemon over the control socket when one listens, else works
on the database. Exit status 0 success, 1 refused command (one line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys

from .client import Target
from .errors import ConfigError
from .schema import DIALECTS
from .script import logical_lines
from .session import CommandResult
from .values import quote

EXPORT_OPTIONS = ("show-sensitive", "verbose", "terse")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("console", help="interactive RouterOS-style console (completion, history)")
    p.set_defaults(func=_console)

    p = sub.add_parser("import", help="run a .rsc script atomically (nothing changes on the first error)")
    p.add_argument("file", metavar="FILE.rsc")
    p.add_argument("--defaults", choices=sorted(DIALECTS),
                   help="read the script with these routers' defaults where they differ from the manual's "
                        "(a compact RouterOS 7 export leaves them out)")
    p.set_defaults(func=_import)

    p = sub.add_parser("export", help="print the configuration as a script that import reproduces")
    p.add_argument(
        "options",
        nargs="*",
        metavar="{show-sensitive,verbose,terse}",
        help="show-sensitive: include secrets; verbose: defaults too; terse: menu path on every line",
    )
    p.set_defaults(func=_export)

    p = sub.add_parser("exec", help="run one console command")
    p.add_argument("line", metavar="CMD", nargs="?",
                   help="e.g. '/ip ipsec peer print detail'; '-' reads the command from standard input "
                        "(keeps secrets out of the process list)")
    p.add_argument("--file", metavar="FILE", help="read the command from FILE")
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
    """One command from the argument, standard input (``-``) or ``--file``: a secret in the
    argument is visible to every user in ``ps``; from a pipe or a 0600 file it is not. Several
    lines from standard input or a file run in order (continuations joined); the first refusal stops."""
    if (args.line is None) == (args.file is None):
        sys.stderr.write("exec: give one of CMD, '-' (standard input) or --file FILE\n")
        return 2
    if args.file is None and args.line != "-":
        return _run(args, args.line, args.json)
    try:
        if args.file is None:
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        sys.stderr.write(f"exec: cannot read {args.file}: {getattr(exc, 'strerror', None) or exc}\n")
        return 1
    rc = 0
    for _, line in logical_lines(text):
        if line.strip() and not line.lstrip().startswith("#"):
            rc = _run(args, line, args.json)
            if rc:
                break
    return rc


def _export(args: argparse.Namespace) -> int:
    wrong = [o for o in args.options if o not in EXPORT_OPTIONS]
    if wrong:
        sys.stderr.write(f"export: unknown option {wrong[0]} (allowed: {', '.join(EXPORT_OPTIONS)})\n")
        return 2
    return _run(args, " ".join(["/export", *dict.fromkeys(args.options)]))


def _import(args: argparse.Namespace) -> int:
    path = os.path.abspath(args.file)
    if not os.path.isfile(path):
        sys.stderr.write(f"import: no such file: {args.file}\n")
        return 1
    line = f"/import file-name={quote(path)}"
    return _run(args, line + (f" defaults={args.defaults}" if args.defaults else ""))


def _console(args: argparse.Namespace) -> int:
    from .console import run_console

    try:
        return run_console(_target(args))
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
