"""Coverage-guided fuzzing in CI (issue 17): every target of :mod:`tests.fuzz.targets` runs a few
seconds under atheris from the seed corpus of real exchanges (:mod:`tests.fuzz.corpus`), and every
corpus file — the seeds and the inputs that once crashed a parser, kept there — is replayed through
its target in-process. A longer run is done by hand (``python -m tests.fuzz.atheris_main TARGET
-max_total_time=600 tests/fuzz/corpus/TARGET``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import CORPUS, TARGETS

REPO = Path(__file__).resolve().parents[2]
SECONDS = 2


def test_every_target_has_a_corpus_and_replays_it() -> None:
    for name, target in TARGETS.items():
        files = sorted((CORPUS / name).iterdir())
        assert len(files) >= 5, name
        for f in files:
            target(f.read_bytes())


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_short_coverage_guided_run_finds_no_crash(name: str, tmp_path: Path) -> None:
    corpus = tmp_path / name  # the run adds what it finds here, not to the repository's corpus
    shutil.copytree(CORPUS / name, corpus)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.atheris_main",
            name,
            f"-max_total_time={SECONDS}",
            f"-artifact_prefix={tmp_path}/crash-",
            "-rss_limit_mb=1024",
            str(corpus),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    crashes = sorted(tmp_path.glob("crash-*"))
    assert r.returncode == 0 and not crashes, (
        f"{name}: exit {r.returncode}, crash inputs {[c.read_bytes().hex() for c in crashes]}\n"
        + r.stderr[-3000:]
    )
    assert "Done" in r.stderr and "runs in" in r.stderr
