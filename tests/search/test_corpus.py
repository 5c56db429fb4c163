"""Reading corpus folders into articles and splitting articles into passages."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BUNDLED_CORPUS, SEED_ID, write
from hypothesis import given, settings
from hypothesis import strategies as st

from askbot.search.analysis import clean_text
from askbot.search.corpus import (
    _VERB,
    CorpusError,
    _one_line,
    _speech_words,
    _speech_words_py,
    _windows,
    corpus_fingerprint,
    load_corpus,
    parse_jsonl_line,
    split_passages,
)
from askbot.search.models import Article


def test_bundled_corpus_has_the_seed_and_24_wikinews_articles() -> None:
    """25 articles, none skipped, the attribution file is not an article."""
    corpus = load_corpus(BUNDLED_CORPUS)
    ids = {a.id for a in corpus.articles}
    assert len(ids) == 25 and SEED_ID in ids
    assert sum(i.startswith("wikinews/") for i in ids) == 24
    assert corpus.skipped == ()


def test_wikinews_articles_keep_title_date_and_url() -> None:
    """Front matter fields reach the article."""
    crane = next(a for a in load_corpus(BUNDLED_CORPUS).articles if a.id == "wikinews/crane")
    assert crane.title == "At least 107 killed in Mecca crane collapse"
    assert crane.date == "2015-09-12"
    assert crane.url and crane.url.startswith("https://en.wikinews.org/")
    assert crane.source == "Wikinews"


def test_text_file_title_is_the_first_line_and_paragraphs_count_from_one(tmp_path: Path) -> None:
    """The title is not a paragraph; blank lines separate paragraphs."""
    write(tmp_path / "politics" / "012.txt", "Headline\n\nFirst para\nwraps.\n\n\nSecond.\n")
    (article,) = load_corpus(tmp_path).articles
    assert article.id == "politics/012"
    assert article.title == "Headline"
    assert article.paragraphs == ("First para wraps.", "Second.")


def test_markdown_heading_title_loses_its_hashes(tmp_path: Path) -> None:
    """`# Title` becomes "Title"."""
    write(tmp_path / "a.md", "# Big news\n\nBody.\n")
    assert load_corpus(tmp_path).articles[0].title == "Big news"


def test_jsonl_lines_are_articles_with_their_own_ids(tmp_path: Path) -> None:
    """Each JSON line is one article; a bad line is skipped with its line number."""
    lines = [
        json.dumps({"id": "cms-1", "title": "One", "text": "A.\n\nB.", "date": "2020-01-02",
                    "url": "https://x/1", "source": "CMS"}),
        "{not json",
        json.dumps({"id": "cms-2", "title": "Two", "text": "Line one\nLine two"}),
        json.dumps({"id": "cms-3", "text": "no title"}),
    ]  # fmt: skip
    write(tmp_path / "export.jsonl", "\n".join(lines) + "\n")
    corpus = load_corpus(tmp_path)
    assert [a.id for a in corpus.articles] == ["cms-1", "cms-2"]
    assert corpus.articles[0].paragraphs == ("A.", "B.")
    assert corpus.articles[1].paragraphs == ("Line one", "Line two")
    assert [(s.path, s.reason.split(" (")[0]) for s in corpus.skipped] == [
        ("export.jsonl:2", "not valid JSON"),
        ("export.jsonl:4", "missing field(s): title"),
    ]


def test_bad_files_are_skipped_with_reasons_and_good_ones_kept(tmp_path: Path) -> None:
    """Non-UTF-8, binary, empty and broken front matter files are reported, not fatal."""
    write(tmp_path / "good.txt", "Good\n\nText.")
    write(tmp_path / "latin1.txt", "Price\n\n\xa35".encode("latin-1"))
    write(tmp_path / "binary.txt", b"\x00\x01\x02PNG")
    write(tmp_path / "empty.txt", "")
    write(tmp_path / "broken.md", "---\ntitle: x\nno closing\n\nBody")
    corpus = load_corpus(tmp_path)
    assert [a.id for a in corpus.articles] == ["good"]
    reasons = {s.path: s.reason for s in corpus.skipped}
    assert reasons["latin1.txt"].startswith("not UTF-8")
    assert reasons["binary.txt"].startswith("binary file")
    assert reasons["empty.txt"] == "empty file"
    assert "front matter" in reasons["broken.md"]


def test_duplicate_ids_keep_the_first_article(tmp_path: Path) -> None:
    """A second article with an id already seen is skipped, naming the first."""
    write(tmp_path / "a.txt", "A\n\nText.")
    write(tmp_path / "a.md", "A again\n\nText.")
    corpus = load_corpus(tmp_path)
    assert len(corpus.articles) == 1
    assert "duplicate article id 'a'" in corpus.skipped[0].reason


def test_symlink_outside_the_corpus_is_not_followed(tmp_path: Path) -> None:
    """A link to a file outside the folder is reported and not read."""
    outside = write(tmp_path / "secret.txt", "Secret\n\nDo not index.")
    root = tmp_path / "corpus"
    write(root / "ok.txt", "Ok\n\nFine.")
    os.symlink(outside, root / "link.txt")
    corpus = load_corpus(root)
    assert [a.id for a in corpus.articles] == ["ok"]
    assert corpus.skipped[0].path == "link.txt" and "outside" in corpus.skipped[0].reason


def test_unreadable_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the process may not read is reported; the others are indexed."""
    write(tmp_path / "ok.txt", "Ok\n\nFine.")
    locked = write(tmp_path / "locked.txt", "Locked\n\nText.")
    read_bytes = Path.read_bytes

    def guarded(self: Path) -> bytes:
        # chmod cannot stop root (CI runs as root), so the refusal is simulated at the read.
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", guarded)
    corpus = load_corpus(tmp_path)
    assert [a.id for a in corpus.articles] == ["ok"]
    assert corpus.skipped[0].reason.startswith("permission denied")


