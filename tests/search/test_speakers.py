"""Who said what: speakers found in articles, speaker questions recognised, quotes listed first."""

from __future__ import annotations

import time

import pytest
from conftest import BUNDLED_CORPUS, SEED_ID, bundled_index

from askbot.search.analysis import Analyzer
from askbot.search.answer import AnswerOptions, build_answer
from askbot.search.build import build_index
from askbot.search.corpus import (
    _NAME_THEN_VERB,
    _PRONOUN,
    _mask_quotes,
    _names_then_verbs,
    _pronoun,
    _speech_words,
    find_speaker,
    load_corpus,
    speaker_role,
    split_passages,
)
from askbot.search.index import Index
from askbot.search.models import Answer, Article
from askbot.search.speakers import (
    SpeakerQuestion,
    designates,
    matching_speakers,
    parse_speaker_question,
)

A = Analyzer()
BUNDLED = bundled_index()
SEED = next(a for a in load_corpus(BUNDLED_CORPUS).articles if a.id == SEED_ID)
FILLER = Article(id="filler", title="Filler", paragraphs=(
    "Farmers planted wheat in the valley this spring.",
    "The museum opened a new wing for modern sculpture.",
    "Heavy rain closed the mountain road for two days.",
    "The orchestra toured five cities in the autumn.",
))  # fmt: skip
OLD = Article(id="old", title="Old talks", date="2019-02-01", paragraphs=(
    '"We will keep talking," said Stephen Biegun, the US envoy.',
    "The weather in Hanoi was mild and dry that week.",
))  # fmt: skip
NEW = Article(id="new", title="New talks", date="2020-07-09", paragraphs=(
    "Biegun said Washington is ready for talks with Pyongyang.",
    '"The door remains open," he added.',
    "Pompeo said a summit was still possible.",
))  # fmt: skip


def _index(*articles: Article) -> Index:
    return build_index([*articles, FILLER], A)


def _cited(answer: Answer) -> list[tuple[str, int]]:
    return [(p.citation.article_id, p.citation.paragraph) for p in answer.passages]


# -- question forms -----------------------------------------------------------------------------


@pytest.mark.parametrize(("question", "name", "topic"), [
    ("What did Biegun say?", "Biegun", ""),
    ("What did Pompeo say about the summit?", "Pompeo", "the summit"),
    ("what has Stephen Biegun said", "Stephen Biegun", ""),
    ("What does Trump think about Kim Jong-un?", "Trump", "Kim Jong-un"),
    ("Biegun's comments on the talks", "Biegun", "the talks"),
    ("What were Pompeo’s remarks about dialogue?", "Pompeo", "dialogue"),
    ("Quotes from Pompeo", "Pompeo", ""),
    ("show me quotes by Moon Jae-in on the election", "Moon Jae-in", "the election"),
    ("What did Biegun tell reporters in Seoul about the talks?", "Biegun", "the talks"),
    ("What is Biegun saying?", "Biegun", ""),
    ("What does Biegun have to say about Kim?", "Biegun", "Kim"),
    ("Did Pompeo say anything about Hanoi?", "Pompeo", "Hanoi"),
    ("How did Pyongyang respond to the leaflets?", "Pyongyang", "the leaflets"),
    ("what did biegun say in seoul", "biegun", "seoul"),
    ("<@123>, what did Biegun say??", "Biegun", ""),
])  # fmt: skip
def test_speaker_question_forms_are_recognised(question: str, name: str, topic: str) -> None:
    """Each way of asking what someone said gives the speaker's name and the topic."""
    assert parse_speaker_question(question) == SpeakerQuestion(name, topic)


@pytest.mark.parametrize("question", [
    "Who won the 2018 World Cup?",
    "What is the weather today?",
    "What did you say?",
    "Where is the liaison office?",
    "Is Pompeo hopeful about continuing dialogue?",
    "What did Luther add to his catechisms?",
])  # fmt: skip
def test_other_questions_are_not_speaker_questions(question: str) -> None:
    """Questions that do not ask what someone said, or name nobody, are not recognised."""
    assert parse_speaker_question(question) is None


