"""What main and aggressive mode share (RFC 2409 §5, §5.4; RFC 3947 §3; RFC 3706 §3.3).

* SKEYID = prf(pre-shared key, Ni_b | Nr_b); SKEYID_d/a/e, the cipher key and the first IV come
  from ``crypto/keymat`` (checked against strongSwan).
* HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b) (with an ECDSA method the
  curve's HMAC, RFC 4754) and
  HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b); SAi_b is the body of the
  initiator's SA payload as sent, whatever the responder chose from it.
* NAT-D = HASH(CKY-I | CKY-R | IP | Port), the peer's address first and ours second (RFC 3947
  §3.2), with the payload number of the NAT-T variant both announced (20, or 130 for the drafts).
* Vendor IDs: ours (NAT-T variants, DPD) and the peer's, which say whether it speaks NAT-T and DPD.

The responder of main mode found its PSK by the peer's address before any identity arrived; the
peer's ID (any type: the manual accepts FQDN, user-fqdn and key-id in main mode) is then checked
against ``remote-id``, or, for a configuration that serves several identities, it must pick a
configuration with the same PSK (a key that derived the keys already proved it). Secrets are
compared in constant time.
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from ipaddress import ip_address
from typing import TYPE_CHECKING, TypeVar

from ipsecd.crypto import keymat
from ipsecd.crypto.errors import CryptoError
from ipsecd.crypto.ke import KeyExchange, new_ke
from ipsecd.wire.ikev1 import vendor
from ipsecd.wire.ikev1.enums import NotifyType, ProtocolId
from ipsecd.wire.ikev1.payloads import (
    HashPayload,
    IdPayload,
    KePayload,
    NatDPayload,
    NoncePayload,
    NotifyPayload,
    Payload,
    VendorPayload,
)
from ipsecd.wire.ikev1.sa import SaPayload

from ..auth import pubkey
from ..v2.config import IkeConfig
from . import sigauth
from .config import V1ProtocolError
from .crypt import Phase1Keys
from .exchange import Exchange
from .ids import id_from_v2, identity_payload, identity_text
from .proposals import Phase1Algs, parse_phase1, phase1_candidates

if TYPE_CHECKING:
    from .sa import Ikev1Sa

NONCE_SIZE = 32


P = TypeVar("P", bound=Payload)


def first(payloads: list[Payload], kind: type[P], what: str) -> P:
    """The first payload of ``kind``; PAYLOAD-MALFORMED names what is missing."""
    found = next((p for p in payloads if isinstance(p, kind)), None)
    if found is None:
        raise V1ProtocolError(NotifyType.PAYLOAD_MALFORMED, f"{what} payload missing")
    return found


class Phase1(Exchange):
    """State and computations of one phase-1 exchange (Message ID 0)."""

    def __init__(self, sa: Ikev1Sa) -> None:
        self.sa = sa
        self.sai_b = b""  # the initiator's SA payload body
        self.ke: KeyExchange | None = None
        self.g_xi = b""
        self.g_xr = b""
        self.g_xy = b""
        self.ni = b""
        self.nr = b""
        self.algs: Phase1Algs | None = None
        self.skeyid = b""
        self.peer_id: IdPayload | None = None

    # -- vendor IDs and NAT detection ------------------------------------------------------------

    def vendor_ids(self) -> list[Payload]:
        sa = self.sa
        vids: list[bytes] = []
        if sa.config.nat_traversal:
            vids += list(sa.options.natt_vids) if sa.initiator or sa.natt is None else [sa.natt]
        vids.append(vendor.DPD)
        if sa.rw is not None:  # road warriors: XAuth and Cisco Unity (split-include) are spoken
            vids += [vendor.XAUTH, vendor.CISCO_UNITY]
        return [VendorPayload(v) for v in vids]

    def learn_vendor_ids(self, payloads: list[Payload]) -> None:
        sa = self.sa
        vids = [p.data for p in payloads if isinstance(p, VendorPayload)]
        sa.peer_vendors = tuple(vendor.describe(v) for v in vids)
        sa.peer_dpd = vendor.DPD in vids
        if sa.config.nat_traversal:
            offered = [v for v in vids if v in sa.options.natt_vids]
            sa.natt = vendor.natt_flavour(offered)

    def _natd(self, host: str, port: int) -> bytes:
        sa = self.sa
        assert self.algs is not None
        data = sa.cky_i + sa.cky_r + ip_address(host).packed + port.to_bytes(2, "big")
        return keymat.ikev1_hash(self.algs.hash.name, data)

    def natd_payloads(self) -> list[Payload]:
        sa = self.sa
        if sa.natt is None:
            return []
        (lhost, lport), (rhost, rport) = sa.addr
        draft = sa.natt != vendor.NATT_RFC3947
        local = (
            self._natd(lhost, lport) if not sa.config.force_encap else bytes(len(self._natd(lhost, lport)))
        )
        return [NatDPayload(self._natd(rhost, rport), draft), NatDPayload(local, draft)]

    def check_natd(self, payloads: list[Payload]) -> None:
        """RFC 3947 §3.2: the first NAT-D is the peer's view of us; the others of itself."""
        sa = self.sa
        natds = [p.data for p in payloads if isinstance(p, NatDPayload)]
        if sa.natt is None or len(natds) < 2:
            return
        (lhost, lport), (rhost, rport) = sa.addr
        sa.nat_local = sa.config.force_encap or not hmac.compare_digest(natds[0], self._natd(lhost, lport))
        theirs = self._natd(rhost, rport)
        sa.nat_remote = not any(hmac.compare_digest(d, theirs) for d in natds[1:])

    # -- keys ------------------------------------------------------------------------------------

    def chosen(self, sa_payload: SaPayload) -> Phase1Algs:
        """The single transform a responder answered with, which must be one we offered."""
        props = sa_payload.proposals
        if len(props) != 1 or len(props[0].transforms) != 1:
            raise V1ProtocolError(NotifyType.BAD_PROPOSAL_SYNTAX, "the reply must carry one transform")
        try:
            algs = parse_phase1(props[0].transforms[0], sigauth.phase1_auth(self.sa.config, self.sa.options))
        except CryptoError as e:
            raise V1ProtocolError(NotifyType.NO_PROPOSAL_CHOSEN, f"reply transform: {e}") from None
        if not any(
            (c.encr, c.hash, c.group) == (algs.encr, algs.hash, algs.group)
            for c in phase1_candidates(self.sa.config, self.sa.options)
        ):
            raise V1ProtocolError(
                NotifyType.NO_PROPOSAL_CHOSEN, "the reply chose a transform we did not offer"
            )
        return replace(algs, lifetime=algs.lifetime or self.sa.config.lifetime)

    def our_ke(self) -> KePayload:
        assert self.algs is not None
        self.ke = new_ke(self.algs.group.id, self.sa.rng)
        return KePayload(self.ke.public_value())

    def nonce(self) -> NoncePayload:
        return NoncePayload(self.sa.rng(NONCE_SIZE))

    def shared(self, peer_public: bytes) -> bytes:
        assert self.ke is not None
        try:
            return self.ke.compute_shared(peer_public)
        except CryptoError as e:
            raise V1ProtocolError(NotifyType.INVALID_KEY_INFORMATION, f"bad KE: {e}") from None

    def derive(self) -> None:
        sa = self.sa
        assert self.algs is not None
        if sa.options.signatures or sa.options.phase1_auth in sigauth.SIGNED:
            self.skeyid = sigauth.skeyid(self)
        else:
            self.skeyid = keymat.skeyid_psk(self.algs.hash.name, self.psk(sa.config), self.ni, self.nr)
        sa.keys = Phase1Keys.derive(
            self.algs, self.skeyid, self.g_xy, sa.cky_i, sa.cky_r, self.g_xi, self.g_xr
        )

    def psk(self, cfg: IkeConfig) -> bytes:
        """The key between our identity and the peer's (as configured until the peer showed its own),
        from the daemon's CredentialProvider."""
        sa = self.sa
        local = identity_text(identity_payload(cfg.my_id, sa.addr[0][0]))
        remote = sa.remote_id
        if not remote:
            configured = cfg.remote_id if cfg.remote_id not in ("auto", "ignore") else "auto"
            remote = identity_text(identity_payload(configured, sa.addr[1][0]))
        key = cfg.credentials.shared_key(local, remote)
        if not key:
            raise V1ProtocolError(
                NotifyType.AUTHENTICATION_FAILED, f"no pre-shared key for {local} and {remote}: set secret="
            )
        return key

    def hash_i(self, id_b: bytes) -> bytes:
        sa = self.sa
        return self._auth_prf(self.g_xi + self.g_xr + sa.cky_i + sa.cky_r + self.sai_b + id_b)

    def _auth_prf(self, data: bytes) -> bytes:
        """prf(SKEYID, data) of HASH_I/HASH_R: the negotiated PRF, or the curve's HMAC with ECDSA."""
        sa = self.sa
        assert sa.keys is not None
        curve_hash = sigauth.ecdsa_prf(sa.config, sa.options)
        if curve_hash is not None:
            return hmac.new(self.skeyid, data, curve_hash).digest()
        return sa.keys.prf(self.skeyid, data)

    def responder_proof(self, ours: IdPayload) -> list[Payload]:
        """What follows the responder's ID: HASH_R, or with signatures (digital-signature, hybrid)
        CERT and SIG_R."""
        if self.sa.options.signatures or self.sa.options.phase1_auth in sigauth.SIGNED:
            return sigauth.responder_proof(self, ours)
        return [HashPayload(self.hash_r(ours.body()))]

    def initiator_proof(self, id_b: bytes) -> list[Payload]:
        """HASH_I over our ID's body, or with digital-signature CERT and SIG_I."""
        if self.sa.options.signatures:
            return sigauth.proof(self, self.hash_i(id_b))
        return [HashPayload(self.hash_i(id_b))]

    def authenticate_peer(self, payloads: list[Payload], idp: IdPayload, expected: bytes) -> None:
        """The peer's HASH (PSK) or, with digital-signature, its certificate and SIG over ``expected``
        (HASH_I or HASH_R of its ID); then its ID against the configuration."""
        if self.sa.options.signatures:
            sigauth.verify_peer(self, payloads, idp, expected)
            return
        self.verify(self.hash_payload(payloads), expected)
        self.check_peer_id(idp)

    def hash_r(self, id_b: bytes) -> bytes:
        sa = self.sa
        return self._auth_prf(self.g_xr + self.g_xi + sa.cky_r + sa.cky_i + self.sai_b + id_b)

    # -- identities ------------------------------------------------------------------------------

    def our_id(self) -> IdPayload:
        cfg = self.sa.config
        own = pubkey.own_identity(cfg.credentials, cfg.my_id) if self.sa.options.signatures else None
        p = id_from_v2(*own) if own is not None else identity_payload(cfg.my_id, self.sa.addr[0][0])
        self.sa.local_id = identity_text(p)
        return p

    def check_peer_id(self, p: IdPayload) -> None:
        """The peer's ID against ``remote-id`` (``auto``: anything; in main mode the PSK, chosen by
        address, already authenticated it) or against the identity-selected configuration."""
        sa = self.sa
        text = identity_text(p)
        cfg = sa.config
        if cfg.identity_for is not None:
            other = cfg.identity_for(text)
            if other is None or not hmac.compare_digest(self.psk(other), self.psk(cfg)):
                raise V1ProtocolError(NotifyType.INVALID_ID_INFORMATION, f"no identity for ID {text!r}")
        elif cfg.remote_id not in ("auto", "ignore"):
            wanted = identity_text(identity_payload(cfg.remote_id, sa.addr[1][0]))
            if text != wanted:
                raise V1ProtocolError(NotifyType.INVALID_ID_INFORMATION,
                                      f"peer ID {text!r} is not remote-id {wanted!r}")
        sa.remote_id = text

    def verify(self, got: bytes, want: bytes) -> None:
        if not hmac.compare_digest(got, want):
            raise V1ProtocolError(NotifyType.INVALID_HASH_INFORMATION,
                                  "hash mismatch: the pre-shared keys differ (secret=)")

    def initial_contact(self) -> list[Payload]:
        sa = self.sa
        if not sa.config.send_initial_contact:
            return []
        return [NotifyPayload(NotifyType.INITIAL_CONTACT, sa.cky_i + sa.cky_r, b"", ProtocolId.ISAKMP)]

    def saw_initial_contact(self, payloads: list[Payload]) -> bool:
        return any(
            isinstance(p, NotifyPayload) and p.notify_type == NotifyType.INITIAL_CONTACT for p in payloads
        )

    def hash_payload(self, payloads: list[Payload]) -> bytes:
        return first(payloads, HashPayload, "HASH").data

