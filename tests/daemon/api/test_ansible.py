"""Ansible's ``community.routeros.api_modify`` against ipsecd's API service (issue 14): a playbook
converges a peer, its identity and the policies (the default template's comment set: it must match
by ``group: default``, which ipsecd's API leaves out as RouterOS's does), and a second run reports
no change.

Ansible (GPL-3.0, the ``ansible`` package that bundles ``community.routeros``) is test-only and kept
out of the project's virtualenv: ``./setup.sh test`` installs it into ``.venv-ansible`` (about 80 s
and 550 MB) unless ``IPSECD_ANSIBLE=0``, or point ``IPSECD_ANSIBLE_PLAYBOOK`` at an
``ansible-playbook`` whose Python has ``librouteros``. Without either the test is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import Running, running

__all__ = ["running"]

REPO = Path(__file__).resolve().parents[3]


def _playbook_command() -> Path | None:
    for candidate in (
        os.environ.get("IPSECD_ANSIBLE_PLAYBOOK"),
        REPO / ".venv-ansible" / "bin" / "ansible-playbook",
        shutil.which("ansible-playbook"),
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


PLAYBOOK = _playbook_command()
pytestmark = pytest.mark.skipif(
    PLAYBOOK is None,
    reason="Ansible is not installed: run ./setup.sh test without IPSECD_ANSIBLE=0 "
    "(or set IPSECD_ANSIBLE_PLAYBOOK)",
)

PLAY = """\
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/community.routeros.api:
      hostname: 127.0.0.1
      port: {port}
      username: admin
      password: adminpw
      tls: false
  tasks:
    - community.routeros.api_modify:
        path: ip ipsec peer
        data:
          - name: branch
            address: 192.0.2.77/32
            exchange-mode: ike2
    - community.routeros.api_modify:
        path: ip ipsec identity
        data:
          - peer: branch
            secret: Ansible-psk-0123
    - community.routeros.api_modify:
        path: ip ipsec policy
        handle_absent_entries: remove
        handle_entries_content: remove_as_much_as_possible
        data:
          - group: default
            src-address: ::/0
            dst-address: ::/0
            protocol: all
            proposal: default
            template: true
            comment: managed by ansible
          - peer: branch
            tunnel: true
            src-address: 10.1.0.0/16
            dst-address: 10.2.0.0/16
"""


def _play(tmp_path: Path, port: int) -> dict[str, int]:
    """Run the playbook; the recap's counters (ok, changed, failed …)."""
    assert PLAYBOOK is not None
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(port=port))
    python = PLAYBOOK.with_name("python") if PLAYBOOK.with_name("python").exists() else None
    env = dict(
        os.environ,
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=str(python or "auto_silent"),
        ANSIBLE_HOME=str(tmp_path / "ansible"),
    )
    r = subprocess.run(
        [str(PLAYBOOK), "-i", "localhost,", "-c", "local", str(play)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    recap = re.search(r"localhost\s+:\s+(.*)", r.stdout)
    assert r.returncode == 0 and recap, r.stdout + r.stderr
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", recap.group(1))}


def test_api_modify_converges_and_then_changes_nothing(running: Running, tmp_path: Path) -> None:
    first = _play(tmp_path, running.ports["api"])
    assert first["changed"] == 3 and first["failed"] == 0
    # the default template policy matched (not added again, not removed) and its comment set
    assert running.console("/ip ipsec policy print count-only where template") == "1\n"
    assert 'set 0 comment="managed by ansible"' in running.console("/export")
    export = running.console("/export show-sensitive")
    assert "add address=192.0.2.77/32 exchange-mode=ike2 name=branch" in export
    assert "add peer=branch secret=Ansible-psk-0123" in export
    assert "add dst-address=10.2.0.0/16 peer=branch src-address=10.1.0.0/16 tunnel=yes" in export
    second = _play(tmp_path, running.ports["api"])
    assert second["changed"] == 0 and second["ok"] == 3
    assert running.console("/export show-sensitive") == export
