"""The analyzer: normalisation, tokens, stopwords, stemming, speech verbs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from askbot.search.analysis import Analyzer

A = Analyzer()


def test_question_words_are_dropped_and_content_words_kept() -> None:
    """ "What did ... say" leaves the name and the speech term."""
    assert A.terms("What did Biegun say?") == ["biegun", "say"]


def test_speech_verbs_share_one_term() -> None:
    """said, says, noted, told and added all match "say"."""
    assert set(A.terms("said says noted told added")) == {"say"}


def test_curly_and_straight_quotes_give_the_same_terms() -> None:
    """Typographic apostrophes do not change the terms."""
    assert (
        A.terms("Pyongyang’s affairs") == A.terms("Pyongyang's affairs") == ["pyongyang", "affair"]
    )


def test_hyphenated_names_split_into_their_parts() -> None:
    """Kim Jong-un matches a question that writes Kim Jong Un."""
    assert A.terms("Kim Jong-un") == A.terms("kim jong un") == ["kim", "jong", "un"]


def test_dotted_abbreviation_keeps_the_country() -> None:
    """N.Korea yields korea, so it meets "North Korea"."""
    assert "korea" in A.terms("US-N.Korea dialogue")


def test_capitalised_us_is_an_acronym_not_a_stopword() -> None:
    """US and U.S. are kept as one term while the pronoun "us" is stopped."""
    assert A.terms("US officials") == A.terms("U.S. officials") == ["us", "offici"]
    assert A.terms("give us support") == ["give", "support"]


def test_shouted_question_is_analysed_like_a_normal_one() -> None:
    """An all-capitals question does not turn stopwords into acronyms."""
    assert A.terms("WHAT DID BIEGUN SAY") == A.terms("what did Biegun say")


def test_numbers_keep_their_value() -> None:
    """Thousands separators are dropped and decimals kept."""
    assert A.terms("1,000 people and 3.5 percent in 2019") == [
        "1000",
        "peopl",
        "3.5",
        "percent",
        "2019",
    ]


def test_words_are_stemmed_with_snowball() -> None:
    """Inflections meet at one stem."""
    assert A.terms("negotiations") == A.terms("negotiate") == ["negoti"]


def test_zero_width_characters_do_not_split_a_word() -> None:
    """A zero-width space inside a name is ignored."""
    assert A.terms("Bie\u200bgun") == ["biegun"]


def test_only_stopwords_and_emoji_give_no_terms() -> None:
    """Nothing searchable yields an empty list."""
    assert A.terms("the of and 😀 🎉 ?!") == []


def test_spans_point_at_the_original_text() -> None:
    """Each span slices the word its term came from."""
    text = "“Biegun,” he noted on Wednesday."
    assert [(t, text[s:e]) for t, s, e in A.spans(text)] == [
        ("biegun", "Biegun"), ("say", "noted"), ("wednesday", "Wednesday"),
    ]  # fmt: skip


def test_fingerprint_changes_with_the_stopwords() -> None:
    """Another configuration gets another index key."""
    assert Analyzer().fingerprint() == A.fingerprint()
    assert Analyzer(stopwords={"the"}).fingerprint() != A.fingerprint()


@given(st.text(max_size=300))
def test_any_text_gives_nonempty_lowercase_terms(text: str) -> None:
    """No input crashes the analyzer; every term is a non-empty string without spaces."""
    for term in A.terms(text):
        assert term and " " not in term


def test_discord_mentions_and_everyone_are_not_searched() -> None:
    """User, role and channel mentions, custom emoji, @everyone and @here add no terms."""
    question = "@everyone <@123> <@!45> <@&6> <#7> <:blob:89> @here what did Biegun say?"
    assert A.terms(question) == ["biegun", "say"]
