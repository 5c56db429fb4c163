"""Answer-quality evaluation: hit@1, hit@k, MRR and unanswered rate over judged questions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from rank_bm25 import BM25Okapi

from askbot.search.analysis import Analyzer
from askbot.search.answer import AnswerOptions, build_answer
from askbot.search.index import Index


class EvalFileError(ValueError):
    """A line of the questions file is not a usable judged question."""


@dataclass(frozen=True, slots=True)
class Judged:
    """A question with the article (and optionally the 1-based paragraph) that answers it."""

    question: str
    article: str
    paragraph: int | None = None


@dataclass(frozen=True, slots=True)
class Miss:
    """A question whose expected source was not cited first, and what was cited instead."""

    question: str
    expected: str
    got: tuple[str, ...]
    answered: bool


@dataclass(frozen=True, slots=True)
class EvalResult:
    """The figures for one engine over one question set."""

    engine: str
    questions: int
    hit_at_1: float
    hit_at_k: float
    mrr: float
    unanswered: float
    k: int
    misses: tuple[Miss, ...] = field(default=())


def parse_judged(lines: Iterable[str]) -> list[Judged]:
    """Judged questions from JSON lines: question, article, optional paragraph (1-based).

    SQuAD-style ``paragraph_index`` (0-based) is accepted too.
    """
    out: list[Judged] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalFileError(f"line {lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not row.get("question") or not row.get("article"):
            raise EvalFileError(f'line {lineno}: needs "question" and "article"')
        paragraph = row.get("paragraph")
        if paragraph is None and row.get("paragraph_index") is not None:
            paragraph = int(row["paragraph_index"]) + 1
        out.append(
            Judged(
                str(row["question"]),
                str(row["article"]),
                None if paragraph is None else int(paragraph),
            )
        )
    return out


Ranker = Callable[[str], tuple[list[tuple[str, int]], bool]]


def _score(engine: str, judged: Sequence[Judged], ranker: Ranker, k: int) -> EvalResult:
    hit1 = hitk = 0
    rr = 0.0
    unanswered = 0
    misses: list[Miss] = []
    for q in judged:
        ranked, answered = ranker(q.question)
        unanswered += not answered
        keys = [(a, p) for a, p in ranked][:k]
        match = [
            i
            for i, (a, p) in enumerate(keys)
            if a == q.article and (q.paragraph is None or p == q.paragraph)
        ]
        if match:
            first = match[0]
            hit1 += first == 0
            hitk += 1
            rr += 1.0 / (first + 1)
        if not match or match[0] != 0:
            expected = q.article if q.paragraph is None else f"{q.article}#{q.paragraph}"
            misses.append(Miss(q.question, expected, tuple(f"{a}#{p}" for a, p in keys), answered))
    n = max(len(judged), 1)
    return EvalResult(
        engine, len(judged), hit1 / n, hitk / n, rr / n, unanswered / n, k, tuple(misses)
    )


def evaluate(
    judged: Sequence[Judged], index: Index, analyzer: Analyzer, options: AnswerOptions
) -> EvalResult:
    """askbot's answers: the cited passages in order; unanswered questions cite nothing."""

    def rank(question: str) -> tuple[list[tuple[str, int]], bool]:
        answer = build_answer(question, index, analyzer, options)
        return [
            (p.citation.article_id, p.citation.paragraph) for p in answer.passages
        ], answer.answered

    return _score("askbot", judged, rank, options.top_k)


def evaluate_baseline(judged: Sequence[Judged], index: Index, k: int) -> EvalResult:
    """Plain rank-bm25 (BM25Okapi) over the same passages, lowercase whitespace tokens."""
    docs = [index.text(d).lower().split() for d in range(index.n_docs)]
    bm25 = BM25Okapi(docs)

    def rank(question: str) -> tuple[list[tuple[str, int]], bool]:
        scores = bm25.get_scores(question.lower().split())
        order = sorted(range(len(scores)), key=lambda d: (-scores[d], d))
        seen: list[tuple[str, int]] = []
        for d in order:
            key = (index.article_of(d).id, int(index.p_paragraph[d]))
            if key not in seen:
                seen.append(key)
            if len(seen) == k:
                break
        return seen, True

    return _score("rank-bm25 (whitespace)", judged, rank, k)
