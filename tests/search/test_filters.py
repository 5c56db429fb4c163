"""Filters applied to answers: source, dates, article, quoted phrases, and filters as options."""

from __future__ import annotations

import numpy as np
import pytest

from askbot.search.analysis import Analyzer
from askbot.search.answer import (
    NOT_FOUND,
    AnswerOptions,
    PassageFilter,
    build_answer,
    contains_phrase,
    filtered_search,
    phrase_terms,
)
from askbot.search.build import build_index
from askbot.search.index import Index
from askbot.search.models import Answer, Article
from askbot.search.query import Filters, QueryError, make_filters, parse_question

A = Analyzer()
XINHUA = Article(id="xinhua/talks", title="Xinhua", date="2020-07-10", source="xinhua",
                 paragraphs=("Pyongyang rejected talks with Washington.",))  # fmt: skip
BBC = Article(id="bbc/talks", title="BBC", date="2019-03-01", source="bbc",
              paragraphs=("Pyongyang welcomed talks in Hanoi.",))  # fmt: skip
UNDATED = Article(id="archive/talks", title="Archive",
                  paragraphs=("Talks with Pyongyang began in the spring.",))  # fmt: skip
FILLER = Article(id="filler", title="Filler", paragraphs=(
    "Farmers planted wheat in the valley this spring.",
    "The museum opened a new wing for modern sculpture.",
    "Heavy rain closed the mountain road for two days.",
))  # fmt: skip
INDEX = build_index([XINHUA, BBC, UNDATED, FILLER], A)


def _articles(answer: Answer) -> set[str]:
    return {p.citation.article_id for p in answer.passages}


@pytest.mark.parametrize(("question", "expected"), [
    ("Pyongyang talks source:xinhua", {"xinhua/talks"}),
    ("Pyongyang talks source:XINHUA", {"xinhua/talks"}),
    ("Pyongyang talks after:2020-01-01", {"xinhua/talks"}),
    ("Pyongyang talks before:2020", {"bbc/talks"}),
    ("Pyongyang talks article:bbc", {"bbc/talks"}),
    ("Pyongyang talks article:archive/talks", {"archive/talks"}),
    ('Pyongyang "welcomed talks"', {"bbc/talks"}),
])  # fmt: skip
def test_each_filter_keeps_only_the_passages_it_allows(question: str, expected: set[str]) -> None:
    """source:, after:, before:, article: and a quoted phrase each narrow the citations."""
    answer = build_answer(question, INDEX, A, AnswerOptions(top_k=5))
    assert answer.answered and _articles(answer) == expected


def test_without_filters_all_three_articles_answer() -> None:
    """The same question unfiltered cites all three articles about the talks."""
    answer = build_answer("Pyongyang talks", INDEX, A, AnswerOptions(top_k=5))
    assert _articles(answer) == {"xinhua/talks", "bbc/talks", "archive/talks"}


def test_filters_that_remove_everything_say_so() -> None:
    """The reason names the filters when they, not the words, left nothing."""
    answer = build_answer("Pyongyang talks source:xinhua after:2021-01-01", INDEX, A)
    assert not answer.answered and answer.passages == ()
    assert answer.reason == "No passage from source xinhua after 2021-01-01 matches."


def test_filtered_question_with_no_match_at_all_is_not_in_the_corpus() -> None:
    """When no passage shares a word with the question, the filters are not blamed."""
    answer = build_answer("zebra giraffe source:bbc", INDEX, A)
    assert not answer.answered and answer.reason == NOT_FOUND


def test_malformed_filter_is_an_unanswered_answer_with_the_message() -> None:
    """after:someday gives answered False and the parser's advice as the reason."""
    answer = build_answer("Pyongyang talks after:someday", INDEX, A)
    assert not answer.answered and answer.passages == ()
    assert "after:2020-06-01" in answer.reason


def test_filters_given_as_options_apply_like_written_ones() -> None:
    """AnswerOptions.filters (CLI or Discord options) restrict the answer the same way."""
    options = AnswerOptions(top_k=5, filters=make_filters(sources=["BBC"]))
    answer = build_answer("Pyongyang talks", INDEX, A, options)
    assert answer.answered and _articles(answer) == {"bbc/talks"}


