"""Evaluation figures over judged questions, for askbot and the rank-bm25 baseline."""

from __future__ import annotations

import pytest
from conftest import SEED_ID, bundled_index

from askbot.search.analysis import Analyzer
from askbot.search.answer import AnswerOptions
from askbot.search.evaluate import EvalFileError, Judged, evaluate, evaluate_baseline, parse_judged

A = Analyzer()
INDEX = bundled_index()


def test_judged_lines_accept_paragraph_and_squad_paragraph_index() -> None:
    """`paragraph` is 1-based; SQuAD's 0-based `paragraph_index` is converted."""
    lines = [
        '{"question": "q1", "article": "a", "paragraph": 7}',
        "",
        '{"question": "q2", "article": "b", "paragraph_index": 0}',
        '{"question": "q3", "article": "c"}',
    ]
    assert parse_judged(lines) == [Judged("q1", "a", 7), Judged("q2", "b", 1), Judged("q3", "c")]


def test_line_without_an_article_is_an_error_naming_the_line() -> None:
    """A judged question must say which article answers it."""
    with pytest.raises(EvalFileError, match="line 1"):
        parse_judged(['{"question": "q"}'])


def test_perfect_answers_score_one_and_misses_are_listed() -> None:
    """A question cited first counts for hit@1 and MRR; an unanswerable one is a listed miss."""
    judged = [Judged("What did Biegun say?", SEED_ID), Judged("What did Biden say?", SEED_ID, 3)]
    result = evaluate(judged, INDEX, A, AnswerOptions(top_k=5))
    assert (result.hit_at_1, result.hit_at_k, result.mrr, result.unanswered) == (0.5, 0.5, 0.5, 0.5)
    assert [m.question for m in result.misses] == ["What did Biden say?"]


def test_baseline_ranks_with_plain_rank_bm25() -> None:
    """The baseline finds an exact-wording question's paragraph."""
    judged = [Judged("Pyongyang has cut off all communication lines with Seoul.", SEED_ID, 13)]
    assert evaluate_baseline(judged, INDEX, 5).hit_at_1 == 1.0
