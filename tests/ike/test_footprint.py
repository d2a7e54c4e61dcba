"""What an established IKE SA keeps (issue 5's memory target) and the manager's output bookkeeping."""

from __future__ import annotations

from collections.abc import Callable

from ipsecd.ike.events import ChildSaInstalled, IkeSaEstablished, IkeSaRekeyed
from ipsecd.ike.v2.sa import IkeSa

from .conftest import Pair


def _handshake_state(sa: IkeSa) -> tuple[object, ...]:
    assert sa.keys is not None
    return (sa.init_request, sa.init_response, sa.shared, sa.nonce_i, sa.nonce_r, sa.ke, sa.keys.sk_pi,
            sa.keys.sk_pr)


def test_established_sa_drops_handshake_state_and_still_rekeys(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    p.pump()
    assert p.events("i", IkeSaEstablished) and p.events("r", IkeSaEstablished)
    for sa in (p.i, p.rsa):
        assert _handshake_state(sa) == (b"", b"", b"", b"", b"", None, b"", b"")
        assert sa.keys is not None and len(sa.keys.sk_d) == 32  # SK_d stays: new CHILD_SA keys and rekeys
        assert all(c.nonces == (b"", b"") for c in sa.children.values())
        assert sa.idle() and not sa.redundant
    # a CHILD_SA rekey derives from SK_d; both ends agree on the new keys
    p.i.rekey_child(next(iter(p.i.children)))
    p.pump()
    ic, rc = p.events("i", ChildSaInstalled)[-1], p.events("r", ChildSaInstalled)[-1]
    assert ic.rekey_of is not None and ic.outbound.encr_key == rc.inbound.encr_key
    # an IKE SA rekey too, and the new generation is as lean once switched
    p.i.rekey_ike()
    p.pump()
    assert p.events("i", IkeSaRekeyed) and p.events("r", IkeSaRekeyed)
    assert p.i.nonce_i == p.i.nonce_r == b"" and p.rsa.nonce_i == p.rsa.nonce_r == b""


def test_manager_visits_only_sas_with_output(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    p.pump()
    assert not p.r._ready  # drained: nothing to visit
    p.rsa.delete()  # driven directly, not through the manager: its output still shows up
    assert list(p.r._ready) == [p.rsa]
    out = p.r.datagrams_to_send(p.now)
    assert len(out) == 1 and not p.r._ready
