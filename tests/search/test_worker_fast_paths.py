"""The build workers' compiled shortcuts give exactly what their Python definitions give."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from conftest import BUNDLED_CORPUS
from hypothesis import given, settings
from hypothesis import strategies as st

from askbot.search import corpus as corpus_module
from askbot.search import tokenize_parallel
from askbot.search.analysis import Analyzer
from askbot.search.corpus import (
    _folded_line_py,
    _one_line,
    load_corpus,
    parse_jsonl_line,
    passage_rows,
    split_paragraphs,
    split_passages,
)
from askbot.search.models import Article
from askbot.search.tokenize_parallel import TermIds, _text_hash_py, analyse_articles, text_hash

ARTICLES = list(load_corpus(BUNDLED_CORPUS).articles)
LATIN1 = [chr(c) for c in range(256)]
_PIECES = st.sampled_from(
    [" ", "  ", "\t", "\n", "\x1c", "\x85", "\xa0", "\x00", "\x7f", "\xad", "É", "ß", "ÿ", "µ",
     "İ", "Σ", "中", "😀", "\u200b", "\u2028", "Said", "SAID", "a", "Z", "."]
)  # fmt: skip
# No lone surrogates: passage text is valid UTF-8 (text_hash encodes it strictly).
TEXTS = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",))),
    st.lists(_PIECES, max_size=30).map("".join),
)


def _chunks() -> Any:
    if tokenize_parallel._chunks is None:
        pytest.fail("askbot.search._chunks is not built (pip install -e . needs gcc)")
    return tokenize_parallel._chunks


def _blake(text: str) -> int:
    normal = " ".join(text.lower().split()).encode()
    return int.from_bytes(hashlib.blake2b(normal, digest_size=8).digest(), "little") >> 1


def test_compiled_folded_line_agrees_with_python_for_every_latin1_character() -> None:
    """folded_line (printable, single inner spaces) answers as _folded_line_py, any Latin-1."""
    folded_line = _chunks().folded_line
    for c in LATIN1:
        for text in (c, f"a{c}b", f"{c} b", f"a {c}", f"a{c}{c}b", f"a{c}€"):
            assert folded_line(text) == _folded_line_py(text), (hex(ord(c)), text)


@settings(max_examples=500, deadline=None)
@given(TEXTS)
def test_compiled_folded_line_is_printable_and_split_joined(text: str) -> None:
    """folded_line(text) is text.isprintable() and ' '.join(text.split()) == text, any text."""
    want = text.isprintable() and " ".join(text.split()) == text
    assert _chunks().folded_line(text) == want
    assert _folded_line_py(text) == want


def test_one_line_without_the_compiled_check_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python check keeps and cleans exactly the blocks the compiled one does."""
    texts = ["a b", "a  b", " a", "a ", "Bie\u200bgun said", "x\x1fy", "“quoted” é", "\xa0a", ""]
    compiled = [_one_line(t) for t in texts]
    monkeypatch.setattr(corpus_module, "_is_folded_line", _folded_line_py)
    assert [_one_line(t) for t in texts] == compiled


def test_compiled_text_hash_is_blake2b_of_every_latin1_character_lowered() -> None:
    """Each Latin-1 character, alone and in text, hashes as blake2b of the lowered, folded text."""
    compiled = _chunks().text_hash
    for c in LATIN1:
        for text in (c, f"x{c}Y {c}", f" {c}{c} "):
            assert compiled(text) == _blake(text), hex(ord(c))


@pytest.mark.parametrize("size", [0, 1, 127, 128, 129, 255, 256, 257, 2047, 2048, 2049, 5000])
def test_compiled_text_hash_handles_every_block_boundary(size: int) -> None:
    """Inputs around BLAKE2b's 128-byte blocks (and the stack buffer's size) hash right."""
    for text in ("a" * size, ("Ab " * size)[:size], ("é\t" * size)[:size]):
        assert _chunks().text_hash(text) == _blake(text)


@settings(max_examples=500, deadline=None)
@given(TEXTS)
def test_text_hash_is_the_same_compiled_and_in_python(text: str) -> None:
    """The compiled hash gives the Python one for Latin-1 text and -1 (not hashed) otherwise."""
    compiled = _chunks().text_hash(text)
    assert compiled == (_blake(text) if max(map(ord, text), default=0) < 256 else -1)
    assert text_hash(text) == _text_hash_py(text) == _blake(text)


