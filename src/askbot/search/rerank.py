"""Re-rank BM25's candidate passages as paragraphs: paragraph BM25, question coverage, proximity."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, pairwise
from operator import lt
from typing import Any

import numpy as np
import numpy.typing as npt

from askbot.search.analysis import Analyzer, adjacent_in
from askbot.search.index import Index
from askbot.search.models import Hit

# Paragraphs whose proximity is worked out together (one call into the chunk table): a few more
# than the answer usually needs, as most candidates end up analysed anyway.
PROXIMITY_BLOCK = 8


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


def _items(array: npt.ArrayLike) -> memoryview:
    """A 1-d array's items as Python ints on indexing: a memoryview reads one in tens of
    nanoseconds, where indexing the numpy array makes a numpy scalar."""
    return np.ascontiguousarray(array).data


def paragraphs_of(index: Index, docs: Sequence[int]) -> tuple[list[range], list[int]]:
    """``paragraph_docs`` of each of ``docs``, and each paragraph's length in terms.

    Most paragraphs are a single window: a passage whose neighbours belong to other paragraphs
    is one; only the others walk their neighbours.
    """
    article, paragraph = _items(index.p_article), _items(index.p_paragraph)
    doc_len = _items(index.doc_len)
    last = index.n_docs - 1
    spans: list[range] = []
    lengths: list[int] = []
    for d in docs:
        a, p = article[d], paragraph[d]
        if (d > 0 and paragraph[d - 1] == p and article[d - 1] == a) or (
            d < last and paragraph[d + 1] == p and article[d + 1] == a
        ):
            span = paragraph_docs(index, d)
            spans.append(span)
            lengths.append(sum(doc_len[span.start : span.stop]))
        else:
            spans.append(range(d, d + 1))
            lengths.append(doc_len[d])
    return spans, lengths


def term_counts(index: Index, terms: Sequence[str], paragraphs: Sequence[range]) -> list[list[int]]:
    """How often each term of ``terms`` occurs in each paragraph's windows together.

    One row per term (in ``terms``' order, repeats included), one count per paragraph.
    """
    n = len(paragraphs)
    rows: dict[str, list[int]] = {}
    # Passage numbers in the postings' own dtype: searchsorted with another dtype would first
    # copy the whole posting list (a million entries for a common term).
    dtype: np.dtype[Any] = np.asarray(index.docs).dtype
    if index.n_docs > np.iinfo(dtype).max:
        dtype = np.dtype(np.int64)
    keys = np.array([p.start for p in paragraphs] + [p.stop for p in paragraphs], dtype=dtype)
    for term in dict.fromkeys(terms):
        row = rows[term] = [0] * n
        t = index.vocab.get(term)
        if t is None or not n:
            continue
        s, e = int(index.indptr[t]), int(index.indptr[t + 1])
        # Postings are sorted by passage (they come from one sort of (term, passage) pairs), so
        # a paragraph's windows are one slice of them.
        at = np.searchsorted(index.docs[s:e], keys).tolist()
        lo, hi = at[:n], at[n:]
        tfs = _items(index.tfs[s:e])
        # Most paragraphs are one window, one posting: their count is that posting's.
        for j in compress(range(n), map(lt, lo, hi)):
            a, b = lo[j], hi[j]
            row[j] = tfs[a] if b - a == 1 else sum(tfs[a:b])
    return [rows[term] for term in terms]


def term_frequencies(
    index: Index, terms: Sequence[str], paragraphs: Sequence[range]
) -> list[dict[str, int]]:
    """For each paragraph, how often each distinct term occurs in its windows together."""
    distinct = list(dict.fromkeys(terms))
    out: list[dict[str, int]] = [{} for _ in paragraphs]
    for term, row in zip(distinct, term_counts(index, distinct, paragraphs), strict=True):
        for i in compress(range(len(row)), row):
            out[i][term] = row[i]
    return out


def okapi_scores(
    index: Index, terms: Sequence[str], counts: Sequence[Sequence[int]], lengths: Sequence[int]
) -> list[float]:
    """``okapi_score`` of many texts at once: ``counts`` holds a row per term of ``terms`` (as
    ``term_counts`` gives), a count per text of ``lengths`` terms.

    The same operations in the same order as ``okapi_score``, text by text, so every score is
    the one it gives.
    """
    k1, b, avgdl = index.params.k1, index.params.b, index.avgdl
    norms = (
        [k1 * (1 - b + b * length / avgdl) for length in lengths] if avgdl else [k1] * len(lengths)
    )
    scores = [0.0] * len(lengths)
    for term, row in zip(terms, counts, strict=True):
        idf = None
        for j in compress(range(len(row)), row):
            if idf is None:
                idf = float(index.idf[index.vocab[term]])
            f = row[j]
            scores[j] += idf * f * (k1 + 1) / (f + norms[j])
    return scores


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
    return _as_found(adjacent_in(pairs, text_terms))


def _as_found(ordered: list[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    # Put in a set in order of first occurrence, as a comprehension over the text would, so the
    # set (and the order pair_weight adds its weights in) is the same however they were found.
    return frozenset(set(ordered))


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
    article, paragraph, p_hash = (
        _items(index.p_article),
        _items(index.p_paragraph),
        _items(index.p_hash),
    )
    for hit in hits:
        # Hits come best first, so the first window seen is the paragraph's best.
        key = (article[hit.doc], paragraph[hit.doc])
        if key in groups:
            continue
        text_hash = p_hash[hit.doc]
        first = first_with_text.get(text_hash)
        if first is not None:
            copies.setdefault(first, []).append(hit.doc)
            continue
        first_with_text[text_hash] = hit.doc
        groups[key] = hit
    best = list(groups.values())
    spans, lengths = paragraphs_of(index, [hit.doc for hit in best])
    counts = term_counts(index, terms, spans)
    bm25 = okapi_scores(index, terms, counts, lengths)
    distinct = list(dict.fromkeys(terms))
    rows = [counts[terms.index(t)] for t in distinct]
    present = list(zip(*rows, strict=True)) if rows else [()] * len(best)
    top = max(bm25, default=0.0)
    pairs = question_pairs(terms)
    # coverage() and pair_weight() of each paragraph, with what they share worked out once.
    total = sum(weights.values())
    items = list(weights.items())
    lighter = {(x, y): min(weights[x], weights[y]) for x, y in pairs}
    # Proximity needs the paragraph's text analysed again, the one costly step: it is only
    # computed while a paragraph could still reach the top ``limit`` (its pairs all matching).
    pending = []
    # Many paragraphs hold the same question terms: what depends only on which is worked out
    # once per set.
    by_terms: dict[frozenset[str], tuple[float, frozenset[tuple[str, str]], float]] = {}
    for i, hit in enumerate(best):
        matched = frozenset(compress(distinct, present[i]))
        known = by_terms.get(matched)
        if known is None:
            cov = sum([w for t, w in items if t in matched]) / total if total > 0 else 0.0
            possible = frozenset((x, y) for x, y in pairs if x in matched and y in matched)
            share = sum([lighter[p] for p in possible]) / total if total > 0 else 0.0
            known = by_terms[matched] = (cov, possible, share)
        cov, possible, share = known
        base = (bm25[i] / top if top > 0 else 0.0) + rw.coverage * cov
        bound = base + rw.proximity * share
        pending.append((-bound, -hit.score, hit.doc, i, base, cov, matched, possible))
    by_paragraph = list(pending)
    pending.sort()
    adjacent: dict[int, list[tuple[str, str]]] = {}
    # A min-heap of the best: (score, window score, -passage, i, proximity).
    chosen: list[tuple[float, float, int, int, float]] = []
    for at, (neg_bound, _, _, i, base, _, _, possible) in enumerate(pending):
        if len(chosen) >= limit and -neg_bound < chosen[0][0]:
            break
        prox = 0.0
        if possible:
            if i not in adjacent:
                # The next few paragraphs that may need it are read and analysed together.
                block = [p[3] for p in pending[at:] if p[7]][:PROXIMITY_BLOCK]
                texts = [[index.text(doc) for doc in spans[j]] for j in block]
                adjacent.update(zip(block, analyzer.adjacent_pairs(texts, pairs), strict=True))
            found = [pair for pair in adjacent[i] if pair in possible]
            prox = pair_weight(weights, _as_found(found))
        hit = best[i]
        # Heap order is worst first: lowest score, then lowest BM25, then highest passage.
        entry = (base + rw.proximity * prox, hit.score, -hit.doc, i, prox)
        if len(chosen) < limit:
            heapq.heappush(chosen, entry)
        elif entry[:3] > chosen[0][:3]:
            heapq.heapreplace(chosen, entry)
    out = []
    for score, _, _, i, prox in sorted(chosen, key=lambda e: e[:3], reverse=True):
        hit = best[i]
        _, _, _, _, _, cov, matched, _ = by_paragraph[i]
        out.append(
            ParagraphMatch(
                docs=spans[i], best=hit, bm25=bm25[i], coverage=cov, proximity=prox,
                matched=matched, score=score, copies=tuple(copies.get(hit.doc, ())),
            )
        )  # fmt: skip
    return out
