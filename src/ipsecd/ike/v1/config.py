"""IKEv1-only settings of a peer and profile, next to the version-neutral ``IkeConfig``.

The daemon maps RouterOS rows into these: ``exchange-mode`` (main, aggressive, base), the profile's
``lifebytes``, ``proposal-check`` (obey, claim, strict, exact: the manual's lifetime rules for the
responder), ``dpd-maximum-failures``, and which NAT-T vendor IDs we announce (RFC 3947 and the
drafts by default; a peer stuck on draft-02 is served by announcing only that). ``IkeConfig`` of
``ike/v2/config.py`` carries everything both versions share (addresses, PSK, identities, profile
proposals, policies as ``ChildConfig``, lifetime, DPD interval, retransmission), so one configuration
mapping serves both. ``ah`` names the policies whose ``ipsec-protocols`` is ``ah``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from ipsecd.wire.ikev1 import vendor
from ipsecd.wire.ikev1.enums import AuthMethod, NotifyType

from ..errors import IkeError


class ExchangeMode(enum.Enum):
    MAIN = "main"
    AGGRESSIVE = "aggressive"
    BASE = "base"


class ProposalCheck(enum.Enum):
    OBEY = "obey"  # take the initiator's lifetime
    CLAIM = "claim"  # the shorter of both, and tell the initiator (RESPONDER-LIFETIME)
    STRICT = "strict"  # refuse a longer one, take a shorter one
    EXACT = "exact"  # lifetimes must be equal


@dataclass(frozen=True, slots=True)
class XauthUser:
    """``/ip ipsec user``: who may log in, and the address the user always gets (else the pool's)."""

    name: str
    password: bytes = field(repr=False)
    address: IPv4Address | None = None


@dataclass(frozen=True, slots=True)
class Xauth:
    """``auth-method=pre-shared-key-xauth`` (draft-beaulieu-ike-xauth): the gateway (``passive=yes``,
    the phase-1 responder) asks for a user name and password after phase 1 and checks them against
    ``users``; the client (``passive=no``) answers with the identity's ``username``/``password``."""

    server: bool
    # not compared: adding or changing a user leaves the peer's configuration as it was, so its
    # connected clients stay (new logins see the new users)
    users: tuple[XauthUser, ...] = field(default=(), compare=False)
    username: str = ""
    password: bytes = field(default=b"", repr=False)
    hybrid: bool = False  # rsa-signature-hybrid: the gateway signs with its certificate, no PSK
    radius: bool = False  # xauth-use-radius=yes: the daemon asks RADIUS (VerdictRequested), not ``users``


@dataclass(frozen=True, slots=True)
class Ikev1Options:
    exchange_mode: ExchangeMode = ExchangeMode.MAIN
    lifebytes: int = 0  # phase-1 kilobytes (sent, administrative only)
    proposal_check: ProposalCheck = ProposalCheck.OBEY
    dpd_max_failures: int = 5
    natt_vids: tuple[bytes, ...] = (vendor.NATT_RFC3947, *vendor.NATT_DRAFTS)
    ah: frozenset[str] = frozenset()  # ChildConfig names negotiated with AH instead of ESP
    responder_timeout: float = 30.0  # a half-open responder SA is forgotten after this
    xauth: Xauth | None = None
    signatures: bool = False  # auth-method=digital-signature: both sides sign (ike/v1/sigauth.py)

    @property
    def phase1_auth(self) -> AuthMethod:
        """The phase-1 transforms' authentication method: XAuthInitPreShared (65001) when the
        initiator is XAuth-authenticated after the PSK (what Cisco, Apple and strongSwan send),
        HybridInitRSA (64221) when only the gateway signs and the client has XAuth alone."""
        if self.xauth is None:
            return AuthMethod.PRE_SHARED_KEY
        return AuthMethod.HYBRID_INIT_RSA if self.xauth.hybrid else AuthMethod.XAUTH_INIT_PSK


class V1ProtocolError(IkeError):
    """An IKEv1 message is refused with ``notify``; ``detail`` is for the operator log, never sent."""

    def __init__(self, notify: NotifyType, detail: str, *, fatal: bool = True) -> None:
        super().__init__(f"{notify.name}: {detail}")
        self.notify = notify
        self.detail = detail
        self.fatal = fatal
