"""The compiled search kernel: built, exact, pruning, thread-safe, and it leaves no state behind."""

from __future__ import annotations

import threading

import numpy as np

from askbot.search import pruning
from askbot.search.analysis import Analyzer
from askbot.search.build import build_index
from askbot.search.index import Index
from askbot.search.models import Article

A = Analyzer()


def _index(n: int = 4000) -> Index:
    """fish in one passage in 997, cloud in every fifth (1-3 times), bread everywhere."""
    paragraphs = [
        ("fish " if i % 997 == 0 else "") + ("cloud " * (1 + i % 3) if i % 5 == 0 else "")
        + ("harp " if i % 7 == 0 else "") + "bread"
        for i in range(n)
    ]  # fmt: skip
    return build_index(
        [Article(id=f"a{i}", title="t", paragraphs=(p,)) for i, p in enumerate(paragraphs)], A
    )


def test_compiled_search_kernel_is_built() -> None:
    """pip install -e . compiles askbot.search._kernel, and search uses it."""
    assert pruning._kernel is not None
    assert pruning.kernel_available()


def test_compiled_search_probes_the_common_terms_instead_of_scanning_them() -> None:
    """A rare term and two common ones: only the rare term's postings are read in full."""
    index = _index()
    seq = [index.vocab[t] for t in ("fish", "cloud", "bread")]
    result = pruning.compiled_top_k(index.postings, seq, 3, index._scratch)
    assert result is not None
    fish = index.document_frequency("fish")
    assert index._scratch.scanned == fish
    assert 0 < index._scratch.probed <= 2 * fish
    assert [int(d) for d in result[0]] == [
        h.doc for h in index.search_exhaustive(["fish", "cloud", "bread"], 3)
    ]


def test_compiled_search_leaves_its_bounds_buffer_zeroed() -> None:
    """The per-thread float32 bounds are all zero again after a search (the next one relies on it)."""
    index = _index()
    index.search(["cloud", "harp", "bread"], 10)
    assert index._scratch.bounds is not None
    assert not np.any(index._scratch.bounds)


def test_compiled_search_gives_the_same_hits_from_many_threads_at_once() -> None:
    """The kernel releases the GIL and each thread has its own buffers: concurrent results agree."""
    index = _index()
    queries = [
        ["cloud", "harp"],
        ["fish", "bread"],
        ["harp", "bread", "cloud"],
        ["cloud", "cloud", "fish"],
    ]
    expected = [index.search_exhaustive(q, 7) for q in queries]
    start = threading.Barrier(4)
    errors: list[str] = []

    def worker() -> None:
        start.wait()
        for _ in range(50):
            for q, want in zip(queries, expected, strict=True):
                if index.search(q, 7) != want:
                    errors.append(" ".join(q))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_compiled_search_declines_a_query_with_more_terms_than_it_handles() -> None:
    """More than KERNEL_MAX_TERMS distinct terms: the numpy search answers instead, exactly."""
    words = [f"w{i:03d}" for i in range(pruning.KERNEL_MAX_TERMS + 5)]
    articles = [
        Article(id=f"a{i}", title="t", paragraphs=(" ".join(words[i % 50 : i % 50 + 20]),))
        for i in range(300)
    ]
    index = build_index(articles, A)
    seq = [index.vocab[w] for w in words if w in index.vocab]
    assert len(set(seq)) > pruning.KERNEL_MAX_TERMS
    assert pruning.compiled_top_k(index.postings, seq, 5, index._scratch) is None
    assert index.search(words, 5) == index.search_exhaustive(words, 5)


def test_compiled_search_without_pruning_scans_everything_and_agrees() -> None:
    """prune=False (the benchmark's baseline) reads every posting and returns the same hits."""
    index = _index()
    query = ["fish", "cloud", "bread"]
    pruned = index.search(query, 5)
    unpruned = index.search_exhaustive(query, 5, compiled=True)
    assert index._scratch.scanned == sum(index.document_frequency(t) for t in query)
    assert unpruned == pruned == index.search_exhaustive(query, 5)


def test_compiled_search_answers_one_term_from_its_champions_alone() -> None:
    """One query term (repeated or not): the k best champions are the answer, no list scanned."""
    index = _index()
    for query in (["bread"], ["bread", "bread"], ["cloud"] * 3):
        assert index.search(query, 10) == index.search_exhaustive(query, 10)
        assert index._scratch.scanned == 0


def _zipf_index(n: int, seed: int) -> Index:
    """n one-paragraph articles of 4-30 words drawn by Zipf's law from 400 words."""
    rng = np.random.default_rng(seed)
    words = [f"z{i:03d}" for i in range(400)]
    weights = 1.0 / np.arange(1, 401) ** 0.9
    paragraphs = [
        " ".join(rng.choice(words, size=int(rng.integers(4, 31)), p=weights / weights.sum()))
        for _ in range(n)
    ]
    return build_index(
        [Article(id=f"a{i}", title="t", paragraphs=(p,)) for i, p in enumerate(paragraphs)], A
    )


def test_compiled_search_equals_exhaustive_scoring_on_a_large_zipf_corpus() -> None:
    """Many queries of 2-6 terms (repeats too) over 20k passages, where lists are long enough to
    skip passages, probe, scan and drop candidates: the same passages and bitwise scores."""
    index = _zipf_index(20_000, seed=3)
    rng = np.random.default_rng(5)
    terms = sorted(index.vocab)
    for i in range(80):
        query = [str(t) for t in rng.choice(terms, size=int(rng.integers(2, 7)))]
        k = (1, 10, 50)[i % 3]
        assert index.search(query, k) == index.search_exhaustive(query, k), query
    assert index._scratch.bounds is not None
    assert not np.any(index._scratch.bounds)


