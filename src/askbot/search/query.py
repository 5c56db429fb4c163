"""Parse a question into its words and its filters: source:, after:, before:, article:, "phrases"."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

_FILTER = re.compile(r"(?<!\S)(source|after|before|article):(\"[^\"]*\"|\S+)", re.IGNORECASE)
_PHRASE = re.compile(r"[\"“”]([^\"“”]{2,200})[\"“”]")
_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?")


class QueryError(ValueError):
    """A filter the user wrote cannot be understood; the message says how to write it."""


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrictions on which passages may answer, all optional."""

    sources: tuple[str, ...] = ()
    after: str | None = None
    before: str | None = None
    articles: tuple[str, ...] = ()
    phrases: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.sources or self.after or self.before or self.articles or self.phrases)

    def allows_article(self, article_id: str, source: str | None, when: str | None) -> bool:
        """Whether an article passes the source, date and article filters."""
        if self.articles and not any(
            article_id == a or article_id.startswith(a.rstrip("/") + "/") for a in self.articles
        ):
            return False
        if self.sources and (source or "").casefold() not in self.sources:
            return False
        if self.after or self.before:
            day = normalise_date(when or "")
            if day is None:
                return False
            if self.after and day <= self.after:
                return False
            if self.before and day >= self.before:
                return False
        return True

    def allows_text(self, text: str) -> bool:
        """Whether a passage contains every quoted phrase (case and spacing ignored)."""
        if not self.phrases:
            return True
        flat = " ".join(_fold(text).split())
        return all(p in flat for p in self.phrases)


@dataclass(frozen=True, slots=True)
class ParsedQuestion:
    """The question's searchable text and the filters written into it."""

    text: str
    filters: Filters


def _fold(text: str) -> str:
    return text.replace("’", "'").replace("‘", "'").casefold()


def normalise_date(text: str) -> str | None:
    """An ISO day (YYYY-MM-DD) from the start of a date string; a bare year or month pads to 01."""
    match = _DATE.match(text.strip())
    if not match:
        return None
    year, month, day = int(match.group(1)), int(match.group(2) or 1), int(match.group(3) or 1)
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def parse_question(question: str) -> ParsedQuestion:
    """Split filters out of a question; quoted phrases stay in the text (their words count too)."""
    sources: list[str] = []
    articles: list[str] = []
    after = before = None

    def take(match: re.Match[str]) -> str:
        nonlocal after, before
        key, value = match.group(1).lower(), match.group(2).strip('"')
        if key == "source":
            sources.append(value.casefold())
        elif key == "article":
            articles.append(value)
        else:
            day = normalise_date(value)
            if day is None:
                raise QueryError(
                    f"{key}:{value} is not a date; write {key}:2020-06-01 (or a year, 2020)"
                )
            if key == "after":
                after = day
            else:
                before = day
        return " "

    text = _FILTER.sub(take, question)
    phrases = tuple(" ".join(_fold(p).split()) for p in _PHRASE.findall(text))
    filters = Filters(
        tuple(sources), after, before, tuple(articles), tuple(p for p in phrases if p)
    )
    return ParsedQuestion(" ".join(text.split()), filters)
