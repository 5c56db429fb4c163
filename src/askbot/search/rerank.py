"""Re-rank BM25's candidate passages as paragraphs: paragraph BM25, question coverage, proximity."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from askbot.search.analysis import Analyzer
from askbot.search.index import Index
from askbot.search.models import Hit


@dataclass(frozen=True, slots=True)
class RerankWeights:
    """How much coverage and proximity add to a paragraph's BM25 (scaled so the best's is 1).

    Each signal lies in [0, 1], so weights of 1 give each the same say as BM25 itself. On SQuAD
    dev (bench/squad.py; even- and odd-numbered questions alike) any value from 0.5 to 2 moves
    hit@1 by at most a point, so the round default is kept.
    """

    coverage: float = 1.0
    proximity: float = 1.0

    def __post_init__(self) -> None:
        # rerank skips paragraphs by an upper bound that only holds for weights >= 0.
        if self.coverage < 0 or self.proximity < 0:
            raise ValueError("re-rank weights must be >= 0")


@dataclass(frozen=True, slots=True)
class ParagraphMatch:
    """One candidate paragraph: its windows, the window to show, and the signals that ranked it.

    ``copies`` are candidate passages elsewhere with the same text as ``best`` (syndicated
    copies), cited with it rather than beside it.
    """

    docs: range
    best: Hit
    bm25: float
    coverage: float
    proximity: float
    matched: frozenset[str]
    score: float
    copies: tuple[int, ...] = ()


def paragraph_docs(index: Index, doc: int) -> range:
    """The passages (sentence windows) that make up the paragraph of passage ``doc``."""
    article, paragraph = index.p_article, index.p_paragraph
    a, number = article[doc], paragraph[doc]
    # An article's passages are stored in order, so a paragraph's windows are contiguous: the
    # neighbours with the same article and paragraph number (no article record is read).
    start = doc
    while start > 0 and paragraph[start - 1] == number and article[start - 1] == a:
        start -= 1
    end = doc + 1
    n = index.n_docs
    while end < n and paragraph[end] == number and article[end] == a:
        end += 1
    return range(start, end)


def term_frequencies(
    index: Index, terms: Sequence[str], paragraphs: Sequence[range]
) -> list[dict[str, int]]:
    """For each paragraph, how often each distinct term occurs in its windows together."""
    out: list[dict[str, int]] = [{} for _ in paragraphs]
    if not paragraphs:
        return out
    starts = np.array([p.start for p in paragraphs], dtype=np.int64)
    stops = np.array([p.stop for p in paragraphs], dtype=np.int64)
    for term in dict.fromkeys(terms):
        t = index.vocab.get(term)
        if t is None:
            continue
        s, e = int(index.indptr[t]), int(index.indptr[t + 1])
        # Postings are sorted by passage (they come from one sort of (term, passage) pairs), so
        # a paragraph's windows are one slice of them.
        postings = index.docs[s:e]
        lo = np.searchsorted(postings, starts)
        hi = np.searchsorted(postings, stops)
        present = np.flatnonzero(hi > lo)
        if not present.size:
            continue
        tfs = np.asarray(index.tfs[s:e])
        first, last = lo[present], hi[present]
        # Most paragraphs are one window, one posting: their count is that posting's; only
        # paragraphs with several matching windows need a sum.
        counts = tfs[first].astype(np.int64)
        for j in np.flatnonzero(last - first > 1).tolist():
            counts[j] = int(tfs[first[j] : last[j]].sum())
        for i, count in zip(present.tolist(), counts.tolist(), strict=True):
            out[i][term] = count
    return out


def okapi_score(index: Index, terms: Sequence[str], tf: Mapping[str, int], length: int) -> float:
    """BM25Okapi of a text with term counts ``tf`` and ``length`` terms, with the index's idf.

    Sum over query terms (repeats count, as in rank-bm25) of
    idf * tf (k1 + 1) / (tf + k1 (1 - b + b len / avgdl)).
    """
    k1, b = index.params.k1, index.params.b
    norm = k1 * (1 - b + b * length / index.avgdl) if index.avgdl else k1
    score = 0.0
    for term in terms:
        f = tf.get(term, 0)
        if f:
            score += float(index.idf[index.vocab[term]]) * f * (k1 + 1) / (f + norm)
    return score


def coverage(weights: Mapping[str, float], matched: frozenset[str]) -> float:
    """The share of the question's term weight found among ``matched`` terms."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in weights.items() if t in matched) / total


def question_pairs(terms: Sequence[str]) -> frozenset[tuple[str, str]]:
    """The distinct adjacent pairs of question terms, in question order."""
    return frozenset((x, y) for x, y in pairwise(terms) if x != y)


