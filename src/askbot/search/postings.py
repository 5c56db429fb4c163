"""The postings of an index: term-major CSR with term frequencies, per-term bounds, champions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from askbot.search import pruning
from askbot.search.index import F64, I32, I64, U8, BM25Params, okapi_idf, okapi_term_weight

# Champion postings kept per term: a first pruning threshold, and single-term top-k for k <= this.
CHAMPIONS = 64
# Impact levels of the 8-bit upper-bound weights the compiled search scans.
IMPACT_LEVELS = 255


def build_postings(
    token_ids: I32,
    doc_len: I32,
    v: int,
    params: BM25Params,
    rank: I32 | None = None,
    *,
    compiled: bool = True,
    spill: pruning.Spill | None = None,
    inverted: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Term-major CSR postings with term frequencies, bounds and champions.

    ``token_ids`` are each passage's term ids, passage after passage; with ``rank``, raw ids that
    ``rank`` maps to term ids. The compiled kernel inverts them in two passes over the tokens,
    into arrays from ``spill(name, length, dtype)`` (docs, tfs, impacts) when given; without it
    (or ``compiled=False``) scipy and numpy build the same arrays in memory. ``inverted`` is
    called once docs and tfs are complete, while the rest is computed from them.
    """
    if compiled and pruning.kernel_available():
        if rank is None:
            rank = np.arange(v, dtype=np.int32)
        indptr, docs, tfs = pruning.invert(token_ids, doc_len, rank, v, spill=spill)
        if inverted is not None:
            inverted()
        impacts = None if spill is None else spill("impacts", int(docs.shape[0]), np.uint8)
        return finish_postings(indptr, docs, tfs, doc_len, params, impacts=impacts)
    if rank is not None:
        token_ids = rank[token_ids]
    arrays = _invert_scipy(token_ids, doc_len, v, params)  # all at once, in memory
    if inverted is not None:
        inverted()
    return arrays


def _invert_scipy(token_ids: I32, doc_len: I32, v: int, params: BM25Params) -> dict[str, Any]:
    import scipy.sparse as sp  # only a build needs it; importing it costs a query process ~0.3 s

    n = int(doc_len.shape[0])
    total = int(token_ids.shape[0])
    # int32 offsets while they fit, so scipy keeps int32 indices instead of copying to int64.
    row_ptr = np.zeros(n + 1, dtype=np.int32 if total < 2**31 else np.int64)
    np.cumsum(doc_len, out=row_ptr[1:])
    # Passage-major (one row of raw term ids per passage) -> term-major: scipy's CSR -> CSC
    # conversion is a counting sort in C, O(tokens + terms), and keeps passages ascending within
    # a term, so repeated terms of a passage end up adjacent.
    ones = np.ones(total, dtype=np.int8)
    csc = sp.csr_matrix((ones, token_ids, row_ptr), shape=(n, v)).tocsc()
    if csc.nnz != total:
        raise RuntimeError("scipy merged duplicate entries; cannot count term frequencies")
    raw_ptr = csc.indptr.astype(np.int64)
    raw_docs = csc.indices
    del csc, ones
    start = np.ones(total, dtype=bool)
    if total:
        np.not_equal(raw_docs[1:], raw_docs[:-1], out=start[1:])
    start[raw_ptr[:-1][raw_ptr[:-1] < total]] = True
    first = np.flatnonzero(start)
    del start
    docs = raw_docs[first].astype(np.int32)
    del raw_docs
    # Run lengths straight into int32: np.diff(np.append(first, total)) made two int64 copies of
    # every posting, the build's memory peak (~0.9 GB at 1M passages).
    tf = np.empty(first.shape[0], dtype=np.int32)
    if first.size:
        np.subtract(first[1:], first[:-1], out=tf[:-1], casting="unsafe")
        tf[-1] = total - first[-1]
    indptr = np.searchsorted(first, raw_ptr).astype(np.int64)
    del first
    return finish_postings(indptr, docs, tf, doc_len, params)


