from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipsecd.daemon.api.words import (
    MAX_WORD,
    ApiProtocolError,
    SentenceReader,
    encode_length,
    encode_sentence,
)


@pytest.mark.parametrize(("n", "prefix"), [
    (0, b"\x00"), (0x7F, b"\x7f"), (0x80, b"\x80\x80"), (0x3FFF, b"\xbf\xff"), (0x4000, b"\xc0\x40\x00"),
    (0x1FFFFF, b"\xdf\xff\xff"), (0x200000, b"\xe0\x20\x00\x00"), (0xFFFFFFF, b"\xef\xff\xff\xff"),
    (0x10000000, b"\xf0\x10\x00\x00\x00"),
])
def test_length_prefix_at_every_boundary(n: int, prefix: bytes) -> None:
    assert encode_length(n) == prefix


@given(st.lists(st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=5), max_size=4))
def test_sentences_round_trip_even_one_octet_at_a_time(sentences: list[list[str]]) -> None:
    data = b"".join(encode_sentence(s) for s in sentences)
    assert SentenceReader().feed(data) == sentences
    reader, got = SentenceReader(), []
    for i in range(len(data)):
        got += reader.feed(data[i:i + 1])
    assert got == sentences


def test_empty_sentence_is_a_keepalive() -> None:
    assert SentenceReader().feed(b"\x00" + encode_sentence(["/quit"])) == [["/quit"]]


@pytest.mark.parametrize("data", [
    b"\xf8", b"\xff\x00",  # control octets
    encode_length(MAX_WORD + 1),  # refused from its prefix, before the word arrives
    b"\x02\xff\xfe\x00",  # not UTF-8
])
def test_malformed_framing_is_refused(data: bytes) -> None:
    with pytest.raises(ApiProtocolError):
        SentenceReader().feed(data)


def test_too_many_words_and_too_long_sentences_are_refused() -> None:
    with pytest.raises(ApiProtocolError):
        SentenceReader().feed(b"\x01a" * 2000)
    reader = SentenceReader()
    with pytest.raises(ApiProtocolError):
        for _ in range(40):
            reader.feed(encode_length(60000) + b"x" * 60000)


@given(st.binary(max_size=200))
def test_any_octets_give_sentences_or_the_protocol_error(data: bytes) -> None:
    try:
        SentenceReader().feed(data)
    except ApiProtocolError:
        pass
