"""Certificates in IKE_SA_INIT and IKE_AUTH for ``auth-method=digital-signature`` (after strongSwan's
``ike_cert_pre``/``ike_cert_post``): RFC 7296 §1.2, §3.6, §3.7; RFC 7427 §4.

* IKE_SA_INIT, both ways: SIGNATURE_HASH_ALGORITHMS with the hashes we verify; the responder adds a
  CERTREQ naming its trusted CAs (so a peer that sends its certificate only when asked, strongSwan's
  default, does). A responder whose identity is picked only in IKE_AUTH (``identity_for``: the
  configuration chosen by address may use a pre-shared key while the one the peer's ID picks uses
  certificates) answers a peer's hash notify with its own, so the peer may sign with RFC 7427; one
  whose first identity does not sign but a further one (``identities``) does, announces and asks
  as that one would.
* IKE_AUTH: each side sends CERT payloads for its certificate and intermediates; the initiator adds
  its CERTREQ. The peer's CERT payloads are read by ``ike_auth`` (its authenticator validates them),
  and the peer's hashes come from its IKE_SA_INIT message, which the SA keeps for AUTH anyway.

The same for an ``eap-radius`` gateway with ``certificate=`` (it signs its first IKE_AUTH response),
and an ``eap`` client with a certificate store asks for the gateway's certificate (CERTREQ) and
announces the hashes it verifies. Nothing is added for other auth methods: a pre-shared-key
IKE_SA_INIT stays as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ipsecd.wire.enums import NotifyType, PayloadType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload

from ...auth import pubkey
from .base import Status, Task

if TYPE_CHECKING:
    from ..sa import IkeSa


class IkeCert(Task):
    """IKE_SA_INIT's part (:class:`IkeCertAuth` is IKE_AUTH's)."""

    __slots__ = ("peer_announced",)
    in_auth: ClassVar[bool] = False

    def __init__(self, sa: IkeSa) -> None:
        super().__init__(sa)
        self.peer_announced = False  # the initiator's IKE_SA_INIT carried SIGNATURE_HASH_ALGORITHMS

    def _add(self, out: list[Payload], *, certreq: bool) -> None:
        config = self.sa.config
        signing = pubkey.signs(config.auth_method, config.credentials, config.my_id)
        if not signing and not self.in_auth and config.identities:
            # a responder's first identity does not sign, a further one may: announce that one's
            # hashes and ask for the certificates it trusts, or the peer may send none to pick by
            config = config.identities[0]
            signing = True
        # an EAP client judges the gateway's certificate by its store: it asks for it (CERTREQ)
        use = config.credentials.certificate_use(config.my_id)
        eap_client = config.auth_method == "eap" and use is not None
        if not (signing or eap_client):
            if self.peer_announced and not self.in_auth and config.identity_for is not None:
                out.append(pubkey.hash_notify())
            return
        if self.in_auth:
            if signing:
                out += pubkey.cert_payloads(config.credentials, config.my_id)
        else:
            out.append(pubkey.hash_notify())
        if certreq:
            out += pubkey.certreq_payload(config.credentials, config.my_id)

    def build_i(self, out: list[Payload]) -> None:
        self._add(out, certreq=self.in_auth)

    def process_r(self, msg: Message) -> None:
        self.peer_announced = msg.notify(NotifyType.SIGNATURE_HASH_ALGORITHMS) is not None

    def build_r(self, out: list[Payload]) -> Status:
        self._add(out, certreq=not self.in_auth)
        return None


class IkeCertAuth(IkeCert):
    """IKE_AUTH's part: our CERT payloads (and the initiator's CERTREQ)."""

    __slots__ = ()
    in_auth = True


def certificates(msg: Message) -> tuple[bytes, ...]:
    """The CERT payloads' bodies (encoding octet, then the data; RFC 7296 §3.6) in their order."""
    return tuple(p.encode_body() for p in msg.payloads if p.ptype() == PayloadType.CERT)
