"""A negotiated CHILD_SA pair as the IKE SA tracks it (RFC 7296 §2.17): both directions' SaSpec,
the algorithms, lifetimes and the nonces of the exchange that created it (collision rule §2.8.1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ipsecd.policy.types import SaSpec

from .config import ChildConfig
from .proposals import ChildAlgs


@dataclass(slots=True)
class ChildSa:
    """A negotiated CHILD_SA pair (our inbound SPI is its key in ``IkeSa.children``)."""

    config: ChildConfig
    inbound: SaSpec
    outbound: SaSpec
    algs: ChildAlgs
    installed: float
    rekey_at: float
    expire_at: float
    initiator: bool  # we initiated the exchange that created it
    nonces: tuple[bytes, bytes] = field(default=(b"", b""), repr=False)  # (Ni, Nr) of that exchange
    replaces: int | None = None  # inbound SPI of the CHILD_SA this one rekeyed
    rekeying: bool = False
    deleting: bool = False
