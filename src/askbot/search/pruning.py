"""Exact top-k BM25 by dynamic pruning (progressive MaxScore over per-term maxima), in numpy.

A passage's score is the sum, over query term occurrences, of the weight of that term in that
passage (``okapi_weight``, computed from the posting's term frequency and the passage's length).
Every term's largest weight (``term_max``) bounds what it can add, so:

1. A first threshold: score exactly the few passages of every term's champion list (its
   highest-weight postings, stored at build time); the k-th best of those is at most the true
   k-th best score.
2. Terms in order (most bound per posting first). A passage first met in the list of term j
   contains none of the terms before j, so it can score at most its weight in j plus the bounds
   of the terms after j: only passages reaching the threshold that way are looked up (binary
   search) in the later lists, and each drops out as soon as the bounds still to come cannot
   lift it to the threshold. Scored passages raise the threshold.
3. Once the bounds of the terms not yet read sum to less than the threshold, a passage outside
   the lists read so far cannot reach the top k: those lists (usually the long common-word ones)
   are never read, only probed for the few surviving candidates.
4. The survivors near the k-th score are rescored in the query's own order, so the floats are
   bitwise those of ``Index.get_scores``, and ties break by passage order exactly as an
   exhaustive search does.

Pruning compares with a relative margin, so rounding differences between the bound arithmetic
and the real sums can only keep a passage, never drop one that belongs in the top k. Weights must
be positive for the bounds to hold: a query with a term of idf <= 0 is scored exhaustively.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

try:
    from askbot.search import _kernel
except ImportError:  # pragma: no cover - installed without a C compiler: numpy does it all
    _kernel = None  # type: ignore[assignment]

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

# Rounding guard for every pruning comparison (scores are sums of a few numbers ~1..30).
MARGIN = 1e-9
# A build inverts its tokens on two threads from this many tokens on.
INVERT_PARALLEL_MIN = 1 << 20
# Allocates one of a build's postings arrays: (name, length, dtype) -> array.
Spill = Callable[[str, int, Any], Any]
# Queries touching fewer postings than this are scored exhaustively (pruning costs more).
SMALL_WORK = 30_000


def okapi_weight(tf: F64, doc_len: F64, avgdl: float, idf: F64, k1: float, b: float) -> F64:
    """The score one term adds to a passage: idf * tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)).

    Written in the same operation order as ``BM25Okapi.get_scores`` so the floats agree (the
    compiled kernel repeats these operations in this order).
    """
    result: F64 = idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl)))
    return result


@dataclass(frozen=True, slots=True)
class Postings:
    """The arrays pruning reads: CSR postings (term-major, passages ascending) and bounds."""

    indptr: I64
    docs: I32
    idf: F64
    term_max: F64
    champ_ptr: I64
    champ_docs: I32
    impacts: npt.NDArray[np.uint8]
    delta: F64
    n_docs: int
    # Exact weights are computed from term frequencies and passage lengths when needed.
    tfs: I32
    doc_len: I32
    k1: float
    b: float
    avgdl: float

    def term_weights(self, t: int, at: I64 | None = None) -> F64:
        """Term ``t``'s exact weight in each of its postings, or at positions ``at`` of its list.

        Bitwise the weights ``get_scores`` adds: the same operations on the same values.
        """
        s, e = int(self.indptr[t]), int(self.indptr[t + 1])
        tf, docs = self.tfs[s:e], self.docs[s:e]
        if at is not None:
            tf, docs = tf[at], docs[at]
        return okapi_weight(
            tf.astype(np.float64), self.doc_len[docs].astype(np.float64), self.avgdl,
            self.idf[t], self.k1, self.b,
        )  # fmt: skip


class Scratch(threading.local):
    """Per-thread dense buffers (a float and two ints per passage), allocated on first use."""

    acc: F64 | None = None
    mark: I64 | None = None
    seen: I64 | None = None
    stamp: int = 0
    bounds: npt.NDArray[np.float32] | None = None
    touched: I32 | None = None
    # What the last compiled search read: postings scanned, and passages probed by binary search;
    # and how many passages it met (accumulated bounds for): the others it skipped.
    scanned: int = 0
    probed: int = 0
    met: int = 0

    def kernel_buffers(self, n: int) -> tuple[npt.NDArray[np.float32], I32]:
        """The compiled search's zeroed float32 bounds and its list of passages met."""
        if self.bounds is None or self.touched is None or self.bounds.shape[0] != n:
            self.bounds = np.zeros(n, dtype=np.float32)
            self.touched = np.zeros(n, dtype=np.int32)
        return self.bounds, self.touched

    def buffers(self, n: int) -> tuple[F64, I64]:
        if self.acc is None or self.mark is None or self.acc.shape[0] != n:
            self.acc = np.zeros(n, dtype=np.float64)
            self.mark = np.zeros(n, dtype=np.int64)
        return self.acc, self.mark

    def stamped(self, n: int) -> tuple[I64, int]:
        """A per-passage "seen in this query" array and this query's stamp (no clearing)."""
        if self.seen is None or self.seen.shape[0] != n:
            self.seen = np.zeros(n, dtype=np.int64)
            self.stamp = 0
        self.stamp += 1
        return self.seen, self.stamp


