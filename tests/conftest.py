"""Shared fixtures and the root/namespace skip rules (skips print their reason with -ra)."""

from __future__ import annotations

import os
import shutil

import pytest


def root_skip_reason() -> str | None:
    """Why root/namespace tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, TUN)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    if shutil.which("ip") is None:
        return "iproute2 (ip) not installed"
    return None


def strongswan_skip_reason() -> str | None:
    reason = root_skip_reason()
    if reason:
        return reason
    if not os.path.exists("/usr/lib/ipsec/charon") or shutil.which("swanctl") is None:
        return "strongSwan (charon, swanctl) not installed: run ./setup.sh test as root"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root_reason = root_skip_reason()
    ss_reason = strongswan_skip_reason()
    for item in items:
        if "interop" in item.keywords and ss_reason:
            item.add_marker(pytest.mark.skip(reason=ss_reason))
        elif "root" in item.keywords and root_reason:
            item.add_marker(pytest.mark.skip(reason=root_reason))
