"""finish_postings: the compiled kernel and numpy derive the same bounds and champions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from askbot.search import postings as postings_module
from askbot.search import pruning
from askbot.search.index import BM25Params
from askbot.search.postings import finish_postings

pytestmark = pytest.mark.skipif(not pruning.kernel_available(), reason="kernel not built")


def _random_postings(
    seed: int, n: int, v: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Term-major CSR over n passages; few lengths and tfs, so many weights tie exactly."""
    rng = np.random.default_rng(seed)
    doc_len = rng.integers(1, 5, n).astype(np.int32)
    lists = [
        np.sort(rng.choice(n, int(rng.integers(0, n // (t + 1) + 1)), replace=False))
        for t in range(v)
    ]
    indptr = np.zeros(v + 1, dtype=np.int64)
    np.cumsum([len(d) for d in lists], out=indptr[1:])
    docs = np.concatenate(lists).astype(np.int32)
    tfs = rng.integers(1, 4, docs.shape[0]).astype(np.int32)
    return indptr, docs, tfs, doc_len


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    v=st.integers(1, 40),
    threads=st.sampled_from([1, 2]),
    k1=st.sampled_from([0.0, 0.9, 1.5, 2.0]),
    b=st.sampled_from([0.0, 0.5, 0.75, 1.0]),
    epsilon=st.sampled_from([0.0, 0.25, -1.0]),
)
def test_compiled_and_numpy_bounds_are_bitwise_equal(
    seed: int, n: int, v: int, threads: int, k1: float, b: float, epsilon: float
) -> None:
    """term_max, delta, impacts and champions (ties by passage) agree bit for bit, any params,
    on one thread or two."""
    indptr, docs, tfs, doc_len = _random_postings(seed, n, v)
    params = BM25Params(k1=k1, b=b, epsilon=epsilon)
    compiled = finish_postings(indptr, docs, tfs, doc_len, params, threads=threads)
    numpy = finish_postings(indptr, docs, tfs, doc_len, params, compiled=False)
    _assert_same(compiled, numpy)


def test_compiled_champions_break_ties_by_passage(monkeypatch: pytest.MonkeyPatch) -> None:
    """One term, every weight equal: its champions are its first passages, as numpy picks them."""
    monkeypatch.setattr(postings_module, "CHAMPIONS", 3)
    indptr = np.array([0, 10], dtype=np.int64)
    docs = np.arange(10, dtype=np.int32) * 2
    tfs = np.ones(10, dtype=np.int32)
    doc_len = np.full(20, 4, dtype=np.int32)
    compiled = finish_postings(indptr, docs, tfs, doc_len, BM25Params())
    assert compiled["champ_docs"].tolist() == [0, 2, 4]
    _assert_same(
        compiled, finish_postings(indptr, docs, tfs, doc_len, BM25Params(), compiled=False)
    )


def test_compiled_finish_refuses_a_passage_outside_the_index() -> None:
    """A damaged posting (passage number >= N) is a ValueError, not a read past the lengths."""
    indptr = np.array([0, 2], dtype=np.int64)
    docs = np.array([0, 7], dtype=np.int32)
    tfs = np.ones(2, dtype=np.int32)
    with pytest.raises(ValueError, match="outside the index"):
        finish_postings(indptr, docs, tfs, np.ones(3, dtype=np.int32), BM25Params())


def _tokens(seed: int, n: int, v: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A build's token stream: raw ids (some passages empty, terms repeated) and a rank map."""
    rng = np.random.default_rng(seed)
    doc_len = rng.integers(0, 12, n).astype(np.int32)
    tokens = rng.integers(0, v, int(doc_len.sum())).astype(np.int32)
    return tokens, doc_len, rng.permutation(v).astype(np.int32)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 300),
    v=st.integers(1, 30),
    parts=st.sampled_from([1, 2]),
)
def test_compiled_inversion_equals_scipys(seed: int, n: int, v: int, parts: int) -> None:
    """indptr, passages (ascending per term) and tfs are scipy's, on one thread or two."""
    tokens, doc_len, rank = _tokens(seed, n, v)
    want = postings_module.build_postings(tokens, doc_len, v, BM25Params(), rank, compiled=False)
    indptr, docs, tfs = pruning.invert(tokens, doc_len, rank, v, parts)
    for name, got in (("indptr", indptr), ("docs", docs), ("tfs", tfs)):
        assert got.dtype == want[name].dtype, name
        np.testing.assert_array_equal(got, want[name], err_msg=name)


def test_a_compiled_build_equals_a_scipy_build() -> None:
    """Every postings array (bounds and champions too) is the same either way."""
    tokens, doc_len, rank = _tokens(7, 3000, 200)
    params = BM25Params()
    _assert_same(
        postings_module.build_postings(tokens, doc_len, 200, params, rank),
        postings_module.build_postings(tokens, doc_len, 200, params, rank, compiled=False),
    )


def test_inversion_refuses_a_token_outside_the_vocabulary() -> None:
    tokens = np.array([0, 5], dtype=np.int32)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        pruning.invert(tokens, np.array([2], dtype=np.int32), np.arange(3, dtype=np.int32), 3)


def test_inversion_refuses_a_rank_outside_the_vocabulary() -> None:
    tokens = np.array([0, 1], dtype=np.int32)
    rank = np.array([0, 7], dtype=np.int32)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        pruning.invert(tokens, np.array([2], dtype=np.int32), rank, 2)


@pytest.mark.parametrize("lengths", [[1, 2], [3, 0], [-1, 3]])
def test_inversion_refuses_lengths_that_do_not_add_up(lengths: list[int]) -> None:
    tokens = np.array([0, 1], dtype=np.int32)
    with pytest.raises(ValueError, match="do not add up"):
        pruning.invert(tokens, np.array(lengths, dtype=np.int32), np.arange(2, dtype=np.int32), 2)


def test_filling_with_wrong_counts_is_refused_without_writing_past_a_term() -> None:
    """invert_fill checks the counts it is given: too few slots for a term is an error."""
    from askbot.search import _kernel

    tokens = np.array([0, 0, 1, 0], dtype=np.int32)
    doc_len = np.array([2, 2], dtype=np.int32)
    df = np.array([[1, 1]], dtype=np.int64)  # term 0 is really in both passages
    indptr = np.array([0, 1, 2], dtype=np.int64)
    docs = np.full(2, -9, dtype=np.int32)
    tfs = np.full(2, -9, dtype=np.int32)
    last = np.empty((1, 2), dtype=np.int32)
    rank = np.arange(2, dtype=np.int32)
    with pytest.raises(ValueError, match="do not match"):
        _kernel.invert_fill(tokens, doc_len, rank, 1, indptr, df, last, docs, tfs)
    assert docs.tolist() == [0, 1] and tfs.tolist() == [2, 1]  # only the terms' own slots


def test_the_inverted_hook_sees_docs_and_tfs_complete_before_the_weights() -> None:
    """build_postings calls ``inverted`` once, when docs and tfs hold their final values and
    the impacts are not computed yet (a build starts their files' fsync there)."""
    rng = np.random.default_rng(5)
    doc_len = rng.integers(1, 6, 300).astype(np.int32)
    tokens = rng.integers(0, 40, int(doc_len.sum())).astype(np.int32)
    arrays: dict[str, np.ndarray] = {}

    def spill(name: str, n: int, dtype: type[np.generic]) -> np.ndarray:
        arrays[name] = np.full(n, 7, dtype=dtype)
        return arrays[name]

    seen: list[tuple[np.ndarray, np.ndarray, bool]] = []

    def inverted() -> None:
        seen.append((arrays["docs"].copy(), arrays["tfs"].copy(), "impacts" in arrays))

    out = postings_module.build_postings(
        tokens, doc_len, 40, BM25Params(), spill=spill, inverted=inverted
    )
    (docs, tfs, impacts_made) = seen[0]
    assert len(seen) == 1 and not impacts_made
    np.testing.assert_array_equal(docs, out["docs"])
    np.testing.assert_array_equal(tfs, out["tfs"])
