"""Fixtures of the configuration-model tests: a fresh in-memory configuration and a session on it."""

from __future__ import annotations

import pytest

from ipsecd.mgmt import Config, Session, open_config


@pytest.fixture
def config() -> Config:
    return open_config(None)


@pytest.fixture
def session(config: Config) -> Session:
    return Session(config)


def run_ok(session: Session, line: str, as_json: bool = False) -> str:
    """Run a line that must succeed; its stdout."""
    res = session.execute(line, as_json)
    assert res.rc == 0, f"{line!r} failed: {res.stderr}"
    return res.stdout
