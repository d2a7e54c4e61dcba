"""The IKEv1 responder factory for ``ike.router.Router.register(1, …)`` (DESIGN.md §3).

The router calls it with a first message (main or aggressive mode, CKY-R zero) it admitted; the
daemon's ``lookup`` says which peer configuration serves the sender's address (RouterOS selects
IKEv1 peers by address and ``exchange-mode``; aggressive mode's ID then picks among identities
through ``IkeConfig.identity_for``). None refuses: no peer, or the peer's exchange mode differs.
"""

from __future__ import annotations

from collections.abc import Callable

from ..sa import Addr, IkeSaProtocol, ResponderFactory, Rng
from ..v2.config import IkeConfig
from .config import Ikev1Options
from .sa import Ikev1Sa, SpiAlloc

PeerLookup = Callable[[Addr], tuple[IkeConfig, Ikev1Options] | None]


def responder_factory(lookup: PeerLookup, *, rng: Rng, spi_alloc: SpiAlloc) -> ResponderFactory:
    def make(data: bytes, addr: Addr, now: float) -> IkeSaProtocol | None:
        found = lookup(addr)
        if found is None:
            return None
        config, options = found
        return Ikev1Sa.respond(config, options, data, addr, rng=rng, spi_alloc=spi_alloc, now=now)

    return make
