"""The text around a cited passage: its article's paragraphs, and a paragraph's neighbours."""

from __future__ import annotations

from askbot.search.index import ArticleInfo, Index


def paragraphs_of(index: Index, article: ArticleInfo) -> dict[int, str]:
    """Paragraph number -> text, with a long paragraph's sentence windows joined back."""
    out: dict[int, list[str]] = {}
    for doc in range(article.first_passage, article.first_passage + article.passage_count):
        out.setdefault(int(index.p_paragraph[doc]), []).append(index.text(doc))
    return {n: " ".join(parts) for n, parts in sorted(out.items())}


def neighbours(
    paragraphs: dict[int, str], paragraph: int, radius: int = 1
) -> list[tuple[int, str]]:
    """The paragraph and up to ``radius`` paragraphs on each side, in order."""
    return [(n, t) for n, t in paragraphs.items() if abs(n - paragraph) <= radius]


def context_around(
    index: Index, article_id: str, paragraph: int, radius: int = 1
) -> list[tuple[int, str]]:
    """A cited paragraph with ``radius`` paragraphs on each side; [] for an unknown article."""
    position = index.article_by_id.get(article_id)
    if position is None:
        return []
    return neighbours(paragraphs_of(index, index.articles[position]), paragraph, radius)
