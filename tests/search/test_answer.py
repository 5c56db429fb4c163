"""Answers: cited passages, highlights, duplicates, confidence and "not in the corpus"."""

from __future__ import annotations

import pytest
from conftest import SEED_ID, bundled_index

from askbot.search.analysis import Analyzer
from askbot.search.answer import (
    NO_TERMS,
    NOT_FOUND,
    AnswerOptions,
    build_answer,
    key_terms,
)
from askbot.search.build import build_index
from askbot.search.index import Index
from askbot.search.models import Answer, Article

A = Analyzer()
BUNDLED = bundled_index()
FILLER = (
    "Farmers planted wheat in the valley this spring.",
    "The museum opened a new wing for modern sculpture.",
    "Heavy rain closed the mountain road for two days.",
    "The orchestra toured five cities in the autumn.",
    "A chess club met on Tuesday evenings.",
    "The bakery sold out of rye bread.",
)
TALKS = Article(id="talks", title="Talks", paragraphs=(
    "Stephen Biegun said Washington is ready for talks with Pyongyang.",
    "Mike Pompeo said he was hopeful about the dialogue.",
    "The summit in Hanoi ended without an agreement.",
))  # fmt: skip
CUP = Article(id="cup", title="Cup", paragraphs=(
    "France won the 2018 World Cup final in Moscow.",
    "The World Cup drew record crowds to the stadiums.",
))  # fmt: skip


def _index(*articles: Article) -> Index:
    return build_index([*articles, Article(id="filler", title="Filler", paragraphs=FILLER)], A)


def _cited(answer: Answer) -> list[tuple[str, int]]:
    return [(p.citation.article_id, p.citation.paragraph) for p in answer.passages]


def test_question_about_a_name_the_corpus_lacks_is_not_answered() -> None:
    """Biden appears nowhere: "What did Biden say?" is not in the corpus, despite many 'said'."""
    answer = build_answer("What did Biden say?", _index(TALKS), A)
    assert not answer.answered and answer.reason == NOT_FOUND and answer.passages == ()


def test_question_about_a_year_the_corpus_lacks_is_not_answered() -> None:
    """The corpus covers the World Cup but never mentions 2022."""
    answer = build_answer("Who won the 2022 World Cup?", _index(CUP), A)
    assert not answer.answered and answer.confidence == "none"


def test_question_about_a_year_the_corpus_has_is_answered() -> None:
    """The same question about 2018 cites the paragraph that says who won."""
    answer = build_answer("Who won the 2018 World Cup?", _index(CUP), A)
    assert answer.answered and _cited(answer)[0] == ("cup", 1)


def test_question_of_only_stopwords_asks_for_words_to_search() -> None:
    """Nothing but stopwords and punctuation gives NO_TERMS, not a search."""
    answer = build_answer("What is it, and why?!", _index(TALKS), A)
    assert not answer.answered and answer.reason == NO_TERMS and answer.terms == ()


def test_same_text_in_two_articles_is_cited_once_with_also_in() -> None:
    """A syndicated paragraph is one cited passage naming the other article in also_in."""
    copy = Article(id="copy", title="Copy", paragraphs=(TALKS.paragraphs[0],))
    answer = build_answer("What did Biegun say?", _index(TALKS, copy), A)
    first = answer.passages[0]
    assert (first.citation.article_id, first.citation.paragraph) == ("talks", 1)
    assert [c.article_id for c in first.also_in] == ["copy"]
    assert all(p.citation.article_id != "copy" for p in answer.passages)


def test_highlights_cover_the_matched_words() -> None:
    """'Biegun said' (said is a form of say) and 'talks' are marked; other words are not."""
    answer = build_answer("What did Biegun say about talks?", _index(TALKS), A)
    assert answer.passages[0].highlighted() == (
        "Stephen **Biegun said** Washington is ready for **talks** with Pyongyang."
    )


def test_biegun_question_cites_paragraphs_7_and_8_of_the_seed_article() -> None:
    """On the bundled corpus, Biegun's two quoted paragraphs are in the top 3."""
    answer = build_answer("What did Biegun say?", BUNDLED, A, AnswerOptions(top_k=3))
    assert answer.answered and answer.confidence == "strong"
    assert {(SEED_ID, 7), (SEED_ID, 8)} <= set(_cited(answer))


@pytest.mark.parametrize(("question", "paragraph"), [
    ("Is Pompeo hopeful about continuing dialogue with North Korea?", 1),
    ("Who is the special envoy for North Korea?", 6),
    ("What did South Korean President Moon Jae-in say?", 9),
    ("Who is Kwon Jong Gun?", 10),
    ("When did the Hanoi summit end without agreement?", 11),
    ("What happened to the liaison office in Kaesong?", 12),
    ("Has Pyongyang cut off communication with Seoul?", 13),
])  # fmt: skip
def test_questions_about_the_seed_article_find_their_paragraph(
    question: str, paragraph: int
) -> None:
    """Each question cites the paragraph that answers it among the top 3."""
    answer = build_answer(question, BUNDLED, A, AnswerOptions(top_k=3))
    assert answer.answered and (SEED_ID, paragraph) in _cited(answer)


@pytest.mark.parametrize("question", ["What did Biden say?", "What is the weather today?"])
def test_questions_the_bundled_corpus_cannot_answer_are_not_answered(question: str) -> None:
    """An absent name, and a lone common word ('weather') shared with one passage."""
    answer = build_answer(question, BUNDLED, A)
    assert not answer.answered and answer.reason == NOT_FOUND


