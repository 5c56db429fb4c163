"""Parse a question into its words and its filters: source:, after:, before:, article:, "phrases"."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

_FILTER = re.compile(r"(?<!\S)(source|after|before|article):(\"[^\"]*\"|\S+)", re.IGNORECASE)
_PHRASE = re.compile(r"[\"“”]([^\"“”]{2,200})[\"“”]")
_NON_WORD = re.compile(r"[\W_]+")
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

    def merged(self, other: Filters) -> Filters:
        """Both sets of filters at once: either's sources, articles and phrases are allowed
        (each list is a choice), and the dates narrow to the later ``after`` and earlier
        ``before``."""
        after = max((d for d in (self.after, other.after) if d), default=None)
        before = min((d for d in (self.before, other.before) if d), default=None)
        return Filters(
            sources=_union(self.sources, other.sources),
            after=after,
            before=before,
            articles=_union(self.articles, other.articles),
            phrases=_union(self.phrases, other.phrases),
        )

    def describe(self) -> str:
        """The filters in words: 'from source xinhua after 2020-06-01 containing "talks"'."""
        parts = []
        if self.sources:
            parts.append("from source " + " or ".join(self.sources))
        if self.articles:
            parts.append("in article " + " or ".join(self.articles))
        if self.after:
            parts.append(f"after {self.after}")
        if self.before:
            parts.append(f"before {self.before}")
        if self.phrases:
            parts.append("containing " + " and ".join(f'"{p}"' for p in self.phrases))
        return " ".join(parts)

    def allows_text(self, text: str) -> bool:
        """Whether a passage contains every quoted phrase (case and spacing ignored)."""
        if not self.phrases:
            return True
        flat = f" {_flat(text)} "
        return all(f" {_flat(p)} " in flat for p in self.phrases)


@dataclass(frozen=True, slots=True)
class ParsedQuestion:
    """The question's searchable text and the filters written into it."""

    text: str
    filters: Filters


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))


def _phrase(text: str) -> str:
    """A quoted phrase as kept: folded, spaces collapsed, no punctuation at its ends ("Fresno?")."""
    return " ".join(_fold(text).split()).strip(" .,;:!?…'")


def _flat(text: str) -> str:
    """Words only: phrases match whatever punctuation or spacing sits between their words."""
    return " ".join(_NON_WORD.sub(" ", _fold(text)).split())


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


def make_filters(
    sources: Iterable[str] = (),
    after: str | None = None,
    before: str | None = None,
    articles: Iterable[str] = (),
    phrases: Iterable[str] = (),
) -> Filters:
    """Filters given as options (``askbot ask --source xinhua --after 2020-06``), normalised as
    ``parse_question`` normalises them; a date it cannot read is a QueryError."""
    days = []
    for key, value in (("after", after), ("before", before)):
        day = None
        if value is not None and value.strip():
            day = normalise_date(value)
            if day is None:
                raise QueryError(
                    f"{key} {value!r} is not a date; write {key}:2020-06-01 (or a year, 2020)"
                )
        days.append(day)
    return Filters(
        sources=_union((), tuple(s.strip().casefold() for s in sources if s.strip())),
        after=days[0],
        before=days[1],
        articles=_union((), tuple(a.strip() for a in articles if a.strip())),
        phrases=_union((), tuple(_phrase(p) for p in phrases if _flat(p))),
    )


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
    phrases = tuple(_phrase(p) for p in _PHRASE.findall(text) if _flat(p))
    filters = Filters(
        tuple(sources), after, before, tuple(articles), tuple(p for p in phrases if p)
    )
    return ParsedQuestion(" ".join(text.split()), filters)
