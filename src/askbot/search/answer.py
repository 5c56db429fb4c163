"""Hits -> Answer: citations, highlights, duplicates collapsed, and "not in the corpus"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from askbot.search.analysis import SPEECH_TERM, Analyzer, clean_text
from askbot.search.index import Index, coverage_idf
from askbot.search.models import Answer, Citation, CitedPassage, Span
from askbot.search.rerank import ParagraphMatch, RerankWeights, coverage, rerank

# Names and numbers pin a question to specific things, so they count double when judging whether
# passages support it. On the even-numbered SQuAD dev questions this refuses fewer answerable
# questions for as many unanswerable ones caught (2.5% vs 2.9% at 65%) than counting them once.
KEY_TERM_WEIGHT = 2.0
# Share of the question's weight (key terms doubled) the cited passages must contain to count as
# an answer. Chosen on the even-numbered SQuAD dev questions so that under 3% of them (all
# answerable) go unanswered while most of them, asked of a corpus without their article, do
# (bench/squad.py reports both, on both halves).
DEFAULT_MIN_COVERAGE = 0.45
STRONG_COVERAGE = 0.9
# The answer is judged on this many of its best passages whatever top_k is, so asking to see
# more passages does not make the bot more willing to answer.
JUDGED_PASSAGES = 3
MAX_QUESTION_CHARS = 10_000

NO_TERMS = (
    "The question has no words to search for (only stopwords, emoji or punctuation). "
    'Ask about a person, place or event, e.g. "What did Biegun say?"'
)
NOT_FOUND = "Nothing in the corpus answers this question."

_CONFIDENCE_ORDER = ("none", "weak", "partial", "strong")
# Punctuation after which a capital letter starts a sentence rather than marks a name.
_SENTENCE_OPENERS = frozenset(".!?:;\"'“‘(¿¡-–—")


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    """How many passages to cite and how sure the answer must be."""

    top_k: int = 3
    min_coverage: float = DEFAULT_MIN_COVERAGE
    candidates: int = 30
    rerank: RerankWeights = field(default_factory=RerankWeights)
    # For benchmarks and debugging: cite the closest passages even when the answer is judged
    # not to be in the corpus (answered stays False).
    always_cite: bool = False


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


def key_terms(analyzer: Analyzer, question: str) -> frozenset[str]:
    """The terms of the question's names and numbers: what pins it to specific things.

    A number, an acronym, or a capitalised word that does not start a sentence. Capitals mean
    nothing in a question typed all in lower or upper case, so there only numbers count.
    """
    text = clean_text(question)
    cased = text != text.lower() and text != text.upper()
    out = set()
    for term, start, end in analyzer.spans(text):
        raw = text[start:end]
        if raw[0].isdigit():
            out.add(term)
        elif cased and term != SPEECH_TERM and raw[0].isupper():
            before = text[:start].rstrip()
            acronym = len(raw) >= 2 and raw.replace(".", "").isupper()
            if acronym or (before and before[-1] not in _SENTENCE_OPENERS):
                out.add(term)
    return frozenset(out)


def term_weights(index: Index, terms: list[str]) -> dict[str, float]:
    """Each distinct question term's weight for coverage; unseen terms weigh the most."""
    weights = {
        t: coverage_idf(index.document_frequency(t), index.n_docs) for t in dict.fromkeys(terms)
    }
    # "say" alone says nothing about what the corpus should contain.
    if SPEECH_TERM in weights and len(weights) > 1:
        weights[SPEECH_TERM] = min(weights[SPEECH_TERM], 0.5)
    return weights


def support_weights(weights: Mapping[str, float], key: frozenset[str]) -> dict[str, float]:
    """The weights that judge support: key terms (names, numbers) count KEY_TERM_WEIGHT times."""
    return {t: w * KEY_TERM_WEIGHT if t in key else w for t, w in weights.items()}


