"""Phase-1 keys and the encryption of IKEv1 messages with the IV rules of RFC 2409 Appendix B.

* Phase 1: the first IV is hash(g^xi | g^xr); every later phase-1 message (either direction) uses
  the last ciphertext block of the previous one.
* Each quick mode and informational exchange (its Message ID) starts from hash(last phase-1 CBC
  block | M-ID) and then chains within the exchange the same way.

The IV moves on only after a received message has been authenticated (its HASH checked): a forged
or garbled message must not desynchronise the chain, so :meth:`open` leaves the state alone and
:meth:`advance` commits it. Padding (RFC 2408 §3.1) is zeros up to the block size; the receiver
ignores whatever follows the last payload.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ipsecd.crypto import keymat
from ipsecd.crypto.encr import BlockCipher, new_cipher
from ipsecd.crypto.errors import CryptoError

from ..errors import InvalidMessageError
from .proposals import Phase1Algs


@dataclass(slots=True)
class Phase1Keys:
    """SKEYID and its three children, the cipher, and the IV state of one ISAKMP SA."""

    algs: Phase1Algs
    skeyid: bytes = field(repr=False)
    d: bytes = field(repr=False)
    a: bytes = field(repr=False)
    cipher: BlockCipher = field(repr=False)
    iv: bytes = field(repr=False)  # the phase-1 chain: next IV of a phase-1 message
    exchange_ivs: dict[int, bytes] = field(default_factory=dict, repr=False)

    @classmethod
    def derive(cls, algs: Phase1Algs, skeyid: bytes, g_xy: bytes, cky_i: bytes, cky_r: bytes,
               g_xi: bytes, g_xr: bytes) -> Phase1Keys:
        h = algs.hash.name
        dae = keymat.skeyid_dae(h, skeyid, g_xy, cky_i, cky_r)
        key = keymat.ikev1_encryption_key(h, dae.skeyid_e, algs.encr.key_size)
        cipher = new_cipher(algs.encr, key)
        assert isinstance(cipher, BlockCipher)
        iv = keymat.ikev1_phase1_iv(h, g_xi, g_xr, algs.encr.block_size)
        return cls(algs, skeyid, dae.skeyid_d, dae.skeyid_a, cipher, iv)

    @property
    def block(self) -> int:
        return self.algs.encr.block_size

    def prf(self, key: bytes, data: bytes) -> bytes:
        return keymat.ikev1_prf(self.algs.hash.name, key, data)

    def _iv(self, message_id: int) -> bytes:
        if message_id == 0:
            return self.iv
        iv = self.exchange_ivs.get(message_id)
        if iv is None:
            iv = keymat.ikev1_phase2_iv(self.algs.hash.name, self.iv, message_id, self.block)
            self.exchange_ivs[message_id] = iv
        return iv

    def advance(self, message_id: int, ciphertext: bytes) -> None:
        """The next IV of this exchange is the last block of ``ciphertext``."""
        last = ciphertext[-self.block:]
        if message_id == 0:
            self.iv = last
        else:
            self.exchange_ivs[message_id] = last

    def seal(self, message_id: int, plaintext: bytes) -> bytes:
        padded = plaintext + bytes(-len(plaintext) % self.block)
        out = self.cipher.encrypt(self._iv(message_id), padded)
        self.advance(message_id, out)
        return out

    def open(self, message_id: int, ciphertext: bytes) -> bytes:
        if not ciphertext or len(ciphertext) % self.block:
            raise InvalidMessageError(f"encrypted body of {len(ciphertext)} bytes is not whole blocks")
        try:
            return self.cipher.decrypt(self._iv(message_id), ciphertext)
        except CryptoError as e:
            raise InvalidMessageError(f"cannot decrypt: {e}") from None

    def forget(self, message_id: int) -> None:
        """The exchange is over: its IV is no longer needed."""
        self.exchange_ivs.pop(message_id, None)
