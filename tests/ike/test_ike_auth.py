"""IKE_SA_INIT + IKE_AUTH + first CHILD_SA between two in-process peers."""

from __future__ import annotations

from collections.abc import Callable

from ipsecd.crypto.encr import esp_cipher
from ipsecd.ike.events import ChildSaInstalled, IkeSaEstablished
from ipsecd.policy.types import Direction

from .conftest import Pair


def test_happy_path_establishes_ike_and_child(peer_pair: Callable[..., Pair]) -> None:
    p = peer_pair()
    p.pump()
    ie, re_ = p.events("i", IkeSaEstablished), p.events("r", IkeSaEstablished)
    assert len(ie) == 1 and len(re_) == 1
    assert ie[0].local_spi == re_[0].remote_spi and ie[0].encr == "aes-128-cbc" and ie[0].dh == "ecp256"
    assert ie[0].remote_id == "address:198.51.100.2" and re_[0].remote_id == "address:192.0.2.1"
    assert re_[0].initial_contact and not ie[0].initial_contact  # send-initial-contact=yes by default
    ic, rc = p.events("i", ChildSaInstalled), p.events("r", ChildSaInstalled)
    assert len(ic) == 1 and len(rc) == 1
    i_out, r_in = ic[0].outbound, rc[0].inbound
    assert i_out.spi == r_in.spi and i_out.encr_key == r_in.encr_key and i_out.encr == "aes-128-gcm"
    assert ic[0].inbound.spi == rc[0].outbound.spi and ic[0].inbound.encr_key == rc[0].outbound.encr_key
    assert i_out.direction == Direction.OUT and str(i_out.selector.src) == "10.1.0.0/16"  # type: ignore[union-attr]
    assert str(r_in.selector.src) == "10.1.0.0/16" and r_in.encap is None  # type: ignore[union-attr]
    # the keys really work together: seal with one side, open with the other
    iv = b"\x00" * 8
    sealed = esp_cipher(i_out.encr, i_out.encr_key).seal(iv, b"hello", b"")  # type: ignore[union-attr]
    assert esp_cipher(r_in.encr, r_in.encr_key).open(iv, sealed, b"") == b"hello"  # type: ignore[union-attr]
    assert len(p.wire) == 4  # IKE_SA_INIT and IKE_AUTH, nothing else
