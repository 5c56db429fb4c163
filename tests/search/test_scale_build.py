"""The scale build: exact fast tokenising, parallel analysis, postings, champions, lazy loading."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import BUNDLED_CORPUS, write
from hypothesis import given, settings
from hypothesis import strategies as st

from askbot.search import analysis, tokenize_parallel
from askbot.search import build as build_module
from askbot.search import corpus as corpus_module
from askbot.search import index as index_module
from askbot.search import postings as postings_module
from askbot.search.analysis import _INVISIBLE, Analyzer
from askbot.search.build import build_corpus_index, build_index, tokenize_passages
from askbot.search.corpus import load_corpus, split_passages
from askbot.search.index import Index
from askbot.search.tokenize_parallel import TermIds, can_fork

A = Analyzer()
ARTICLES = list(load_corpus(BUNDLED_CORPUS).articles)

_PIECES = st.sampled_from([
    "U.S.", "e.g.", "1,000", "3.5", "Pyongyang's", "Jong-un", "N.Korea", "SAID", "said", "Who",
    "WHO", "it", "IT", "the", "“quoted”", "’", "'", "‘x’", "naïve", "ﬁne", "Ⅻ", "x\u200by",
    "\u00ad", "\t", "\n", "  ", ".", ",", "--", "—", "_", "a_b", "42nd", "Straße", "İstanbul",
    "<@123>", "<@!45>", "<@&6>", "<#7>", "<:smile:89>", "<a:wave:1>", "@everyone", "@here",
    "@heresy", "x@here", "<@12", "@EVERYONE",
])  # fmt: skip
TEXTS = st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=25).map(" ".join) | st.text()


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_cached_chunk_terms_equal_the_analyzer_terms(text: str) -> None:
    """TermIds (whitespace chunks, cached) gives exactly Analyzer.terms, for any text."""
    assert TermIds(A).terms(text) == A.terms(text)


def test_chunk_terms_are_written_for_this_analyzer_version() -> None:
    """A new analyzer version must be checked here (TermIds falls back to Analyzer.terms)."""
    assert tokenize_parallel.ANALYZER_VERSION == analysis.ANALYZER_VERSION


def test_other_analyzer_versions_fall_back_to_the_analyzer(monkeypatch: pytest.MonkeyPatch) -> None:
    """With an unknown analyzer version, TermIds calls Analyzer.terms itself."""
    monkeypatch.setattr(analysis, "ANALYZER_VERSION", 999)
    text = "WHAT did <@12> Pyongyang's U.S. envoy say?"
    assert TermIds(A).terms(text) == A.terms(text)


def test_every_character_clean_text_removes_is_non_printable() -> None:
    """Every character clean_text removes is non-printable (the fast path skips clean_text)."""
    removed = [c for c in map(chr, range(sys.maxunicode + 1)) if _INVISIBLE.match(c)]
    assert removed and not any(c.isprintable() for c in removed)


# -- the compiled chunk table (askbot.search._chunks) against the Python path ------------------

WHITESPACE = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()]
_WIDE = ["é", "ß", "ē", "İ", "Ω", "€", "中", "😀", "𝐀", "\U00010400", "’", "'", ".", "-", "A", "b"]
# Text made mostly of whitespace and a few letters of every width, so chunks are short and repeat.
SPACY = st.text(alphabet=st.sampled_from(WHITESPACE + _WIDE), max_size=40)


def _compiled_table() -> Any:
    if tokenize_parallel._chunks is None:
        pytest.fail("the compiled chunk table is not built (pip install -e . needs gcc)")
    return tokenize_parallel._chunks.ChunkTable(7)


def _both(texts: list[str]) -> tuple[TermIds, TermIds]:
    """A compiled and a pure-Python TermIds, each after one batch of ``texts``, checked equal."""
    _compiled_table()
    compiled, python = TermIds(A), TermIds(A, compiled=False)
    assert compiled.compiled and not python.compiled
    got, want = compiled.batch(texts), python.batch(texts)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert got[0].dtype == np.int32 and got[1].dtype == np.int64
    assert list(compiled.vocab) == list(python.vocab)
    return compiled, python


class _Recorder:
    """A table callback that records the chunks it is asked about and gives each its length."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, chunk: str, shouted: bool) -> list[int]:
        self.calls.append((chunk, shouted))
        return [len(chunk)]