def finish_postings(
    indptr: I64,
    docs: I32,
    tf: I32,
    doc_len: I32,
    params: BM25Params,
    *,
    compiled: bool = True,
    threads: int = 0,
    impacts: U8 | None = None,
) -> dict[str, Any]:
    """Every postings array an ``Index`` takes, from term-major CSR (indptr, docs, tf) and lengths.

    ``docs`` ascend within each term. Idf, bounds and champions depend on the whole corpus (N,
    avgdl, df), so they are always recomputed here from these corpus-independent inputs; an
    incremental rebuild can merge (indptr, docs, tf) and call this. The exact weights are not
    kept (``Index.term_weights`` computes them again): the compiled kernel derives the bounds
    from them a term at a time (on ``threads`` threads; 0: its choice); without it (or with
    ``compiled=False``) numpy computes the same arrays from every weight at once. ``impacts``,
    one uint8 per posting, is where the impacts go (a new array when None).
    """
    n = int(doc_len.shape[0])
    v = int(indptr.shape[0]) - 1
    df = np.diff(indptr)
    idf = okapi_idf(df, n, params.epsilon)
    avgdl = int(doc_len.sum(dtype=np.int64)) / n if n else 1.0
    champ_ptr = _champion_ptr(df)
    if compiled and pruning.kernel_available():
        term_max = np.empty(v, dtype=np.float64)
        delta = np.empty(v, dtype=np.float64)
        if impacts is None:
            impacts = np.empty(docs.shape[0], dtype=np.uint8)
        champ_docs = np.empty(int(champ_ptr[-1]), dtype=np.int32)
        pruning.finish_postings(
            indptr, docs, tf, doc_len, idf, params.k1, params.b, avgdl, champ_ptr,
            term_max, delta, impacts, champ_docs, threads,
        )  # fmt: skip
    else:
        term_max, delta, found, champ_docs = _bounds_numpy(
            indptr, docs, tf, doc_len, idf, params, avgdl, champ_ptr
        )
        if impacts is None:
            impacts = found
        else:
            impacts[...] = found
    return {
        "indptr": indptr, "docs": docs, "tfs": tf, "df": df, "idf": idf,
        "term_max": term_max, "champ_ptr": champ_ptr, "champ_docs": champ_docs,
        "impacts": impacts, "delta": delta,
    }  # fmt: skip


def _bounds_numpy(
    indptr: I64, docs: I32, tf: I32, doc_len: I32, idf: F64, params: BM25Params, avgdl: float,
    champ_ptr: I64,
) -> tuple[F64, F64, U8, I32]:  # fmt: skip
    """term_max, delta, impacts and champion passages from every exact weight (numpy)."""
    v = int(indptr.shape[0]) - 1
    df = np.diff(indptr)
    post_terms = np.repeat(np.arange(v, dtype=np.int32), df)
    weights = np.empty(docs.shape[0], dtype=np.float64)
    step = 1 << 22  # elementwise, so chunking keeps every float and bounds the temporaries
    for s in range(0, docs.shape[0], step):
        e = s + step
        weights[s:e] = okapi_term_weight(
            tf[s:e].astype(np.float64), doc_len[docs[s:e]].astype(np.float64), avgdl,
            idf[post_terms[s:e]], params,
        )  # fmt: skip
    term_max = np.zeros(v, dtype=np.float64)
    nonempty = df > 0
    if weights.size:
        term_max[nonempty] = np.maximum.reduceat(weights, indptr[:-1][nonempty])
    delta, impacts = _impacts(weights, term_max, post_terms)
    del post_terms
    champ_docs = _champions(indptr, docs, weights, champ_ptr)
    return term_max, delta, impacts, champ_docs


def _impacts(weights: F64, term_max: F64, post_terms: I32) -> tuple[F64, U8]:
    """8-bit impacts: ``q = floor(w / delta_t)``, ``delta_t = term_max_t / 255``.

    Every weight lies in ``[q delta_t, (q + 1) delta_t]`` (up to rounding, which the search's
    margin covers), so summing ``(q + 1) delta_t`` bounds a passage's score from above while
    reading one byte per posting instead of eight.
    """
    delta = term_max / IMPACT_LEVELS
    impacts = np.empty(weights.shape[0], dtype=np.uint8)
    step = 1 << 22
    with np.errstate(divide="ignore", invalid="ignore"):
        for s in range(0, weights.shape[0], step):
            e = s + step
            q = np.floor(weights[s:e] / delta[post_terms[s:e]])
            np.clip(np.nan_to_num(q, nan=0.0, posinf=0.0, neginf=0.0), 0, IMPACT_LEVELS, out=q)
            impacts[s:e] = q
    return delta, impacts


def _champion_ptr(df: I64) -> I64:
    """Champion offsets: ``CHAMPIONS`` for each term with more postings than that, else none."""
    counts = np.where(df > CHAMPIONS, CHAMPIONS, 0).astype(np.int64)
    champ_ptr = np.zeros(df.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=champ_ptr[1:])
    return champ_ptr


def _champions(indptr: I64, docs: I32, weights: F64, champ_ptr: I64) -> I32:
    """Each long term's CHAMPIONS best postings by (weight desc, passage asc)."""
    df = np.diff(indptr)
    long_terms = np.flatnonzero(df > CHAMPIONS)
    champ_docs = np.empty(int(champ_ptr[-1]), dtype=np.int32)
    c = CHAMPIONS
    for t in long_terms.tolist():
        s, e = int(indptr[t]), int(indptr[t + 1])
        w = weights[s:e]
        kth = np.partition(w, e - s - c)[e - s - c]
        above = np.flatnonzero(w > kth)
        ties = np.flatnonzero(w == kth)[: c - above.size]  # passages ascending: the first ones
        sel = np.concatenate((above, ties))
        sel = sel[np.lexsort((sel, -w[sel]))]
        champ_docs[champ_ptr[t] : champ_ptr[t + 1]] = docs[s:e][sel]
    return champ_docs