def test_whole_words_follows_a_change_of_word_list() -> None:
    """The prepared word list is the one passed: a second list is not matched as the first."""
    whole_words = _chunks().whole_words
    text = "he said, she wrote; they added"
    said, wrote, added = (text.index(w) for w in ("said", "wrote", "added"))
    assert whole_words(text, ("said", "added")) == [(said, said + 4), (added, added + 5)]
    assert whole_words(text, ("wrote",)) == [(wrote, wrote + 5)]
    assert whole_words(text, ()) == []
    assert whole_words(text, ("said", "added")) == [(said, said + 4), (added, added + 5)]


def test_whole_words_finds_wide_and_long_words() -> None:
    """Words that start above Latin-1, or are 64 characters or longer, are still found."""
    long_word = "x" * 70
    words = ("日本", "énoncé", long_word, "ab")
    text = f"日本 énoncé {long_word} ab abc {long_word}x"
    want = [(0, 2), (3, 9), (10, 80), (81, 83)]
    assert _chunks().whole_words(text, words) == want


def test_passage_rows_are_the_passages_as_tuples() -> None:
    """passage_rows gives each passage's number, window, text, context and speaker, in order."""
    long = Article("long", "T", (" ".join(["One sentence here."] * 80), "Short."))
    for article in [*ARTICLES, long]:
        passages = split_passages(article)
        rows = passage_rows(article)
        assert rows == [(p.paragraph, p.window, p.text, p.context, p.speaker) for p in passages]
        assert all(p.id.startswith(f"{article.id}#{p.paragraph}") for p in passages)


def test_analysing_no_articles_gives_an_empty_chunk() -> None:
    """A task whose articles are all known or skipped analyses to empty columns."""
    chunk = analyse_articles([], TermIds(Analyzer()))
    assert chunk.speakers == [] and chunk.text == b"" and chunk.hashes == b""


def test_wide_passages_are_hashed_in_python() -> None:
    """A passage wider than Latin-1 gets the Python hash in the chunk's hash column."""
    article = Article("w", "T", ("Plain text.", "Pyongyang 平壤 said.", "ÉCOLE"))
    chunk = analyse_articles([article], TermIds(Analyzer()))
    hashes = list(memoryview(chunk.hashes).cast("q"))
    assert hashes == [_blake(p.text) for p in split_passages(article)]