# -- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("asked", "speaker", "expected"), [
    ("Biegun", "Stephen Biegun", True),
    ("Stephen Biegun", "Stephen Biegun", True),
    ("South Korean President Moon Jae-in", "Moon Jae-in", True),
    ("Secretary Pompeo", "Mike Pompeo", True),
    ("Tom Pompeo", "Mike Pompeo", False),
    ("the Afghan ambassador Mohib", "Hamdullah Mohib", True),
    ("Biden", "Stephen Biegun", False),
])  # fmt: skip
def test_names_match_by_surname_full_name_or_whole_speaker(
    asked: str, speaker: str, expected: bool
) -> None:
    """A surname or the full name finds the speaker; a different given name does not."""
    assert any(designates(A, asked, speaker, titles) for titles in (True, False)) is expected


def test_surname_and_full_name_find_the_same_speaker_in_the_index() -> None:
    """'Biegun' and 'Stephen Biegun' both designate the index's speaker 'Stephen Biegun'."""
    wanted = [BUNDLED.speakers.index("Stephen Biegun")]
    assert matching_speakers(BUNDLED, A, "Biegun") == wanted
    assert matching_speakers(BUNDLED, A, "Stephen Biegun") == wanted


# -- speakers found in articles -------------------------------------------------------------------


@pytest.mark.parametrize(("paragraph", "speaker"), [
    ('"We are ready," Biegun said on Wednesday.', "Biegun"),
    ('"We are ready," said Pompeo.', "Pompeo"),
    ('"We are ready," said Pompeo. The talks ended.', "Pompeo"),
    ("The crowd grew, according to curator Elaine Gustafon. It was big.", "Elaine Gustafon"),
    ("Pompeo said the United States was hopeful.", "Pompeo"),
    ("Kwon Jong Gun, director general of the Department of US Affairs of North Korea’s Foreign "
     "Ministry, said on Tuesday that talks were off.", "Kwon Jong Gun"),
    ("Cynthia Thompson, curator at the University of Arkansas, Fayetteville, said, \"Yes.\"",
     "Cynthia Thompson"),
    ("According to Rathbun, the property was returned.", "Rathbun"),
    ("Minister of Education Stefania Giannini said a reflection is needed.", "Stefania Giannini"),
    ('"I\'m told two things," Baird said.', "Baird"),
    ('Harry Kane won the award. He said, "It felt good out there."', "Harry Kane"),
])  # fmt: skip
def test_speaker_is_found_in_each_attribution_form(paragraph: str, speaker: str) -> None:
    """said X / X said / X, role, said / according to X / a name before "he said"."""
    assert find_speaker(paragraph, "") == (speaker, False)


def test_long_run_of_capitalised_words_is_read_quickly() -> None:
    """20,000 capitalised words (minutes with unbounded name runs) take well under a second."""
    started = time.perf_counter()
    assert find_speaker("Aaa " * 20_000 + "said.", "") == ("", False)
    assert time.perf_counter() - started < 1.0


def test_pronoun_after_a_quote_means_the_last_speaker() -> None:
    """'"...," he noted.' names no one: the article's last speaker, by pronoun."""
    assert find_speaker('"It is possible," he noted.', "Stephen Biegun") == (
        "Stephen Biegun",
        True,
    )


def test_paragraph_without_attribution_has_no_speaker() -> None:
    """Plain reporting quotes no one."""
    assert find_speaker("The Hanoi summit ended with no agreement.", "Biegun") == ("", False)


def test_seed_article_speakers_keep_the_full_name() -> None:
    """Biegun's three paragraphs (named, "Biegun said", "he noted") all carry 'Stephen Biegun'."""
    speakers = {p.paragraph: p.speaker for p in split_passages(SEED)}
    assert [speakers[n] for n in (6, 7, 8)] == ["Stephen Biegun"] * 3
    assert speakers[10] == "Kwon Jong Gun" and speakers[9] == "Moon Jae-in"


