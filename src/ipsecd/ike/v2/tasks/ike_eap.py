"""EAP in IKE_AUTH (RFC 7296 §2.16, RFC 5998): the rounds :class:`~.ike_auth.IkeAuth` runs when the
initiator leaves its AUTH payload out.

::

    Initiator                               Responder
    HDR, SK {IDi, [IDr], [N(EAP_ONLY)],
             SA, TSi, TSr, [CP]}     -->
                                     <--    HDR, SK {IDr, [CERT,] [AUTH,] EAP(Identity)}
    HDR, SK {EAP}                    -->
                                     <--    HDR, SK {EAP (request)}      … as many rounds as needed
                                     <--    HDR, SK {EAP (success)}
    HDR, SK {AUTH}                   -->
                                     <--    HDR, SK {AUTH, SA, TSi, TSr, [CP]}

Both final AUTH payloads are shared-key AUTH keyed by the method's MSK over each side's signed
octets of the first round (its own ID payload then). The gateway's first AUTH is its certificate's
signature; without ``certificate=`` it sends none, which only a client that offered EAP-only
authentication (RFC 5998: EAP_ONLY_AUTHENTICATION, with a mutual, key-generating method such as
EAP-MSCHAPv2) accepts: then the MSK-keyed AUTH at the end is what authenticates the gateway.

The gateway (:class:`EapResponder`) asks an :class:`~ipsecd.ike.eap.server.EapServer`: the RADIUS
relay's questions leave as a :class:`~ipsecd.ike.events.VerdictRequested` event and the round
waits (``AwaitVerdict``) until the daemon's ``provide_verdict`` brings the server's answer, while
the SA keeps answering retransmissions. The client (:class:`EapInitiator`) answers with
:class:`~ipsecd.ike.eap.peer.EapPeer`. The other IKE_AUTH tasks (the CHILD_SA, mode-config) wait
for the last round: they see the first request's payloads then and answer in the last response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipsecd.wire.eap import EapError
from ipsecd.wire.enums import NotifyType, PayloadType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload, RawPayload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload
from ipsecd.wire.ikev2.payloads.simple import AuthPayload, IdPayload

from ...auth import pubkey
from ...auth.psk import EapAuthenticator
from ...eap.peer import EapPeer
from ...eap.server import EapServer, LocalEapServer, RadiusRelay, RelayQuestion
from ...events import VerdictRequested
from ..config import parse_identity
from ..state import IkeState
from .base import NEED_MORE, AwaitVerdict, Status
from .ike_cert import certificates

if TYPE_CHECKING:
    from ..sa import IkeSa
    from .ike_auth import IkeAuth

GATEWAY_METHODS = frozenset({"eap-radius"})


def eap_payload(msg: Message) -> bytes | None:
    """The EAP packet of an EAP payload (RFC 7296 §3.16), None without one."""
    p = next((p for p in msg.payloads if p.ptype() == PayloadType.EAP), None)
    return p.encode_body() if p is not None else None


def asks_for_eap(msg: Message) -> bool:
    """An IKE_AUTH request of an EAP round before the last (§2.16: no AUTH payload): the other tasks
    of the exchange wait for the round that carries AUTH."""
    return msg.get(AuthPayload) is None


def defer(sa: IkeSa, msg: Message, kept: Message | None) -> tuple[Message | None, Message | None]:
    """For a responder task riding on IKE_AUTH (the CHILD_SA, mode-config): the request to process
    now — None during EAP's rounds, the first request (which holds its payloads) in the last one —
    and the request to keep until then."""
    if sa.state != IkeState.CONNECTING:
        return msg, None
    if asks_for_eap(msg):
        return None, kept or msg
    return kept or msg, None


def _msk_authenticator(task: IkeAuth, msk: bytes) -> EapAuthenticator:
    auth = EapAuthenticator(task.sa.config.credentials)
    auth.msk = msk
    return auth


class EapResponder:
    """The gateway's rounds (see the module docstring); IkeAuth's responder methods delegate here."""

    __slots__ = ("authenticated", "first", "peer_id", "reply", "server", "signs", "task")

    def __init__(self, task: IkeAuth, peer_id: IdPayload, msg: Message) -> None:
        self.task = task
        self.peer_id = peer_id
        self.authenticated = False
        self.first = True  # the first response carries IDr (and the certificate's AUTH)
        sa = task.sa
        config = sa.config
        if config.auth_method not in GATEWAY_METHODS:
            task._refuse(
                f"peer {task.peer_shown} asks for EAP (no AUTH payload) but the identity has"
                f" auth-method={config.auth_method}; EAP clients need auth-method=eap-radius"
            )
        self.signs = pubkey.signs(config.auth_method, config.credentials, config.my_id)
        if not self.signs and msg.notify(NotifyType.EAP_ONLY_AUTHENTICATION) is None:
            task._refuse(
                f"peer {task.peer_shown} needs the gateway's certificate: set certificate= on the"
                " eap-radius identity (without one only EAP-only clients, RFC 5998, can connect)"
            )
        self.server: EapServer
        if config.eap_local:

            def lookup(user: str) -> str | None:
                secret = config.credentials.eap_secret(user)
                return secret.decode("utf-8", "replace") if secret is not None else None

            self.server = LocalEapServer(lookup, sa.rng)
        else:
            self.server = RadiusRelay(sa.addr[1][0], sa.rng)
        self.reply = self.server.start()

    def process_r(self, msg: Message) -> None:
        task, server = self.task, self.server
        if server.done:  # EAP succeeded: the client's AUTH keyed by the MSK (§2.16)
            auth = msg.get(AuthPayload)
            if auth is None:
                task._refuse(f"peer {task.peer_shown}: no AUTH payload after EAP-Success")
            assert auth is not None
            octets, ctx = task._context(self.peer_id, True)
            reason = _msk_authenticator(task, server.msk).verify(auth.method, auth.data, octets, ctx)
            if reason is not None:
                task._refuse(f"{reason} (the AUTH after EAP for EAP user {server.user})")
            task.sa.remote_id = task.peer_shown
            self.authenticated = True
            return
        eap = eap_payload(msg)
        if eap is None:
            task._refuse(f"peer {task.peer_shown}: an IKE_AUTH round without EAP payload during EAP")
        assert eap is not None
        try:
            out = server.receive(eap)
        except EapError as exc:
            task._refuse(f"peer {task.peer_shown}: EAP: {exc}")
            return
        if isinstance(out, RelayQuestion):
            token = object()
            task.sa.emit(VerdictRequested(token, out))
            raise AwaitVerdict(token)
        self._next(out)

    def verdict(self, result: object) -> None:
        try:
            self._next(self.server.answer(result))
        except EapError as exc:
            self.task._refuse(f"peer {self.task.peer_shown}: EAP: {exc}")

    def _next(self, packet: bytes) -> None:
        server = self.server
        if server.done and not server.msk:
            self.task._refuse(server.reason)
        self.reply = packet

    def build_r(self, out: list[Payload]) -> Status:
        task = self.task
        if self.authenticated:
            out.insert(0, task._auth_payload())  # keyed by the MSK: task.authenticator has it
            task._established()
            return None
        if self.first:
            self.first = False
            out.insert(0, task.my_id)
            if self.signs:
                octets, ctx = task._context(task.my_id, False)
                method, data = pubkey.PubkeyAuthenticator(task.sa.config.credentials).sign(octets, ctx)
                out.insert(1, AuthPayload(method, data))
        out.append(RawPayload(PayloadType.EAP, self.reply))
        if self.server.done:
            task.authenticator = _msk_authenticator(task, self.server.msk)
        return NEED_MORE


class EapInitiator:
    """The client's rounds (``auth-method=eap``); IkeAuth's initiator methods delegate here."""

    __slots__ = ("eap_only", "peer", "peer_idp", "reply", "round", "task")

    def __init__(self, task: IkeAuth) -> None:
        self.task = task
        config = task.sa.config
        secret = config.credentials.eap_secret(config.eap_user) or b""
        self.peer = EapPeer(
            config.eap_user, secret.decode("utf-8", "replace"), config.eap_methods, task.sa.rng
        )
        self.round = 0
        self.reply: bytes | None = None
        self.eap_only = 26 in config.eap_methods  # EAP-MSCHAPv2 is mutual and makes an MSK (RFC 5998 §4)
        self.peer_idp: IdPayload | None = None

    def build_i(self, out: list[Payload]) -> None:
        task, sa = self.task, self.task.sa
        if self.round == 0:
            out.append(task.my_id)
            if sa.config.remote_id not in ("auto", "ignore"):
                id_type, data = parse_identity(sa.config.remote_id, sa.addr[1][0])
                out.append(IdPayload(id_type, data, initiator=False))
            if self.eap_only:
                out.append(NotifyPayload(NotifyType.EAP_ONLY_AUTHENTICATION))
            if sa.config.send_initial_contact:
                out.append(NotifyPayload(NotifyType.INITIAL_CONTACT))
        elif self.peer.succeeded:
            out.append(task._auth_payload())  # keyed by the MSK
        else:
            assert self.reply is not None
            out.append(RawPayload(PayloadType.EAP, self.reply))
        self.round += 1

    def process_i(self, msg: Message) -> Status:
        task = self.task
        if self.peer.succeeded:  # the gateway's AUTH keyed by the MSK ends it
            auth = msg.get(AuthPayload)
            assert self.peer_idp is not None
            octets, ctx = task._context(self.peer_idp, False)
            reason = (
                "the gateway sent no AUTH after EAP"
                if auth is None
                else task.authenticator.verify(auth.method, auth.data, octets, ctx)
            )
            if reason is not None:
                return self._stop(reason)
            task.sa.remote_id = task.peer_shown
            task._established()
            return None
        if self.round == 1:
            reason = self._gateway(msg)
            if reason is not None:
                return self._stop(reason)
        eap = eap_payload(msg)
        if eap is None:
            return self._stop("the gateway's IKE_AUTH response carries no EAP payload")
        try:
            self.reply = self.peer.receive(eap)
        except EapError as exc:
            return self._stop(f"EAP: {exc}")
        if self.peer.failed:
            return self._stop(
                f"the gateway refused our EAP authentication: {self.peer.reason}"
                "; check username= and password="
            )
        if self.peer.succeeded:
            msk = self.peer.msk
            assert msk is not None
            task.authenticator = _msk_authenticator(task, msk)
        return NEED_MORE

    def _stop(self, reason: str) -> Status:
        self.task._give_up(reason)
        return None

    def _gateway(self, msg: Message) -> str | None:
        """The first response: the gateway's ID, and its certificate signature unless EAP-only."""
        task = self.task
        ids = [p for p in msg.all(IdPayload) if not p.initiator]
        if not ids:
            return "the gateway sent no IDr"
        self.peer_idp = ids[0]
        auth = msg.get(AuthPayload)
        if auth is None:
            if not self.eap_only:
                return "the gateway sent no AUTH and EAP-only authentication was not offered"
            return task.choose(ids[0])
        task.peer_certs = certificates(msg)
        return task.choose(ids[0]) or task.check_peer(
            ids[0], auth, pubkey.PubkeyAuthenticator(task.sa.config.credentials)
        )
