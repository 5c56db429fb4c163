"""The analyzer: normalisation, tokens, stopwords, stemming, speech verbs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from askbot.search import analysis
from askbot.search.analysis import _CHAT_MARKUP, _TOKEN, Analyzer, _blank, clean_text

A = Analyzer()


def terms_token_by_token(analyzer: Analyzer, text: str) -> list[str]:
    """The definition Analyzer.terms speeds up: the token pattern over the whole cleaned text."""
    text = _CHAT_MARKUP.sub(_blank, clean_text(text))
    acronyms = not text.isupper()
    found = (analyzer._lookup(raw, acronyms) for raw in _TOKEN.findall(text))
    return [term for term in found if term is not None]


# Text made of the pieces the rules care about: words, capitals, dots, apostrophes, digits,
# separators, invisible characters, every kind of whitespace, chat markup.
_PIECES = st.sampled_from(
    ["Biegun", "said", "U.S.", "US", "WHO", "it's", "Pyongyang's", "1,000.5", "e.g.", "N.Korea",
     "Jong-un", "café", "ＦＵＬＬ", "\u200b", "\u00ad", "\x00", " ", "  ", "\t", "\n", "\u00a0",
     "\u2003", "<@123>", "<#9>", "@here", "@everyone", "<a:x:1>", "'", "’", "\"", ".", ",", "-", "_", "é", "ß"]
)  # fmt: skip


@given(st.lists(_PIECES | st.text(max_size=8), max_size=40).map("".join))
def test_terms_equal_the_token_pattern_over_the_whole_text(text: str) -> None:
    """Chunk-by-chunk analysis (with its cache) gives exactly the terms of the whole text."""
    assert A.terms(text) == terms_token_by_token(A, text)
    assert A.terms(text.upper()) == terms_token_by_token(A, text.upper())


def spans_token_by_token(analyzer: Analyzer, text: str) -> list[tuple[str, int, int]]:
    """The definition Analyzer.spans speeds up: token matches over the text, markup blanked."""
    acronyms = not clean_text(text).isupper()
    out = []
    for match in _TOKEN.finditer(_CHAT_MARKUP.sub(_blank, text)):
        term = analyzer._lookup(match.group(), acronyms)
        if term is not None:
            out.append((term, match.start(), match.end()))
    return out


@given(st.lists(_PIECES | st.text(max_size=8), max_size=40).map("".join))
def test_spans_equal_the_token_matches_over_the_whole_text(text: str) -> None:
    """Chunk-by-chunk spans (with their cache) are exactly the token matches' ranges."""
    assert A.spans(text) == spans_token_by_token(A, text)
    assert A.spans(text.upper()) == spans_token_by_token(A, text.upper())


def test_analyzer_caches_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long-running bot's caches are emptied when full, and still give the same terms."""
    monkeypatch.setattr(analysis, "CACHE_ENTRIES", 50)
    analyzer = Analyzer()
    texts = [f"word{i} Biegun{i} said U.S.{i}" for i in range(200)]
    for text in texts:
        assert analyzer.terms(text) == terms_token_by_token(Analyzer(), text)
        assert analyzer.spans(text) == spans_token_by_token(Analyzer(), text)
    for cache in (analyzer._chunks_acronyms, analyzer._spans_acronyms, analyzer._cache_acronyms):
        assert 0 < len(cache) <= 50


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


PLAIN = Analyzer(compiled=False)
_TEXTS = st.lists(_PIECES | st.text(max_size=8), max_size=40).map("".join)


@given(_TEXTS, st.sets(st.sampled_from(["biegun", "say", "us", "who", "1000.5", "korea", "café"])))
def test_spans_of_are_the_spans_with_a_wanted_term(text: str, wanted: set[str]) -> None:
    """Compiled or not, spans_of gives exactly the spans whose term is wanted, however the text
    is spaced."""
    for t in (text, text.upper(), " ".join(text.split())):
        expected = [s for s in A.spans(t) if s[0] in wanted]
        assert A.spans_of(t, frozenset(wanted)) == expected
        assert PLAIN.spans_of(t, frozenset(wanted)) == expected


