"""What an IKEv1 road-warrior connection does between phase 1 and its first quick mode: XAuth, then
mode-config (draft-dukes-ike-mode-cfg-02 with the Cisco Unity attributes), in either role.

Gateway (phase-1 responder; ``passive=yes`` with ``auth-method=pre-shared-key-xauth``, and/or a
``mode-config`` with ``responder=yes``):

1. XAuth (:mod:`.xauth`): REQUEST/REPLY, SET/ACK. The ISAKMP SA is reported established only once
   the user is accepted; a refused user gets SET(FAIL) and then a DELETE of the ISAKMP SA.
2. Mode-config, as the clients want it: a client that pulls (strongSwan's default, Apple's and
   Cisco's clients) sends a REQUEST and gets a REPLY; one that waits to be pushed (strongSwan's
   ``pull = no``) gets a SET ``PUSH_WAIT`` seconds after XAuth if it has not asked by then, and ACKs
   it. Either way it gets INTERNAL_IP4_ADDRESS/NETMASK (the lease: ``IkeConfig.lease``, keyed by the
   XAuth user name, else the peer's ID), INTERNAL_IP4_DNS and UNITY_SPLIT_INCLUDE.
3. Quick modes are accepted once this is done, and only for the leased address as the client's side
   (generate-policy creates the policy for exactly it).

Client (phase-1 initiator; ``passive=no`` with XAuth, and/or ``mode-config=request-only``): answers
XAuth from the identity's username/password, then pulls its configuration with a REQUEST (and ACKs a
gateway that pushes a SET instead); the address becomes ``Ikev1Sa.virtual_ips`` and the local side of
its quick modes. Its quick modes start when this is done.

All of it must be over within ``CONFIG_TIMEOUT`` of phase 1, or the ISAKMP SA is deleted.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from typing import TYPE_CHECKING

from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev1 import modecfg
from ipsecd.wire.ikev1.attributes import Attribute
from ipsecd.wire.ikev1.enums import CfgType
from ipsecd.wire.ikev1.modecfg import CfgAttr
from ipsecd.wire.ikev1.payloads import AttributePayload

from ..events import (
    AddressLeased,
    AuthenticationFailed,
    IkeSaEstablished,
    NegotiationFailed,
    VerdictRequested,
    VirtualIpAssigned,
)
from ..v2.config import ModeConfigLease
from . import xauth
from .transaction import Transaction

if TYPE_CHECKING:
    from .sa import Ikev1Sa

PUSH_WAIT = 1.0  # seconds a gateway waits for a client's REQUEST before it pushes a SET
CONFIG_TIMEOUT = 60.0  # seconds from phase 1 until XAuth and mode-config must be done
#: what a client asks for (as strongSwan's and Apple's clients do)
CLIENT_REQUEST = (
    CfgAttr.INTERNAL_IP4_ADDRESS,
    CfgAttr.INTERNAL_IP4_NETMASK,
    CfgAttr.INTERNAL_IP4_DNS,
    CfgAttr.UNITY_SPLIT_INCLUDE,
)


class RoadWarrior:
    """XAuth and mode-config of one ISAKMP SA (see the module docstring)."""

    def __init__(self, sa: Ikev1Sa) -> None:
        self.sa = sa
        opts = sa.options.xauth
        self.xauth = opts
        # the gateway is the phase-1 responder (the manual: passive=yes is the XAuth responder)
        self.gateway = opts.server if opts is not None else not sa.initiator
        self.xauth_ok = opts is None  # nothing to do without XAuth
        self.xauth_failed = False
        self.user = ""  # the accepted XAuth user (gateway) — the lease's key
        self.serve_config = self.gateway and sa.config.lease is not None
        self.want_config = not self.gateway and sa.config.mode_config_request
        self.configured = not (self.serve_config or self.want_config)
        self.lease: ModeConfigLease | None = None
        self.held: IkeSaEstablished | None = None  # reported once XAuth accepted the user
        self.started = False
        self.requested = False  # client: our REQUEST is out
        self.deadline: float | None = None
        self.push_at: float | None = None
        self.asking: object | None = None  # the token of our RADIUS question (xauth-use-radius)
        self.asked_user = ""

    @classmethod
    def needed(cls, sa: Ikev1Sa) -> bool:
        return sa.options.xauth is not None or sa.config.lease is not None or sa.config.mode_config_request

    @property
    def ready(self) -> bool:
        """XAuth accepted and the configuration exchanged: quick modes may run."""
        return self.xauth_ok and self.configured

    # -- phase 1 is done ---------------------------------------------------------------------------

    def hold(self, event: IkeSaEstablished) -> bool:
        """Phase 1 completed with ``event``: keep it back until XAuth has accepted the user."""
        self.deadline = self.sa.now + CONFIG_TIMEOUT
        if self.xauth_ok:
            return False
        self.held = event
        return True

    def _accepted(self, user: str) -> None:
        """XAuth accepted ``user``: the ISAKMP SA is established now, for that user."""
        self.xauth_ok = True
        if self.held is not None:
            self.sa.emit(replace(self.held, xauth_user=user))
            self.held = None

    def kick(self) -> None:
        """After the message that completed phase 1 went out (its IV is the base of ours): start
        what we start — the gateway's XAuth REQUEST, the client's mode-config REQUEST."""
        sa = self.sa
        if sa.state != "established" or self.deadline is None or self.xauth_failed:
            return
        if not self.started:
            self.started = True
            if self.gateway and self.xauth is not None:
                self._send(xauth.request(self._identifier()))
            elif self.xauth_ok:
                self._configure()
        elif self.want_config and self.xauth_ok and not self.requested:
            self._configure()

    def _configure(self) -> None:
        """XAuth is done (or not used): the client asks, the gateway waits for the ask."""
        if self.want_config and not self.requested and not self.configured:
            self.requested = True
            self._send(
                AttributePayload(
                    CfgType.REQUEST, self._identifier(), [modecfg.empty(k) for k in CLIENT_REQUEST]
                )
            )
        elif self.serve_config and not self.configured:
            self.push_at = self.sa.now + PUSH_WAIT

    def _identifier(self) -> int:
        return int.from_bytes(self.sa.rng(2), "big")

    def _send(self, attr: AttributePayload) -> None:
        sa = self.sa
        mid = sa.new_message_id()
        exch = Transaction(sa, mid, self.received, attr)
        sa.exchanges[mid] = exch
        sa.start_exchange(exch)

    def incoming(self, message_id: int) -> Transaction:
        """A transaction the peer starts (its REQUEST or SET)."""
        return Transaction(self.sa, message_id, self.received)

    # -- timers --------------------------------------------------------------------------------------

    def timer(self) -> float | None:
        due = [t for t in (self.push_at, None if self.ready else self.deadline) if t is not None]
        return min(due) if due else None

    def on_timer(self, now: float) -> None:
        if self.push_at is not None and now >= self.push_at:
            self.push_at = None
            if not self.configured and self._lease() is not None:
                assert self.lease is not None
                self._send(self._lease_attributes(CfgType.SET, self._identifier(), self.lease))
        if not self.ready and self.deadline is not None and now >= self.deadline:
            self.deadline = None
            what = "XAuth" if not self.xauth_ok else "mode-config"
            self.sa.fail(
                NegotiationFailed(
                    "transaction exchange",
                    "TIMEOUT",
                    f"{what} not completed within {CONFIG_TIMEOUT:g}s of phase 1",
                    True,
                )
            )

    # -- received attribute payloads ---------------------------------------------------------------

    def received(self, exch: Transaction, attr: AttributePayload) -> AttributePayload | None:
        """The answer to ``attr`` (None: it answered one of ours, or needs none)."""
        kind = attr.cfg_type
        if self.gateway:
            return self._gateway(exch, attr, kind)
        return self._client(exch, attr, kind)

    def _gateway(self, exch: Transaction, attr: AttributePayload, kind: CfgType) -> AttributePayload | None:
        sa = self.sa
        if (
            kind == CfgType.REPLY
            and self.xauth is not None
            and exch.request is not None
            and not self.xauth_ok
            and self.asking is None
        ):
            if self.xauth.radius:
                got = xauth.credentials(attr)
                name, password = got or (b"", b"")
                self.asking = object()
                self.asked_user = name.decode("utf-8", "replace")
                question = xauth.XauthQuestion(name, password, f"{sa.addr[1][0]}[{sa.addr[1][1]}]")
                sa.emit(VerdictRequested(self.asking, question))
                return None
            user, text = xauth.check(self.xauth, attr)
            self._judged(
                text, user.name if user is not None else None, "wrong user name or password (/ip ipsec user)"
            )
            return None
        if kind == CfgType.ACK and exch.request is not None and xauth.is_xauth(exch.request):
            if self.xauth_failed:
                sa.delete()
            elif self.user and not self.xauth_ok:
                self._accepted(self.user)
                self._configure()
            return None
        if kind == CfgType.ACK and exch.request is not None:  # our pushed SET is taken
            self.configured = True
            return None
        if kind == CfgType.REQUEST and exch.request is None and self.serve_config and self.xauth_ok:
            self.push_at = None
            lease = self._lease()
            if lease is None:  # an empty REPLY: the client gives up (strongSwan: "no virtual IP")
                return AttributePayload(CfgType.REPLY, attr.identifier, [])
            self.configured = True
            return self._lease_attributes(CfgType.REPLY, attr.identifier, lease)
        return None

    def _judged(self, name: str, accepted: str | None, why: str) -> None:
        """The verdict on the user ``name``: SET(OK) — the ISAKMP SA is reported once the client
        ACKs it — or SET(FAIL), an AuthenticationFailed naming the user, and a DELETE after the ACK."""
        if accepted is None:
            self.xauth_failed = True
            self.sa.emit(AuthenticationFailed(self.sa.addr[1], f"XAuth user {name!r}: {why}"))
        else:
            self.user = accepted
        self._send(xauth.status(self._identifier(), accepted is not None))

    def verdict(self, token: object, answer: object) -> None:
        """RADIUS answered our question (a ``RelayAnswer``: accept, reject or unavailable)."""
        if self.asking is None or token is not self.asking or self.sa.closed:
            return
        self.asking = None
        kind = getattr(answer, "kind", "")
        why = getattr(answer, "reason", "") or kind
        name = self.asked_user
        self._judged(name, name if kind == "accept" else None, f"RADIUS {kind}: {why}")

    def _lease(self) -> ModeConfigLease | None:
        """The address of this client (once per ISAKMP SA); with none (a full pool) the client is not
        configured, and its ISAKMP SA goes at the deadline if the client does not delete it first."""
        sa = self.sa
        if self.lease is not None:
            return self.lease
        assert sa.config.lease is not None
        key = self.user or sa.remote_id
        lease = sa.config.lease(key)
        if lease is None:  # the daemon logged why (naming the pool)
            sa.emit(
                NegotiationFailed(
                    "mode-config", "INTERNAL_ADDRESS_FAILURE", f"no address to give {key!r}", False
                )
            )
            return None
        self.lease = lease
        sa.emit(AddressLeased(lease.address, key))
        return lease

    @staticmethod
    def _lease_attributes(kind: CfgType, identifier: int, lease: ModeConfigLease) -> AttributePayload:
        attrs: list[Attribute] = []
        if isinstance(lease.address, IPv4Address):
            attrs += [
                modecfg.ip4(CfgAttr.INTERNAL_IP4_ADDRESS, lease.address),
                modecfg.netmask(lease.prefix_length),
            ]
        attrs += [modecfg.ip4(CfgAttr.INTERNAL_IP4_DNS, d) for d in lease.dns if isinstance(d, IPv4Address)]
        nets = [n for n in (IPv4Network(s, strict=False) for s in lease.split_include if ":" not in s)]
        if nets:
            attrs.append(modecfg.split_include(nets))
        return AttributePayload(kind, identifier, attrs)

    def _client(self, exch: Transaction, attr: AttributePayload, kind: CfgType) -> AttributePayload | None:
        sa = self.sa
        if exch.request is None and xauth.is_xauth(attr):
            if self.xauth is None:
                return None
            if kind == CfgType.REQUEST:
                return xauth.answer(self.xauth, attr)
            if kind == CfgType.SET:
                ok = xauth.status_of(attr)
                if ok and not self.xauth_ok:
                    self._accepted(self.xauth.username)
                elif not ok:
                    self.xauth_failed = True
                    sa.emit(
                        AuthenticationFailed(
                            sa.addr[1],
                            f"the gateway refused XAuth user {self.xauth.username!r}"
                            " (identity username=/password=)",
                        )
                    )
                return xauth.status(attr.identifier, bool(ok), CfgType.ACK)
            return None
        if kind in (CfgType.REPLY, CfgType.SET) and self.want_config and not self.configured:
            self._apply(attr)
            return AttributePayload(CfgType.ACK, attr.identifier, []) if kind == CfgType.SET else None
        return None

    def _apply(self, attr: AttributePayload) -> None:
        """The gateway's configuration: our virtual IP, its DNS servers and split-include networks."""
        addresses: list[IPv4Address | IPv6Address] = []
        dns: list[IPv4Address | IPv6Address] = []
        subnets: list[str] = []
        try:
            for a in attr.attributes:
                if a.type == CfgAttr.INTERNAL_IP4_ADDRESS and a.value:
                    addresses.append(modecfg.read_ip4(a))
                elif a.type == CfgAttr.INTERNAL_IP4_DNS and a.value:
                    dns.append(modecfg.read_ip4(a))
                elif a.type == CfgAttr.UNITY_SPLIT_INCLUDE and a.value:
                    subnets += [str(n) for n in modecfg.read_split_include(a)]
        except WireError:
            pass  # a garbled attribute: what was read before it stands
        if not addresses:
            return
        self.configured = True
        self.sa.virtual_ips = tuple(addresses)
        self.sa.emit(VirtualIpAssigned(tuple(addresses), tuple(dns), tuple(subnets)))