def test_compiled_search_skips_passages_that_cannot_reach_the_top_k() -> None:
    """A rare term's 10th best passage sets the threshold; the common term's list is then read,
    but its long passages (low weight, without the rare term) are never met, and the hits are
    still the exhaustive ones."""

    def paragraph(i: int) -> str:
        if i < 12:  # alpha: 2 short passages, 10 long ones
            return "alpha" + (" pad" * 20 if i >= 2 else "")
        if i < 312:  # beta: 150 short passages, 150 long ones
            return "beta" + (" pad" * 20 if i >= 162 else "")
        return "pad pad pad"

    index = build_index(
        [Article(id=f"a{i}", title="t", paragraphs=(paragraph(i),)) for i in range(3000)], A
    )
    query = ["alpha", "beta"]
    assert index.search(query, 10) == index.search_exhaustive(query, 10)
    assert index._scratch.scanned == 12 + 300
    assert index._scratch.met == 12 + 150


def test_compiled_search_breaks_ties_among_more_candidates_than_it_sorts() -> None:
    """Every passage scores the same (5000 candidates, more than the kernel sorts by bound): the
    first k passages, as exhaustive scoring orders them."""
    articles = [Article(id=f"a{i}", title="t", paragraphs=("bread butter",)) for i in range(5000)]
    index = build_index(articles, A)
    for prune in (True, False):
        if prune:
            hits = index.search(["bread", "butter"], 10)
        else:
            hits = index.search_exhaustive(["bread", "butter"], 10, compiled=True)
        assert hits == index.search_exhaustive(["bread", "butter"], 10)
        assert [h.doc for h in hits] == list(range(10))


def _merge_reference(
    o_indptr: list[int], o_docs: list[int], o_tfs: list[int], remap: list[int],
    old_of_u: list[int], f_indptr: list[int], f_docs: list[int], f_tfs: list[int],
    fresh_of_u: list[int], base: int,
) -> tuple[list[int], list[int], list[int]]:  # fmt: skip
    indptr, docs, tfs = [0], [], []
    for o, f in zip(old_of_u, fresh_of_u, strict=True):
        if o >= 0:
            for p in range(o_indptr[o], o_indptr[o + 1]):
                if remap[o_docs[p]] >= 0:
                    docs.append(remap[o_docs[p]])
                    tfs.append(o_tfs[p])
        if f >= 0:
            docs += [d + base for d in f_docs[f_indptr[f] : f_indptr[f + 1]]]
            tfs += f_tfs[f_indptr[f] : f_indptr[f + 1]]
        indptr.append(len(docs))
    return indptr, docs, tfs


def test_compiled_merge_on_two_threads_writes_the_one_thread_postings() -> None:
    """A reindex's merge split over two threads (each range moved down over the dropped
    postings) gives the postings of a plain term-by-term merge."""
    rng = np.random.default_rng(7)
    n_old, v_old, v_fresh, n_fresh_docs = 300, 40, 12, 30
    o_df = rng.integers(0, 60, size=v_old)
    o_indptr = np.concatenate(([0], np.cumsum(o_df))).astype(np.int64)
    o_docs = np.concatenate([np.sort(rng.choice(n_old, k, replace=False)) for k in o_df])
    o_docs = o_docs.astype(np.int32)
    o_tfs = rng.integers(1, 5, size=o_docs.shape[0]).astype(np.int32)
    keep = rng.random(n_old) > 0.2
    remap = np.where(keep, np.cumsum(keep) - 1, -1).astype(np.int32)
    f_df = rng.integers(0, 10, size=v_fresh)
    f_indptr = np.concatenate(([0], np.cumsum(f_df))).astype(np.int64)
    f_docs = np.concatenate([np.sort(rng.choice(n_fresh_docs, k, replace=False)) for k in f_df])
    f_docs = f_docs.astype(np.int32)
    f_tfs = rng.integers(1, 5, size=f_docs.shape[0]).astype(np.int32)
    # 45 union terms: every saved term, 5 of them also fresh, then 7 new terms spread between.
    order = rng.permutation(v_old + 7)
    old_of_u = np.full(v_old + 7, -1, dtype=np.int64)
    fresh_of_u = np.full(v_old + 7, -1, dtype=np.int64)
    old_of_u[np.sort(order[:v_old])] = np.arange(v_old)
    fresh_of_u[np.sort(order[:5])] = np.arange(5)
    fresh_of_u[np.sort(order[v_old:])] = np.arange(5, v_fresh)
    base = int(keep.sum())
    args = (o_indptr, o_docs, o_tfs, remap, old_of_u, f_indptr, f_docs, f_tfs, fresh_of_u, base)
    want = _merge_reference(*(a.tolist() if isinstance(a, np.ndarray) else a for a in args))
    cap = o_docs.shape[0] + f_docs.shape[0]
    for threads in (1, 2):
        indptr = np.empty(old_of_u.shape[0] + 1, dtype=np.int64)
        docs, tfs = np.full(cap, -9, dtype=np.int32), np.full(cap, -9, dtype=np.int32)
        total = pruning.merge_postings(*args, indptr, docs, tfs, threads=threads)
        assert total == len(want[1])
        assert (indptr.tolist(), docs[:total].tolist(), tfs[:total].tolist()) == want