def test_surname_speaker_takes_the_full_name_used_elsewhere_in_the_article() -> None:
    """'Baird said' becomes 'John Baird', named earlier in a paragraph that quotes no one."""
    article = Article(id="a", title="A", paragraphs=(
        "Environment Minister John Baird has asked officials how it happened.",
        '"It is not secret," Baird said.',
    ))  # fmt: skip
    assert [p.speaker for p in split_passages(article)] == ["", "John Baird"]


def test_paragraph_continuing_a_quote_carries_its_speaker_as_context() -> None:
    """A paragraph that only continues the previous quotation is indexed with its speaker."""
    article = Article(id="a", title="A", paragraphs=(
        'Professor Cres Eastman said, "We have tried so far.',
        'It has not succeeded."',
    ))  # fmt: skip
    second = split_passages(article)[1]
    assert (second.speaker, second.context) == ("Cres Eastman", "Cres Eastman")


def test_role_is_read_from_before_the_name_or_an_appositive() -> None:
    """The title before a name, or the appositive after it; the index keeps only the name."""
    assert speaker_role(SEED.paragraphs[5], "Stephen Biegun") == (
        "US Deputy Secretary of State and special envoy for North Korea"
    )
    assert speaker_role(SEED.paragraphs[9], "Kwon Jong Gun") == (
        "director general of the Department of US Affairs of North Korea’s Foreign Ministry"
    )
    assert speaker_role('"Yes," Biegun said.', "Biegun") == ""


def _near_verbs(text: str) -> list[tuple[tuple[int, int], str]]:
    """(span, name) of each _NAME_THEN_VERB match found by searching only near the verbs."""
    verbs = [w for w in _speech_words(text) if text[w[0] : w[1]] != "continued"]
    return [(m.span(), m["name"]) for m in _names_then_verbs(text, text[::-1], verbs)]


def _everywhere(text: str) -> list[tuple[tuple[int, int], str]]:
    return [(m.span(), m["name"]) for m in _NAME_THEN_VERB.finditer(text)]


@pytest.mark.parametrize(
    "text",
    [
        "Smith, " + "a" * 120 + ", said it.",  # the longest appositive
        "Smith, " + "a" * 121 + ", said it.",  # one character too long
        "Smith, " + "a " * 60 + ", said it.",  # an appositive of many short words
        "Aa Bb Cc Dd Ee Ff Gg Hh said it.",  # a name of 8 words
        "Aa Bb Cc Dd Ee Ff Gg Hh Ii said it.",  # 9 words: the last 8 are the name
        # the farthest a match can start: 8 words, 120 characters, two auxiliaries
        "Aaaa Bbbb Cccc Dddd Eeee Ffff Gggg Hhhh, " + "a " * 59 + "a, also then said it.",
        "Smith also then said it.",  # two auxiliaries
        "Smith also then further said it.",  # three: no match
        "Aa\t\t  Bb \n Cc said it.",  # whitespace runs inside the name
        "Q" + "x" * 300 + " Yy said it.",  # a 301-character name word
        "Aa said Bb said Cc, dd, said Dd.",  # matches one after another, left to right
        "Aa said, Bb, cc, said; Dd, ee, said",  # appositive search across an earlier verb
        "The Aaa Bbb Ccc said. Ddd Eee said",  # matches in two separate regions
    ],
)
def test_name_search_near_verbs_finds_what_a_full_search_finds(text: str) -> None:
    """Searching only the text before each verb gives every _NAME_THEN_VERB match, in order."""
    assert _near_verbs(text) == _everywhere(text)


@pytest.mark.parametrize(
    "text",
    [
        "he said it.",  # the pronoun opens the text
        'Yes." She also then noted it.',  # after a quote, two auxiliaries
        'Aa "Yes",  she said.',  # after a quote and a comma
        "Talks ended.  \t They continued  : more.",  # "continued", whitespace, then a colon
        "Talks ended. They continued more.",  # "continued" not before a colon: no match
        "Talks ended. He continued",  # "continued" at the text's end: no match
        "x they said. y: he added",  # the first of two matches
        "Aa, he said.",  # a comma is no sentence end: no match
    ],
)
def test_pronoun_search_near_verbs_finds_what_a_full_search_finds(text: str) -> None:
    """Searching only just before each verb (or "continued") finds _PRONOUN's first match."""
    found = _pronoun(text, text[::-1], _speech_words(text))
    expected = _PRONOUN.search(text)
    assert (found and found.span()) == (expected and expected.span())