@pytest.mark.xfail(strict=True, reason=(
    "soccer.md ¶2 alone has 2018, World and Cup (0.89 of the weight) and ¶6 has 'won': word "
    "matching cannot tell a day-five match report from the final, nor this question from 'Who won "
    "the Nobel Prize in 1905?' answered by '...awarded the Nobel Prize in 1905'. Requiring the "
    "year and a non-name word in one passage refuses it but costs SQuAD 3.19% unanswered (years) "
    "or 3.77% (any number), over the 3% limit"
))  # fmt: skip
def test_who_won_the_2018_world_cup_is_not_answered_by_the_bundled_corpus() -> None:
    """Wanted, not achieved: the corpus reports one group-stage day, not the winner."""
    assert not build_answer("Who won the 2018 World Cup?", BUNDLED, A).answered


def test_long_paragraph_is_not_cited_twice() -> None:
    """A paragraph split into two matching windows takes one place among the citations."""
    sentence = "Biegun said the envoy would return to Seoul for talks. "
    long = Article(id="long", title="Long", paragraphs=((sentence * 30).strip(),))
    index = _index(long, TALKS)
    assert int((index.p_article == index.article_by_id["long"]).sum()) > 1
    answer = build_answer("What did Biegun say?", index, A, AnswerOptions(top_k=3))
    cited = _cited(answer)
    assert cited.count(("long", 1)) == 1 and len(cited) == len(set(cited)) == 3
    assert all(p.also_in == () for p in answer.passages)


def test_passage_with_every_term_is_a_strong_answer() -> None:
    """All of the question's names and words in one passage: confidence 'strong'."""
    answer = build_answer("What did Pompeo say about the dialogue?", _index(TALKS), A)
    assert answer.answered and answer.confidence == "strong" and answer.coverage == 1.0


def test_passage_missing_a_name_is_a_partial_answer() -> None:
    """Pompeo and the dialogue are found, Hanoi only elsewhere: 'partial', still answered."""
    answer = build_answer("Was Pompeo hopeful about the dialogue in Hanoi?", _index(TALKS), A)
    assert answer.answered and answer.confidence == "partial"
    assert _cited(answer)[0] == ("talks", 2)


def test_single_common_word_in_common_is_a_weak_match() -> None:
    """Of 'weather' and 'crops' only 'weather' occurs: 'weak', not answered."""
    rain = Article(id="rain", title="Rain", paragraphs=("The weather turned cold overnight.",))
    answer = build_answer("How does weather affect crops?", _index(rain), A)
    assert not answer.answered and answer.confidence == "weak"


def test_always_cite_shows_the_closest_passages_of_an_unanswered_question() -> None:
    """always_cite keeps answered False but lists what came closest."""
    options = AnswerOptions(always_cite=True)
    answer = build_answer("What did Biden say?", _index(TALKS), A, options)
    assert not answer.answered
    assert {p.citation.paragraph for p in answer.passages} == {1, 2}  # the two with "said"


def test_answering_does_not_depend_on_how_many_passages_are_shown() -> None:
    """top_k 1 and top_k 10 judge the same passages, so both answer or neither does."""
    for question in ("What did Biegun say?", "Was Pompeo hopeful in Hanoi?", "weather crops"):
        one = build_answer(question, BUNDLED, A, AnswerOptions(top_k=1))
        ten = build_answer(question, BUNDLED, A, AnswerOptions(top_k=10))
        assert (one.answered, one.confidence) == (ten.answered, ten.confidence)


@pytest.mark.parametrize(("question", "expected"), [
    ("Which NFL team won Super Bowl 50?", {"nfl", "super", "bowl", "50"}),
    ("Jellyfish belong to which group?", set()),
    ("What did Biegun say? And Pompeo?", {"biegun", "pompeo"}),
    ("what did biegun say in 2019", {"2019"}),
    ("WHAT DID BIEGUN SAY", set()),
])  # fmt: skip
def test_key_terms_are_names_and_numbers(question: str, expected: set[str]) -> None:
    """Numbers, acronyms and capitalised words not opening a sentence; case-less text: numbers."""
    assert key_terms(A, question) == expected


def test_quoted_speaker_carries_the_role_the_article_gives() -> None:
    """Biegun's quotes name him with his title from paragraph 6."""
    answer = build_answer("What did Biegun say?", BUNDLED, A)
    assert {p.speaker_role for p in answer.passages} == {
        "US Deputy Secretary of State and special envoy for North Korea"
    }


@pytest.mark.parametrize(
    "question",
    [
        "What did Biegun say about talks with Pyongyang?",
        "Biegun ready for talks with Pyongyang",
        "What did Pompeo say?",
        "North Korea nuclear weapons",
        "WHAT DID BIEGUN SAY?",
        'talks "with Pyongyang"',
        "zebra lighthouse",
    ],
)
def test_compiled_and_python_analysis_give_the_same_answer(question: str) -> None:
    """Proximity and highlights through the compiled chunk table change nothing in an answer."""
    options = AnswerOptions(top_k=5, always_cite=True)
    plain = Analyzer(compiled=False)
    assert build_answer(question, BUNDLED, A, options) == build_answer(
        question, BUNDLED, plain, options
    )
