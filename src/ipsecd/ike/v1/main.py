"""Main mode (identity protection) with pre-shared keys or signatures, RFC 2409 §5, §5.1 and §5.4.

        Initiator                          Responder
       -----------                        -----------
        HDR, SA                     -->                          (1)
                                    <--    HDR, SA               (2)
        HDR, KE, Ni [, CR] [, NAT-D x2]  -->                     (3)
                                    <--    HDR, KE, Nr [, CR] [, NAT-D x2]  (4)
        HDR*, IDii, HASH_I [, N]    -->                          (5)
                                    <--    HDR*, IDir, HASH_R    (6)

Vendor IDs ride in (1) and (2); NAT-D in (3) and (4) when both announced NAT-T (RFC 3947 §3);
an initiator that finds a NAT floats to port 4500 for (5). The responder's PSK was chosen by the
peer's address (IDii arrives encrypted under keys that PSK derives). With ``digital-signature``
HASH_I/HASH_R become [CERT,] SIG_I/SIG_R (RFC 2409 §5.1, ``sigauth``).
"""

from __future__ import annotations

from ipsecd.wire.ikev1.enums import ExchangeType, NotifyType, ProtocolId
from ipsecd.wire.ikev1.header import Header
from ipsecd.wire.ikev1.payloads import IdPayload, KePayload, NoncePayload, Payload
from ipsecd.wire.ikev1.sa import Proposal, SaPayload

from . import sigauth
from .config import V1ProtocolError
from .exchange import Outgoing
from .phase1 import Phase1, first
from .proposals import phase1_offer, select_phase1


class MainMode(Phase1):
    exchange_type = ExchangeType.MAIN
    step = 0  # the number of the last message handled or sent

    def start(self) -> Outgoing:
        offer = phase1_offer(self.sa.config, self.sa.options)
        self.sai_b = offer.encode_body()
        self.step = 1
        return Outgoing([offer, *self.vendor_ids()], False, True)

    def process(self, header: Header, payloads: list[Payload]) -> Outgoing | None:
        if self.step >= 4 and not header.encrypted:
            raise V1ProtocolError(NotifyType.PAYLOAD_MALFORMED, f"main mode message {self.step + 1} in clear")
        if self.sa.initiator:
            return self._initiator(payloads)
        return self._responder(payloads)

    def _initiator(self, payloads: list[Payload]) -> Outgoing | None:
        if self.step == 1:  # (2)
            self.algs = self.chosen(first(payloads, SaPayload, "SA"))
            self.learn_vendor_ids(payloads)
            self.g_xi = (ke := self.our_ke()).data
            self.ni = (ni := self.nonce()).data
            self.step = 3
            return Outgoing([ke, ni, *sigauth.certreqs(self), *self.natd_payloads()], False, True)
        if self.step == 3:  # (4)
            self.g_xr = first(payloads, KePayload, "KE").data
            self.nr = first(payloads, NoncePayload, "NONCE").data
            self.g_xy = self.shared(self.g_xr)
            self.derive()
            self.check_natd(payloads)
            self.sa.float_if_natted()
            idp = self.our_id()
            self.step = 5
            return Outgoing([idp, *self.initiator_proof(idp.body()), *self.initial_contact()], True, True)
        if self.step == 5:  # (6)
            idp = first(payloads, IdPayload, "ID")
            self.authenticate_peer(payloads, idp, self.hash_r(idp.body()))
            self.done = True
            self.step = 6
            self.sa.phase1_complete(self, initial_contact=False)
            return None
        return None

    def _responder(self, payloads: list[Payload]) -> Outgoing | None:
        sa = self.sa
        if self.step == 0:  # (1)
            offer = first(payloads, SaPayload, "SA")
            self.sai_b = offer.encode_body()
            transform, self.algs = select_phase1(offer, sa.config, sa.options)
            self.learn_vendor_ids(payloads)
            self.step = 2
            reply = SaPayload([Proposal(1, ProtocolId.ISAKMP, b"", [transform])])
            return Outgoing([reply, *self.vendor_ids()], False, False)
        if self.step == 2:  # (3)
            self.g_xi = first(payloads, KePayload, "KE").data
            self.ni = first(payloads, NoncePayload, "NONCE").data
            self.g_xr = (ke := self.our_ke()).data
            self.nr = (nr := self.nonce()).data
            self.g_xy = self.shared(self.g_xi)
            self.derive()
            self.check_natd(payloads)
            self.step = 4
            return Outgoing([ke, nr, *sigauth.certreqs(self), *self.natd_payloads()], False, False)
        if self.step == 4:  # (5)
            idp = first(payloads, IdPayload, "ID")
            self.authenticate_peer(payloads, idp, self.hash_i(idp.body()))
            ours = self.our_id()
            self.done = True
            self.step = 6
            self.sa.phase1_complete(self, initial_contact=self.saw_initial_contact(payloads))
            return Outgoing([ours, *self.responder_proof(ours)], True, False)
        return None