def test_file_over_the_size_limit_is_skipped(tmp_path: Path) -> None:
    """Files over max_file_bytes are reported with their size."""
    write(tmp_path / "big.txt", "Big\n\n" + "word " * 100)
    assert "over the 100-byte limit" in load_corpus(tmp_path, max_file_bytes=100).skipped[0].reason


def test_missing_folder_is_a_corpus_error(tmp_path: Path) -> None:
    """A folder that does not exist raises a clear CorpusError."""
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")


def test_fingerprint_changes_when_a_file_changes(tmp_path: Path) -> None:
    """Editing a file gives another fingerprint."""
    path = write(tmp_path / "a.txt", "A\n\nOne.")
    before = corpus_fingerprint(tmp_path)
    path.write_text("A\n\nOne, edited.")
    assert corpus_fingerprint(tmp_path) != before


def _article(*paragraphs: str) -> Article:
    return Article(id="x", title="T", paragraphs=paragraphs)


def test_each_paragraph_is_one_passage_keeping_its_number() -> None:
    """Short paragraphs map one to one; ids are article#paragraph."""
    passages = split_passages(_article("One.", "Two."))
    assert [(p.id, p.paragraph, p.window) for p in passages] == [("x#1", 1, 0), ("x#2", 2, 0)]


def test_long_paragraph_is_split_at_sentences_keeping_its_number() -> None:
    """A 300-word paragraph becomes windows of at most ~120 words, all numbered 1."""
    sentence = " ".join(["word"] * 29) + " end."
    passages = split_passages(_article(" ".join([sentence] * 10)))
    assert len(passages) == 3
    assert {p.paragraph for p in passages} == {1}
    assert [p.id for p in passages] == ["x#1.1", "x#1.2", "x#1.3"]
    assert all(p.text.endswith("end.") and len(p.text.split()) <= 120 for p in passages)


def test_huge_paragraph_without_punctuation_is_cut_by_words() -> None:
    """A run-on paragraph still becomes bounded windows."""
    passages = split_passages(_article(" ".join(["w"] * 1000)))
    assert max(len(p.text.split()) for p in passages) <= 120
    assert sum(len(p.text.split()) for p in passages) == 1000


def test_quote_continuation_carries_the_last_named_speaker() -> None:
    """ "..., he noted." is attributed to the speaker named before, by full name."""
    article = load_corpus(BUNDLED_CORPUS).articles
    seed = next(a for a in article if a.id == SEED_ID)
    passages = {p.paragraph: p for p in split_passages(seed)}
    assert passages[8].context == "Stephen Biegun"
    assert passages[7].speaker == "Stephen Biegun"
    assert passages[3].context.endswith("Pompeo")


def test_whitespace_collapses_on_exactly_the_characters_regex_s_matches() -> None:
    """Every Unicode whitespace character (and only those) collapses as re's \\s+ would."""
    assert not any(chr(c).isspace() for c in range(0x10000, sys.maxunicode + 1))
    for code in range(0x10000):  # the Basic Multilingual Plane holds all whitespace
        ch = chr(code)
        text = f" a{ch}{ch}b\t{ch}"
        expected = re.sub(r"\s+", " ", clean_text(text)).strip()
        assert _one_line(text) == expected, hex(code)