# The compiled kernel handles at most this many distinct query terms.
KERNEL_MAX_TERMS = 64
# Tests switch this off to check the numpy search on its own.
USE_KERNEL = True


def kernel_available() -> bool:
    """Whether the compiled search (askbot.search._kernel) was built and is enabled."""
    return USE_KERNEL and _kernel is not None


def compiled_top_k(
    p: Postings, seq: list[int], k: int, scratch: Scratch, *, prune: bool = True
) -> tuple[I64, F64] | None:
    """The exact top ``k`` by the compiled kernel, best first, or None when it cannot run.

    Same contract as ``top_k`` but already selected and ordered (score desc, passage asc). It
    needs positive weights (every term's idf > 0) and at most ``KERNEL_MAX_TERMS`` terms.
    ``prune=False`` reads every posting of every term (benchmarks compare the two).
    """
    if not kernel_available():
        return None
    distinct = set(seq)
    if len(distinct) > KERNEL_MAX_TERMS or any(p.idf[t] <= 0 for t in distinct) or not p.avgdl > 0:
        return None
    bounds, touched = scratch.kernel_buffers(p.n_docs)
    out_docs = np.empty(k, dtype=np.int64)
    out_scores = np.empty(k, dtype=np.float64)
    n, scratch.scanned, scratch.probed, scratch.met = _kernel.topk(
        p.indptr, p.docs, p.impacts, p.tfs, p.delta, p.term_max, p.champ_ptr, p.champ_docs,
        np.asarray(seq, dtype=np.int64), p.doc_len, p.idf, k, p.k1, p.b, p.avgdl,
        bounds, touched, out_docs, out_scores, prune,
    )  # fmt: skip
    return out_docs[:n], out_scores[:n]


def finish_postings(
    indptr: I64, docs: I32, tfs: I32, doc_len: I32, idf: F64, k1: float, b: float,
    avgdl: float, champ_ptr: I64, term_max: F64, delta: F64, impacts: npt.NDArray[np.uint8],
    champ_docs: I32, threads: int = 0,
) -> None:  # fmt: skip
    """Fill term_max, delta, impacts and champ_docs in the compiled kernel (see postings.py).

    ``threads`` 0 lets the kernel choose (two threads for a large index).
    """
    if _kernel is None:
        raise RuntimeError("the compiled kernel is not built")
    _kernel.finish(
        indptr, docs, tfs, doc_len, idf, k1, b, avgdl, champ_ptr, term_max, delta, impacts,
        champ_docs, threads,
    )  # fmt: skip


def merge_postings(
    o_indptr: I64, o_docs: I32, o_tfs: I32, remap: I32, old_of_u: I64, f_indptr: I64,
    f_docs: I32, f_tfs: I32, fresh_of_u: I64, base: int, out_indptr: I64, out_docs: I32,
    out_tfs: I32, threads: int = 0,
) -> int:  # fmt: skip
    """A reindex's merged postings by the compiled kernel (see incremental.py); their count.

    ``threads`` 0 lets the kernel choose (two for a large merge).
    """
    if _kernel is None:
        raise RuntimeError("the compiled kernel is not built")
    return _kernel.merge(
        o_indptr, o_docs, o_tfs, remap, old_of_u, f_indptr, f_docs, f_tfs, fresh_of_u, base,
        out_indptr, out_docs, out_tfs, threads,
    )  # fmt: skip


