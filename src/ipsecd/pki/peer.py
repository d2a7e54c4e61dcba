"""Accepting a peer's certificate for an identity: what an IKE public-key authenticator asks of pki.

One call, :func:`accept_peer`, does what RouterOS's identity properties mean for a peer that
authenticates with a certificate (the manual's identities section, issue 12):

1. its chain (CERT payloads, DER, end entity first; or ``remote-certificate`` when it sent none) is
   validated against the store's trusted CAs and CRLs (:mod:`.verify`, under the store's ``crl-use``);
2. ``match-by=certificate`` then accepts exactly ``remote-certificate``; ``match-by=remote-id``
   checks the peer's ID against ``remote-id`` and the certificate (:mod:`.identity`).

The result carries the validated chain (its leaf's public key checks the AUTH payload, with
``crypto.sig``); a refusal raises :class:`~.verify.CertificateRefused` whose ``reason`` is the one log
line. :func:`pick_identity` is the responder's choice among several identities: the first whose
rules accept the peer's ID and certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .identity import Identity, check_remote_id, match_certificate
from .store import CertificateStore
from .verify import CertificateRefused, Refusal, ValidatedChain


@dataclass(frozen=True, slots=True)
class PeerRules:
    """An identity's properties that judge a peer's certificate (RouterOS names in the comments)."""

    remote_id: str = "auto"  # remote-id
    match_by: str = "remote-id"  # match-by: remote-id | certificate
    remote_certificate: str = ""  # remote-certificate (store name)


def accept_peer(
    store: CertificateStore, chain: Sequence[bytes], peer_id: Identity, rules: PeerRules
) -> ValidatedChain:
    """The peer's validated chain if ``rules`` accept it, else CertificateRefused saying why."""
    if rules.match_by == "certificate" and not rules.remote_certificate:
        raise CertificateRefused(Refusal.ID_MISMATCH, "match-by=certificate needs remote-certificate")
    validated = store.validate_peer(chain, rules.remote_certificate)
    if rules.match_by == "certificate":
        why = match_certificate(store.certificate(rules.remote_certificate), validated.leaf)
    else:
        why = check_remote_id(rules.remote_id, peer_id, validated.leaf)
    if why is not None:
        raise CertificateRefused(Refusal.ID_MISMATCH, why)
    return validated


def pick_identity(
    store: CertificateStore,
    chain: Sequence[bytes],
    peer_id: Identity,
    candidates: Sequence[tuple[str, PeerRules]],
) -> tuple[str, ValidatedChain]:
    """The first of ``candidates`` (name, rules) that accepts the peer; when none does, the refusal
    of the last one tried (an unknown CA reads the same for all of them)."""
    failure = CertificateRefused(Refusal.ID_MISMATCH, "no identity uses certificates")
    for name, rules in candidates:
        try:
            return name, accept_peer(store, chain, peer_id, rules)
        except CertificateRefused as exc:
            failure = exc
    raise failure
