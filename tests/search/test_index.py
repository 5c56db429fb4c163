"""The BM25Okapi index: exact scores against rank-bm25, top-k, save and load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import BUNDLED_CORPUS, SHARED, bundled_index
from rank_bm25 import BM25Okapi

from askbot.search import residency
from askbot.search.analysis import Analyzer
from askbot.search.build import build_index, tokenize_passages
from askbot.search.corpus import load_corpus, split_passages
from askbot.search.index import (
    FORMAT_VERSION,
    BM25Params,
    Index,
    IndexFormatError,
)
from askbot.search.models import Article

A = Analyzer()
SQUAD = SHARED / "corpora" / "squad-v1.1-dev" / "articles"


def _reference(articles: list[Article], params: BM25Params) -> tuple[Index, BM25Okapi]:
    index = build_index(articles, A, params)
    passages = [p for a in articles for p in split_passages(a)]
    return index, BM25Okapi(tokenize_passages(passages, A), k1=params.k1, b=params.b,
                            epsilon=params.epsilon)  # fmt: skip


def test_hand_checkable_corpus_has_the_expected_average_length() -> None:
    """Three passages of 4, 5 and 6 terms average 5."""
    article = Article(id="t", title="T", paragraphs=(
        "alpha beta gamma delta", "alpha beta gamma delta epsilon",
        "alpha beta gamma delta epsilon zeta",
    ))  # fmt: skip
    index = build_index([article], A)
    assert index.avgdl == 5
    assert index.document_frequency("alpha") == 3 and index.document_frequency("zeta") == 1


def test_scores_equal_rank_bm25_on_the_bundled_corpus() -> None:
    """Every passage's score matches BM25Okapi.get_scores to 1e-9."""
    index, ref = _reference(list(load_corpus(BUNDLED_CORPUS).articles), BM25Params())
    for question in ("what did Biegun say", "north korea summit talks", "crane Mecca killed",
                     "the president said the president"):  # fmt: skip
        terms = A.terms(question)
        np.testing.assert_allclose(
            index.get_scores(terms), ref.get_scores(terms), rtol=0, atol=1e-9
        )


@pytest.mark.skipif(not SQUAD.is_dir(), reason="shared SQuAD corpus not present")
def test_scores_equal_rank_bm25_on_squad_with_other_parameters() -> None:
    """A 2,000-paragraph real corpus, non-default k1/b/epsilon, still exact to 1e-9."""
    params = BM25Params(k1=1.2, b=0.6, epsilon=0.5)
    index, ref = _reference(list(load_corpus(SQUAD).articles), params)
    for question in ("When did the 1973 oil crisis begin?", "Which NFL team won Super Bowl 50?",
                     "What is the the the oxygen"):  # fmt: skip
        terms = A.terms(question)
        np.testing.assert_allclose(
            index.get_scores(terms), ref.get_scores(terms), rtol=0, atol=1e-9
        )


def test_top_k_is_the_best_scores_in_order_with_ties_by_position() -> None:
    """search() returns the k best of get_scores, ties broken by passage order."""
    index = bundled_index()
    terms = A.terms("north korea talks")
    scores = index.get_scores(terms)
    expected = sorted(range(len(scores)), key=lambda d: (-scores[d], d))[:7]
    assert [h.doc for h in index.search(terms, 7)] == expected


def test_unknown_terms_find_nothing() -> None:
    """A query of terms absent from the corpus returns no hits."""
    index = bundled_index()
    assert index.search(["zzzz"], 5) == []


def test_saved_index_loads_with_the_same_results(tmp_path: Path) -> None:
    """save() then load() gives identical hits and passage texts."""
    index = bundled_index()
    loaded = Index.load(index.save(tmp_path / "idx"))
    terms = A.terms("Biegun")
    assert loaded.search(terms, 5) == index.search(terms, 5)
    assert loaded.text(7) == index.text(7) and loaded.passage_id(7) == index.passage_id(7)


def test_loaded_index_reads_every_text_and_article_after_its_folder_is_removed(
    tmp_path: Path,
) -> None:
    """Texts and articles come from files the index holds open: a reindex pruning its folder
    under a running bot changes nothing for the index already loaded."""
    import shutil

    index = bundled_index()
    folder = index.save(tmp_path / "idx")
    loaded = Index.load(folder)
    shutil.rmtree(folder)
    assert [loaded.text(d) for d in range(len(loaded))] == [
        index.text(d) for d in range(len(index))
    ]
    assert list(loaded.articles) == list(index.articles)


def test_index_of_another_format_version_is_refused(tmp_path: Path) -> None:
    """A saved index from another version raises IndexFormatError naming the version."""
    path = bundled_index().save(tmp_path / "idx")
    meta = (
        (path / "meta.json")
        .read_text()
        .replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 99')
    )
    (path / "meta.json").write_text(meta)
    with pytest.raises(IndexFormatError, match="version 99"):
        Index.load(path)


def test_an_index_of_the_previous_version_without_text_runs_still_loads(tmp_path: Path) -> None:
    """Version 4 is version 5 with one texts file: it loads with every passage's text."""
    index = bundled_index()
    path = index.save(tmp_path / "idx")
    meta = json.loads((path / "meta.json").read_text())
    meta["format_version"] = 4
    del meta["text_files"], meta["text_runs"]
    (path / "meta.json").write_text(json.dumps(meta))
    loaded = Index.load(path)
    assert [loaded.text(d) for d in range(len(loaded))] == [
        index.text(d) for d in range(len(index))
    ]


def test_index_of_another_analyzer_is_refused(tmp_path: Path) -> None:
    """Loading with a different analyzer fingerprint raises IndexFormatError."""
    path = bundled_index().save(tmp_path / "idx")
    with pytest.raises(IndexFormatError, match="analyzer"):
        Index.load(path, analyzer_fingerprint="other")


def test_empty_corpus_builds_an_empty_index() -> None:
    """No articles: zero passages and no hits, not a crash."""
    index = build_index([], A)
    assert len(index) == 0 and index.search(["x"], 3) == []


def test_loaded_index_keeps_a_bounded_article_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Articles parsed on demand are cached up to ARTICLE_CACHE, then the cache starts over;
    content_hashes() reads them all without caching any."""
    from askbot.search import index as index_module

    index = bundled_index()
    loaded = Index.load(index.save(tmp_path / "idx"))
    monkeypatch.setattr(index_module, "ARTICLE_CACHE", 3)
    assert loaded.content_hashes() == {a.id: a.content_hash for a in index.articles}
    assert len(loaded.articles._cache) == 0  # type: ignore[attr-defined]
    assert list(loaded.articles) == list(index.articles)
    assert len(loaded.articles._cache) <= 3  # type: ignore[attr-defined]


def test_saved_index_leaves_the_page_cache_and_loads_without_readahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """save drops every array file it wrote from the page cache; load advises every map random,
    unless the caller scans whole arrays (a reindex)."""
    dropped: list[Path] = []
    advised: list[int] = []
    monkeypatch.setattr(residency, "drop_cached", lambda paths: dropped.extend(paths))
    monkeypatch.setattr(
        residency, "advise_random", lambda arrays: advised.append(len(list(arrays)))
    )
    path = bundled_index().save(tmp_path / "idx")
    assert sorted(p.name for p in dropped) == sorted(f"{n}.npy" for n in Index._ARRAYS)
    assert all(p.parent == path for p in dropped)
    Index.load(path)
    assert advised == [len(Index._ARRAYS) + 1]  # the arrays and the article offsets
    Index.load(path, scan=True)
    assert advised == [len(Index._ARRAYS) + 1]
