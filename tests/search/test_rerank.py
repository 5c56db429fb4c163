"""Re-ranking BM25's candidates as paragraphs: paragraph BM25, coverage, proximity, pruning."""

from __future__ import annotations

import pytest
from conftest import bundled_index

from askbot.search.analysis import Analyzer
from askbot.search.answer import term_weights
from askbot.search.build import build_index
from askbot.search.index import Index
from askbot.search.models import Article
from askbot.search.rerank import (
    RerankWeights,
    adjacent_pairs,
    okapi_score,
    okapi_scores,
    paragraph_docs,
    paragraphs_of,
    question_pairs,
    rerank,
    term_counts,
    term_frequencies,
)

A = Analyzer()
BUNDLED = bundled_index()
FILLER = (
    "Farmers planted wheat in the valley this spring.",
    "The museum opened a new wing for modern sculpture.",
    "Heavy rain closed the mountain road for two days.",
    "The orchestra toured five cities in the autumn.",
    "The post office closed early.",
    "A chess club met on Tuesday evenings.",
    "The bakery sold out of rye bread.",
    "Divers found an old anchor in the bay.",
)


def _index(*articles: Article) -> Index:
    return build_index([*articles, Article(id="filler", title="Filler", paragraphs=FILLER)], A)


def _long_paragraph() -> str:
    """Two sentence windows: the first about a harbour, the second about a lighthouse."""
    first = "The harbour master counted the boats at dawn. " * 13
    second = "The lighthouse keeper painted the lighthouse white. " * 13
    return (first + second).strip()


def _ranked(index: Index, question: str, limit: int = 10) -> list[tuple[str, int]]:
    terms = A.terms(question)
    matches = rerank(index, A, terms, term_weights(index, terms), index.search(terms, 30), limit)
    return [(index.article_of(m.best.doc).id, int(index.p_paragraph[m.best.doc])) for m in matches]


def test_paragraph_docs_are_all_windows_of_the_paragraph() -> None:
    """From either window of a long paragraph, the range covers both and nothing else."""
    index = _index(Article(id="a", title="A", paragraphs=("Short first.", _long_paragraph())))
    windows = [d for d in range(index.n_docs) if index.passage_id(d).startswith("a#2.")]
    assert len(windows) == 2
    assert paragraph_docs(index, windows[1]) == range(windows[0], windows[1] + 1)
    assert paragraph_docs(index, windows[0]) == paragraph_docs(index, windows[1])


def test_term_frequencies_add_up_over_a_paragraphs_windows() -> None:
    """13 'harbour' in one window and 26 'lighthouse' in the other: counted per paragraph."""
    index = _index(Article(id="a", title="A", paragraphs=("Short first.", _long_paragraph())))
    doc = next(d for d in range(index.n_docs) if index.passage_id(d) == "a#2.1")
    [tf] = term_frequencies(index, ["harbour", "lighthous", "zebra"], [paragraph_docs(index, doc)])
    assert tf == {"harbour": 13, "lighthous": 26}


def test_term_in_several_windows_is_counted_over_all_of_them() -> None:
    """'the' is a stopword, but 'harbour' and 'boat' in both windows add up per paragraph."""
    first = "The harbour master counted the boats at dawn. " * 13
    second = "The harbour keeper painted one boat white. " * 13
    article = Article(id="a", title="A", paragraphs=("Short first.", (first + second).strip()))
    index = _index(article)
    doc = next(d for d in range(index.n_docs) if index.passage_id(d) == "a#2.1")
    [tf] = term_frequencies(index, ["harbour", "boat", "dawn"], [paragraph_docs(index, doc)])
    assert tf == {"harbour": 26, "boat": 26, "dawn": 13}


def test_paragraph_bm25_of_a_single_window_equals_the_index_score() -> None:
    """okapi_score over a one-window paragraph is the index's exact BM25Okapi score."""
    terms = A.terms("Biegun ready for talks with Pyongyang")
    scores = BUNDLED.get_scores(terms)
    for hit in BUNDLED.search(terms, 5):
        docs = paragraph_docs(BUNDLED, hit.doc)
        assert len(docs) == 1
        [tf] = term_frequencies(BUNDLED, terms, [docs])
        length = int(BUNDLED.doc_len[hit.doc])
        assert okapi_score(BUNDLED, terms, tf, length) == pytest.approx(scores[hit.doc], abs=1e-9)


def test_paragraphs_of_are_each_docs_paragraph_and_its_length() -> None:
    """Single windows and both windows of a long paragraph: paragraph_docs and summed lengths."""
    index = _index(Article(id="a", title="A", paragraphs=("Short first.", _long_paragraph())))
    docs = list(range(index.n_docs))
    spans, lengths = paragraphs_of(index, docs)
    assert spans == [paragraph_docs(index, d) for d in docs]
    assert lengths == [int(index.doc_len[s.start : s.stop].sum()) for s in spans]


