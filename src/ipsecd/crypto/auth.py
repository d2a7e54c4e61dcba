"""Authentication values: IKEv2 AUTH (RFC 7296 §2.15, RFC 9242 §3.3.2) and IKEv1 HASH_I/HASH_R (RFC 2409 §5).

IKEv2, what each side signs (or MACs with a shared key):

    InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI [| IntAuth]
    ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR [| IntAuth]
    MACedIDForI = prf(SK_pi, RestOfInitIDPayload)       (ID payload body: type, reserved, data)
    AUTH (shared key) = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets> )

``IntAuth`` (RFC 9242, when IKE_INTERMEDIATE exchanges took place) is IntAuth_iN | IntAuth_rN |
IKE_AUTH message ID, built from ``ikev2_intauth`` per exchange. The same signed octets feed RSA and
digital-signature AUTH (RFC 7427); only the PSK case is computed here.

IKEv1 main/aggressive mode (the prf is the HMAC of the negotiated hash):

    HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
    HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)

and quick mode (§5.5): HASH(1) = prf(SKEYID_a, M-ID | rest of message after HASH(1)),
HASH(2) = prf(SKEYID_a, M-ID | Ni_b | rest after HASH(2)), HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
Comparisons of received values go through ``hmac.compare_digest``.
"""

from __future__ import annotations

import hmac
import struct
from functools import lru_cache

from ipsecd.crypto.errors import MalformedInputError
from ipsecd.crypto.keymat import PrfAlgorithm, cookie_pair, ikev1_prf
from ipsecd.crypto.prf import new_prf

KEY_PAD = b"Key Pad for IKEv2"


# -- IKEv2 ---------------------------------------------------------------------------------------


def ikev2_maced_id(prf_alg: PrfAlgorithm, sk_p: bytes, id_payload_body: bytes) -> bytes:
    """prf(SK_px, RestOfIDPayload): the ID payload without its 4-byte generic header."""
    if len(id_payload_body) < 4:
        raise MalformedInputError(f"IKEv2 AUTH: ID payload body of {len(id_payload_body)} bytes (< 4)")
    return new_prf(prf_alg, sk_p).compute(id_payload_body)


def ikev2_signed_octets(
    prf_alg: PrfAlgorithm,
    message: bytes,
    peer_nonce: bytes,
    sk_p: bytes,
    id_payload_body: bytes,
    int_auth: bytes = b"",
) -> bytes:
    """<SignedOctets> of one side: its first message | the peer's nonce | prf(SK_p, its ID) [| IntAuth].

    For the initiator: ``message`` = its IKE_SA_INIT request, ``peer_nonce`` = Nr, ``sk_p`` = SK_pi,
    its IDi; for the responder: its IKE_SA_INIT response, Ni, SK_pr, IDr.
    """
    return message + peer_nonce + ikev2_maced_id(prf_alg, sk_p, id_payload_body) + int_auth


@lru_cache(maxsize=1024)
def _key_pad(prf_name: str, psk: bytes) -> bytes:
    """prf(Shared Secret, "Key Pad for IKEv2"): the same for every IKE SA of one secret, so it is
    computed once per (PRF, secret), not twice per IKE_AUTH."""
    return new_prf(prf_name, psk).compute(KEY_PAD)


def ikev2_psk_auth(prf_alg: PrfAlgorithm, psk: bytes, signed_octets: bytes) -> bytes:
    """AUTH data for shared-key authentication (also EAP, with the MSK as the shared secret)."""
    if not psk:
        raise MalformedInputError("IKEv2 AUTH: empty shared secret")
    pad_key = _key_pad(prf_alg if isinstance(prf_alg, str) else prf_alg.name, psk)
    return new_prf(prf_alg, pad_key).compute(signed_octets)


def ikev2_psk_verify(prf_alg: PrfAlgorithm, psk: bytes, signed_octets: bytes, received: bytes) -> bool:
    """Constant-time check of a peer's shared-key AUTH data."""
    return hmac.compare_digest(ikev2_psk_auth(prf_alg, psk, signed_octets), received)


def ikev2_intauth(
    prf_alg: PrfAlgorithm, sk_p: bytes, previous: bytes, authenticated: bytes, plaintext: bytes
) -> bytes:
    """RFC 9242 §3.3.2: IntAuth_[i/r]N = prf(SK_p[i/r]N, IntAuth_[i/r](N-1) | IntAuth_[i/r]N_A [| _P]).

    ``previous`` is b"" for the first IKE_INTERMEDIATE exchange; ``authenticated`` is the message
    from the IKE header to the Encrypted payload's first octets (``_A``, with the length fields of the
    unencrypted message); ``plaintext`` the inner payloads (``_P``). ``sk_p`` is the SK_p in force
    when that message was sent.
    """
    return new_prf(prf_alg, sk_p).compute(previous + authenticated + plaintext)


def ikev2_intauth_block(int_auth_i: bytes, int_auth_r: bytes, ike_auth_message_id: int) -> bytes:
    """IntAuth = IntAuth_iN | IntAuth_rN | IKE_AUTH_MID, appended to both sides' signed octets."""
    return int_auth_i + int_auth_r + struct.pack("!I", ike_auth_message_id)


# -- IKEv1 ---------------------------------------------------------------------------------------


def ikev1_hash_i(
    hash_alg: str,
    skeyid: bytes,
    g_xi: bytes,
    g_xr: bytes,
    cky_i: bytes,
    cky_r: bytes,
    sai_b: bytes,
    idii_b: bytes,
) -> bytes:
    """HASH_I of main and aggressive mode (RFC 2409 §5); SAi_b and IDii_b are payload bodies."""
    return ikev1_prf(hash_alg, skeyid, g_xi + g_xr + cookie_pair(cky_i, cky_r) + sai_b + idii_b)


def ikev1_hash_r(
    hash_alg: str,
    skeyid: bytes,
    g_xi: bytes,
    g_xr: bytes,
    cky_i: bytes,
    cky_r: bytes,
    sai_b: bytes,
    idir_b: bytes,
) -> bytes:
    """HASH_R of main and aggressive mode: the initiator's values swapped, the responder's ID."""
    return ikev1_prf(hash_alg, skeyid, g_xr + g_xi + cookie_pair(cky_r, cky_i) + sai_b + idir_b)


def ikev1_qm_hash1(hash_alg: str, skeyid_a: bytes, message_id: int, rest: bytes) -> bytes:
    """Quick mode HASH(1) (and informational HASH(1)): prf(SKEYID_a, M-ID | payloads after HASH)."""
    return ikev1_prf(hash_alg, skeyid_a, struct.pack("!I", message_id) + rest)


def ikev1_qm_hash2(hash_alg: str, skeyid_a: bytes, message_id: int, ni_b: bytes, rest: bytes) -> bytes:
    """Quick mode HASH(2): prf(SKEYID_a, M-ID | Ni_b | payloads after HASH(2))."""
    return ikev1_prf(hash_alg, skeyid_a, struct.pack("!I", message_id) + ni_b + rest)


def ikev1_qm_hash3(hash_alg: str, skeyid_a: bytes, message_id: int, ni_b: bytes, nr_b: bytes) -> bytes:
    """Quick mode HASH(3): prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)."""
    return ikev1_prf(hash_alg, skeyid_a, b"\x00" + struct.pack("!I", message_id) + ni_b + nr_b)