def _pairs_of(texts: list[str]) -> frozenset[tuple[str, str]]:
    terms = [t for text in texts for t in A.terms(text)]
    return frozenset(pairwise(terms)) | {("biegun", "say"), ("x", "y")}


@given(st.lists(st.lists(_TEXTS, max_size=3), max_size=4))
def test_adjacent_pairs_are_the_pairs_met_in_each_groups_terms(groups: list[list[str]]) -> None:
    """Compiled or not, each group's adjacent pairs are those of its texts' terms joined, by
    first occurrence, never across two groups."""
    pairs = _pairs_of([t for g in groups for t in g])
    expected = [
        analysis.adjacent_in(pairs, [t for text in g for t in A.terms(text)]) for g in groups
    ]
    assert PLAIN.adjacent_pairs(groups, pairs) == expected
    assert A.adjacent_pairs(groups, pairs) == expected


def test_adjacent_pairs_skip_stopwords_and_window_breaks_but_not_groups() -> None:
    """'Biegun said' matches across a stopword and across two texts of a group, not two groups."""
    pair = frozenset({("biegun", "say")})
    for analyzer in (A, PLAIN):
        assert analyzer.adjacent_pairs([["Biegun of the", "SAID"]], pair) == [[("biegun", "say")]]
        assert analyzer.adjacent_pairs([["Biegun"], ["said"]], pair) == [[], []]


def test_adjacent_pairs_table_is_renewed_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled table of a long-running bot is replaced when full and still finds pairs."""
    if not A.compiled:
        pytest.skip("no compiled chunk table")
    monkeypatch.setattr(analysis, "CACHE_ENTRIES", 20)
    analyzer = Analyzer()
    for i in range(30):
        text = f"word{i} Biegun said talks{i} week{i}"
        found = analyzer.adjacent_pairs([[text]], frozenset({("biegun", "say"), ("say", "talk")}))
        assert found == [[("biegun", "say")]]
    assert analyzer._table is not None and len(analyzer._table) <= 25


def test_highlight_table_is_renewed_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled chunk ids for highlighting are replaced when full and still give the spans."""
    if not A.compiled:
        pytest.skip("no compiled chunk table")
    monkeypatch.setattr(analysis, "CACHE_ENTRIES", 20)
    analyzer = Analyzer()
    for i in range(30):
        text = f"w{i:02d}  Biegun said talks{i} week{i}"
        assert analyzer.spans_of(text, {"biegun"}) == [("biegun", 5, 11)]
    assert analyzer._ordinals is not None and len(analyzer._ordinals._table) <= 25


def test_tables_busy_in_another_thread_give_the_same_results() -> None:
    """While one thread holds the compiled tables, another gets the same pairs and spans."""
    analyzer = Analyzer()
    groups = [["Stephen Biegun said talks", "went well"], ["Biegun  SAID"]]
    pairs = frozenset({("biegun", "say"), ("say", "talk")})
    text = "Stephen Biegun said talks with Pyongyang"
    free = (analyzer.adjacent_pairs(groups, pairs), analyzer.spans_of(text, {"biegun", "talk"}))
    with analyzer._tables_lock:
        busy = (analyzer.adjacent_pairs(groups, pairs), analyzer.spans_of(text, {"biegun", "talk"}))
    assert busy == free
    assert free[0] == [[("biegun", "say"), ("say", "talk")], []]


def test_threads_sharing_an_analyzer_get_exact_results() -> None:
    """Answer threads sharing one analyzer never trip over each other's compiled tables."""
    analyzer = Analyzer()
    texts = [f"Biegun said talks{i % 7} with Pyongyang on day {i}" for i in range(300)]
    pairs = frozenset({("biegun", "say"), ("with", "pyongyang"), ("pyongyang", "day")})
    expected = [PLAIN.adjacent_pairs([[t]], pairs) for t in texts]

    def run(offset: int) -> list[list[list[tuple[str, str]]]]:
        return [analyzer.adjacent_pairs([[t]], pairs) for t in texts[offset:] + texts[:offset]]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, [0, 75, 150, 225]))
    for offset, got in zip([0, 75, 150, 225], results, strict=True):
        assert got == expected[offset:] + expected[:offset]
