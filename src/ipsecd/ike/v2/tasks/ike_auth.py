"""IKE_AUTH: identities and the AUTH payload (RFC 7296 §1.2, §2.15, §3.5).

Each side signs its own IKE_SA_INIT message, the peer's nonce and prf(SK_p, its ID payload body);
what it does with those octets is the identity's ``auth-method``'s :class:`~ipsecd.ike.auth.Authenticator`
(pre-shared key, NULL, EAP's MSK, signatures), whose secrets come from the injected
:class:`~ipsecd.ike.auth.CredentialProvider`. A verifier that answers later (RADIUS) raises
``AwaitVerdict``: the exchange waits for ``provide_verdict`` and goes on in :meth:`IkeAuth.verdict`.
The responder checks the
initiator's ID against the configured ``remote-id`` (``auto`` accepts any) before the AUTH value,
and answers AUTHENTICATION_FAILED for either; the initiator checks IDr and AUTH the same way and
gives the SA up on a mismatch. A responder with several identities for one peer picks the
configuration by the initiator's ID (``IkeConfig.identity_for``) before checking anything.
INITIAL_CONTACT (§2.4) is sent per ``send-initial-contact``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipsecd.crypto import auth
from ipsecd.wire.enums import ExchangeType, IdType, NotifyType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload
from ipsecd.wire.ikev2.payloads.simple import AuthPayload, IdPayload

from ...auth import AuthContext, Authenticator, authenticator_for, pubkey
from ...errors import ConfigError, IkeProtocolError
from ...events import AuthenticationFailed, IkeSaEstablished
from ..config import IkeConfig, format_identity, parse_identity
from ..state import Trigger
from .base import Status, Task
from .ike_cert import certificates
from .ike_eap import EapInitiator, EapResponder, asks_for_eap

if TYPE_CHECKING:
    from ..sa import IkeSa


class IkeAuth(Task):
    __slots__ = ("authenticator", "eap_client", "eap_gateway", "initial_contact", "my_id", "peer_certs",
                 "peer_id", "peer_shown")

    def __init__(self, sa: IkeSa) -> None:
        super().__init__(sa)
        self.initial_contact = False
        self.peer_shown = ""
        self.peer_id: tuple[IdType, bytes] | None = None
        self.peer_certs: tuple[bytes, ...] = ()  # the peer's CERT payload bodies, for signatures
        self.eap_gateway: EapResponder | None = None  # EAP rounds (ike_eap.py), when the peer asks for them
        self.eap_client: EapInitiator | None = None  # … or when we do (auth-method=eap)
        self._use(sa.config)

    def _use(self, config: IkeConfig) -> None:
        """Our ID payload and authenticator for ``config`` (``my-id=auto`` with a certificate sends
        the certificate's subjectAltName or DN, :func:`pubkey.own_identity`)."""
        sa = self.sa
        id_type, data = pubkey.own_identity(config.credentials, config.my_id) or parse_identity(
            config.my_id, sa.addr[0][0]
        )
        self.my_id = IdPayload(id_type, data, initiator=sa.is_initiator)
        self.authenticator: Authenticator = authenticator_for(config.auth_method, config.credentials)

    def _peer_hashes(self) -> tuple[int, ...] | None:
        """The peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4), from its IKE_SA_INIT message."""
        sa = self.sa
        if not pubkey.signs(sa.config.auth_method, sa.config.credentials, sa.config.my_id):
            return None
        init = Message.decode(sa.init_response if sa.is_initiator else sa.init_request)
        return pubkey.peer_hashes(init.notify(NotifyType.SIGNATURE_HASH_ALGORITHMS))

    def _context(self, id_payload: IdPayload, initiator_side: bool) -> tuple[bytes, AuthContext]:
        """The signed octets of the side that sent ``id_payload`` (§2.15) and the authenticator's context."""
        sa = self.sa
        assert sa.keys is not None and sa.algs is not None
        if initiator_side:
            octets = auth.ikev2_signed_octets(
                sa.algs.prf, sa.init_request, sa.nonce_r, sa.keys.sk_pi, id_payload.body()
            )
        else:
            octets = auth.ikev2_signed_octets(
                sa.algs.prf, sa.init_response, sa.nonce_i, sa.keys.sk_pr, id_payload.body()
            )
        remote = self.peer_shown or sa.config.remote_id
        ctx = AuthContext(
            sa.config.my_id,
            remote,
            sa.addr[1],
            sa.algs.prf,
            sa.keys.sk_pi if initiator_side else sa.keys.sk_pr,
            self.peer_certs,
            self.peer_id,
            sa.config.remote_id,
            self._peer_hashes() if initiator_side == sa.is_initiator else None,
        )
        return octets, ctx

    def _auth_payload(self) -> AuthPayload:
        """Our AUTH. When our key can sign in no way the peer verifies (an Ed25519 key, and a peer
        that announced no RFC 7427 hashes) the exchange ends with that reason: IkeProtocolError,
        which the responder answers with AUTHENTICATION_FAILED and which closes an initiator."""
        octets, ctx = self._context(self.my_id, self.sa.is_initiator)
        try:
            method, data = self.authenticator.sign(octets, ctx)
        except ConfigError as exc:
            self._refuse(str(exc))
        return AuthPayload(method, data)

    def _id_acceptable(self, peer: IdPayload) -> bool:
        expected = self.sa.config.remote_id
        if expected in ("auto", "ignore") or self.sa.config.auth_method == pubkey.AUTH_METHOD:
            # signatures: the authenticator checks remote-id against the ID and the certificate
            return True
        return parse_identity(expected, self.sa.addr[1][0]) == (peer.id_type, peer.data)

    def choose(self, peer_id: IdPayload) -> str | None:
        """Take note of the peer's ID; a responder picks its identity by it; why the ID is not
        acceptable (``remote-id``), or None."""
        shown = self.peer_shown = format_identity(peer_id.id_type, peer_id.data)
        self.peer_id = (peer_id.id_type, peer_id.data)
        config = self.sa.config
        if config.identities and self.peer_certs and not self.sa.is_initiator:
            options = (config, *config.identities)
            picked = pubkey.pick_by_certificate(
                [(c.credentials, c.my_id, c.remote_id) for c in options], self.peer_id, self.peer_certs
            )
            if picked:  # another identity than the first takes this peer's certificate
                self.sa.config = options[picked]
                self._use(options[picked])
        select = self.sa.config.identity_for
        if select is not None and not self.sa.is_initiator:
            chosen = select(shown)
            if chosen is None:
                return f"no identity for peer {shown}: add an identity with remote-id={shown}"
            self.sa.config = chosen
            self._use(chosen)
        if not self._id_acceptable(peer_id):
            return f"peer identity {shown} does not match remote-id={self.sa.config.remote_id}"
        return None

    def check_peer(
        self, peer_id: IdPayload, peer_auth: AuthPayload, authenticator: Authenticator
    ) -> str | None:
        """Why the peer's AUTH is not acceptable to ``authenticator``, or None (``AwaitVerdict``: later)."""
        octets, ctx = self._context(peer_id, not self.sa.is_initiator)
        reason = authenticator.verify(peer_auth.method, peer_auth.data, octets, ctx)
        if reason is None:
            self.sa.remote_id = self.peer_shown
        return reason

    def _verify(self, peer_id: IdPayload | None, peer_auth: AuthPayload | None) -> str | None:
        """Why the peer's identity or AUTH is not acceptable, or None (``AwaitVerdict``: later)."""
        if peer_id is None or peer_auth is None:
            return "no ID or AUTH payload"
        return self.choose(peer_id) or self.check_peer(peer_id, peer_auth, self.authenticator)

    def verdict(self, result: object) -> None:
        """The outside verdict on the peer's AUTH (either role's ``AwaitVerdict``) or EAP round. The
        initiator gives up on a refusal or is established, as ``process_i`` would have been."""
        if self.eap_gateway is not None:
            self.eap_gateway.verdict(result)
            return
        reason = self.authenticator.verdict(result)
        if self.sa.is_initiator:
            if reason is not None:
                self._give_up(reason)
                return
            self.sa.remote_id = self.peer_shown
            self._established()
            return
        if reason is not None:
            self._refuse(reason)
        self.sa.remote_id = self.peer_shown

    def _give_up(self, reason: str) -> None:
        """The initiator refuses the responder: the SA is gone."""
        self.sa.emit(AuthenticationFailed(self.sa.addr[1], reason))
        self.sa.fail(ExchangeType.IKE_AUTH, "AUTHENTICATION_FAILED", reason)

    def _refuse(self, reason: str) -> None:
        self.sa.emit(AuthenticationFailed(self.sa.addr[1], reason))
        raise IkeProtocolError(NotifyType.AUTHENTICATION_FAILED, reason, fatal=True)

    def _established(self) -> None:
        sa = self.sa
        assert sa.algs is not None
        sa.advance(Trigger.AUTHENTICATED)
        sa.local_id = format_identity(self.my_id.id_type, self.my_id.data)
        sa.start_lifetime()
        sa.emit(
            IkeSaEstablished(
                sa.local_spi,
                sa.remote_spi,
                sa.is_initiator,
                sa.addr[0],
                sa.addr[1],
                sa.local_id,
                sa.remote_id,
                sa.algs.encr.name,
                sa.algs.integ.name if sa.algs.integ else "null",
                sa.algs.prf.name,
                sa.algs.group.name,
                sa.nat_local,
                sa.nat_remote,
                sa.config.lifetime,
                self.initial_contact,
            )
        )

    # -- initiator ---------------------------------------------------------------------------

    def build_i(self, out: list[Payload]) -> None:
        sa = self.sa
        if sa.config.auth_method == "eap":
            if self.eap_client is None:
                self.eap_client = EapInitiator(self)
            self.eap_client.build_i(out)
            return
        out.append(self.my_id)
        if sa.config.remote_id not in ("auto", "ignore"):
            id_type, data = parse_identity(sa.config.remote_id, sa.addr[1][0])
            out.append(IdPayload(id_type, data, initiator=False))
        out.append(self._auth_payload())
        if sa.config.send_initial_contact:
            out.append(NotifyPayload(NotifyType.INITIAL_CONTACT))

    def process_i(self, msg: Message) -> Status:
        sa = self.sa
        err = msg.notify(NotifyType.AUTHENTICATION_FAILED)
        if err is not None:
            check = "username= and password=" if self.eap_client is not None else "secret="
            detail = f"the peer refused our authentication: check {check} and my-id/remote-id on both sides"
            sa.emit(AuthenticationFailed(sa.addr[1], detail))
            sa.fail(ExchangeType.IKE_AUTH, "AUTHENTICATION_FAILED", detail)
            return None
        fatal = next(
            (n for n in msg.all(NotifyPayload) if n.type.is_error and n.type not in _CHILD_ERRORS), None
        )
        if fatal is not None:
            sa.fail(ExchangeType.IKE_AUTH, fatal.type.name, "the peer refused IKE_AUTH")
            return None
        if self.eap_client is not None:
            return self.eap_client.process_i(msg)
        ids = [p for p in msg.all(IdPayload) if not p.initiator]
        self.peer_certs = certificates(msg)
        reason = self._verify(ids[0] if ids else None, msg.get(AuthPayload))
        if reason is not None:
            self._give_up(reason)
            return None
        self._established()
        return None

    # -- responder ---------------------------------------------------------------------------

    def process_r(self, msg: Message) -> None:
        if self.eap_gateway is not None:
            self.eap_gateway.process_r(msg)
            return
        ids = [p for p in msg.all(IdPayload) if p.initiator]
        self.peer_certs = certificates(msg)
        self.initial_contact = msg.notify(NotifyType.INITIAL_CONTACT) is not None
        if ids and asks_for_eap(msg):  # no AUTH: the initiator asks for EAP (§2.16)
            reason = self.choose(ids[0])
            if reason is not None:
                self._refuse(reason)
            self.eap_gateway = EapResponder(self, ids[0], msg)
            return
        reason = self._verify(ids[0] if ids else None, msg.get(AuthPayload))
        if reason is not None:
            self._refuse(reason)

    def build_r(self, out: list[Payload]) -> Status:
        if self.eap_gateway is not None:
            return self.eap_gateway.build_r(out)
        out.insert(0, self.my_id)
        out.insert(1, self._auth_payload())
        self._established()
        return None


# Error notifies about the first CHILD_SA: the IKE SA itself stands (RFC 7296 §1.2).
_CHILD_ERRORS = frozenset(
    {
        NotifyType.NO_PROPOSAL_CHOSEN,
        NotifyType.TS_UNACCEPTABLE,
        NotifyType.SINGLE_PAIR_REQUIRED,
        NotifyType.INTERNAL_ADDRESS_FAILURE,
        NotifyType.FAILED_CP_REQUIRED,
        NotifyType.INVALID_SELECTORS,
        NotifyType.NO_ADDITIONAL_SAS,
    }
)