def invert(
    tokens: I32, doc_len: I32, rank: I32, v: int, parts: int = 0, *, spill: Spill | None = None
) -> tuple[I64, I32, I32]:
    """A build's term-major postings (indptr, docs, tfs) by the compiled kernel (see postings.py).

    ``tokens`` are raw term ids, passage after passage (``doc_len`` each); ``rank`` maps a raw
    id to its term id in ``[0, v)``. ``parts`` contiguous ranges of passages are inverted on as
    many threads (0: two for a large build). ``spill(name, count, dtype)`` allocates docs and
    tfs (``np.empty`` without it).
    """
    if _kernel is None:
        raise RuntimeError("the compiled kernel is not built")
    if parts <= 0:
        parts = 2 if tokens.shape[0] >= INVERT_PARALLEL_MIN else 1
    df_parts = np.empty((parts, v), dtype=np.int64)
    last = np.empty((parts, v), dtype=np.int32)
    total = _kernel.invert_count(tokens, doc_len, rank, parts, df_parts, last)
    indptr = np.zeros(v + 1, dtype=np.int64)
    np.cumsum(df_parts.sum(axis=0), out=indptr[1:])
    if spill is None:
        docs, tfs = np.empty(total, dtype=np.int32), np.empty(total, dtype=np.int32)
    else:
        docs, tfs = spill("docs", total, np.int32), spill("tfs", total, np.int32)
    _kernel.invert_fill(tokens, doc_len, rank, parts, indptr, df_parts, last, docs, tfs)
    return indptr, docs, tfs


def _guard(x: float) -> float:
    return MARGIN * max(1.0, abs(x))


def _probe(p: Postings, t: int, cand: I64 | I32) -> tuple[npt.NDArray[np.bool_], F64]:
    """For each candidate: does term ``t`` occur in it, and its weight there (0 if not)."""
    s, e = int(p.indptr[t]), int(p.indptr[t + 1])
    docs = p.docs[s:e]
    pos = np.searchsorted(docs, cand)
    np.minimum(pos, e - s - 1, out=pos)
    hit = docs[pos] == cand
    w = np.zeros(cand.shape[0], dtype=np.float64)
    w[hit] = p.term_weights(t, pos[hit])
    return hit, w


def exact_scores(p: Postings, seq: list[int], cand: I64 | I32) -> F64:
    """The scores of ``cand`` summed in query order, bitwise as ``Index.get_scores`` sums them."""
    scores = np.zeros(cand.shape[0], dtype=np.float64)
    cache: dict[int, tuple[npt.NDArray[np.bool_], F64]] = {}
    for t in seq:
        if t not in cache:
            cache[t] = _probe(p, t, cand)
        hit, w = cache[t]
        scores[hit] += w[hit]
    return scores


def _unique(parts: list[I32], mark: I64) -> I32:
    """The distinct passages of several posting lists, without sorting (last occurrence kept)."""
    if len(parts) == 1:
        return parts[0]
    allc = np.concatenate(parts)
    pos = np.arange(allc.shape[0], dtype=np.int64)
    mark[allc] = pos
    keep: I32 = allc[mark[allc] == pos]
    return keep


def exhaustive(p: Postings, seq: list[int], k: int, scratch: Scratch) -> tuple[I64, F64]:
    """Every passage containing a query term, scored exactly; the best ``k`` (unordered)."""
    acc, mark = scratch.buffers(p.n_docs)
    parts: list[I32] = []
    seen: set[int] = set()
    for t in seq:
        s, e = int(p.indptr[t]), int(p.indptr[t + 1])
        d = p.docs[s:e]
        acc[d] += p.term_weights(t)
        if t not in seen:
            seen.add(t)
            parts.append(d)
    cand = _unique(parts, mark)
    scores = acc[cand]
    acc[cand] = 0.0
    return cand.astype(np.int64), scores


