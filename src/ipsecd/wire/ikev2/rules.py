"""Which payloads each exchange must carry (RFC 7296 §1.2–§1.5, §2.3), checked before any state changes.

A message that succeeds must carry the payloads listed here; a response carrying an error notify
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

_REQUIRED: dict[tuple[ExchangeType, bool], frozenset[PayloadType]] = {
    (ExchangeType.IKE_SA_INIT, False): frozenset({PayloadType.SA, PayloadType.KE, PayloadType.NONCE}),
    (ExchangeType.IKE_SA_INIT, True): frozenset({PayloadType.SA, PayloadType.KE, PayloadType.NONCE}),
    (ExchangeType.IKE_AUTH, False): frozenset({PayloadType.IDI, PayloadType.AUTH}),
    (ExchangeType.IKE_AUTH, True): frozenset({PayloadType.IDR, PayloadType.AUTH}),
    (ExchangeType.CREATE_CHILD_SA, False): frozenset({PayloadType.SA, PayloadType.NONCE}),
    (ExchangeType.CREATE_CHILD_SA, True): frozenset({PayloadType.SA, PayloadType.NONCE}),
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
                raise MalformedMessageError(f"{exchange.name} carries {types.count(t)} {PayloadType(t).name} payloads")
            seen.add(t)
    if response and any(isinstance(p, NotifyPayload) and (p.type.is_error or p.type == NotifyType.COOKIE)
                        for p in payloads):
        return
    missing = _REQUIRED.get((exchange, response), frozenset()) - set(types)
    if missing:
        names = ", ".join(sorted(m.name for m in missing))
        kind = "response" if response else "request"
        raise MalformedMessageError(f"{exchange.name} {kind} lacks {names}")
