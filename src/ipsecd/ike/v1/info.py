"""Informational exchanges (RFC 2408 §4.8, RFC 2409 §5.7): notifications and DELETE, DPD.

    HDR*, HASH(1), N/D        HASH(1) = prf(SKEYID_a, M-ID | N/D)

Each informational message is an exchange of its own: a fresh random Message ID and an IV of
hash(last phase-1 block | M-ID) (Appendix B). Before the ISAKMP SA has keys, an error notify goes
in clear (the peer cannot read anything else yet); a clear one we receive is believed only while
phase 1 is still being negotiated and only ends our own attempt.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from ipsecd.wire.ikev1.enums import NotifyType, ProtocolId
from ipsecd.wire.ikev1.message import encode_chain
from ipsecd.wire.ikev1.payloads import DeletePayload, HashPayload, NotifyPayload, Payload

from ..events import ChildSaDeleted, NegotiationFailed
from .config import V1ProtocolError

if TYPE_CHECKING:
    from .sa import Ikev1Sa


def protect(sa: Ikev1Sa, message_id: int, payloads: list[Payload]) -> list[Payload]:
    """HASH(1) in front of ``payloads``."""
    keys = sa.keys
    assert keys is not None
    return [
        HashPayload(keys.prf(keys.a, message_id.to_bytes(4, "big") + encode_chain(payloads)[1])),
        *payloads,
    ]


def verify(sa: Ikev1Sa, message_id: int, payloads: list[Payload]) -> list[Payload]:
    keys = sa.keys
    assert keys is not None
    if not payloads or not isinstance(payloads[0], HashPayload):
        raise V1ProtocolError(NotifyType.INVALID_HASH_INFORMATION, "informational without leading HASH",
                              fatal=False)
    rest = payloads[1:]
    want = keys.prf(keys.a, message_id.to_bytes(4, "big") + encode_chain(rest)[1])
    if not hmac.compare_digest(payloads[0].data, want):
        raise V1ProtocolError(
            NotifyType.INVALID_HASH_INFORMATION, "informational HASH(1) mismatch", fatal=False
        )
    return rest


def handle(sa: Ikev1Sa, payloads: list[Payload], authenticated: bool) -> None:
    """Act on the notifications and deletes of one informational message."""
    for p in payloads:
        if isinstance(p, NotifyPayload):
            _notify(sa, p, authenticated)
        elif isinstance(p, DeletePayload) and authenticated:
            _delete(sa, p)


def _notify(sa: Ikev1Sa, n: NotifyPayload, authenticated: bool) -> None:
    kind = n.notify_type
    if not authenticated:
        if kind.is_error and sa.state == "connecting":
            sa.fail(NegotiationFailed("phase 1", kind.name, f"peer refused phase 1 with {kind.name}", True))
        return
    if kind == NotifyType.R_U_THERE:
        sa.send_notify(NotifyType.R_U_THERE_ACK, ProtocolId.ISAKMP, n.spi, n.data)
    elif kind == NotifyType.R_U_THERE_ACK:
        if sa.dpd is not None and len(n.data) == 4:
            sa.dpd.acked(int.from_bytes(n.data, "big"))
    elif kind == NotifyType.CONNECTED:
        sa.connected(n.spi)
    elif kind == NotifyType.INITIAL_CONTACT:
        sa.peer_initial_contact = True
    elif kind.is_error:
        sa.quick_refused(n)


def _delete(sa: Ikev1Sa, d: DeletePayload) -> None:
    if d.protocol == ProtocolId.ISAKMP:
        if any(hmac.compare_digest(spi, sa.cky_i + sa.cky_r) for spi in d.spis):
            sa.close("deleted by the peer", outlive=True)  # IPsec SAs outlive it (``sa`` docstring)
        return
    for spi in d.spis:
        if len(spi) != 4:
            continue
        out_spi = int.from_bytes(spi, "big")
        for in_spi, (name, proto, peer_spi) in list(sa.children.items()):
            if peer_spi == out_spi and int(proto.value) == {ProtocolId.ESP: 50, ProtocolId.AH: 51}.get(
                d.protocol
            ):
                del sa.children[in_spi]
                sa.emit(ChildSaDeleted(name, in_spi, peer_spi, "deleted by the peer"))