def test_passage_rows_without_the_compiled_verb_search_are_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no _chunks.whole_words the Python verb search finds the same speakers."""
    compiled = [passage_rows(a) for a in ARTICLES]
    monkeypatch.setattr(corpus_module, "_whole_words", None)
    assert [passage_rows(a) for a in ARTICLES] == compiled


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_paragraphs_split_the_same_whatever_the_line_ends(newline: str) -> None:
    """CRLF and CR line ends split into paragraphs as LF ones do."""
    body = "First  para\nwraps.\n\n\nSecond.\n \nThird."
    want = ["First para wraps.", "Second.", "Third."]
    assert split_paragraphs(body.replace("\n", newline)) == want


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_jsonl_text_lines_are_paragraphs_with_either_line_end(newline: str) -> None:
    """A JSONL text with single line ends (LF or CRLF) has a paragraph per line."""
    line = json.dumps({"id": "a", "title": "T", "text": f"One.{newline}Two."})
    assert parse_jsonl_line(line).paragraphs == ("One.", "Two.")


# -- the chunk table's Latin-1 split (whitespace found 64 characters at a time) ---------------

LATIN1_SPACES = [c for c in LATIN1 if c.isspace()]
LATIN1_TEXT = st.text(
    alphabet=st.sampled_from([*LATIN1_SPACES, "a", "B", "é", "ÿ", "1", "-", ".", "'"]),
    max_size=300,
)


def _same_ids(texts: list[str]) -> None:
    _chunks()
    compiled, python = TermIds(Analyzer()), TermIds(Analyzer(), compiled=False)
    got, want = compiled.batch(texts), python.batch(texts)
    assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
    assert list(compiled.vocab) == list(python.vocab)


@pytest.mark.parametrize("size", [1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200])
def test_chunks_across_every_64_character_boundary_give_the_python_ids(size: int) -> None:
    """Chunks that start, end or run across a 64-character word of whitespace bits split right."""
    words = ["a" * n + "b" for n in range(1, 20)]
    texts = [(" ".join(words) * 20)[:size], ("x" * size), (" " * (size - 1)) + "end", "é" * size]
    texts += [" ".join(words)[i : i + size] for i in range(0, 64, 5)]
    _same_ids(texts)


@settings(max_examples=400, deadline=None)
@given(st.lists(LATIN1_TEXT, max_size=5))
def test_latin1_texts_with_every_latin1_space_give_the_python_ids(texts: list[str]) -> None:
    """Latin-1 text split by any mix of its whitespace characters gives the Python term ids."""
    _same_ids(texts)


def test_a_chunk_is_one_chunk_in_latin1_and_in_wider_text() -> None:
    """A Latin-1 chunk read from a UCS-2 or UCS-4 text is found as the same chunk (one call)."""
    table = _chunks().ChunkTable(3)
    calls: list[str] = []

    def add(chunk: str, shouted: bool) -> list[int]:
        calls.append(chunk)
        return [len(calls)]

    chunk = "naïve-longer-than-eight"
    tokens, _ = table.batch([f"{chunk} x", f"{chunk} Ω", f"😀 {chunk}"], b"\0\0\0", add)
    assert calls.count(chunk) == 1
    assert list(memoryview(tokens).cast("i")) == [1, 2, 1, 3, 4, 1]


def _regex_spans(text: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    pattern = re.compile(rf"\b(?:{'|'.join(map(re.escape, words))})\b")
    return [m.span() for m in pattern.finditer(text)]


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 127, 128, 129, 5000, 6000, 20000])
def test_whole_words_in_latin1_text_of_any_length_are_the_regex_spans(size: int) -> None:
    """Word runs found 64 characters at a time (ASCII by SSE2, the rest by table) are \\w runs."""
    words = ("said", "noted", "éclat", "x_1")
    pieces = ["said", " ", "noted", "éclat", "x_1", "ª", "²", "×", "\xa0", "saidé", "_said", "."]
    text = "".join(pieces[(i * 7) % len(pieces)] for i in range(size))[:size]
    for variant in (text, "a" * size + " said", "said " + "é" * size):
        assert _chunks().whole_words(variant, words) == _regex_spans(variant, words)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([*LATIN1[32:], "said", "noted", " said "]), max_size=60).map("".join)
)
def test_whole_words_in_any_latin1_text_are_the_regex_spans(text: str) -> None:
    """For any Latin-1 text, whole_words gives the spans of \\b(?:said|noted)\\b."""
    assert _chunks().whole_words(text, ("said", "noted")) == _regex_spans(text, ("said", "noted"))


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_compiled_space_count_is_str_count(text: str) -> None:
    """count_spaces(text) == text.count(" ") for any text, and every length around 16."""
    assert _chunks().count_spaces(text) == text.count(" ")
    for size in range(40):
        padded = (text + " x" * 20)[:size]
        assert _chunks().count_spaces(padded) == padded.count(" ")


def test_windows_without_the_compiled_space_count_are_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counting a paragraph's spaces in Python splits the same windows."""
    long = Article("long", "T", (" ".join(["One sentence here."] * 80), "a " * 119 + "b"))
    compiled = [passage_rows(a) for a in [*ARTICLES, long]]
    monkeypatch.setattr(corpus_module, "_spaces", corpus_module._spaces_py)
    assert [passage_rows(a) for a in [*ARTICLES, long]] == compiled
    assert len(passage_rows(long)) > 2  # the long paragraph is cut into windows


@pytest.mark.parametrize("at", [0, 1, 14, 15, 16, 17, 31, 32, 39])
def test_16_character_blocks_check_and_hash_every_latin1_character(at: int) -> None:
    """In text long enough for the 16-byte blocks, each Latin-1 character anywhere is checked
    (printable, folded) and hashed as the definitions say."""
    c_module = _chunks()
    base = "Abc defg hij KLM nop qrs tuv wxyz ABC DEF GHI"[:40]
    for c in LATIN1:
        for text in (base[:at] + c + base[at + 1 :], base[:at] + c + " " + base[at + 2 :]):
            assert c_module.isprintable(text) == text.isprintable(), (hex(ord(c)), at)
            folded = text.isprintable() and " ".join(text.split()) == text
            assert c_module.folded_line(text) == folded, (hex(ord(c)), at)
            assert c_module.text_hash(text) == _blake(text), (hex(ord(c)), at)