@pytest.mark.parametrize("find", [_speech_words, _speech_words_py])
def test_speech_verbs_are_found_where_a_whole_word_regex_finds_them(
    find: Callable[[str], list[tuple[int, int]]],
) -> None:
    """Both verb searches (compiled, and spaced bytes in Python) give the spans of
    \\b(?:verb|...|continued)\\b, in order."""
    plain = re.compile(rf"\b(?:{_VERB}|continued)\b")
    texts = [
        "he said", "unsaid", "said_", "saidx", "Said", "(said)", "x says.", "sayings", "saying",
        "wrote—", "rewrote", "continued", "discontinued", "noted2", "é said é", "éditsaid",
        "told", "toldé", "tells", "", "s", "a c d e i n o r s t w", "said said said",
        "·said·", "“said”", "said\tadded\nnoted", "ésaid", "saidé", "日said", "said\u00a0x",
        "\ud800said", "2said", "said2", "x_said", "Aaa said, Bbb added: Ccc continued",
    ]  # fmt: skip
    for text in texts:
        assert find(text) == [m.span() for m in plain.finditer(text)], text


_VERBISH = st.lists(
    st.sampled_from(
        ["said", "says", "told", "continued", "noted", " ", ",", "_", "é", "2", "x", "S", "·",
         "\u00a0", "\ud800", "日", "\n", "“", "aid", "sai"]
    ),
    max_size=30,
).map("".join)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(_VERBISH, st.text(max_size=60)))
def test_compiled_verb_search_equals_the_whole_word_regex_for_any_text(text: str) -> None:
    """_chunks.whole_words over the speech verbs finds what the regex finds, any text."""
    plain = re.compile(rf"\b(?:{_VERB}|continued)\b")
    assert _speech_words(text) == [m.span() for m in plain.finditer(text)]
    assert _speech_words_py(text) == _speech_words(text)


def test_printable_single_spaced_text_is_kept_as_it_is() -> None:
    """The common block, one line of single spaces, comes back unchanged."""
    assert _one_line("Biegun said “yes” to talks.") == "Biegun said “yes” to talks."


def test_doubled_or_edge_spaces_still_collapse() -> None:
    """A printable text with a doubled, leading or trailing space is not taken as clean."""
    assert [_one_line(t) for t in ("a  b", " a b", "a b ", "  ")] == ["a b", "a b", "a b", ""]


def test_invisible_character_in_a_single_spaced_text_is_still_removed() -> None:
    """A zero-width space makes the text unprintable, so it is cleaned."""
    assert _one_line("Bie\u200bgun said") == "Biegun said"


def test_ascii_control_character_in_a_single_spaced_text_is_removed() -> None:
    """\\x1f (whitespace to str.split) and \\x7f are removed by clean_text, not made spaces."""
    assert _one_line("a\x1fb c\x7f \x00d") == "ab c d"


def test_every_character_clean_text_removes_is_unprintable() -> None:
    """So a printable text needs no cleaning (_one_line's shortcut)."""
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    removed = set(every) - set(clean_text(every))
    assert removed and not any(ch.isprintable() for ch in removed)


def test_every_whitespace_character_but_space_is_unprintable() -> None:
    """So a printable text's only whitespace is " " (_one_line's shortcut)."""
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert [ch for ch in spaces if ch.isprintable()] == [" "]


def test_paragraph_of_exactly_window_words_is_one_window() -> None:
    """max_words words stay one passage; one more word makes sentence windows."""
    words = ["word"] * 9
    assert _windows(" ".join(words) + ". end", 10) == [" ".join(words) + ". end"]
    assert _windows(" ".join(words) + ". end two", 10) == [" ".join(words) + ".", "end two"]


def test_content_hash_is_sha256_of_the_article_source() -> None:
    """Saved indexes compare this hash (a reindex matches articles by it): its bytes are fixed."""
    line = '{"id": "a1", "title": "T", "text": "Body \u00e9t\u00e9."}'
    article = parse_jsonl_line(line, "x.jsonl:1")
    assert article.content_hash == hashlib.sha256(line.encode()).hexdigest()[:32]


def test_text_file_content_hash_covers_the_whole_file(tmp_path: Path) -> None:
    """A text article's hash is of its file's text, so an edited date changes it."""
    write(tmp_path / "a.md", "---\ndate: 2020-01-01\n---\nTitle\n\nBody.")
    before = load_corpus(tmp_path).articles[0].content_hash
    write(tmp_path / "a.md", "---\ndate: 2020-01-02\n---\nTitle\n\nBody.")
    assert load_corpus(tmp_path).articles[0].content_hash != before
