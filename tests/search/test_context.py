"""The text around a cited passage."""

from __future__ import annotations

from conftest import SEED_ID, bundled_index

from askbot.search.context import context_around


def test_context_is_the_paragraph_and_its_neighbours() -> None:
    """Radius 1 around paragraph 8 gives paragraphs 7, 8 and 9 in order."""
    around = context_around(bundled_index(), SEED_ID, 8, radius=1)
    assert [n for n, _ in around] == [7, 8, 9]
    assert around[1][1].startswith("“I believe this is very much possible.")


def test_context_of_an_unknown_article_is_empty() -> None:
    """An article id the index does not have gives no context."""
    assert context_around(bundled_index(), "no/such/article", 1) == []