def test_compiled_chunk_table_is_built() -> None:
    """pip install -e . compiles askbot.search._chunks, and TermIds uses it by default."""
    _compiled_table()
    assert TermIds(A).compiled


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, max_size=6))
def test_compiled_term_ids_equal_the_python_term_ids(texts: list[str]) -> None:
    """The chunk table gives the Python path's term ids, counts and vocabulary for any texts."""
    _both(texts)


@settings(max_examples=300, deadline=None)
@given(st.lists(SPACY, max_size=6))
def test_compiled_term_ids_equal_the_python_ones_for_whitespace_heavy_text(
    texts: list[str],
) -> None:
    """Texts of every whitespace and every character width: the same ids either way."""
    _both(texts)


@settings(max_examples=300, deadline=None)
@given(st.one_of(TEXTS, SPACY))
def test_compiled_terms_equal_the_analyzer_terms(text: str) -> None:
    """With the chunk table, TermIds still gives exactly Analyzer.terms."""
    _compiled_table()
    assert TermIds(A).terms(text) == A.terms(text)


def test_table_splits_where_str_split_splits_for_every_whitespace_character() -> None:
    """Each of Python's whitespace characters separates chunks, as in str.split()."""
    table, record = _compiled_table(), _Recorder()
    texts = [f"a{ws}b{ws}{ws}c\u00e9{ws}" for ws in WHITESPACE] + ["\u3000".join(WHITESPACE)]
    table.batch(texts, bytes(len(texts)), record)
    assert sorted(c for c, _ in record.calls) == sorted({c for t in texts for c in t.split()})


def test_table_keeps_characters_str_split_keeps() -> None:
    """Invisible and control characters that are not whitespace stay inside a chunk."""
    table, record = _compiled_table(), _Recorder()
    text = "a\u200bb c\x00d e\ufeff\x7ff"
    table.batch([text], b"\0", record)
    assert [c for c, _ in record.calls] == text.split() == ["a\u200bb", "c\x00d", "e\ufeff\x7ff"]


def test_table_finds_a_chunk_whatever_the_width_of_the_text_around_it() -> None:
    """'café' in a Latin-1, a UCS-2 and a UCS-4 text is one chunk (keys are code points)."""
    table, record = _compiled_table(), _Recorder()
    texts = ["café", "café \u20ac", "café \U0001f600", "\u20ac café"]
    tokens, counts = table.batch(texts, bytes(4), record)
    assert [c for c, _ in record.calls] == ["café", "\u20ac", "\U0001f600"]
    assert np.frombuffer(tokens, np.int32).tolist() == [4, 4, 1, 4, 1, 1, 4]
    assert np.frombuffer(counts, np.int64).tolist() == [1, 2, 2, 2]


def test_non_bmp_chunks_give_the_python_term_ids() -> None:
    """Chunks with characters beyond the BMP (emoji, math letters) analyse as in Python."""
    _both(["𝐀𝐁𝐂 says 😀hello😀 \U00010400\U00010428 ok", "hello 😀 𝐀𝐁𝐂", "ÅNGSTRÖM 𝐀"])


def test_empty_and_whitespace_only_texts_have_no_terms() -> None:
    """Empty texts and texts of only whitespace count zero terms, between texts that have some."""
    compiled, _ = _both(["", "river bank", " \t\n\u3000\u2028\xa0 ", "", "bank"])
    tokens, counts = compiled.batch(["", " \u2029 "])
    assert tokens.tolist() == [] and counts.tolist() == [0, 0]


def test_empty_batch_has_no_terms() -> None:
    """A batch of no texts gives empty arrays of the right types."""
    compiled, _ = _both([])
    tokens, counts = compiled.batch([])
    assert tokens.shape == counts.shape == (0,)