def test_okapi_scores_equal_okapi_score_of_each_paragraph() -> None:
    """Counted and scored together, each paragraph's BM25 is bitwise okapi_score's."""
    index = _index(Article(id="a", title="A", paragraphs=("Short first.", _long_paragraph())))
    terms = ["harbour", "lighthous", "harbour", "zebra", "dawn"]
    spans, lengths = paragraphs_of(index, list(range(index.n_docs)))
    tfs = term_frequencies(index, terms, spans)
    expected = [okapi_score(index, terms, tf, n) for tf, n in zip(tfs, lengths, strict=True)]
    counts = term_counts(index, terms, spans)
    assert [
        dict((t, c[i]) for t, c in zip(terms, counts, strict=True) if c[i])
        for i in range(len(spans))
    ] == tfs
    assert okapi_scores(index, terms, counts, lengths) == expected
    assert max(expected) > 0


def test_adjacent_pairs_match_in_question_order_only() -> None:
    """'super bowl' in the text matches the question's pair; 'bowl super' does not."""
    pairs = question_pairs(["super", "bowl", "50"])
    assert adjacent_pairs(pairs, ["the", "super", "bowl", "was"]) == {("super", "bowl")}
    assert adjacent_pairs(pairs, ["bowl", "super", "50"]) == {("super", "50")} & pairs


def test_long_paragraph_is_cited_once_by_its_best_window() -> None:
    """Both windows match; the paragraph appears once, shown by the higher-scoring window."""
    index = _index(Article(id="a", title="A", paragraphs=("Short first.", _long_paragraph())))
    terms = A.terms("harbour lighthouse")
    hits = index.search(terms, 30)
    matches = rerank(index, A, terms, term_weights(index, terms), hits, 10)
    assert [(index.article_of(m.best.doc).id, int(index.p_paragraph[m.best.doc]))
            for m in matches] == [("a", 2)]  # fmt: skip
    assert matches[0].best == hits[0]


def test_passage_with_every_question_word_outranks_a_short_one_with_one() -> None:
    """BM25 prefers a short passage naming Kaesong; coverage lifts the one with both words."""
    long = (
        "North Korea demolished the office that both governments had built in the border town "
        "of Kaesong two years earlier, citing leaflets sent across the frontier by activists "
        "and defectors living in the South, and it cut every line."
    )
    index = _index(Article(id="a", title="A", paragraphs=("Kaesong, the border town.", long)))
    terms = A.terms("Kaesong office")
    assert index.passage_id(index.search(terms, 1)[0].doc) == "a#1"
    assert _ranked(index, "Kaesong office")[:2] == [("a", 2), ("a", 1)]


def test_question_words_as_a_phrase_outrank_the_same_words_apart() -> None:
    """BM25 prefers the shorter passage; 'liaison office' as a phrase lifts the longer one."""
    article = Article(id="a", title="A", paragraphs=(
        "An office for the liaison staff opened near the river.",
        "The liaison office staff opened a branch near the river.",
    ))  # fmt: skip
    index = _index(article)
    assert index.passage_id(index.search(A.terms("liaison office"), 1)[0].doc) == "a#1"
    assert _ranked(index, "liaison office")[:2] == [("a", 2), ("a", 1)]


def test_syndicated_copy_is_kept_as_a_copy_not_a_second_match() -> None:
    """The same text in two articles is one match whose copies name the other passage."""
    text = "Biegun said Washington is ready for talks with Pyongyang."
    index = _index(
        Article(id="a", title="A", paragraphs=(text,)),
        Article(id="b", title="B", paragraphs=(text,)),
    )
    terms = A.terms("Biegun talks")
    [match] = rerank(index, A, terms, term_weights(index, terms), index.search(terms, 30), 10)
    assert [index.article_of(d).id for d in match.copies] == ["b"]


@pytest.mark.parametrize("question", [
    "What did Biegun say?", "north korea summit talks", "Who won the World Cup match?",
    "crane collapse in Mecca killed pilgrims", "What did Trump say about Kim Jong-un?",
])  # fmt: skip
def test_pruned_top_k_equals_the_head_of_the_full_ranking(question: str) -> None:
    """Skipping paragraphs that cannot reach the top k changes nothing in the top k."""
    everything = _ranked(BUNDLED, question, limit=1000)
    for k in (1, 3, 5):
        assert _ranked(BUNDLED, question, limit=k) == everything[:k]


def test_no_hits_rank_nothing() -> None:
    """No candidates, or a limit of zero, give an empty ranking."""
    terms = A.terms("Biegun")
    weights = term_weights(BUNDLED, terms)
    assert rerank(BUNDLED, A, terms, weights, [], 5) == []
    assert rerank(BUNDLED, A, terms, weights, BUNDLED.search(terms, 30), 0) == []


def test_negative_weights_are_refused() -> None:
    """The pruning bound needs weights >= 0, so a negative one is a ValueError."""
    with pytest.raises(ValueError, match=">= 0"):
        RerankWeights(proximity=-1.0)
