"""Hits -> Answer: citations, highlights, duplicates collapsed, and "not in the corpus"."""

from __future__ import annotations

from dataclasses import dataclass

from askbot.search.analysis import SPEECH_TERM, Analyzer
from askbot.search.index import Index, coverage_idf
from askbot.search.models import Answer, Citation, CitedPassage, Span

# Share of the question's term weight the best passage must cover to count as an answer.
# Chosen on SQuAD (answerable questions) against questions about things the corpus lacks.
DEFAULT_MIN_COVERAGE = 0.5
STRONG_COVERAGE = 0.9
MAX_QUESTION_CHARS = 10_000

NO_TERMS = (
    "The question has no words to search for (only stopwords, emoji or punctuation). "
    "Ask about a person, place or event, e.g. \"What did Biegun say?\""
)
NOT_FOUND = "Nothing in the corpus answers this question."


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    """How many passages to cite and how sure the answer must be."""

    top_k: int = 3
    min_coverage: float = DEFAULT_MIN_COVERAGE
    candidates: int = 30


def citation_for(index: Index, doc: int) -> Citation:
    """The citation of passage ``doc``."""
    article = index.article_of(doc)
    return Citation(
        passage_id=index.passage_id(doc),
        article_id=article.id,
        title=article.title,
        paragraph=int(index.p_paragraph[doc]),
        date=article.date,
        url=article.url,
        source=article.source,
    )


def highlight_spans(analyzer: Analyzer, text: str, terms: frozenset[str]) -> tuple[Span, ...]:
    """The character ranges of ``text`` whose terms are in ``terms``, merged when adjacent."""
    spans: list[Span] = []
    for term, start, end in analyzer.spans(text):
        if term not in terms:
            continue
        if spans and text[spans[-1].end : start].strip() == "":
            spans[-1] = Span(spans[-1].start, end)
        else:
            spans.append(Span(start, end))
    return tuple(spans)


def term_weights(index: Index, terms: list[str]) -> dict[str, float]:
    """Each distinct question term's weight for coverage; unseen terms weigh the most."""
    return {t: coverage_idf(index.document_frequency(t), index.n_docs) for t in dict.fromkeys(terms)}


def passage_coverage(index: Index, analyzer: Analyzer, doc: int, weights: dict[str, float]) -> float:
    """The share of the question's term weight that passage ``doc`` contains."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    present = set(analyzer.terms(index.text(doc)))
    speaker = index.speaker(doc)
    if speaker:
        present.update(analyzer.terms(speaker))
    return sum(w for t, w in weights.items() if t in present) / total


def build_answer(
    question: str, index: Index, analyzer: Analyzer, options: AnswerOptions | None = None
) -> Answer:
    """Answer ``question`` from ``index`` with the top passages and their citations."""
    options = options or AnswerOptions()
    terms = analyzer.terms(question[:MAX_QUESTION_CHARS])
    if not terms:
        return Answer(question=question, answered=False, passages=(), reason=NO_TERMS)
    # "say" alone says nothing about what the corpus should contain.
    weights = term_weights(index, terms)
    if SPEECH_TERM in weights and len(weights) > 1:
        weights[SPEECH_TERM] = min(weights[SPEECH_TERM], 0.5)
    hits = index.search(terms, max(options.candidates, options.top_k))
    term_set = frozenset(terms)
    cited: list[CitedPassage] = []
    seen_text: dict[int, int] = {}
    best_coverage = 0.0
    for hit in hits:
        text_hash = int(index.p_hash[hit.doc])
        citation = citation_for(index, hit.doc)
        if text_hash in seen_text:
            # The same text in another article (a syndicated copy): cite it once.
            i = seen_text[text_hash]
            first = cited[i]
            cited[i] = CitedPassage(
                rank=first.rank, score=first.score, text=first.text, citation=first.citation,
                highlights=first.highlights, speaker=first.speaker,
                also_in=(*first.also_in, citation),
            )  # fmt: skip
            continue
        if len(cited) >= options.top_k:
            continue
        coverage = passage_coverage(index, analyzer, hit.doc, weights)
        best_coverage = max(best_coverage, coverage)
        text = index.text(hit.doc)
        seen_text[text_hash] = len(cited)
        cited.append(
            CitedPassage(
                rank=len(cited) + 1,
                score=hit.score,
                text=text,
                citation=citation,
                highlights=highlight_spans(analyzer, text, term_set),
                speaker=index.speaker(hit.doc),
            )
        )
    answered = bool(cited) and best_coverage >= options.min_coverage
    if not answered:
        return Answer(
            question=question, answered=False, passages=(), coverage=best_coverage,
            reason=NOT_FOUND, terms=tuple(terms),
        )  # fmt: skip
    confidence = "strong" if best_coverage >= STRONG_COVERAGE else "partial"
    return Answer(
        question=question,
        answered=True,
        passages=tuple(cited),
        confidence=confidence,
        coverage=best_coverage,
        terms=tuple(terms),
    )
