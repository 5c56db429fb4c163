"""Filters written into a question: source:, after:, before:, article: and quoted phrases."""

from __future__ import annotations

import pytest

from askbot.search.query import Filters, QueryError, normalise_date, parse_question


def test_plain_question_has_no_filters() -> None:
    """Nothing to parse leaves the text as is and the filters empty."""
    parsed = parse_question("What did Biegun say?")
    assert parsed.text == "What did Biegun say?" and not parsed.filters


def test_source_and_dates_are_taken_out_of_the_text() -> None:
    """source:, after: and before: become filters; the rest is the question."""
    parsed = parse_question("source:Xinhua talks after:2020-06-01 before:2021 with Pyongyang")
    assert parsed.text == "talks with Pyongyang"
    assert parsed.filters == Filters(sources=("xinhua",), after="2020-06-01", before="2021-01-01")


def test_quoted_phrase_is_kept_in_the_text_and_required() -> None:
    """A quoted phrase stays searchable and must appear in the passage."""
    parsed = parse_question('what about the "liaison office"?')
    assert "liaison office" in parsed.text
    assert parsed.filters.phrases == ("liaison office",)
    assert parsed.filters.allows_text("demolished the inter-Korean Liaison  Office building")
    assert not parsed.filters.allows_text("the liaison to the office")


def test_article_filter_matches_the_id_or_its_folder() -> None:
    """article:wikinews admits wikinews/crane but not another folder."""
    filters = parse_question("article:wikinews crane").filters
    assert filters.allows_article("wikinews/crane", None, None)
    assert not filters.allows_article("politics/crane", None, None)


def test_date_filters_exclude_undated_and_out_of_range_articles() -> None:
    """after: is exclusive; undated articles never pass a date filter."""
    filters = parse_question("x after:2015-09-12").filters
    assert filters.allows_article("a", None, "2015-09-13")
    assert not filters.allows_article("a", None, "2015-09-12")
    assert not filters.allows_article("a", None, None)


def test_bad_date_is_a_clear_error() -> None:
    """after:yesterday says how to write a date."""
    with pytest.raises(QueryError, match="after:2020-06-01"):
        parse_question("news after:yesterday")


def test_dates_normalise_to_iso_days() -> None:
    """Years and months pad to the first day; impossible dates are None."""
    assert normalise_date("2020") == "2020-01-01"
    assert normalise_date("2020-6") == "2020-06-01"
    assert normalise_date("2020-02-30") is None
