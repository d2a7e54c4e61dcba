#!/usr/bin/env python3
"""IKEv1 IPsec-SA setups per second with ipsecd as responder, vs a strongSwan responder.

Issue 10's benchmark: the same harness as ``bench/ike_rate.py`` (a charon initiator in ``<p>L``
driven over VICI by client threads, each looping a blocking ``initiate``; the responder in ``<p>R``
is first a charon, then ``ipsecd run``), with ``version = 1`` on both charons and
``exchange-mode=main`` on ipsecd's peer: each setup is a six-message main mode with a pre-shared key
and a three-message quick mode (no PFS), ESP AES-GCM-128. Responder CPU comes from
``/proc/PID/task/*/schedstat`` over every process of the responder's session (the daemon and its
data-plane workers, or charon's threads).

Run as root from the repository:  .venv/bin/python bench/ikev1_rate.py [--total 400] [--conc 8]
                                  [--groups ecp256,modp2048] [--only strongswan|ipsecd]
                                  [--runs tun:info,tun:warning,memory:warning] [--repeat 3]

The last lines are the figures: each ipsecd run's rate and CPU/SA and the ratios to strongSwan's.

Caveat, measured: charon always initiates a CHILD_SA within an existing IKE_SA for IKEv1 (its
``reuse_ikesa = no`` applies to IKEv2 only), so after the first initiate per client thread the
setups are quick modes on a few ISAKMP SAs: the figures are IPsec-SA setups per second, dominated by
quick mode, not main modes. Counting main modes needs a fresh connection (or a teardown) per
initiate, which this harness does not do yet.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import ike_rate

if __name__ == "__main__":
    raise SystemExit(ike_rate.main(version=1, doc=__doc__, groups="ecp256,modp2048"))
