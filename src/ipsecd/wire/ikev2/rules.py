"""Which payloads each exchange must carry (RFC 7296 §1.2–§1.5, §2.3), checked before any state changes.

A message that succeeds must carry one of the payload sets listed for its exchange and direction.
IKE_AUTH has several (§2.16, EAP): the usual IDi+AUTH; IDi without AUTH (the initiator asks for EAP);
EAP alone (the rounds in between); AUTH alone (the AUTH keyed by the MSK that ends EAP). Its responses
carry IDr+AUTH, EAP, or AUTH alone. A response carrying an error notify
(§3.10.1 types < 16384) or a COOKIE request (§2.6) is exempt: it replaces the normal answer.
Requests are never exempt. Payloads that
may appear at most once are checked too: two SA or two KE payloads make a request ambiguous.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..enums import ExchangeType, NotifyType, PayloadType
from ..errors import MalformedMessageError
from .payloads.base import Payload
from .payloads.notify import NotifyPayload

_P = PayloadType
_REQUIRED: dict[tuple[ExchangeType, bool], tuple[frozenset[PayloadType], ...]] = {
    (ExchangeType.IKE_SA_INIT, False): (frozenset({_P.SA, _P.KE, _P.NONCE}),),
    (ExchangeType.IKE_SA_INIT, True): (frozenset({_P.SA, _P.KE, _P.NONCE}),),
    (ExchangeType.IKE_AUTH, False): (frozenset({_P.IDI, _P.AUTH}), frozenset({_P.IDI}), frozenset({_P.EAP}),
                                     frozenset({_P.AUTH})),
    (ExchangeType.IKE_AUTH, True): (frozenset({_P.IDR, _P.AUTH}), frozenset({_P.EAP}), frozenset({_P.AUTH})),
    (ExchangeType.CREATE_CHILD_SA, False): (frozenset({_P.SA, _P.NONCE}),),
    (ExchangeType.CREATE_CHILD_SA, True): (frozenset({_P.SA, _P.NONCE}),),
}
_AT_MOST_ONCE = frozenset({PayloadType.SA, PayloadType.KE, PayloadType.NONCE, PayloadType.IDI,
                           PayloadType.IDR, PayloadType.AUTH, PayloadType.TSI, PayloadType.TSR})


def check_payloads(exchange: ExchangeType, response: bool, payloads: Sequence[Payload]) -> None:
    """Raise :class:`MalformedMessageError` when a required payload is missing or one is repeated."""
    types = [p.ptype() for p in payloads]
    seen: set[int] = set()
    for t in types:
        if t in _AT_MOST_ONCE:
            if t in seen:
                raise MalformedMessageError(
                    f"{exchange.name} carries {types.count(t)} {PayloadType(t).name} payloads"
                )
            seen.add(t)
    if response and any(
        isinstance(p, NotifyPayload) and (p.type.is_error or p.type == NotifyType.COOKIE) for p in payloads
    ):
        return
    alternatives = _REQUIRED.get((exchange, response))
    if alternatives is None:
        return
    present = set(types)
    if any(needed <= present for needed in alternatives):
        return
    missing = alternatives[0] - present
    names = ", ".join(sorted(m.name for m in missing))
    kind = "response" if response else "request"
    raise MalformedMessageError(f"{exchange.name} {kind} lacks {names}")