def pair_weight(weights: Mapping[str, float], pairs: frozenset[tuple[str, str]]) -> float:
    """The share of question weight ``pairs`` carry: each pair counts its lighter term's weight."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(min(weights[x], weights[y]) for x, y in pairs) / total


def adjacent_pairs(
    pairs: frozenset[tuple[str, str]], text_terms: Sequence[str]
) -> frozenset[tuple[str, str]]:
    """The question ``pairs`` that also occur as adjacent terms in the text, in that order.

    Adjacent once stopwords are gone: "University of Chicago" and "Super Bowl" match as phrases.
    """
    firsts = {x for x, _ in pairs}
    found = {(x, y) for x, y in pairwise(text_terms) if x in firsts and (x, y) in pairs}
    return frozenset(found)


def rerank(
    index: Index,
    analyzer: Analyzer,
    terms: Sequence[str],
    weights: Mapping[str, float],
    hits: Sequence[Hit],
    limit: int,
    rerank_weights: RerankWeights | None = None,
) -> list[ParagraphMatch]:
    """The best ``limit`` paragraphs of ``hits``, best first, each shown by its best window.

    score = bm25 / best bm25 + w_coverage * coverage + w_proximity * proximity, where bm25 is
    BM25Okapi of the whole paragraph: a paragraph split into windows is judged whole, so a
    question whose words fall on both sides of a window boundary is not penalised, and the
    paragraph is cited once. Ties go to the higher window score, then the earlier passage.
    """
    if limit <= 0:
        return []
    rw = rerank_weights or RerankWeights()
    groups: dict[tuple[int, int], Hit] = {}
    first_with_text: dict[int, int] = {}
    copies: dict[int, list[int]] = {}
    for hit in hits:
        key = (int(index.p_article[hit.doc]), int(index.p_paragraph[hit.doc]))
        # Hits come best first, so the first window seen is the paragraph's best.
        if key in groups:
            continue
        text_hash = int(index.p_hash[hit.doc])
        first = first_with_text.get(text_hash)
        if first is not None:
            copies.setdefault(first, []).append(hit.doc)
            continue
        first_with_text[text_hash] = hit.doc
        groups[key] = hit
    best = list(groups.values())
    spans = [paragraph_docs(index, hit.doc) for hit in best]
    tfs = term_frequencies(index, terms, spans)
    bm25 = [
        okapi_score(index, terms, tf, sum(index.doc_len[d.start : d.stop].tolist()))
        for tf, d in zip(tfs, spans, strict=True)
    ]
    top = max(bm25, default=0.0)
    pairs = question_pairs(terms)
    # Proximity needs the paragraph's text analysed again, the one costly step: it is only
    # computed while a paragraph could still reach the top ``limit`` (its pairs all matching).
    pending = []
    for i, (hit, tf) in enumerate(zip(best, tfs, strict=True)):
        matched = frozenset(tf)
        cov = coverage(weights, matched)
        base = (bm25[i] / top if top > 0 else 0.0) + rw.coverage * cov
        possible = frozenset((x, y) for x, y in pairs if x in matched and y in matched)
        bound = base + rw.proximity * pair_weight(weights, possible)
        pending.append((-bound, -hit.score, hit.doc, i, base, cov, matched, possible))
    pending.sort()
    chosen: list[tuple[float, float, int, ParagraphMatch]] = []  # a min-heap of the best
    for neg_bound, _, _, i, base, cov, matched, possible in pending:
        if len(chosen) >= limit and -neg_bound < chosen[0][0]:
            break
        prox = 0.0
        if possible:
            text_terms: list[str] = []
            for doc in spans[i]:
                text_terms.extend(analyzer.terms(index.text(doc)))
            prox = pair_weight(weights, adjacent_pairs(possible, text_terms))
        hit = best[i]
        match = ParagraphMatch(
            docs=spans[i], best=hit, bm25=bm25[i], coverage=cov, proximity=prox,
            matched=matched, score=base + rw.proximity * prox, copies=tuple(copies.get(hit.doc, ())),
        )  # fmt: skip
        # Heap order is worst first: lowest score, then lowest BM25, then highest passage.
        entry = (match.score, hit.score, -hit.doc, match)
        if len(chosen) < limit:
            heapq.heappush(chosen, entry)
        elif entry[:3] > chosen[0][:3]:
            heapq.heapreplace(chosen, entry)
    ranked = sorted(chosen, key=lambda e: e[:3], reverse=True)
    return [e[3] for e in ranked]
