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
