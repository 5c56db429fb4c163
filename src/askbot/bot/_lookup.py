"""Looking articles and paragraphs up in the index: autocomplete, /source, pages, context."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from askbot.search.index import ArticleInfo, Index

PAGE_SIZE = 10
MAX_CHOICES = 25
_CHOICE_LIMIT = 100
_TOKEN_PREFIX = "sha1:"


def article_token(article_id: str) -> str:
    """The autocomplete value for an article: its id, or a digest when the id is too long.

    Discord caps choice values at 100 characters.
    """
    if len(article_id) <= _CHOICE_LIMIT:
        return article_id
    return _TOKEN_PREFIX + hashlib.sha1(article_id.encode()).hexdigest()


def choice_name(article: ArticleInfo) -> str:
    """``Title (id)`` on one line, within Discord's 100-character choice names."""
    title = " ".join(article.title.split()) or article.id
    suffix = f" ({article.id})"
    if len(title) + len(suffix) <= _CHOICE_LIMIT:
        return title + suffix
    if len(suffix) > 40:
        suffix = ""
    return title[: _CHOICE_LIMIT - len(suffix) - 1] + "…" + suffix


def suggest_articles(index: Index, current: str, limit: int = MAX_CHOICES) -> list[ArticleInfo]:
    """Articles whose title or id matches what the user typed: prefix matches first."""
    needle = " ".join(current.split()).casefold()
    if not needle:
        return list(index.articles[:limit])
    prefix: list[ArticleInfo] = []
    inside: list[ArticleInfo] = []
    for article in index.articles:
        title, ident = article.title.casefold(), article.id.casefold()
        if title.startswith(needle) or ident.startswith(needle):
            prefix.append(article)
        elif needle in title or needle in ident:
            inside.append(article)
        if len(prefix) >= limit:
            break
    return (prefix + inside)[:limit]


def resolve_article(index: Index, text: str) -> ArticleInfo | None:
    """The article an autocomplete value (or a typed id or exact title) names, or None."""
    text = text.strip()
    position = index.article_by_id.get(text)
    if position is not None:
        return index.articles[position]
    folded = " ".join(text.split()).casefold()
    for article in index.articles:
        if (
            article_token(article.id) == text
            or " ".join(article.title.split()).casefold() == folded
        ):
            return article
    matches = [a for a in index.articles if folded and folded in a.title.casefold()]
    return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the corpus listing."""

    articles: Sequence[ArticleInfo]
    page: int
    pages: int
    total: int
    first_number: int


def page_of(index: Index, page: int, size: int = PAGE_SIZE) -> Page:
    """Page ``page`` (1-based, clamped into range) of the articles."""
    total = len(index.articles)
    pages = max(1, math.ceil(total / size))
    page = min(max(1, page), pages)
    start = (page - 1) * size
    return Page(index.articles[start : start + size], page, pages, total, start + 1)
