"""Encrypting and verifying the SK payload of an IKE SA (RFC 7296 §3.14, RFC 5282 for AEAD).

Only SK travels in protected messages here, so the plaintext chain is the whole message content.
Non-AEAD: ICV = integ(SK_a, header .. ciphertext), checked before anything is decrypted. AEAD: the
IKE header and the SK generic header are the associated data; the 8-byte IV is a per-key counter,
so an IV never repeats under one key (RFC 5282 §3.1).

Cipher and HMAC contexts are built per message, for the one direction it needs, and not kept: an
IKE SA exchanges a message every few minutes, and thousands of idle SAs should not each hold four
OpenSSL contexts (DESIGN.md §5).
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable

from ipsecd.crypto.encr import AeadCipher, new_cipher
from ipsecd.crypto.errors import CryptoError, IntegrityError
from ipsecd.crypto.integ import icv_once
from ipsecd.crypto.keymat import IkeSaKeys
from ipsecd.wire.enums import PayloadType
from ipsecd.wire.ikev2.header import HEADER_SIZE, Header
from ipsecd.wire.ikev2.message import Message, decode_chain, encode_chain
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.sk import SkPayload

from ..errors import InvalidMessageError
from .proposals import IkeAlgs

Rng = Callable[[int], bytes]


class Protection:
    """One direction pair of SK keys: ``seal`` what we send, ``unseal`` what we receive."""

    __slots__ = ("_a_in", "_a_out", "_aead_counter", "_e_in", "_e_out", "_rng", "algs")

    def __init__(self, algs: IkeAlgs, sk_e_out: bytes, sk_a_out: bytes, sk_e_in: bytes, sk_a_in: bytes,
                 rng: Rng) -> None:
        self.algs = algs
        self._e_out, self._a_out, self._e_in, self._a_in = sk_e_out, sk_a_out, sk_e_in, sk_a_in
        self._rng = rng
        self._aead_counter = 0

    @classmethod
    def for_role(cls, algs: IkeAlgs, keys: IkeSaKeys, initiator: bool, rng: Rng) -> Protection:
        """The original initiator sends with SK_ei/SK_ai, the responder with SK_er/SK_ar (§2.14)."""
        if initiator:
            return cls(algs, keys.sk_ei, keys.sk_ai, keys.sk_er, keys.sk_ar, rng)
        return cls(algs, keys.sk_er, keys.sk_ar, keys.sk_ei, keys.sk_ai, rng)

    def seal(self, header: Header, payloads: list[Payload]) -> bytes:
        first, plain = encode_chain(payloads)
        c = new_cipher(self.algs.encr, self._e_out)
        block = c.block_size
        pad = (-(len(plain) + 1)) % block
        padded = plain + bytes(pad) + bytes([pad])
        header.next_payload = PayloadType.SK
        if isinstance(c, AeadCipher):
            self._aead_counter += 1
            iv = struct.pack("!Q", self._aead_counter)
            length = 4 + len(iv) + len(padded) + c.icv_size
            head = header.encode(HEADER_SIZE + length) + _SK_HEAD.pack(first, 0, length)
            return head + iv + c.seal(iv, padded, head)
        integ = self.algs.integ
        iv = self._rng(c.iv_size)
        length = 4 + len(iv) + len(padded) + (integ.icv_size if integ else 0)
        head = header.encode(HEADER_SIZE + length) + _SK_HEAD.pack(first, 0, length)
        data = head + iv + c.encrypt(iv, padded)
        return data + (icv_once(integ, self._a_out, data) if integ else b"")

    def unseal(self, data: bytes, msg: Message) -> list[Payload]:
        """The inner payloads of ``msg`` (decoded from ``data``); InvalidMessageError if it fails."""
        sk = msg.get(SkPayload)
        if sk is None:
            raise InvalidMessageError(f"{msg.header.exchange.name} without an SK payload")
        try:
            c = new_cipher(self.algs.encr, self._e_in)
            if isinstance(c, AeadCipher):
                iv, rest = sk.body[:8], sk.body[8:]
                plain = c.open(iv, rest, data[:sk.offset])
            else:
                integ = self.algs.integ
                icv_size = integ.icv_size if integ else 0
                end = len(data) - icv_size
                # the ICV is checked (in constant time) before anything is decrypted
                if integ is not None and not hmac.compare_digest(
                    icv_once(integ, self._a_in, data[:end]), data[end:]
                ):
                    raise IntegrityError(f"{integ.name}: ICV mismatch")
                body = sk.body[: len(sk.body) - icv_size]
                iv, ct = body[: c.iv_size], body[c.iv_size :]
                plain = c.decrypt(iv, ct)
        except CryptoError as e:
            raise InvalidMessageError(f"SK payload does not verify: {e}") from None
        if not plain or plain[-1] + 1 > len(plain):
            raise InvalidMessageError("SK padding length exceeds the plaintext")
        inner = plain[: len(plain) - 1 - plain[-1]]
        return decode_chain(sk.first_inner, inner)


_SK_HEAD = struct.Struct("!BBH")  # the SK payload's generic header: first inner payload, flags, length
