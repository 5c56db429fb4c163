"""Pruned top-k search is exact: the same passages, scores and tie order as exhaustive scoring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from askbot.search import postings as postings_module
from askbot.search import pruning
from askbot.search.analysis import Analyzer
from askbot.search.build import build_index, tokenize_passages
from askbot.search.corpus import split_passages
from askbot.search.index import BM25Params, Index
from askbot.search.models import Article, Hit

A = Analyzer()


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs against the compiled kernel and against the numpy search."""
    if request.param == "compiled" and pruning._kernel is None:
        pytest.fail("the compiled search kernel is not built (pip install -e . needs gcc)")
    monkeypatch.setattr(pruning, "USE_KERNEL", request.param == "compiled")
    return str(request.param)


# Terms that are their own stems; 40 of them over short passages make many exact ties.
VOCAB = [f"w{i:02d}" for i in range(40)]


def _reference(index: Index, terms: list[str], k: int) -> list[Hit]:
    """Exhaustive ranking: get_scores over passages containing a query term, (score, passage)."""
    scores = index.get_scores(terms)
    matching = {d for t in terms if t in index.vocab for d in index.docs[
        int(index.indptr[index.vocab[t]]) : int(index.indptr[index.vocab[t] + 1])].tolist()}  # fmt: skip
    best = sorted(matching, key=lambda d: (-scores[d], d))[:k]
    return [Hit(d, float(scores[d])) for d in best]


def _corpus(draw: st.DrawFn) -> list[Article]:
    """Up to 150 short passages over 40 terms (w00 common ... w39 rare) with many exact ties."""
    n_docs = draw(st.integers(8, 150))
    exponent = draw(st.sampled_from([0.5, 0.8, 1.0]))
    weights = np.array([1.0 / (r + 1) ** exponent for r in range(len(VOCAB))])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    paragraphs = [
        " ".join(rng.choice(VOCAB, size=int(rng.integers(1, 9)), p=weights / weights.sum()))
        for _ in range(n_docs)
    ]
    per = draw(st.integers(1, 5))
    return [
        Article(id=f"a{i}", title="t", paragraphs=tuple(paragraphs[i : i + per]))
        for i in range(0, n_docs, per)
    ]


@st.composite
def corpus_and_query(draw: st.DrawFn) -> tuple[list[Article], list[str], int, int]:
    articles = _corpus(draw)
    query = draw(st.lists(st.sampled_from([*VOCAB, "absent"]), min_size=1, max_size=6))
    k = draw(st.integers(1, 15))
    champions = draw(st.sampled_from([2, 3, 5, 64]))
    return articles, query, k, champions


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpus_and_query())
def test_pruned_top_k_equals_exhaustive_top_k_including_ties(
    case: tuple[list[Article], list[str], int, int],
) -> None:
    """With pruning forced on every query, search() returns exactly the exhaustive top k."""
    articles, query, k, champions = case
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(postings_module, "CHAMPIONS", champions)
        mp.setattr(pruning, "SMALL_WORK", 0)
        index = build_index(articles, A)
        assert index.search(query, k) == _reference(index, query, k)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpus_and_query())
def test_pruned_candidates_hold_every_exhaustive_winner(
    case: tuple[list[Article], list[str], int, int],
) -> None:
    """pruning.top_k (forced) keeps every passage of the exact top k with bitwise scores."""
    articles, query, k, champions = case
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(postings_module, "CHAMPIONS", champions)
        index = build_index(articles, A)
    seq = [index.vocab[t] for t in query if t in index.vocab]
    if not seq:
        return
    cand, scores = pruning.top_k(index.postings, seq, k, pruning.Scratch(), small_work=0)
    found = dict(zip(cand.tolist(), scores.tolist(), strict=True))
    for hit in _reference(index, query, k):
        assert found[hit.doc] == hit.score


def test_ties_at_the_boundary_go_to_the_earlier_passages() -> None:
    """Sixty identical articles: the top 5 are the first five matching passages, pruning forced."""
    paragraphs = ("fish bread", "cloud drum bird", "flute grape harp", "iron jade kite")
    articles = [Article(id=f"a{i}", title="t", paragraphs=paragraphs) for i in range(60)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(postings_module, "CHAMPIONS", 2)
        mp.setattr(pruning, "SMALL_WORK", 0)
        index = build_index(articles, A)
        hits = index.search(["fish", "bread", "cloud"], 5)
    assert [h.doc for h in hits] == [0, 4, 8, 12, 16]
    assert len({h.score for h in hits}) == 1


def test_single_term_top_k_comes_from_its_champions() -> None:
    """One query term: the champions give the same hits as exhaustive scoring."""
    articles = [Article(id=f"a{i}", title="t", paragraphs=(" ".join(["fish"] * (1 + i % 4)
                + ["bread"] * (i % 7)),)) for i in range(200)]  # fmt: skip
    index = build_index(articles, A)
    for query in (["fish"], ["fish", "fish"], ["fish"] * 3):
        assert index.search(query, 10) == _reference(index, query, 10)
        assert index.search(query, 10) == index.search_exhaustive(query, 10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpus_and_query())
def test_every_returned_passage_scores_at_least_rank_bm25s_kth_best(
    case: tuple[list[Article], list[str], int, int],
) -> None:
    """Against rank-bm25 itself: hits carry its scores and none is below its k-th best."""
    articles, query, k, _ = case
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pruning, "SMALL_WORK", 0)
        index = build_index(articles, A, BM25Params())
        hits = index.search(query, k)
    passages = [p for a in articles for p in split_passages(a)]
    ref = BM25Okapi(tokenize_passages(passages, A)).get_scores(query)
    matching = sorted((s for d, s in enumerate(ref) if set(query) & set(A.terms(passages[d].text))),
                      reverse=True)  # fmt: skip
    assert len(hits) == min(k, len(matching))
    for hit in hits:
        assert abs(hit.score - ref[hit.doc]) <= 1e-9
        assert hit.score >= matching[len(hits) - 1] - 1e-9


def test_pruning_skips_the_postings_of_common_terms() -> None:
    """A rare and a very common term: the common term's list is probed, not scanned."""
    paragraphs = [("fish " if i % 997 == 0 else "") + ("cloud " * (1 + i % 3) if i % 5 == 0 else "")
                  + "bread" for i in range(5000)]  # fmt: skip
    articles = [Article(id=f"a{i}", title="t", paragraphs=(p,)) for i, p in enumerate(paragraphs)]
    index = build_index(articles, A)
    seq = [index.vocab["fish"], index.vocab["cloud"]]
    cand, _ = pruning.top_k(index.postings, seq, 3, pruning.Scratch(), small_work=0)
    assert cand.shape[0] <= 6  # the fish passages, not the 1,000 cloud ones
    assert index.search(["fish", "cloud"], 3) == index.search_exhaustive(["fish", "cloud"], 3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-(2**31), 2**31 - 1), max_size=200), st.sampled_from(["int32", "int64"])
)
def test_distinct_gives_np_unique_values(values: list[int], dtype: str) -> None:
    """pruning.distinct (a sort) returns exactly np.unique's sorted distinct values and dtype."""
    array = np.asarray(values, dtype=dtype)
    want = np.unique(array)
    got = pruning.distinct(array)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
