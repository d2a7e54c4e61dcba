#!/usr/bin/env bash
# Set-up for a fresh Debian 12 machine with Python 3.11.
#   ./setup.sh          the package and its runtime dependencies in .venv
#   ./setup.sh test     also the test tools (pip) and, as root, the Debian packages the
#                       interop tests use (strongSwan with kernel-libipsec, FreeRADIUS, iperf3, tshark, nftables)
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-run}"
PY="${PYTHON:-python3}"

if [ "$mode" = test ] && [ "$(id -u)" = 0 ]; then
    need=""
    for pkg in strongswan-charon strongswan-swanctl strongswan-pki libcharon-extra-plugins libstrongswan-extra-plugins \
               libcharon-extauth-plugins libstrongswan-standard-plugins freeradius freeradius-utils iperf3 iputils-ping tcpdump tshark nftables iproute2 procps; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
    done
    if [ -n "$need" ]; then
        echo "setup: apt-get install$need" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
    fi
fi

if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        if [ "$(id -u)" = 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        fi
        "$PY" -m venv .venv
    fi
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "$mode" = test ]; then
    .venv/bin/python -m pip install -q -e '.[test]'
else
    .venv/bin/python -m pip install -q -e .
fi

# Ansible's community.routeros (tests/daemon/api/test_ansible.py, the proof that RouterOS automation
# drives ipsecd): GPL-3.0 and ~550 MB, so it lives in a virtualenv of its own and never in the
# package's (about 80 s to install). IPSECD_ANSIBLE=0 leaves it out.
if [ "$mode" = test ] && [ "${IPSECD_ANSIBLE:-1}" != 0 ] && [ ! -x .venv-ansible/bin/ansible-playbook ]; then
    "$PY" -m venv .venv-ansible
    .venv-ansible/bin/python -m pip install -q ansible librouteros
fi