def test_shouted_and_plain_copies_of_a_chunk_are_different_chunks() -> None:
    """'WHO' in shouted text (a stopword) and in mixed text (an acronym) are analysed apart."""
    compiled, _ = _both(["WHO SAID IT", "Who said IT and WHO", "WHO SAID IT"])
    assert compiled.terms("WHO SAID IT") == A.terms("WHO SAID IT") == ["say"]
    assert compiled.terms("the WHO said") == ["who", "say"]


def test_table_asks_for_a_chunk_once_even_when_it_repeats_within_a_batch() -> None:
    """A new chunk repeated in one batch is analysed once; its repeats reuse the result."""
    table, record = _compiled_table(), _Recorder()
    tokens, _ = table.batch(["aa b aa", "b aa", "AA"], b"\0\0\1", record)
    assert record.calls == [("aa", False), ("b", False), ("AA", True)]
    assert np.frombuffer(tokens, np.int32).tolist() == [2, 1, 2, 1, 2, 2]
    assert len(table) == 3


def test_table_keeps_every_chunk_as_it_grows() -> None:
    """Many thousands of chunks (many doublings of the table) are all found again, same ids."""
    table, record = _compiled_table(), _Recorder()
    texts = [" ".join(f"w{i}x{j}" for j in range(20)) for i in range(3000)]
    first, counts = table.batch(texts, bytes(len(texts)), record)
    again, _ = table.batch(texts, bytes(len(texts)), record)
    assert len(record.calls) == len(table) == 60000
    assert bytes(first) == bytes(again) and sum(np.frombuffer(counts, np.int64)) == 60000


def test_a_long_chunk_is_kept_like_a_short_one() -> None:
    """A chunk of 100,000 characters gives the Python path's term ids, twice."""
    text = "x" * 100_000 + " " + "ab'" * 40_000
    compiled, _ = _both([text, text])
    assert compiled.terms(text) == A.terms(text)


def test_a_failing_analysis_propagates_and_leaves_the_table_consistent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lookup that raises on a new chunk reaches the caller; later batches are still exact."""
    compiled = TermIds(Analyzer())
    _compiled_table()
    compiled.batch(["river bank"])

    def broken(raw: str, acronyms: bool) -> str | None:
        raise RuntimeError(f"cannot analyse {raw}")

    monkeypatch.setattr(compiled.analyzer, "_lookup", broken)
    with pytest.raises(RuntimeError, match="cannot analyse delta"):
        compiled.batch(["river delta", "bank"])
    monkeypatch.undo()
    texts = ["river bank", "river delta bank", "delta"]
    reference = TermIds(Analyzer(), compiled=False)
    reference.batch(["river bank"])
    assert compiled.batch(texts)[0].tolist() == reference.batch(texts)[0].tolist()
    assert list(compiled.vocab) == list(reference.vocab)


def test_table_refuses_term_ids_that_do_not_fit_int32() -> None:
    """A callback returning an id beyond int32 raises ValueError and stores nothing."""
    table = _compiled_table()
    with pytest.raises(ValueError, match="term id"):
        table.batch(["a"], b"\0", lambda chunk, shouted: [2**31])
    assert len(table) == 0


def test_table_refuses_to_be_called_from_its_own_callback() -> None:
    """A callback that calls the same table again gets RuntimeError (the table is mid-update)."""
    table = _compiled_table()

    def reenter(chunk: str, shouted: bool) -> list[int]:
        table.batch(["b"], b"\0", lambda c, s: [1])
        return [0]

    with pytest.raises(RuntimeError, match="own callback"):
        table.batch(["a"], b"\0", reenter)
    assert len(table) == 0


def test_compiled_isprintable_agrees_with_str_isprintable_for_every_character() -> None:
    """_chunks.isprintable(c) == c.isprintable() for every code point, alone and in text."""
    _compiled_table()
    isprintable = tokenize_parallel._chunks.isprintable
    chars = list(map(chr, range(sys.maxunicode + 1)))
    assert [c for c in chars if isprintable(c) != c.isprintable()] == []
    assert [c for c in chars if isprintable(f"a{c}é") != f"a{c}é".isprintable()] == []


@settings(max_examples=300, deadline=None)
@given(st.one_of(TEXTS, SPACY))
def test_compiled_isprintable_agrees_with_str_isprintable(text: str) -> None:
    """For any text, the compiled isprintable answers as str.isprintable."""
    _compiled_table()
    assert tokenize_parallel._chunks.isprintable(text) == text.isprintable()


@settings(max_examples=500, deadline=None)
@given(st.one_of(TEXTS, SPACY, st.text(alphabet=" \ta\xa0", max_size=8)))
def test_spaces_folded_means_splitting_and_joining_gives_the_text_back(text: str) -> None:
    """spaces_folded(text) (compiled and Python) is exactly ' '.join(text.split()) == text."""
    _compiled_table()
    folded = " ".join(text.split()) == text
    assert tokenize_parallel._chunks.spaces_folded(text) == folded
    assert not tokenize_parallel._folded_in_python(text) or folded


@settings(max_examples=300, deadline=None)
@given(st.one_of(TEXTS, SPACY))
def test_text_hash_is_blake2b_of_the_lowered_text_with_whitespace_folded(text: str) -> None:
    """text_hash is the 63-bit blake2b of ' '.join(text.lower().split()), whatever its shortcuts."""
    normal = " ".join(text.lower().split()).encode()
    digest = hashlib.blake2b(normal, digest_size=8).digest()
    assert tokenize_parallel.text_hash(text) == int.from_bytes(digest, "little") >> 1


def test_index_built_without_the_chunk_table_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pure-Python fallback builds the very index the chunk table builds."""
    _compiled_table()
    compiled = build_index(ARTICLES, Analyzer())
    monkeypatch.setattr(tokenize_parallel, "_chunks", None)
    _same(build_index(ARTICLES, Analyzer()), compiled)


