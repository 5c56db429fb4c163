"""_lookup.py: autocomplete, article resolution, paragraphs and pages over a small real index."""

from __future__ import annotations

import pytest

from askbot.bot import _lookup
from askbot.search.analysis import Analyzer
from askbot.search.build import build_index
from askbot.search.context import neighbours, paragraphs_of
from askbot.search.index import Index
from askbot.search.models import Article

LONG = " ".join(f"Sentence number {i} is here." for i in range(80))


@pytest.fixture(scope="module")
def index() -> Index:
    articles = [
        Article("pompeo", "Pompeo hopeful on talks", ("One.", "Two.", LONG, "Four.")),
        Article("korea", "North Korea war footing", ("Alpha.", "Beta.")),
        Article("x" * 150, "Very long id", ("Only.",)),
        *(Article(f"a{i:02}", f"Filler {i}", ("Text.",)) for i in range(20)),
    ]
    return build_index(articles, Analyzer())


def test_autocomplete_prefers_title_prefix_then_substring(index: Index) -> None:
    """Typing "korea" finds the title starting with it and the one containing it."""
    ids = [a.id for a in _lookup.suggest_articles(index, "north")]
    assert ids == ["korea"]
    assert [a.id for a in _lookup.suggest_articles(index, "hopeful")] == ["pompeo"]


def test_autocomplete_caps_at_25(index: Index) -> None:
    """An empty query lists at most 25 articles (Discord's maximum)."""
    assert len(_lookup.suggest_articles(index, "")) == 23
    assert len(_lookup.suggest_articles(index, "", limit=5)) == 5


def test_choice_values_and_names_fit_discord(index: Index) -> None:
    """Choice names and values stay within 100 characters, and a long id still resolves."""
    for article in index.articles:
        assert len(_lookup.choice_name(article)) <= 100
        token = _lookup.article_token(article.id)
        assert len(token) <= 100
        assert _lookup.resolve_article(index, token) == article


def test_resolves_typed_title_or_unique_fragment(index: Index) -> None:
    """A typed exact title or a fragment matching one title finds the article; else None."""
    assert (a := _lookup.resolve_article(index, "pompeo hopeful on talks")) and a.id == "pompeo"
    assert (b := _lookup.resolve_article(index, "war footing")) and b.id == "korea"
    assert _lookup.resolve_article(index, "Filler") is None
    assert _lookup.resolve_article(index, "nothing like it") is None


def test_paragraphs_join_sentence_windows(index: Index) -> None:
    """A long paragraph split into windows is shown whole under its number."""
    info = index.articles[index.article_by_id["pompeo"]]
    paragraphs = paragraphs_of(index, info)
    assert sorted(paragraphs) == [1, 2, 3, 4]
    assert paragraphs[3] == LONG


def test_neighbours_are_the_paragraph_and_each_side(index: Index) -> None:
    """Context for ¶2 is ¶1-¶3; for the first paragraph, ¶1-¶2."""
    info = index.articles[index.article_by_id["pompeo"]]
    paragraphs = paragraphs_of(index, info)
    assert [n for n, _ in neighbours(paragraphs, 2)] == [1, 2, 3]
    assert [n for n, _ in neighbours(paragraphs, 1)] == [1, 2]


def test_pages_are_clamped(index: Index) -> None:
    """23 articles make 3 pages of 10; page 99 shows the last page."""
    page = _lookup.page_of(index, 99)
    assert (page.page, page.pages, page.total, page.first_number) == (3, 3, 23, 21)
    assert len(page.articles) == 3
