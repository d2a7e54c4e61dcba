"""Coverage-guided fuzzing in CI (issue 17): the targets of :mod:`tests.fuzz.targets` run a few
seconds under atheris (together, in one process) from the seed corpus of real exchanges
(:mod:`tests.fuzz.corpus`), and every corpus file — the seeds and any input that once crashed a
parser, kept there — is replayed through its target in-process. A longer run is done by hand:
``python -m tests.fuzz.atheris_main TARGET -max_total_time=600 tests/fuzz/corpus/TARGET``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fuzz.targets import CORPUS, ORDER, TARGETS, tagged

REPO = Path(__file__).resolve().parents[2]
SECONDS = 6


def test_every_target_has_a_corpus_and_replays_it() -> None:
    """Every file, in-process seeds and captures of real traffic (``cap-*``, written by
    :mod:`tests.fuzz.capture` from strongSwan, FreeRADIUS and ipsecd in namespaces) alike, goes
    through its target; only the documented errors may come out."""
    for name in ORDER:
        files = sorted((CORPUS / name).iterdir())
        assert len(files) >= 5, name
        assert sum(f.name.startswith("cap-") for f in files) >= 5, f"{name}: no captured traffic"
        for f in files:
            try:
                TARGETS[name](f.read_bytes())
            except Exception as e:
                raise AssertionError(f"{name}/{f.name}: {e!r}") from e


def test_a_short_coverage_guided_run_finds_no_crash(tmp_path: Path) -> None:
    """Every target in one atheris process (target ``all``: an input's first byte picks the target),
    from every target's corpus; the run adds what it finds to a copy, not to the repository."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ORDER:
        for f in (CORPUS / name).iterdir():
            (corpus / f"{name}-{f.name}").write_bytes(tagged(name, f.read_bytes()))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.atheris_main",
            "all",
            f"-max_total_time={SECONDS}",
            f"-artifact_prefix={tmp_path}/crash-",
            "-rss_limit_mb=1024",
            str(corpus),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    crashes = sorted(tmp_path.glob("crash-*"))
    assert r.returncode == 0 and not crashes, (
        f"exit {r.returncode}, crash inputs {[c.read_bytes().hex() for c in crashes]}\n" + r.stderr[-3000:]
    )
    runs = re.search(r"Done (\d+) runs", r.stderr)
    assert runs is not None and int(runs.group(1)) > 1000, r.stderr[-2000:]
