"""Immutable values that flow through the search core: articles, passages, hits, answers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Article:
    """One news article: metadata plus its body paragraphs (the title is not a paragraph)."""

    id: str
    title: str
    paragraphs: tuple[str, ...]
    date: str | None = None
    url: str | None = None
    source: str | None = None
    author: str | None = None
    path: str = ""
    content_hash: str = ""


@dataclass(frozen=True, slots=True)
class Passage:
    """The unit of retrieval: one paragraph, or one sentence window of a long paragraph.

    ``context`` is extra text that is indexed with the passage but never shown as its text,
    e.g. the speaker of a quote whose own paragraph only says "he noted".
    """

    id: str
    article_id: str
    paragraph: int
    window: int
    text: str
    context: str = ""
    speaker: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A corpus file (or JSONL line) that was not indexed, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage's position in the index and its BM25Okapi score for one query."""

    doc: int
    score: float


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a passage comes from, precisely enough for a reader to open the source."""

    passage_id: str
    article_id: str
    title: str
    paragraph: int
    date: str | None = None
    url: str | None = None
    source: str | None = None

    def label(self) -> str:
        """A one-line human citation: title, paragraph, date, source."""
        parts = [f"{self.title}, ¶{self.paragraph}"]
        if self.date:
            parts.append(self.date)
        if self.source:
            parts.append(self.source)
        return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range of a passage's text that matched a query term."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class CitedPassage:
    """One passage of an answer: its rank, score, text, highlights and citation."""

    rank: int
    score: float
    text: str
    citation: Citation
    highlights: tuple[Span, ...] = ()
    speaker: str = ""
    also_in: tuple[Citation, ...] = ()
    speaker_role: str = ""

    def highlighted(self, before: str = "**", after: str = "**") -> str:
        """The text with every matched span wrapped in ``before``/``after``."""
        out: list[str] = []
        pos = 0
        for span in self.highlights:
            out.append(self.text[pos : span.start])
            out.append(before + self.text[span.start : span.end] + after)
            pos = span.end
        out.append(self.text[pos:])
        return "".join(out)


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply to one question: cited passages, or a plain statement that nothing matched."""

    question: str
    answered: bool
    passages: tuple[CitedPassage, ...]
    confidence: str = "none"
    coverage: float = 0.0
    reason: str = ""
    terms: tuple[str, ...] = field(default=())
