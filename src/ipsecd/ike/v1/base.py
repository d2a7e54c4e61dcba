"""Base mode with pre-shared keys (draft-ietf-ipsec-ike-base-mode, as racoon and RouterOS run it).

        Initiator                          Responder
       -----------                        -----------
        HDR, SA, IDii, Ni           -->
                                    <--    HDR, SA, IDir, Nr
        HDR, KE, HASH_I [, NAT-D x2] -->
                                    <--    HDR, KE, HASH_R [, NAT-D x2]

The identities and nonces travel first, so SKEYID = prf(PSK, Ni_b | Nr_b) exists before any key
exchange and the initiator authenticates before it has g^xr. Its hash therefore leaves g^xr out;
the responder's is main mode's (racoon's ``oakley_ph1hash_base_i`` and, for PSK,
``oakley_ph1hash_common``, checked against racoon's source):

    HASH_I = prf(SKEYID, g^xi | CKY-I | CKY-R | SAi_b | IDii_b)
    HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)

No message is encrypted: the first IV, hash(g^xi | g^xr), is where quick mode's IVs start.
"""

from __future__ import annotations

from ipsecd.crypto import keymat
from ipsecd.wire.ikev1.enums import ExchangeType, NotifyType, ProtocolId
from ipsecd.wire.ikev1.header import Header
from ipsecd.wire.ikev1.payloads import HashPayload, IdPayload, KePayload, NoncePayload, Payload
from ipsecd.wire.ikev1.sa import Proposal, SaPayload

from .config import V1ProtocolError
from .exchange import Outgoing
from .phase1 import Phase1, first
from .proposals import phase1_offer, select_phase1


class BaseMode(Phase1):
    exchange_type = ExchangeType.BASE
    step = 0
    idi_b = b""  # IDii_b, which HASH_I covers
    idr_b = b""  # IDir_b (responder), which HASH_R covers

    def base_hash_i(self) -> bytes:
        """HASH_I of base mode: without g^xr, which the initiator does not have yet."""
        sa = self.sa
        assert self.algs is not None
        data = self.g_xi + sa.cky_i + sa.cky_r + self.sai_b + self.idi_b
        return keymat.ikev1_prf(self.algs.hash.name, self.skeyid, data)

    def start(self) -> Outgoing:
        sa = self.sa
        offer = phase1_offer(sa.config, sa.options)
        self.sai_b = offer.encode_body()
        idp = self.our_id()
        self.idi_b = idp.body()
        self.ni = (ni := self.nonce()).data
        self.step = 1
        return Outgoing([offer, idp, ni, *self.vendor_ids()], False, True)

    def process(self, header: Header, payloads: list[Payload]) -> Outgoing | None:
        if header.encrypted:
            raise V1ProtocolError(NotifyType.PAYLOAD_MALFORMED, "base mode messages travel in clear")
        if self.sa.initiator:
            return self._initiator(payloads)
        return self._responder(payloads)

    def _skeyid(self) -> None:
        assert self.algs is not None
        self.skeyid = keymat.skeyid_psk(self.algs.hash.name, self.psk(self.sa.config), self.ni, self.nr)

    def _initiator(self, payloads: list[Payload]) -> Outgoing | None:
        if self.step == 1:  # SA, IDir, Nr
            self.algs = self.chosen(first(payloads, SaPayload, "SA"))
            self.learn_vendor_ids(payloads)
            self.peer_id = first(payloads, IdPayload, "ID")
            self.check_peer_id(self.peer_id)
            self.nr = first(payloads, NoncePayload, "NONCE").data
            self._skeyid()
            self.g_xi = (ke := self.our_ke()).data
            self.step = 3
            return Outgoing(
                [ke, HashPayload(self.base_hash_i()), *self.natd_payloads(), *self.initial_contact()],
                False,
                True,
            )
        if self.step == 3:  # KE, HASH_R
            assert self.peer_id is not None
            self.g_xr = first(payloads, KePayload, "KE").data
            self.g_xy = self.shared(self.g_xr)
            self.derive()
            self.verify(self.hash_payload(payloads), self.hash_r(self.peer_id.body()))
            self.check_natd(payloads)
            self.sa.float_if_natted()
            self.done = True
            self.step = 4
            self.sa.phase1_complete(self, initial_contact=False)
        return None

    def _responder(self, payloads: list[Payload]) -> Outgoing | None:
        sa = self.sa
        if self.step == 0:  # SA, IDii, Ni
            offer = first(payloads, SaPayload, "SA")
            idp = first(payloads, IdPayload, "ID")
            self.check_peer_id(idp)
            self.sai_b = offer.encode_body()
            self.idi_b = idp.body()
            transform, self.algs = select_phase1(offer, sa.config, sa.options)
            self.learn_vendor_ids(payloads)
            self.ni = first(payloads, NoncePayload, "NONCE").data
            self.nr = (nr := self.nonce()).data
            ours = self.our_id()
            self.idr_b = ours.body()
            self.step = 2
            reply = SaPayload([Proposal(1, ProtocolId.ISAKMP, b"", [transform])])
            return Outgoing([reply, ours, nr, *self.vendor_ids()], False, False)
        if self.step == 2:  # KE, HASH_I
            self.g_xi = first(payloads, KePayload, "KE").data
            self._skeyid()
            self.verify(self.hash_payload(payloads), self.base_hash_i())
            self.g_xr = (ke := self.our_ke()).data
            self.g_xy = self.shared(self.g_xi)
            self.derive()
            self.check_natd(payloads)
            self.done = True
            self.step = 4
            self.sa.phase1_complete(self, initial_contact=self.saw_initial_contact(payloads))
            return Outgoing([ke, HashPayload(self.hash_r(self.idr_b)), *self.natd_payloads()], False, False)
        return None

