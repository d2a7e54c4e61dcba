"""Aggressive mode with pre-shared keys or signatures, RFC 2409 §5, §5.1 and §5.4.

        Initiator                          Responder
       -----------                        -----------
        HDR, SA, KE, Ni, IDii       -->
                                    <--    HDR, SA, KE, Nr, IDir, HASH_R [, NAT-D x2]
        HDR*, HASH_I [, NAT-D x2]   -->

With ``digital-signature`` HASH_R and HASH_I become [CERT,] SIG_R and [CERT,] SIG_I (RFC 2409 §5.1,
``sigauth``); the responder checks the initiator's ID against its certificate at the third message.

The identities travel in clear, so the responder picks the configuration (and the PSK) by the
initiator's ID: several clients behind one NAT address are told apart this way. All offered
transforms share the group of the KE sent with them (the responder cannot answer another one).
Vendor IDs ride in the first two messages; an initiator behind a NAT floats to 4500 for the third
(RFC 3947 §4), which we send encrypted as strongSwan does; a clear one is accepted too.
"""

from __future__ import annotations

from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev1.enums import ExchangeType, NotifyType, ProtocolId
from ipsecd.wire.ikev1.header import HEADER_SIZE, Header
from ipsecd.wire.ikev1.message import decode_chain
from ipsecd.wire.ikev1.payloads import IdPayload, KePayload, NoncePayload, Payload
from ipsecd.wire.ikev1.sa import Proposal, SaPayload

from ..errors import ConfigError
from . import sigauth
from .config import V1ProtocolError
from .exchange import Outgoing
from .ids import identity_payload, identity_text
from .phase1 import Phase1, first
from .proposals import parse_phase1, phase1_offer, select_phase1


def initiator_id(data: bytes) -> str | None:
    """The initiator's phase-1 ID of a first aggressive-mode message, as RouterOS writes identities
    (``fqdn:rw1.example``), for choosing the peer by it; None when the message has no readable ID."""
    try:
        hdr = Header.decode(data)
        if hdr.exchange != ExchangeType.AGGRESSIVE or hdr.encrypted:
            return None
        payloads = decode_chain(hdr.next_payload, data[HEADER_SIZE:])
        found = next((p for p in payloads if isinstance(p, IdPayload)), None)
    except WireError:
        return None
    return identity_text(found) if found is not None else None


def identifies(remote_id: str, shown: str, address: str) -> bool:
    """Whether a configured ``remote-id`` names the ID ``shown`` by a peer at ``address``."""
    if remote_id in ("auto", "ignore"):
        return True
    try:
        return identity_text(identity_payload(remote_id, address)) == shown
    except (ConfigError, KeyError):
        return False


class AggressiveMode(Phase1):
    exchange_type = ExchangeType.AGGRESSIVE
    step = 0
    id_b = b""  # the initiator's IDii_b (HASH_I covers it)

    def start(self) -> Outgoing:
        sa = self.sa
        offer = phase1_offer(sa.config, sa.options)
        prop = offer.proposals[0]
        group = prop.transforms[0].attr(4)  # GROUP_DESCRIPTION: every transform must share it
        prop.transforms = [t for t in prop.transforms if t.attr(4) == group]
        for n, t in enumerate(prop.transforms, 1):
            t.number = n
        self.sai_b = offer.encode_body()
        self.algs = parse_phase1(prop.transforms[0], sigauth.phase1_auth(sa.config, sa.options))
        self.g_xi = (ke := self.our_ke()).data
        self.ni = (ni := self.nonce()).data
        self.peer_id = None
        idp = self.our_id()
        self.id_b = idp.body()
        self.step = 1
        return Outgoing([offer, ke, ni, idp, *sigauth.certreqs(self), *self.vendor_ids()], False, True)

    def process(self, header: Header, payloads: list[Payload]) -> Outgoing | None:
        if self.sa.initiator:
            return self._initiator(payloads) if self.step == 1 else None
        return self._responder(payloads)

    def _initiator(self, payloads: list[Payload]) -> Outgoing:
        sa = self.sa
        self.algs = self.chosen(first(payloads, SaPayload, "SA"))
        self.learn_vendor_ids(payloads)
        self.g_xr = first(payloads, KePayload, "KE").data
        self.nr = first(payloads, NoncePayload, "NONCE").data
        idp = first(payloads, IdPayload, "ID")
        self.g_xy = self.shared(self.g_xr)
        self.derive()
        self.authenticate_peer(payloads, idp, self.hash_r(idp.body()))
        self.check_natd(payloads)
        natd = self.natd_payloads()
        sa.float_if_natted()
        self.done = True
        self.step = 3
        sa.phase1_complete(self, initial_contact=False)
        return Outgoing([*self.initiator_proof(self.id_b), *natd, *self.initial_contact()], True, False)

    def _responder(self, payloads: list[Payload]) -> Outgoing | None:
        sa = self.sa
        if self.step == 0:
            offer = first(payloads, SaPayload, "SA")
            idp = first(payloads, IdPayload, "ID")
            if sa.config.identity_for is not None:
                cfg = sa.config.identity_for(identity_text(idp))
                if cfg is None:
                    raise V1ProtocolError(
                        NotifyType.INVALID_ID_INFORMATION, f"no identity for {identity_text(idp)!r}"
                    )
                sa.config = cfg
            if not sa.options.signatures:  # a signing peer's ID is checked with its certificate (3)
                self.check_peer_id(idp)
            self.peer_id = idp
            self.sai_b = offer.encode_body()
            self.id_b = idp.body()
            transform, self.algs = select_phase1(offer, sa.config, sa.options)
            self.learn_vendor_ids(payloads)
            self.g_xi = first(payloads, KePayload, "KE").data
            self.ni = first(payloads, NoncePayload, "NONCE").data
            self.g_xr = (ke := self.our_ke()).data
            self.nr = (nr := self.nonce()).data
            self.g_xy = self.shared(self.g_xi)
            self.derive()
            ours = self.our_id()
            self.step = 2
            reply = SaPayload([Proposal(1, ProtocolId.ISAKMP, b"", [transform])])
            proof = [*sigauth.certreqs(self), *self.responder_proof(ours)]
            return Outgoing([reply, ke, nr, ours, *proof, *self.vendor_ids(),
                             *self.natd_payloads()], False, True)
        if self.step == 2:
            assert self.peer_id is not None
            if sa.options.signatures:
                self.authenticate_peer(payloads, self.peer_id, self.hash_i(self.id_b))
            else:
                self.verify(self.hash_payload(payloads), self.hash_i(self.id_b))
            self.check_natd(payloads)
            self.done = True
            self.step = 3
            sa.phase1_complete(self, initial_contact=self.saw_initial_contact(payloads))
        return None
