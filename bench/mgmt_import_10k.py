"""Import of a 10,000-peer script into a fresh SQLite configuration, then export and re-import.

Prints the import time last (and, as the anchor measured in the same run, the time to parse the same
script without applying it, so the ratio shows what validation + store cost over lexing).
Usage: .venv/bin/python bench/mgmt_import_10k.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from ipsecd.mgmt import Session, open_config
from ipsecd.mgmt.script import logical_lines, parse_line


def script(n: int) -> str:
    lines = [
        "/ip ipsec profile",
        "add name=p dh-group=ecp256 enc-algorithm=aes-256 hash-algorithm=sha256",
        "/ip ipsec peer",
    ]
    lines += [
        f"add address=10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}/32 exchange-mode=ike2 name=peer-{i} "
        f'profile=p comment="site {i}"'
        for i in range(n)
    ]
    lines.append("/ip ipsec identity")
    lines += [f"add peer=peer-{i} secret=secret-{i} my-id=fqdn:gw.example remote-id=fqdn:site{i}.example"
              for i in range(n)]
    lines.append("/ip ipsec policy")
    lines += [
        f"add peer=peer-{i} src-address=172.16.0.0/16 dst-address=10.{100 + i // 65536}.{i // 256 % 256}."
        f"{i % 256}/32 tunnel=yes"
        for i in range(n)
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    text = script(n)
    t0 = time.perf_counter()
    cwd = "/"
    for _, line in logical_lines(text):
        cwd, _cmd = parse_line(line, cwd)
    parse_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        config = open_config(str(Path(tmp) / "a.db"))
        t0 = time.perf_counter()
        config.import_script(text, "bench.rsc")
        import_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        exported = Session(config).execute("/export show-sensitive").stdout
        export_s = time.perf_counter() - t0
        again = open_config(str(Path(tmp) / "b.db"))
        t0 = time.perf_counter()
        again.import_script(exported, "export.rsc")
        reimport_s = time.perf_counter() - t0
        assert Session(again).execute("/export show-sensitive").stdout == exported, (
            "export does not round-trip"
        )
        assert len(again.snapshot().rows("/ip ipsec peer")) == n
    print(f"objects: {n} peers + {n} identities + {n} policies ({3 * n + 2} lines)")
    print(f"export: {export_s:.2f} s; re-import of the export: {reimport_s:.2f} s; round trip: identical")
    print(f"anchor (lex+parse only): {parse_s:.2f} s")
    print(f"import of {n} peers (with identities and policies), SQLite, one transaction: {import_s:.2f} s "
          f"({import_s / parse_s:.1f}x the parse-only anchor)")


if __name__ == "__main__":
    main()
