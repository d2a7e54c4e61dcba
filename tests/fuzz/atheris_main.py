"""``python -m tests.fuzz.atheris_main TARGET [libFuzzer options] [corpus dirs]``: one target of
:mod:`tests.fuzz.targets` under atheris (coverage-guided, libFuzzer's engine). Only the parsers'
packages are instrumented, as they are imported (instrumenting everything loaded costs minutes):
the wire codecs, the data plane's ESP/AH code and the EAP methods. A crash (an exception the target
does not expect) writes the input to ``-artifact_prefix`` and exits non-zero."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(
    include=["ipsecd.wire", "ipsecd.dataplane", "ipsecd.ike.eap", "ipsecd.crypto"]
):
    from tests.fuzz.targets import TARGETS


def main(argv: list[str]) -> None:
    target = TARGETS[argv[1]]
    atheris.Setup([argv[0], *argv[2:]], lambda data: target(bytes(data)))
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
