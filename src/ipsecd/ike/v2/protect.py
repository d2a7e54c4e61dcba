"""Encrypting and verifying the SK payload of an IKE SA (RFC 7296 §3.14, RFC 5282 for AEAD).

Only SK travels in protected messages here, so the plaintext chain is the whole message content;
or, once IKE fragmentation is negotiated, SKF fragments each carrying a slice of it (RFC 7383).
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
from ipsecd.wire.ikev2.payloads.skf import NUMBERS, SkfPayload

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
        return self._seal(header, PayloadType.SK, first, plain, b"")

    def seal_fragments(self, header: Header, payloads: list[Payload], size: int) -> tuple[bytes, ...]:
        """The message as one SK datagram when it fits ``size`` bytes of IKE message, else as SKF
        fragments of at most ``size`` bytes each (RFC 7383 §2.5): the encoded payload chain is cut
        into equal slices (the last shorter), each encrypted and authenticated on its own."""
        first, plain = encode_chain(payloads)
        whole = self._seal(header, PayloadType.SK, first, plain, b"")
        if len(whole) <= size:
            return (whole,)
        room = self.fragment_room(size)
        slices = [plain[i : i + room] for i in range(0, len(plain), room)]
        total = len(slices)
        return tuple(
            self._seal(header, PayloadType.SKF, first if n == 1 else 0, part, NUMBERS.pack(n, total))
            for n, part in enumerate(slices, 1)
        )

    def fragment_room(self, size: int) -> int:
        """Plaintext bytes one SKF fragment of ``size`` bytes carries: what is left after the IKE
        header, the SKF header and numbers, IV and ICV, rounded down to the cipher's block, less the
        pad length byte."""
        alg = self.algs.encr
        icv = alg.icv_size if alg.aead else (self.algs.integ.icv_size if self.algs.integ else 0)
        left = size - HEADER_SIZE - _SK_HEAD.size - NUMBERS.size - alg.iv_size - icv
        room = left - left % max(alg.block_size, 1) - 1
        if room < 1:
            raise ValueError(f"fragments of {size} bytes leave no room for content")
        return room

    def _seal(self, header: Header, ptype: PayloadType, first: int, plain: bytes, numbers: bytes) -> bytes:
        """One SK (``numbers`` empty) or SKF payload after ``header``; what comes before the IV (IKE
        header, generic header, fragment numbers) is the AEAD associated data."""
        c = new_cipher(self.algs.encr, self._e_out)
        block = c.block_size
        pad = (-(len(plain) + 1)) % block
        padded = plain + bytes(pad) + bytes([pad])
        header.next_payload = ptype
        if isinstance(c, AeadCipher):
            self._aead_counter += 1
            iv = struct.pack("!Q", self._aead_counter)
            length = 4 + len(numbers) + len(iv) + len(padded) + c.icv_size
            head = header.encode(HEADER_SIZE + length) + _SK_HEAD.pack(first, 0, length) + numbers
            return head + iv + c.seal(iv, padded, head)
        integ = self.algs.integ
        iv = self._rng(c.iv_size)
        length = 4 + len(numbers) + len(iv) + len(padded) + (integ.icv_size if integ else 0)
        head = header.encode(HEADER_SIZE + length) + _SK_HEAD.pack(first, 0, length) + numbers
        data = head + iv + c.encrypt(iv, padded)
        return data + (icv_once(integ, self._a_out, data) if integ else b"")

    def unseal(self, data: bytes, msg: Message) -> list[Payload]:
        """The inner payloads of ``msg`` (decoded from ``data``); InvalidMessageError if it fails."""
        sk = msg.get(SkPayload)
        if sk is None:
            raise InvalidMessageError(f"{msg.header.exchange.name} without an SK payload")
        return decode_chain(sk.first_inner, self._open(data, sk.body, sk.offset))

    def unseal_fragment(self, data: bytes, frag: SkfPayload) -> bytes:
        """The plaintext slice one SKF fragment carries, verified (InvalidMessageError if not)."""
        return self._open(data, frag.body, frag.offset)

    def _open(self, data: bytes, body: bytes, offset: int) -> bytes:
        """Verify and decrypt the protected ``body`` (IV on) that starts at ``offset`` in ``data``."""
        try:
            c = new_cipher(self.algs.encr, self._e_in)
            if isinstance(c, AeadCipher):
                iv, rest = body[:8], body[8:]
                plain = c.open(iv, rest, data[:offset])
            else:
                integ = self.algs.integ
                icv_size = integ.icv_size if integ else 0
                end = len(data) - icv_size
                # the ICV is checked (in constant time) before anything is decrypted
                if integ is not None and not hmac.compare_digest(
                    icv_once(integ, self._a_in, data[:end]), data[end:]
                ):
                    raise IntegrityError(f"{integ.name}: ICV mismatch")
                body = body[: len(body) - icv_size]
                iv, ct = body[: c.iv_size], body[c.iv_size :]
                plain = c.decrypt(iv, ct)
        except CryptoError as e:
            raise InvalidMessageError(f"SK payload does not verify: {e}") from None
        if not plain or plain[-1] + 1 > len(plain):
            raise InvalidMessageError("SK padding length exceeds the plaintext")
        return plain[: len(plain) - 1 - plain[-1]]


_SK_HEAD = struct.Struct("!BBH")  # the SK payload's generic header: first inner payload, flags, length
