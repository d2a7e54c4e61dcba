"""The RouterOS API protocol's framing (ports 8728/8729), sans-I/O.

A *word* is a length prefix followed by that many octets; a *sentence* is words ended by an empty
word. The prefix is 1 to 5 octets, its first octet's high bits telling how many follow::

    0xxxxxxx                                  length < 0x80
    10xxxxxx xxxxxxxx                         length < 0x4000
    110xxxxx xxxxxxxx xxxxxxxx                length < 0x200000
    1110xxxx xxxxxxxx xxxxxxxx xxxxxxxx       length < 0x10000000
    11110000 xxxxxxxx xxxxxxxx xxxxxxxx xxxxxxxx
    11111xxx                                  reserved (control octets): refused

:class:`SentenceReader` takes octets as they arrive and returns whole sentences; it is bounded (word
size, words per sentence, buffered octets), so a client cannot make the daemon hold more than one
sentence's worth, and every malformation raises :class:`ApiProtocolError` — the caller answers
``!fatal`` and closes. Words are UTF-8 text (librouteros and routeros-api both send UTF-8).
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_WORD = 64 * 1024  # octets: a certificate in PEM is the largest honest value
MAX_WORDS = 1024  # per sentence
MAX_SENTENCE = 1024 * 1024  # octets buffered for one sentence


class ApiProtocolError(Exception):
    """Framing that is not the API protocol, or beyond its bounds; the connection is closed."""


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    if n < 0x4000:
        return (n | 0x8000).to_bytes(2, "big")
    if n < 0x200000:
        return (n | 0xC00000).to_bytes(3, "big")
    if n < 0x10000000:
        return (n | 0xE0000000).to_bytes(4, "big")
    return b"\xf0" + n.to_bytes(4, "big")


def encode_sentence(words: Iterable[str]) -> bytes:
    out = bytearray()
    for w in words:
        data = w.encode("utf-8")
        out += encode_length(len(data))
        out += data
    out.append(0)
    return bytes(out)


def _decode_length(buf: bytearray | bytes, pos: int) -> tuple[int, int] | None:
    """(length, position after the prefix), or None when the prefix is not all there yet."""
    if pos >= len(buf):
        return None
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    if first < 0xC0:
        size, value = 2, first & 0x3F
    elif first < 0xE0:
        size, value = 3, first & 0x1F
    elif first < 0xF0:
        size, value = 4, first & 0x0F
    elif first == 0xF0:
        size, value = 5, 0
    else:
        raise ApiProtocolError(f"control octet 0x{first:02x} where a word length was expected")
    if pos + size > len(buf):
        return None
    for b in buf[pos + 1:pos + size]:
        value = value << 8 | b
    return value, pos + size


class SentenceReader:
    """Incremental decoder: ``feed(data)`` returns the sentences completed by ``data``."""

    __slots__ = ("_buf", "_pos", "_size", "_words")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._words: list[str] = []
        self._pos = 0
        self._size = 0  # octets of the words of the sentence being read

    def feed(self, data: bytes) -> list[list[str]]:
        self._buf += data
        done: list[list[str]] = []
        try:
            self._scan(done)
        finally:  # consumed octets go once per feed, not once per sentence (that was quadratic)
            del self._buf[:self._pos]
            self._pos = 0
        if len(self._buf) > MAX_SENTENCE:
            raise ApiProtocolError(f"sentence longer than {MAX_SENTENCE} octets")
        return done

    def _scan(self, done: list[list[str]]) -> None:
        while True:
            got = _decode_length(self._buf, self._pos)
            if got is None:
                break
            length, start = got
            if length > MAX_WORD:
                raise ApiProtocolError(f"word of {length} octets (at most {MAX_WORD})")
            if start + length > len(self._buf):
                break
            self._pos = start + length
            if length == 0:
                if self._words:  # an empty sentence is a keep-alive: nothing to answer
                    done.append(self._words)
                self._words = []
                self._size = 0
                continue
            try:
                self._words.append(bytes(self._buf[start:self._pos]).decode("utf-8"))
            except UnicodeDecodeError:
                raise ApiProtocolError("word is not UTF-8") from None
            self._size += length
            if self._size > MAX_SENTENCE:
                raise ApiProtocolError(f"sentence longer than {MAX_SENTENCE} octets")
            if len(self._words) > MAX_WORDS:
                raise ApiProtocolError(f"sentence of more than {MAX_WORDS} words")
