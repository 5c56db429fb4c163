"""Build an Index from articles: split, analyse (in forked workers), then the postings."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from askbot.search.analysis import Analyzer
from askbot.search.index import I32, ArticleInfo, BM25Params, Index, Progress
from askbot.search.models import Article, Passage, Skipped
from askbot.search.postings import build_postings
from askbot.search.tokenize_parallel import Chunk, analyse_in_parallel

BUILD_WORKERS = 2


def tokenize_passages(passages: Sequence[Passage], analyzer: Analyzer) -> list[list[str]]:
    """The index terms of each passage: its text plus any carried context (the speaker)."""
    terms = analyzer.terms
    return [terms(f"{p.text} {p.context}" if p.context else p.text) for p in passages]


def build_index(
    articles: Iterable[Article],
    analyzer: Analyzer,
    params: BM25Params | None = None,
    *,
    key: str = "",
    skipped: Sequence[Skipped] = (),
    progress: Progress | None = None,
    workers: int = BUILD_WORKERS,
) -> Index:
    """Split articles into passages, analyse them and compute exact BM25Okapi weights.

    Splitting and analysis run in ``workers`` forked processes when the corpus is large and this
    process has a single thread (forking a threaded process can deadlock); results are identical.
    """
    params = params or BM25Params()
    started = time.perf_counter()
    article_list = list(articles)
    gc_was_enabled = gc.isenabled()
    # Millions of small objects make the cyclic GC rescan the heap over and over; nothing
    # built here has reference cycles.
    gc.disable()
    try:
        index = _build(article_list, analyzer, params, key, list(skipped), progress, workers)
    finally:
        if gc_was_enabled:
            gc.enable()
    index.meta["build_seconds"] = round(time.perf_counter() - started, 3)
    return index


def _build(
    article_list: list[Article],
    analyzer: Analyzer,
    params: BM25Params,
    key: str,
    skipped: list[Skipped],
    progress: Progress | None,
    workers: int,
) -> Index:
    estimate = max(1, sum(len(a.paragraphs) for a in article_list))
    vocab: dict[str, int] = {}
    remap: dict[int, list[int]] = {}  # worker -> its local term id -> global term id
    tokens: list[I32] = []
    columns: dict[str, list[Any]] = {
        name: [] for name in ("doc_len", "per_article", "paragraph", "window", "hashes", "lengths")
    }
    # One growing buffer (realloc extends it in place) rather than a list of parts joined at the
    # end, which would hold the corpus text twice.
    text = bytearray()
    speakers_of: list[str] = []
    done = 0
    for chunk in analyse_in_parallel(article_list, analyzer, workers):
        table = remap.setdefault(chunk.worker, [])
        if chunk.term_base != len(table):
            raise RuntimeError("analysis chunks arrived out of order")
        table.extend(vocab.setdefault(t, len(vocab)) for t in chunk.new_terms)
        local = np.frombuffer(chunk.token_ids, dtype=np.int32)
        tokens.append(np.asarray(table, dtype=np.int32)[local] if local.size else local)
        _collect(columns, chunk)
        text += chunk.text
        speakers_of.extend(chunk.speakers)
        done += len(chunk.speakers)
        if progress is not None:
            progress(min(done, estimate), estimate)
    n = len(speakers_of)
    if progress is not None:
        progress(n, n)
    # Term ids in sorted term order: the saved term list is then sorted, and the same corpus
    # gives the same ids whatever order the workers finished in.
    terms = sorted(vocab)
    rank = np.empty(len(vocab), dtype=np.int32)
    rank[np.fromiter((vocab[t] for t in terms), dtype=np.int64, count=len(terms))] = np.arange(
        len(terms), dtype=np.int32
    )
    del vocab
    token_ids = np.concatenate(tokens) if tokens and n else np.zeros(0, dtype=np.int32)
    del tokens
    step = 1 << 22
    for s in range(0, token_ids.shape[0], step):  # in place, a slice at a time
        token_ids[s : s + step] = rank[token_ids[s : s + step]]
    doc_len = _cat(columns["doc_len"], np.int32)
    postings = build_postings(token_ids, doc_len, len(terms), params)
    del token_ids
    per_article = _cat(columns["per_article"], np.int32)
    first = np.zeros(len(article_list) + 1, dtype=np.int64)
    np.cumsum(per_article, out=first[1:])
    infos = [
        ArticleInfo(
            id=a.id,
            title=a.title,
            date=a.date,
            url=a.url,
            source=a.source,
            author=a.author,
            path=a.path,
            content_hash=a.content_hash,
            paragraphs=len(a.paragraphs),
            first_passage=int(first[i]),
            passage_count=int(per_article[i]),
        )
        for i, a in enumerate(article_list)
    ]
    speakers: dict[str, int] = {"": -1}
    p_speaker = np.fromiter(
        (speakers.setdefault(s, len(speakers) - 1) for s in speakers_of), dtype=np.int32, count=n
    )
    del speakers[""]
    lengths = _cat(columns["lengths"], np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Index(
        params=params,
        analyzer_fingerprint=analyzer.fingerprint(),
        key=key,
        terms=terms,
        doc_len=doc_len,
        articles=infos,
        p_article=np.repeat(np.arange(len(article_list), dtype=np.int32), per_article),
        p_paragraph=_cat(columns["paragraph"], np.int32),
        p_window=_cat(columns["window"], np.int32),
        p_speaker=p_speaker,
        p_hash=_cat(columns["hashes"], np.int64),
        text_offsets=offsets,
        text_blob=np.frombuffer(text, dtype=np.uint8) if text else b"",
        speakers=list(speakers),
        skipped=skipped,
        meta={"avgdl": float(doc_len.sum(dtype=np.int64)) / n if n else 1.0},
        **postings,
    )


def _collect(columns: dict[str, list[Any]], chunk: Chunk) -> None:
    columns["doc_len"].append(chunk.doc_len)
    columns["per_article"].append(chunk.passages_per_article)
    columns["paragraph"].append(chunk.paragraph)
    columns["window"].append(chunk.window)
    columns["hashes"].append(chunk.hashes)
    columns["lengths"].append(chunk.text_lengths)


def _cat(parts: list[bytes], dtype: type[np.generic]) -> Any:
    return np.frombuffer(b"".join(parts), dtype=dtype).copy()