def confidence(
    found: frozenset[str], weights: Mapping[str, float], key: frozenset[str], min_coverage: float
) -> tuple[str, float]:
    """How well text containing the question terms ``found`` supports it, and its weight share.

    strong: every key term and at least STRONG_COVERAGE of the question's weight (key terms
    counting KEY_TERM_WEIGHT times); partial: at least ``min_coverage`` of it; weak: less, or a
    single shared word, not a name or number, of a question of several ("weather" alone does not
    answer "What is the weather today?"); none: no question term at all.
    """
    found = frozenset(t for t in found if t in weights)
    if not found:
        return "none", 0.0
    share = coverage(support_weights(weights, key), found)
    if len(found) == 1 and len(weights) > 1 and not found & key:
        return "weak", share
    if share >= STRONG_COVERAGE and key <= found:
        return "strong", share
    if share >= min_coverage:
        return "partial", share
    return "weak", share


def judge(
    index: Index,
    matches: Sequence[ParagraphMatch],
    weights: Mapping[str, float],
    key: frozenset[str],
    min_coverage: float,
) -> tuple[str, float]:
    """The confidence of an answer citing ``matches``, and its weight share.

    The best of each passage on its own and of each article's passages together: an answer may
    draw the question's words from two paragraphs of one article (a reader sees both), but only
    a single passage that holds nearly all of them is "strong".
    """
    best = ("none", 0.0)
    by_article: dict[int, frozenset[str]] = {}
    for match in matches:
        article = int(index.p_article[match.best.doc])
        by_article[article] = by_article.get(article, frozenset()) | match.matched
        best = max(best, confidence(match.matched, weights, key, min_coverage), key=_rank)
    for found in by_article.values():
        label, share = confidence(found, weights, key, min_coverage)
        if label == "strong":
            label = "partial"
        best = max(best, (label, share), key=_rank)
    return best


def _rank(judgement: tuple[str, float]) -> tuple[int, float]:
    return _CONFIDENCE_ORDER.index(judgement[0]), judgement[1]


def unseen_numbers(index: Index, key: frozenset[str]) -> list[str]:
    """The question's numbers (years, counts) that no passage contains.

    A question about "the 2022 World Cup" cannot be answered by a corpus that never mentions
    2022, however well it covers the World Cup.
    """
    return sorted(t for t in key if t[0].isdigit() and index.document_frequency(t) == 0)


def _cited(
    index: Index, analyzer: Analyzer, match: ParagraphMatch, rank: int, terms: frozenset[str]
) -> CitedPassage:
    doc = match.best.doc
    text = index.text(doc)
    return CitedPassage(
        rank=rank,
        score=match.best.score,
        text=text,
        citation=citation_for(index, doc),
        highlights=highlight_spans(analyzer, text, terms),
        speaker=index.speaker(doc),
        also_in=tuple(citation_for(index, d) for d in match.copies),
    )


def build_answer(
    question: str, index: Index, analyzer: Analyzer, options: AnswerOptions | None = None
) -> Answer:
    """Answer ``question`` from ``index`` with the top passages and their citations.

    BM25 finds the candidates; they are re-ranked as paragraphs (``rerank``) and the answer is
    judged on how much of the question its best passages contain (``confidence``).
    """
    options = options or AnswerOptions()
    question_text = question[:MAX_QUESTION_CHARS]
    terms = analyzer.terms(question_text)
    if not terms:
        return Answer(question=question, answered=False, passages=(), reason=NO_TERMS)
    weights = term_weights(index, terms)
    key = key_terms(analyzer, question_text)
    hits = index.search(terms, max(options.candidates, options.top_k))
    ranked = rerank(
        index, analyzer, terms, weights, hits, max(options.top_k, JUDGED_PASSAGES), options.rerank
    )
    if unseen_numbers(index, key):
        best, share = "none", 0.0
    else:
        best, share = judge(index, ranked[:JUDGED_PASSAGES], weights, key, options.min_coverage)
    answered = best in ("strong", "partial")
    term_set = frozenset(terms)
    passages = (
        tuple(
            _cited(index, analyzer, m, rank, term_set)
            for rank, m in enumerate(ranked[: options.top_k], start=1)
        )
        if answered or options.always_cite
        else ()
    )
    return Answer(
        question=question,
        answered=answered,
        passages=passages,
        confidence=best,
        coverage=share,
        reason="" if answered else NOT_FOUND,
        terms=tuple(terms),
    )
