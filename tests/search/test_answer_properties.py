"""Property tests: any question string gives a well-formed Answer."""

from __future__ import annotations

from conftest import bundled_index
from hypothesis import given, settings
from hypothesis import strategies as st

from askbot.search.analysis import Analyzer
from askbot.search.answer import AnswerOptions, build_answer

A = Analyzer()
INDEX = bundled_index()
WORDS = st.sampled_from(["Biegun", "said", "North", "Korea", "crane", "the", "what", "@everyone",
                         "<@123>", "😀", "\u200b", "'; DROP TABLE", "```", "2018", "Пхеньян"])  # fmt: skip
QUESTIONS = st.one_of(st.text(max_size=400), st.lists(WORDS, max_size=12).map(" ".join))


@settings(max_examples=150, deadline=None)
@given(QUESTIONS, st.integers(min_value=1, max_value=10))
def test_any_question_gives_a_well_formed_answer(question: str, top_k: int) -> None:
    """Ranks count from 1, at most top_k passages, highlights inside the text and in order."""
    answer = build_answer(question, INDEX, A, AnswerOptions(top_k=top_k))
    assert answer.question == question
    assert answer.answered == bool(answer.passages)
    assert len(answer.passages) <= top_k
    assert [p.rank for p in answer.passages] == list(range(1, len(answer.passages) + 1))
    for p in answer.passages:
        assert p.citation.paragraph >= 1 and p.citation.title
        ends = [0]
        for span in p.highlights:
            assert ends[-1] <= span.start < span.end <= len(p.text)
            ends.append(span.end)
    if not answer.answered:
        assert answer.reason
