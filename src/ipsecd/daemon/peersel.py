"""Which configured peer an incoming IKE message belongs to (the manual's peer ``address`` rule).

RouterOS: when several peers' ``address`` prefixes contain the source address of an incoming
negotiation, the most specific prefix wins; an unset address means "any" (NOTES.md). A peer with a
``local-address`` only answers on that address; disabled peers are never chosen; IKEv1
``exchange-mode``s are not served by the IKEv2 daemon. Ties keep configuration order, as RouterOS
lists peers. IKEv2 (``ike2``) and IKEv1 peers are selected apart: an IKEv1 message goes to a peer of
its exchange mode (main, aggressive or base), as RouterOS matches them. Identities are checked later
(IKE_AUTH, IKEv1 phase 1), not here — except IKEv1 aggressive mode, whose first message shows the
initiator's ID in clear: the glue picks among the :func:`candidates` the peer whose ``remote-id`` it is
(several peers behind one address, road warriors on ``0.0.0.0/0`` told apart by ID).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class PeerEndpoint:
    """What selection needs of one ``/ip ipsec peer``."""

    name: str
    address: IPNetwork | None  # None: any address (unless ``hostname`` is set and not resolved yet)
    local_address: IPAddress | None = None
    port: int = 500
    exchange_mode: str = "ike2"
    passive: bool = False
    disabled: bool = False
    hostname: str | None = None  # ``address`` given as a DNS name; ``address`` is what it resolved to

    @property
    def host(self) -> IPAddress | None:
        """The single address to initiate to, when ``address`` names exactly one host."""
        if self.address is None or self.address.num_addresses != 1:
            return None
        return self.address.network_address


def select_peer(
    peers: Iterable[PeerEndpoint], remote: str, local: str | None = None, mode: str = "ike2"
) -> PeerEndpoint | None:
    """The peer of exchange mode ``mode`` for a message from ``remote`` received on ``local``, or None."""
    found = candidates(peers, remote, local, mode)
    return found[0] if found else None


def candidates(
    peers: Iterable[PeerEndpoint], remote: str, local: str | None = None, mode: str = "ike2"
) -> list[PeerEndpoint]:
    """Every peer of exchange mode ``mode`` whose address holds ``remote`` (received on ``local``),
    the most specific prefix first, ties in configuration order. IKEv1 aggressive mode chooses among
    them by the initiator's ID, which its first message carries in clear."""
    try:
        src = ipaddress.ip_address(remote)
        dst = ipaddress.ip_address(local) if local else None
    except ValueError:
        return []
    found: list[tuple[int, int, PeerEndpoint]] = []
    for n, peer in enumerate(peers):
        if peer.disabled or peer.exchange_mode != mode:
            continue
        if peer.local_address is not None and dst is not None and peer.local_address != dst:
            continue
        if peer.address is None:
            if peer.hostname is not None:
                continue  # a DNS name not resolved yet matches nobody, not everybody
            plen = 0
        elif peer.address.version == src.version and src in peer.address:
            plen = peer.address.prefixlen
        else:
            continue
        found.append((-plen, n, peer))
    return [peer for _, _, peer in sorted(found, key=lambda f: f[:2])]