def distinct(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``np.unique(values)``: the distinct values, ascending, by a sort and one comparison.

    numpy 2.x's np.unique hashes instead, 10-70x slower on the int32 arrays askbot has (postings,
    speaker ids): 63 ms against 0.6 ms for one common word's passages at 1M.
    """
    ordered = np.sort(values)
    if ordered.shape[0] < 2:
        return ordered
    first = np.empty(ordered.shape[0], dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def _champions(p: Postings, terms: list[int]) -> I32:
    """The distinct champion passages of the query terms (all postings of short lists)."""
    parts = []
    for t in terms:
        cs, ce = int(p.champ_ptr[t]), int(p.champ_ptr[t + 1])
        if ce > cs:
            parts.append(p.champ_docs[cs:ce])
        else:  # short lists keep no champions: all their postings are the champions
            parts.append(p.docs[int(p.indptr[t]) : int(p.indptr[t + 1])])
    champions: I32 = distinct(np.concatenate(parts))
    return champions


def _kth(scores: F64, k: int) -> float:
    """A lower bound of the k-th largest value (minus the rounding guard), or -inf."""
    n = scores.shape[0]
    if n < k:
        return -np.inf
    kth = float(np.partition(scores, n - k)[n - k])
    return kth - _guard(kth)


def top_k(
    p: Postings, seq: list[int], k: int, scratch: Scratch, small_work: int | None = None
) -> tuple[I64, F64]:
    """Candidates containing every passage of the exact top ``k`` and their exact scores.

    ``seq`` holds the query's term ids in query order, duplicates kept. The result may hold more
    than ``k`` passages (ties and near-ties at the boundary); select with (score desc, passage
    asc). Scores are bitwise equal to ``get_scores``.

    Progressive MaxScore: terms by bound per posting, highest first. The champions give a first threshold.
    Each essential term's list is read once: a passage first met in list j cannot contain the
    terms before j, so its bound is its weight in j plus the bounds of the terms after j; only
    passages whose bound reaches the threshold are looked up in the later lists (binary search),
    dropping out as soon as the bounds still to come cannot lift them to the threshold. Every
    scored passage raises the threshold, which turns more of the remaining (longer) lists
    non-essential: they are then never read, only probed.
    """
    counts: dict[int, int] = {}
    for t in seq:
        counts[t] = counts.get(t, 0) + 1
    terms = list(counts)
    work = sum(int(p.indptr[t + 1] - p.indptr[t]) for t in terms)
    if (
        work <= (SMALL_WORK if small_work is None else small_work)
        or len(terms) == 1
        or any(p.idf[t] <= 0 for t in terms)
    ):
        return exhaustive(p, seq, k, scratch)
    ub = {t: counts[t] * float(p.term_max[t]) for t in terms}
    # Most bound per posting first: short high-idf lists raise the threshold cheaply, and the long
    # common-word lists come last, where the threshold usually makes them non-essential.
    terms.sort(key=lambda t: -ub[t] / (1 + int(p.indptr[t + 1] - p.indptr[t])))
    m = len(terms)
    # suffix[j]: the most a passage can score from terms[j:] alone.
    suffix = [0.0] * (m + 1)
    for j in range(m - 1, -1, -1):
        suffix[j] = suffix[j + 1] + ub[terms[j]]
    seen, stamp = scratch.stamped(p.n_docs)
    pool_docs = _champions(p, terms)
    pool_scores = exact_scores(p, seq, pool_docs)
    seen[pool_docs] = stamp
    theta = _kth(pool_scores, k)
    for j, t in enumerate(terms):
        if suffix[j] < theta:
            break  # a passage outside the lists read so far cannot reach the top k
        s, e = int(p.indptr[t]), int(p.indptr[t + 1])
        d = p.docs[s:e]
        w = p.term_weights(t)
        if counts[t] != 1:
            w = w * counts[t]
        lim = theta - suffix[j + 1]
        if lim > 0:
            sel = np.flatnonzero(w >= lim)
            d, w = d[sel], w[sel]
        fresh = seen[d] != stamp
        cand = d[fresh]
        partial = w[fresh]
        seen[cand] = stamp
        remaining = suffix[j + 1]
        for u in terms[j + 1 :]:
            if cand.shape[0] == 0:
                break
            _, wu = _probe(p, u, cand)
            partial = partial + wu * counts[u] if counts[u] != 1 else partial + wu
            remaining -= ub[u]
            keep = partial + remaining >= theta
            if not keep.all():
                cand, partial = cand[keep], partial[keep]
        if cand.shape[0]:
            pool_docs = np.concatenate((pool_docs, cand))
            pool_scores = np.concatenate((pool_scores, partial))
            theta = max(theta, _kth(pool_scores, k))
            keep = pool_scores >= theta
            pool_docs, pool_scores = pool_docs[keep], pool_scores[keep]
    if pool_docs.shape[0] > k:
        near = pool_scores >= _kth(pool_scores, k)
        pool_docs = pool_docs[near]
    return pool_docs.astype(np.int64), exact_scores(p, seq, pool_docs)