def test_curly_quotes_are_masked_in_a_paragraph_without_straight_quotes() -> None:
    """The no-quote shortcut for ASCII paragraphs does not skip a curly-quoted one."""
    assert _mask_quotes("“Smith said” it") == ("“" + "·" * 10 + "” it", False, False)


def test_speaker_after_a_curly_closing_quote_is_found() -> None:
    """The quote check before "said Name" counts a curly closing quote as a quote."""
    assert find_speaker("“We are ready,” said Pompeo.", "") == ("Pompeo", False)


# -- answers ------------------------------------------------------------------------------------


def test_what_did_biegun_say_lists_his_paragraphs_first() -> None:
    """On the bundled corpus: paragraphs 6, 7 and 8 of the seed article, in that order."""
    answer = build_answer("What did Biegun say?", BUNDLED, A, AnswerOptions(top_k=5))
    assert answer.answered and answer.confidence == "strong"
    assert _cited(answer)[:3] == [(SEED_ID, 6), (SEED_ID, 7), (SEED_ID, 8)]
    assert {p.speaker for p in answer.passages[:3]} == {"Stephen Biegun"}


def test_what_did_pompeo_say_about_the_summit_cites_his_summit_quote_first() -> None:
    """Of Pompeo's paragraphs, the one that mentions the summit (2) leads."""
    answer = build_answer("What did Pompeo say about the summit?", BUNDLED, A)
    assert answer.answered and _cited(answer)[0] == (SEED_ID, 2)
    assert answer.passages[0].speaker == "Mike Pompeo"


def test_quotes_are_grouped_by_article_newest_first() -> None:
    """Biegun in 2020 (his paragraph and its "he added") before Biegun in 2019."""
    answer = build_answer("What did Biegun say?", _index(OLD, NEW), A, AnswerOptions(top_k=3))
    assert _cited(answer) == [("new", 1), ("new", 2), ("old", 1)]


def test_topic_puts_the_quote_about_it_first() -> None:
    """'about the door' lifts the "door remains open" paragraph over his other quotes."""
    answer = build_answer(
        "What did Biegun say about the door?", _index(OLD, NEW), A, AnswerOptions(top_k=3)
    )
    assert _cited(answer) == [("new", 2), ("new", 1), ("old", 1)]


def test_ordinary_results_fill_the_rest_of_top_k() -> None:
    """Biegun has three quoted paragraphs; the fourth place goes to the best other passage."""
    answer = build_answer("What did Biegun say?", _index(OLD, NEW), A, AnswerOptions(top_k=4))
    assert _cited(answer) == [("new", 1), ("new", 2), ("old", 1), ("new", 3)]
    assert answer.passages[3].speaker == "Pompeo"


def test_paragraph_about_the_topic_beats_quotes_that_are_not() -> None:
    """Biegun said nothing about the weather in Hanoi: the paragraph that does leads."""
    answer = build_answer("What did Biegun say about the weather in Hanoi?", _index(OLD, NEW), A)
    assert _cited(answer)[0] == ("old", 2)


def test_unknown_speaker_falls_back_to_the_ordinary_answer() -> None:
    """Biden is no speaker here: "What did Biden say?" is not in the corpus, as before."""
    answer = build_answer("What did Biden say?", BUNDLED, A)
    assert not answer.answered and answer.passages == ()


def test_name_that_is_no_speaker_gets_the_ordinary_ranking() -> None:
    """Pyongyang is mentioned but quoted by nobody: the same answer as with speakers off."""
    question = "What did Pyongyang say about talks?"
    index = _index(OLD, NEW)
    plain = build_answer(question, index, A, AnswerOptions(speakers=False))
    assert build_answer(question, index, A) == plain