def test_option_filters_combine_with_those_in_the_question() -> None:
    """An after: option and a source: in the question must both hold."""
    options = AnswerOptions(top_k=5, filters=make_filters(after="2020-01-01"))
    assert _articles(build_answer("Pyongyang talks source:xinhua", INDEX, A, options)) == {
        "xinhua/talks"
    }
    assert not build_answer("Pyongyang talks source:bbc", INDEX, A, options).answered


def test_make_filters_refuses_a_date_it_cannot_read() -> None:
    """A bad --after value is a QueryError that says how to write a date."""
    with pytest.raises(QueryError, match="2020-06-01"):
        make_filters(after="last week")


def test_merged_filters_widen_choices_and_narrow_dates() -> None:
    """Sources add up; the later after and the earlier before win."""
    merged = Filters(sources=("bbc",), after="2019-01-01").merged(
        Filters(sources=("xinhua",), after="2020-01-01", before="2021-01-01")
    )
    assert merged == Filters(sources=("bbc", "xinhua"), after="2020-01-01", before="2021-01-01")


def test_phrase_matches_word_forms_and_keeps_stopword_gaps() -> None:
    """'false conception' is in 'false conceptions'; 'liaison office' is not in 'liaison to the
    office'; 'walking in Fresno' is in 'Walking Into Fresno'."""

    def has(text: str, phrase: str) -> bool:
        return contains_phrase(phrase_terms(A, text), phrase_terms(A, phrase))

    assert has("idle speculations and false conceptions, as that", "false conception")
    assert not has("the liaison to the office", "liaison office")
    assert has('a song, "Walking Into Fresno", written by', "walking in Fresno")


def test_phrase_with_trailing_punctuation_inside_the_quotes_still_matches() -> None:
    """'"welcomed talks?"' keeps no question mark in the phrase."""
    assert parse_question('Who "welcomed talks?"').filters.phrases == ("welcomed talks",)


def test_selective_filter_scores_only_the_allowed_passages_exactly() -> None:
    """When the allowed article ranks below the oversampled candidates, it is still found,
    with its exact BM25 score."""
    crowd = Article(id="crowd", title="Crowd", paragraphs=tuple(
        f"Pyongyang talks resumed in round {n} with more talks." for n in range(40)
    ))  # fmt: skip
    index: Index = build_index([crowd, BBC, FILLER], A)
    terms = A.terms("Pyongyang talks")
    allowed = PassageFilter(index, A, parse_question("x article:bbc").filters)
    hits = filtered_search(index, A, terms, 2, allowed)
    bbc = index.article_by_id["bbc/talks"]
    doc = int(np.flatnonzero(np.asarray(index.p_article) == bbc)[0])
    assert index.search(terms, 20) and all(h.doc != doc for h in index.search(terms, 20))
    assert [h.doc for h in hits] == [doc]
    assert hits[0].score == pytest.approx(float(index.get_scores(terms)[doc]), abs=1e-12)


def test_may_pass_rules_out_only_passages_lacking_a_phrase_term() -> None:
    """From the postings: a passage without 'washington' cannot hold "talks with Washington";
    one with both words may (the exact check then decides)."""
    allowed = PassageFilter(INDEX, A, Filters(phrases=("talks with Washington",)))
    docs = list(range(INDEX.n_docs))
    maybe = allowed.may_pass(docs)
    assert [d for d in docs if maybe[d]] == [d for d in docs if allowed(d)]
    unknown = PassageFilter(INDEX, A, Filters(phrases=("zebra crossing",)))
    assert unknown.may_pass(docs) == [False] * len(docs)
    assert PassageFilter(INDEX, A, Filters(sources=("bbc",))).may_pass(docs) == [True] * len(docs)


def test_may_hold_keeps_every_passage_that_holds_the_phrase() -> None:
    """Words apart or in the other order are ruled out cheaply; every passage the exact check
    allows may hold the phrase, whether the analysis is compiled or not."""
    for analyzer in (A, Analyzer(compiled=False)):
        for phrase in ("talks with Washington", "Washington talks", "talks in Hanoi", "the"):
            allowed = PassageFilter(INDEX, analyzer, Filters(phrases=(phrase,)))
            docs = list(range(INDEX.n_docs))
            maybe = allowed.may_hold(docs)
            assert all(maybe[d] for d in docs if allowed(d))
        reversed_words = PassageFilter(INDEX, analyzer, Filters(phrases=("Washington talks",)))
        assert not any(reversed_words.may_hold(list(range(INDEX.n_docs))))
