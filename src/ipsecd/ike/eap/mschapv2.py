"""MS-CHAPv2 (RFC 2759) with its MPPE keys (RFC 3079 §3) as EAP-MSCHAPv2 uses them.

The primitives follow RFC 2759 §8: the peer hashes the password with MD4 over its UTF-16LE form,
answers the server's 16-octet challenge with a 24-octet NT-Response (three single-DES encryptions of
an 8-octet ChallengeHash), and checks the server's AuthenticatorResponse ("S=<40 hex>") to
authenticate the server in turn. The EAP MSK (32 octets) is the peer's MPPE send key ‖ receive key
(RFC 3079 §3.3–§3.4, with 128-bit keys), which a RADIUS server sends the NAS as MS-MPPE-Recv-Key ‖
MS-MPPE-Send-Key.

:class:`MsChapV2Peer` and :class:`MsChapV2Server` are sans-I/O EAP method objects: EAP packets in,
EAP packets out, randomness injected. Every received MAC-like value is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from ...wire.eap import EapCode, EapError, EapPacket, EapType, MsChapV2, MsOp, parse_mschapv2
from .md4 import md4

Random = Callable[[int], bytes]

_MAGIC1 = b"Magic server to client signing constant"  # RFC 2759 §8.7
_MAGIC2 = b"Pad to make it do more than one iteration"
_MASTER_MAGIC = b"This is the MPPE Master Key"  # RFC 3079 §3.4
_SEND_CLIENT = (  # RFC 3079 §3.4 Magic2: the client's send key, the server's receive key
    b"On the client side, this is the send key; on the server side, it is the receive key."
)
_RECV_CLIENT = (  # Magic3: the client's receive key, the server's send key
    b"On the client side, this is the receive key; on the server side, it is the send key."
)
_SHS_PAD1 = bytes(40)
_SHS_PAD2 = b"\xf2" * 40


def password_hash(password: str) -> bytes:
    """NtPasswordHash (RFC 2759 §8.3): MD4 of the UTF-16LE password."""
    return md4(password.encode("utf-16-le"))


def challenge_hash(peer_challenge: bytes, auth_challenge: bytes, username: bytes) -> bytes:
    """ChallengeHash (RFC 2759 §8.2): the user name is without any domain prefix."""
    return hashlib.sha1(peer_challenge + auth_challenge + username).digest()[:8]


def _des_key(seven: bytes) -> bytes:
    """Spread 56 key bits over 8 octets (parity bits left zero; DES ignores them)."""
    bits = int.from_bytes(seven, "big")
    return bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))


def _des(key7: bytes, block: bytes) -> bytes:
    # TripleDES with K1 = K2 = K3 is single DES
    encryptor = Cipher(TripleDES(_des_key(key7) * 3), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def nt_response(auth_challenge: bytes, peer_challenge: bytes, username: bytes, pw_hash: bytes) -> bytes:
    """GenerateNTResponse (RFC 2759 §8.1, §8.5): ChallengeResponse with the password hash."""
    challenge = challenge_hash(peer_challenge, auth_challenge, username)
    key = pw_hash + bytes(5)
    return b"".join(_des(key[i : i + 7], challenge) for i in (0, 7, 14))


def authenticator_response(
    pw_hash: bytes, nt_resp: bytes, peer_challenge: bytes, auth_challenge: bytes, username: bytes
) -> bytes:
    """GenerateAuthenticatorResponse (RFC 2759 §8.7): b"S=" and 40 upper-case hex digits."""
    digest = hashlib.sha1(md4(pw_hash) + nt_resp + _MAGIC1).digest()
    challenge = challenge_hash(peer_challenge, auth_challenge, username)
    digest = hashlib.sha1(digest + challenge + _MAGIC2).digest()
    return b"S=" + digest.hex().upper().encode()


def msk(pw_hash: bytes, nt_resp: bytes) -> bytes:
    """The 32-octet EAP-MSCHAPv2 MSK: the client's send key ‖ receive key (RFC 3079 §3.4 GetMasterKey
    and GetAsymmetricStartKey with 16-octet keys), i.e. MS-MPPE-Recv-Key ‖ MS-MPPE-Send-Key."""
    master = hashlib.sha1(md4(pw_hash) + nt_resp + _MASTER_MAGIC).digest()[:16]
    keys = (hashlib.sha1(master + _SHS_PAD1 + m + _SHS_PAD2).digest() for m in (_SEND_CLIENT, _RECV_CLIENT))
    return b"".join(k[:16] for k in keys)


def _user_part(identity: bytes) -> bytes:
    """RFC 2759 §4: the ChallengeHash uses the user name without a ``DOMAIN\\`` prefix."""
    return identity.rpartition(b"\\")[2]


class MsChapV2Peer:
    """The peer (client) side of EAP-MSCHAPv2: answers the challenge, checks the server's
    AuthenticatorResponse, acknowledges Success, and holds the MSK once the server is proven."""

    def __init__(self, username: str, password: str, random: Random = os.urandom) -> None:
        self._username = username.encode()
        self._pw_hash = password_hash(password)
        self._random = random
        self._expected: bytes | None = None
        self._nt: bytes = b""
        self.msk: bytes | None = None
        self.failure: str | None = None

    def process(self, request: EapPacket) -> EapPacket:
        """The EAP-Response to an EAP-MSCHAPv2 request; raises :class:`EapError` on a request
        out of turn or a server that does not prove it knows the password."""
        ms = parse_mschapv2(request.data)
        if ms.op == MsOp.CHALLENGE and self._expected is None:
            peer_challenge = self._random(16)
            self._nt = nt_response(ms.value, peer_challenge, _user_part(self._username), self._pw_hash)
            self._expected = authenticator_response(
                self._pw_hash, self._nt, peer_challenge, ms.value, _user_part(self._username)
            )
            value = peer_challenge + bytes(8) + self._nt + b"\0"
            reply = MsChapV2(MsOp.RESPONSE, ms.ms_id, value, self._username)
        elif ms.op == MsOp.SUCCESS and self._expected is not None and self.msk is None:
            received = ms.name[:42]
            if not hmac.compare_digest(received, self._expected):
                raise EapError("EAP-MSCHAPv2 server's AuthenticatorResponse does not verify")
            self.msk = msk(self._pw_hash, self._nt)
            reply = MsChapV2(MsOp.SUCCESS, short=True)
        elif ms.op == MsOp.FAILURE:
            self.failure = ms.name.decode("latin-1")
            reply = MsChapV2(MsOp.FAILURE, short=True)
        else:
            raise EapError(f"EAP-MSCHAPv2 OpCode {ms.op} out of turn")
        return EapPacket(EapCode.RESPONSE, request.identifier, EapType.MSCHAPV2, reply.encode())


class MsChapV2Server:
    """The authenticator side (for ipsecd's RADIUS-free local verification and the tests): sends a
    challenge, checks the NT-Response against ``lookup(user)``'s password, proves itself, and ends
    with EAP-Success (MSK set) or EAP-Failure."""

    def __init__(
        self, lookup: Callable[[str], str | None], name: str = "ipsecd", random: Random = os.urandom
    ) -> None:
        self._lookup = lookup
        self._name = name.encode()
        self._challenge = random(16)
        self._ms_id = random(1)[0]
        self._pending: tuple[bytes, bytes] | None = None  # (password hash, NT-Response) once proven
        self.msk: bytes | None = None
        self.done = False

    def start(self, identifier: int) -> EapPacket:
        ms = MsChapV2(MsOp.CHALLENGE, self._ms_id, self._challenge, self._name)
        return EapPacket(EapCode.REQUEST, identifier, EapType.MSCHAPV2, ms.encode())

    def process(self, response: EapPacket) -> EapPacket:
        """The next request, EAP-Success or EAP-Failure for the peer's ``response``."""
        nxt = (response.identifier + 1) & 0xFF
        if response.type != EapType.MSCHAPV2 or self.done:
            return self._fail(nxt)
        ms = parse_mschapv2(response.data)
        if ms.op == MsOp.RESPONSE and self._pending is None:
            return self._check(ms, nxt)
        if ms.op == MsOp.SUCCESS and self._pending is not None:
            self.msk = msk(*self._pending)
            self.done = True
            return EapPacket(EapCode.SUCCESS, nxt)
        return self._fail(nxt)

    def _check(self, ms: MsChapV2, nxt: int) -> EapPacket:
        password = self._lookup(ms.name.decode("utf-8", "replace"))
        peer_challenge, nt = ms.value[:16], ms.value[24:48]
        user = _user_part(ms.name)
        pw_hash = password_hash(password or "")
        expected = nt_response(self._challenge, peer_challenge, user, pw_hash)
        if password is None or not hmac.compare_digest(expected, nt):
            message = b"E=691 R=0 C=%s V=3 M=Authentication failed" % self._challenge.hex().upper().encode()
            failure = MsChapV2(MsOp.FAILURE, ms.ms_id, name=message)
            return EapPacket(EapCode.REQUEST, nxt, EapType.MSCHAPV2, failure.encode())
        self._pending = (pw_hash, nt)
        proof = authenticator_response(pw_hash, nt, peer_challenge, self._challenge, user)
        success = MsChapV2(MsOp.SUCCESS, ms.ms_id, name=proof + b" M=Welcome")
        return EapPacket(EapCode.REQUEST, nxt, EapType.MSCHAPV2, success.encode())

    def _fail(self, identifier: int) -> EapPacket:
        self.done = True
        return EapPacket(EapCode.FAILURE, identifier)
