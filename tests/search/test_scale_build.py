"""The scale build: exact fast tokenising, parallel analysis, postings, champions, lazy loading."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

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