def _same(a: Index, b: Index) -> None:
    for name in Index._ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.terms == b.terms and list(a.articles) == list(b.articles)
    assert bytes(a.text_blob) == bytes(b.text_blob) and a.speakers == b.speakers


@pytest.mark.skipif(not can_fork(), reason="fork unavailable or process has threads")
def test_parallel_build_equals_sequential_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two forked workers over 3-article tasks build the very same index as one process."""
    monkeypatch.setattr(tokenize_parallel, "PARALLEL_MIN_ARTICLES", 1)
    monkeypatch.setattr(tokenize_parallel, "TASK_ARTICLES", 3)
    _same(
        build_index(ARTICLES, Analyzer(), workers=2), build_index(ARTICLES, Analyzer(), workers=1)
    )


def test_postings_hold_each_passage_term_frequency() -> None:
    """Postings, tfs, df and doc_len equal a per-passage Counter of the analyzer's terms."""
    index = build_index(ARTICLES, A)
    passages = [p for a in ARTICLES for p in split_passages(a)]
    expected: dict[str, dict[int, int]] = {}
    for doc, terms in enumerate(tokenize_passages(passages, A)):
        assert index.doc_len[doc] == len(terms)
        for term, tf in Counter(terms).items():
            expected.setdefault(term, {})[doc] = tf
    assert index.terms == sorted(expected)
    for term, postings in expected.items():
        t = index.vocab[term]
        s, e = int(index.indptr[t]), int(index.indptr[t + 1])
        assert dict(zip(index.docs[s:e].tolist(), index.tfs[s:e].tolist(), strict=True)) == postings
        assert index.df[t] == len(postings)


def test_champions_are_each_terms_best_postings(monkeypatch: pytest.MonkeyPatch) -> None:
    """With 3 champions, each long term keeps its 3 best by (weight desc, passage asc)."""
    monkeypatch.setattr(postings_module, "CHAMPIONS", 3)
    index = build_index(ARTICLES, A)
    long_terms = 0
    for t in range(len(index.terms)):
        s, e = int(index.indptr[t]), int(index.indptr[t + 1])
        champs = index.champ_docs[int(index.champ_ptr[t]) : int(index.champ_ptr[t + 1])].tolist()
        weights = index.term_weights(t)
        assert index.term_max[t] == weights.max()
        if e - s <= 3:
            assert champs == []
            continue
        long_terms += 1
        order = sorted(range(e - s), key=lambda i: (-weights[i], index.docs[s + i]))[:3]
        assert champs == [int(index.docs[s + i]) for i in order]
    assert long_terms > 10


def test_loaded_index_reads_articles_and_terms_lazily(tmp_path: Path) -> None:
    """A loaded index has equal articles (by row, slice, id), terms and vocabulary."""
    index = build_index(ARTICLES, A)
    loaded = Index.load(index.save(tmp_path / "idx"))
    assert len(loaded.articles) == len(index.articles)
    assert loaded.articles[3] == index.articles[3] and loaded.articles[-1] == index.articles[-1]
    assert loaded.articles[2:5] == list(index.articles[2:5])
    assert list(loaded.articles) == list(index.articles)
    assert loaded.article_by_id == index.article_by_id
    assert loaded.terms == index.terms and loaded.vocab == index.vocab
    pid = index.passage_id(11)
    assert loaded.doc_by_passage_id(pid) == 11


def test_damaged_article_table_is_refused(tmp_path: Path) -> None:
    """An article offsets file that does not match meta.json raises IndexFormatError."""
    path = build_index(ARTICLES, A).save(tmp_path / "idx")
    np.save(path / "article_offsets.npy", np.zeros(3, dtype=np.int64))
    with pytest.raises(index_module.IndexFormatError, match="damaged"):
        Index.load(path)


def _messy_corpus(root: Path) -> Path:
    """Text files, JSONL with CRLF, a BOM, bad lines, duplicate ids and unreadable files."""
    shutil.copytree(BUNDLED_CORPUS, root)
    lines = [
        json.dumps(
            {"id": f"j{i}", "title": f"T{i}", "text": f"Para {i} one.\n\nMayor Vo said {i}."}
        )
        for i in range(30)
    ]
    lines[4] = "not json"
    lines[9] = json.dumps({"id": "j2", "title": "Dup", "text": "The walrus choir sang."})
    (root / "a.jsonl").write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    (root / "b.jsonl").write_text("\n\n" + json.dumps({"id": "j5", "title": "x", "text": "y z"}))
    (root / "c.jsonl").write_bytes(b"\xff\xfe bad")
    (root / "empty.txt").write_text("")
    (root / "z.md").write_text("Last\n\nA last article about the harbour.")
    return root


def test_build_from_files_equals_build_from_loaded_articles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers reading the files themselves build the index load_corpus + build_index builds."""
    monkeypatch.setattr(corpus_module, "TASK_BYTES", 300)  # many small parts, cut mid-file
    monkeypatch.setattr(corpus_module, "TASK_TEXT_FILES", 4)
    monkeypatch.setattr(build_module, "PARALLEL_MIN_BYTES", 0)
    root = _messy_corpus(tmp_path / "corpus")
    corpus = load_corpus(root)
    expected = build_index(corpus.articles, A, skipped=corpus.skipped)
    for workers in (1, 2):
        index = build_corpus_index(root, Analyzer(), workers=workers)
        _same(index, expected)
        assert index.skipped == expected.skipped and len(expected.skipped) == 5


def test_terms_of_a_skipped_duplicate_are_not_indexed(tmp_path: Path) -> None:
    """A word only a duplicate (skipped) article has gets no term."""
    index = build_corpus_index(_messy_corpus(tmp_path / "corpus"), A, workers=1)
    assert "walrus" not in index.vocab and "mayor" in index.vocab


def test_file_changed_after_planning_is_skipped_with_a_reason(tmp_path: Path) -> None:
    """A file part that no longer decodes when a worker reads it is skipped, not fatal."""
    root = tmp_path / "corpus"
    write(root / "a.jsonl", json.dumps({"id": "a", "title": "A", "text": "Some text here."}) + "\n")
    (task,) = list(corpus_module.plan_tasks(root))
    (root / "a.jsonl").write_bytes(b"\xff" * 80)
    chunk = tokenize_parallel.analyse_task(task, TermIds(A))
    assert chunk.articles == [] and "changed while being read" in chunk.skipped[0][1].reason
