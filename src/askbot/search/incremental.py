"""Reindex from a saved index: only new and changed articles are analysed, the rest is merged.

An article's passages, and their term counts, depend on that article alone; only N, avgdl, df and
idf depend on the whole corpus. So a reindex keeps the saved postings (passage, tf) of every
unchanged article, analyses the new and changed ones with the normal build, merges the two at the
CSR level and lets ``finish_postings`` recompute every corpus-wide array: each passage gets
exactly the score a cold build of the same corpus gives it. Unchanged articles are recognised by
their content hash (a hash of their JSONL line or file), so they are never parsed again.

Kept passages stay in their saved order and new ones follow them, so a reindexed index may order
passages (and break score ties) differently from a cold build; the result is deterministic.
The saved folder is only read: a running bot may have it memory-mapped.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from askbot.search import pruning, residency
from askbot.search.analysis import Analyzer
from askbot.search.build import SpilledArray, TextSpool, build_changed_index
from askbot.search.corpus import (
    ARTICLE_HASH,
    SPEAKER_RULES_VERSION,
    WINDOW_WORDS,
    FileStamp,
    file_stamp,
)
from askbot.search.index import (
    I32,
    I64,
    ArticleColumns,
    ArticleKeys,
    ArticleTable,
    BM25Params,
    Index,
    IndexFormatError,
    TextPart,
    article_line,
)
from askbot.search.postings import finish_postings
from askbot.search.tokenize_parallel import Chunk, Replay

# Above this fraction of new or changed articles a cold build is about as fast, and simpler.
MAX_CHANGED_FRACTION = 0.4

Bools = npt.NDArray[np.bool_]


class Phases:
    """Seconds spent in each phase of a reindex, in order (kept in ``meta["reindex_phases"]``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def done(self, name: str) -> None:
        """Charge the time since the previous phase ended to ``name``."""
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._last, 3)
        self._last = now


class ReindexUnsupported(Exception):
    """The saved index cannot be reused (other rules, damaged, too much changed): build cold."""


def build_markers() -> dict[str, Any]:
    """What, besides the analyzer and BM25 parameters, decides an index's passages and hashes.

    Saved in ``meta.json`` by every build; a reindex reuses only an index with equal markers.
    """
    return {"article_hash": ARTICLE_HASH, "passage_rules": [SPEAKER_RULES_VERSION, WINDOW_WORDS]}


def read_saved_articles(old: Index) -> ArticleColumns:
    """The saved index's article table, as the columns a reindex needs (``ArticleColumns``):
    from its saved keys when they agree with its lines, else matched line by line."""
    articles = old.articles
    if not isinstance(articles, ArticleTable):  # a loaded index's table always is
        raise ValueError("the saved index has no article table")
    return articles.columns()


def check_reusable(old: Index, saved: ArticleColumns) -> None:
    """Raise ReindexUnsupported unless the saved index is one this module can extend exactly."""
    markers = build_markers()
    for name, value in markers.items():
        if old.meta.get(name) != value:
            raise ReindexUnsupported(f"saved index has {name} {old.meta.get(name)!r}")
    n = old.n_docs
    indptr = old.indptr
    if (
        int(indptr.shape[0]) != len(old.terms) + 1
        or int(indptr[-1]) != int(old.docs.shape[0])
        or int(old.tfs.shape[0]) != int(old.docs.shape[0])
        or int(old.text_offsets.shape[0]) != n + 1
        or any(int(getattr(old, a).shape[0]) != n for a in ("p_paragraph", "p_window", "p_hash"))
        or int(old.p_speaker.shape[0]) != n
        or len(saved) != len(old.articles)
    ):
        raise ReindexUnsupported("saved index arrays do not agree (damaged)")
    # Passages are contiguous, article after article.
    ends = np.cumsum(saved.counts)
    if (
        bool((saved.counts < 0).any())
        or not np.array_equal(saved.firsts, ends - saved.counts)
        or (int(ends[-1]) if len(saved) else 0) != n
    ):
        raise ReindexUnsupported("saved article table does not match its passages")


PREFETCH_THREAD = "askbot-prefetch"
# The saved arrays a reindex reads in full (texts are linked, not read).
SCANNED_ARRAYS = (
    "docs", "tfs", "indptr", "doc_len", "p_paragraph", "p_window", "p_hash", "p_speaker",
    "text_offsets",
)  # fmt: skip


def reindex(
    old_path: Path,
    corpus_dir: Path,
    analyzer: Analyzer,
    params: BM25Params,
    *,
    key: str,
    max_file_bytes: int,
    workers: int | None = None,
) -> Index | None:
    """The index of the corpus as it is now, reusing the saved index at ``old_path``.

    None when the corpus holds exactly the saved index's articles (``link_copy`` reuses it).
    Raises ReindexUnsupported (or IndexFormatError) when a cold build is needed instead.
    """
    phases = Phases()
    # The merge reads these whole: their disk reads (a saved index's files are mostly not in
    # the page cache) are queued now, on a thread, and overlap the reading of the corpus.
    scanned = [old_path / f"{name}.npy" for name in SCANNED_ARRAYS]
    prefetching = threading.Thread(
        target=residency.prefetch, args=(scanned,), name=PREFETCH_THREAD, daemon=True
    )
    prefetching.start()
    try:
        old, saved, replay, reuse = _read_saved(
            old_path, analyzer, params, corpus_dir, max_file_bytes, phases
        )
    finally:
        # Queuing the reads takes a fraction of a second (the reads go on without the thread);
        # it is over before anything forks workers, which needs a single-threaded process
        # (tokenize_parallel.can_fork: otherwise the corpus is analysed here, on one core).
        prefetching.join()
    known = dict(zip(saved.hashes, enumerate(saved.ids), strict=True))
    limit = MAX_CHANGED_FRACTION * max(len(saved), 1)
    new = [0]

    def watch(chunk: Chunk) -> None:
        new[0] += len(chunk.articles)
        if new[0] > limit:  # stop early: a cold build is about as fast
            raise ReindexUnsupported(f"over {new[0]} articles are new or changed")

    kwargs: dict[str, Any] = {} if workers is None else {"workers": workers}
    fresh, kept = build_changed_index(
        corpus_dir,
        analyzer,
        params,
        known,
        max_file_bytes=max_file_bytes,
        watch=watch,
        replay=replay,
        reuse=reuse,
        **kwargs,
    )
    phases.done("analyse_changed")
    articles = len(kept) + len(fresh.articles)
    if not articles:
        raise ReindexUnsupported("no articles")
    if len(fresh.articles) > MAX_CHANGED_FRACTION * articles:
        raise ReindexUnsupported(f"{len(fresh.articles)} of {articles} articles are new or changed")
    if unchanged(old, saved, kept, fresh):
        return None
    return merge(old, saved, kept, fresh, key=key, spill_dir=old_path.parent, phases=phases)


def _read_saved(
    old_path: Path,
    analyzer: Analyzer,
    params: BM25Params,
    corpus_dir: Path,
    max_file_bytes: int,
    phases: Phases,
) -> tuple[Index, ArticleColumns, Replay, Callable[[str, FileStamp], bool] | None]:
    """The saved index, its article table, and which corpus files need not be read again."""
    # scan: the merge reads every posting, so readahead stays on.
    old = Index.load(
        old_path, analyzer_fingerprint=analyzer.fingerprint(), params=params, scan=True
    )
    try:
        saved = read_saved_articles(old)
    except (OSError, ValueError) as exc:
        raise ReindexUnsupported(f"unreadable article table: {exc}") from None
    phases.done("read_articles")
    check_reusable(old, saved)
    replay, reuse = _unchanged_files(old, saved, corpus_dir, max_file_bytes)
    phases.done("plan")
    return old, saved, replay, reuse


def _unchanged_files(
    old: Index, saved: ArticleColumns, corpus_dir: Path, max_file_bytes: int
) -> tuple[Replay, Callable[[str, FileStamp], bool] | None]:
    """The saved sources of each recorded file, and which files need not be read again.

    A file is reused when its stamp (size, mtime, permissions) is the one recorded when the
    saved index read it, with the same size limit, and none of its sources was a duplicate id
    (whether it still is depends on the other files). Only files whose stamp is still the
    recorded one now get their sources listed: when every file changed, no article is looked at.
    """
    record = old.meta.get("files")
    if not isinstance(record, dict) or record.get("max_file_bytes") != max_file_bytes:
        return {}, None
    stamps = {rel: tuple(stamp) for rel, stamp in record.get("stamps", {}).items()}
    same = {rel for rel, stamp in stamps.items() if file_stamp(corpus_dir / rel) == stamp}
    if not same:
        return {}, None
    events: dict[str, list[tuple[int, tuple[int, str, str]]]] = {}
    unsure: set[str] = set()

    def add(where: str, event: tuple[int, str, str]) -> str:
        rel, line = where, 0  # a text file's source is the file
        if where not in stamps:  # a JSONL line: "file:line"
            rel, _, number = where.rpartition(":")
            if rel not in stamps or not number.isdigit():
                return ""  # a file that was not read (skipped whole): never reused
            line = int(number)
        if rel in same:
            events.setdefault(rel, []).append((line, event))
        return rel

    for i, (article_id, path) in enumerate(zip(saved.ids, saved.paths, strict=True)):
        add(path, (i, article_id, path))
    for s in old.skipped:
        rel = add(s.path, (-1, s.reason, s.path))
        if s.reason.startswith("duplicate article id"):
            unsure.add(rel)
    replay: Replay = {
        rel: [e for _, e in sorted(evs, key=lambda x: x[0])] for rel, evs in events.items()
    }

    def reuse(rel: str, stamp: FileStamp) -> bool:
        return rel in same and stamps.get(rel) == stamp and rel not in unsure

    return replay, reuse


def _keep_mask(n: int, firsts: I64, counts: I64) -> Bools:
    """A passage mask that is True on [first, first + count) of each kept article."""
    mark = np.zeros(n + 1, dtype=np.int64)
    np.add.at(mark, firsts, 1)
    np.add.at(mark, firsts + counts, -1)
    mask: Bools = np.cumsum(mark[:-1]) > 0
    return mask


def merge(
    old: Index,
    saved: ArticleColumns,
    kept_rows: Sequence[tuple[int, str]],
    fresh: Index,
    *,
    key: str,
    spill_dir: Path | None = None,
    phases: Phases | None = None,
) -> Index:
    """The saved index's ``kept_rows`` articles (row, path now), then ``fresh``'s articles.

    ``fresh.skipped`` are the corpus's skips; with ``spill_dir`` the texts are spilled there
    (``TextSpool``). ``phases`` times the steps.
    """
    phases = phases or Phases()
    kept = sorted(kept_rows)  # saved order: kept passages keep ascending positions
    kept_at = np.fromiter((r for r, _ in kept), dtype=np.int64, count=len(kept))
    firsts = saved.firsts[kept_at]
    counts = saved.counts[kept_at]
    n_old = old.n_docs
    keep_doc = _keep_mask(n_old, firsts, counts)
    n_kept = int(counts.sum())
    remap = (np.cumsum(keep_doc, dtype=np.int64) - 1).astype(np.int32)

    # The texts are copied (copy_file_range, in the kernel) on a thread while the postings are
    # merged and finished (compiled, without the GIL) on others and the article lines are made
    # here: none of the three waits for another.
    with ThreadPoolExecutor(2, thread_name_prefix="askbot-merge") as pool:
        texts = pool.submit(_merge_texts, old, keep_doc, fresh, spill_dir)
        links: dict[str, Callable[[Path], bool]] = {}
        terms, indptr, docs, tfs = _merge_postings(
            old, keep_doc, remap, fresh, n_kept, spill_dir=spill_dir, links=links
        )
        doc_len = np.concatenate((np.asarray(old.doc_len)[keep_doc], np.asarray(fresh.doc_len)))
        phases.done("merge_postings")
        impacts = SpilledArray(spill_dir, int(docs.shape[0]), np.uint8)
        links["impacts"] = impacts.link
        finished = pool.submit(
            finish_postings, indptr, docs, tfs, doc_len, old.params, impacts=impacts.array
        )
        speakers, p_speaker = _merge_speakers(old, keep_doc, fresh)
        # Kept articles keep their saved lines but for where they are now (path, first passage).
        lines = saved.relocated(
            kept_at.tolist(), [path for _, path in kept], (np.cumsum(counts) - counts).tolist()
        )
        lines += [
            article_line(replace(a, first_passage=a.first_passage + n_kept))  # after the kept
            for a in fresh.articles
        ]
        keys = _merged_keys(saved, kept, counts, fresh)
        phases.done("merge_articles")
        postings = finished.result()
        impacts.sync_soon()
        del docs, tfs
        phases.done("finish_postings")
        merged_texts = texts.result()
        phases.done("merge_texts")
    n = int(doc_len.shape[0])
    merged = Index(
        params=old.params,
        analyzer_fingerprint=old.analyzer_fingerprint,
        key=key,
        terms=terms,
        doc_len=doc_len,
        articles=ArticleTable.of_lines(lines, keys),
        p_article=np.concatenate(
            (
                np.repeat(np.arange(len(kept), dtype=np.int32), counts),
                np.asarray(fresh.p_article, dtype=np.int32) + len(kept),
            )
        ),
        p_paragraph=np.concatenate(
            (np.asarray(old.p_paragraph)[keep_doc], np.asarray(fresh.p_paragraph))
        ),
        p_window=np.concatenate((np.asarray(old.p_window)[keep_doc], np.asarray(fresh.p_window))),
        p_speaker=p_speaker,
        p_hash=np.concatenate((np.asarray(old.p_hash)[keep_doc], np.asarray(fresh.p_hash))),
        text_offsets=merged_texts.offsets,
        text_blob=merged_texts.blob,
        text_link=merged_texts.link,
        text_file=merged_texts.file,
        text_parts=merged_texts.parts,
        text_runs=merged_texts.runs,
        array_links=links,
        speakers=speakers,
        skipped=list(fresh.skipped),
        meta={
            "avgdl": float(doc_len.sum(dtype=np.int64)) / n if n else 1.0,
            "reindexed_from": old.key,
            "kept_articles": len(kept),
            "new_articles": len(fresh.articles),
            **({"files": fresh.meta["files"]} if "files" in fresh.meta else {}),
        },
        **postings,
    )
    phases.done("merge_rest")
    merged.meta["reindex_phases"] = phases.seconds
    return merged


def _merged_keys(
    saved: ArticleColumns, kept: Sequence[tuple[int, str]], counts: I64, fresh: Index
) -> ArticleKeys:
    """The merged table's keys: the kept articles' (with their paths now), then the fresh ones'."""
    rows = [r for r, _ in kept]
    kept_keys = ArticleKeys(
        [saved.ids[r] for r in rows],
        [saved.hashes[r] for r in rows],
        [path for _, path in kept],
        counts.tolist(),
    )
    articles = fresh.articles
    fresh_keys = articles.article_keys() if isinstance(articles, ArticleTable) else None
    if fresh_keys is None:  # build_changed_index always makes them
        raise ReindexUnsupported("the new articles come without their keys")
    return kept_keys + fresh_keys


def _merge_postings(
    old: Index,
    keep_doc: Bools,
    remap: I32,
    fresh: Index,
    n_kept: int,
    *,
    compiled: bool = True,
    spill_dir: Path | None = None,
    links: dict[str, Callable[[Path], bool]] | None = None,
) -> tuple[list[str], I64, I32, I32]:
    """Term-major CSR of kept + fresh passages: per term, kept postings then fresh ones.

    Terms stay sorted (term id = rank) and terms left without postings are dropped, as a cold
    build of the same corpus has them. The compiled kernel does it in one pass, into files in
    ``spill_dir`` whose links go to ``links`` (``SpilledArray``); numpy (without it, or
    ``compiled=False``) gives the same arrays, in memory.
    """
    o_terms = old.terms
    v_old = len(o_terms)
    f_terms = fresh.terms
    # Where each fresh term falls in the saved (sorted) vocabulary; Python's str order, as sorted().
    at = [bisect.bisect_left(o_terms, t) for t in f_terms]
    shared = np.fromiter(
        (p < v_old and o_terms[p] == t for p, t in zip(at, f_terms, strict=True)),
        dtype=bool,
        count=len(f_terms),
    )
    pos = np.asarray(at, dtype=np.int64).reshape(-1)
    inserted = pos[~shared]  # ascending: fresh terms are sorted
    # Union rank: a saved term moves down by the inserted terms sorting before it; an inserted
    # term sits before the saved term it was bisected to, after the inserted ones before it.
    u_old = np.arange(v_old, dtype=np.int64) + np.searchsorted(
        inserted, np.arange(v_old), side="right"
    )
    u_fresh = np.empty(len(f_terms), dtype=np.int64)
    u_fresh[shared] = u_old[pos[shared]]
    u_fresh[~shared] = inserted + np.arange(inserted.shape[0], dtype=np.int64)
    n_union = v_old + int(inserted.shape[0])
    union_terms: list[str] = [""] * n_union
    for i, u in enumerate(u_old.tolist()):
        union_terms[u] = o_terms[i]
    for j, u in enumerate(u_fresh.tolist()):
        union_terms[u] = f_terms[j]
    if compiled and pruning.kernel_available():
        u_indptr, docs, tfs = _merge_compiled(
            old, keep_doc, remap, fresh, n_kept, u_old, u_fresh, spill_dir, links
        )
    else:
        u_indptr, docs, tfs = _merge_numpy(old, keep_doc, remap, fresh, n_kept, u_old, u_fresh)
    alive = np.diff(u_indptr) > 0
    terms = [t for t, a in zip(union_terms, alive.tolist(), strict=True) if a]
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    indptr[1:] = u_indptr[1:][alive]  # a dropped term adds no postings: the offsets carry over
    if docs.shape[0] != int(indptr[-1]):
        raise ReindexUnsupported("merged postings do not add up")
    return terms, indptr, docs, tfs


def _merge_compiled(
    old: Index, keep_doc: Bools, remap: I32, fresh: Index, n_kept: int, u_old: I64, u_fresh: I64,
    spill_dir: Path | None, links: dict[str, Callable[[Path], bool]] | None,
) -> tuple[I64, I32, I32]:  # fmt: skip
    """Union-vocabulary offsets, passages and tfs from the compiled kernel (one pass)."""
    n_union = int(u_old.shape[0]) + int(u_fresh.shape[0]) - int(np.isin(u_fresh, u_old).sum())
    old_of_u = np.full(n_union, -1, dtype=np.int64)
    old_of_u[u_old] = np.arange(u_old.shape[0], dtype=np.int64)
    fresh_of_u = np.full(n_union, -1, dtype=np.int64)
    fresh_of_u[u_fresh] = np.arange(u_fresh.shape[0], dtype=np.int64)
    o_docs, f_docs = np.asarray(old.docs), np.asarray(fresh.docs, dtype=np.int32)
    cap = int(o_docs.shape[0]) + int(f_docs.shape[0])
    u_indptr = np.empty(n_union + 1, dtype=np.int64)
    spilled_docs = SpilledArray(spill_dir, cap, np.int32)
    spilled_tfs = SpilledArray(spill_dir, cap, np.int32)
    docs, tfs = spilled_docs.array, spilled_tfs.array
    total = pruning.merge_postings(
        np.asarray(old.indptr, dtype=np.int64), o_docs, np.asarray(old.tfs),
        np.where(keep_doc, remap, -1).astype(np.int32), old_of_u,
        np.asarray(fresh.indptr, dtype=np.int64), f_docs, np.asarray(fresh.tfs, dtype=np.int32),
        fresh_of_u, n_kept, u_indptr, docs, tfs,
    )  # fmt: skip
    if links is not None:
        links.update(docs=spilled_docs.link, tfs=spilled_tfs.link)
    docs, tfs = spilled_docs.shrink(total), spilled_tfs.shrink(total)
    spilled_docs.sync_soon()
    spilled_tfs.sync_soon()
    return u_indptr, docs, tfs


def _merge_numpy(
    old: Index, keep_doc: Bools, remap: I32, fresh: Index, n_kept: int, u_old: I64, u_fresh: I64
) -> tuple[I64, I32, I32]:
    """``_merge_compiled`` in numpy: the kept postings cut after each fresh term's own."""
    o_indptr = np.asarray(old.indptr, dtype=np.int64)
    o_docs = np.asarray(old.docs)
    o_tfs = np.asarray(old.tfs)
    v_old = int(o_indptr.shape[0]) - 1
    if bool(keep_doc.all()):
        k_docs, k_tfs = o_docs, o_tfs
        kept_df = np.diff(o_indptr)
    else:
        posting_kept = keep_doc[o_docs]
        k_docs = remap[o_docs[posting_kept]]
        k_tfs = o_tfs[posting_kept]
        dropped = np.flatnonzero(~posting_kept)
        del posting_kept
        dropped_terms = np.searchsorted(o_indptr, dropped, side="right") - 1
        kept_df = np.diff(o_indptr) - np.bincount(dropped_terms, minlength=v_old)
    f_indptr = np.asarray(fresh.indptr, dtype=np.int64)
    n_union = v_old + int(u_fresh.shape[0]) - int(np.isin(u_fresh, u_old).sum())
    df_old_u = np.zeros(n_union, dtype=np.int64)
    df_old_u[u_old] = kept_df
    df_u = df_old_u.copy()
    df_u[u_fresh] += np.diff(f_indptr)
    u_indptr = np.zeros(n_union + 1, dtype=np.int64)
    np.cumsum(df_u, out=u_indptr[1:])
    f_docs = np.asarray(fresh.docs, dtype=np.int32) + np.int32(n_kept)
    f_tfs = np.asarray(fresh.tfs, dtype=np.int32)
    if f_docs.size == 0:
        return u_indptr, np.ascontiguousarray(k_docs, np.int32), np.ascontiguousarray(k_tfs)
    # Each fresh term's postings go after the kept postings of its term: cut the kept stream
    # (in union term order) after that term and splice them in, all in one concatenate.
    kept_through = np.cumsum(df_old_u)[u_fresh].tolist()
    f_starts = f_indptr.tolist()
    doc_parts: list[npt.NDArray[np.int32]] = []
    tf_parts: list[npt.NDArray[np.int32]] = []
    cut = 0
    for j, end in enumerate(kept_through):
        doc_parts += [k_docs[cut:end], f_docs[f_starts[j] : f_starts[j + 1]]]
        tf_parts += [k_tfs[cut:end], f_tfs[f_starts[j] : f_starts[j + 1]]]
        cut = end
    doc_parts.append(k_docs[cut:])
    tf_parts.append(k_tfs[cut:])
    docs = np.concatenate(doc_parts).astype(np.int32, copy=False)
    tfs = np.concatenate(tf_parts).astype(np.int32, copy=False)
    return u_indptr, docs, tfs


def _merge_speakers(old: Index, keep_doc: Bools, fresh: Index) -> tuple[list[str], I32]:
    """The speakers table (kept speakers in saved order, then new ones) and each passage's row."""
    o_sp = np.asarray(old.p_speaker, dtype=np.int32)[keep_doc]
    used = pruning.distinct(o_sp[o_sp >= 0])
    lookup = np.full(len(old.speakers) + 1, -1, dtype=np.int32)  # the last slot maps -1 to -1
    lookup[used] = np.arange(used.shape[0], dtype=np.int32)
    speakers = [old.speakers[i] for i in used.tolist()]
    row = {s: i for i, s in enumerate(speakers)}
    f_lookup = np.full(len(fresh.speakers) + 1, -1, dtype=np.int32)
    for i, s in enumerate(fresh.speakers):
        f_lookup[i] = row.setdefault(s, len(row))
    speakers = list(row)
    p_speaker = np.concatenate(
        (lookup[o_sp], f_lookup[np.asarray(fresh.p_speaker, dtype=np.int32)])
    ).astype(np.int32)
    return speakers, p_speaker


def _as_bytes(blob: bytes | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return np.frombuffer(blob, dtype=np.uint8) if isinstance(blob, bytes) else np.asarray(blob)


# A reindex keeps the saved text files (hard links) and adds one for its new passages' texts,
# while they are few and mostly hold passages still indexed; past either limit it copies the
# texts of the kept passages into one new file with the new ones.
MAX_TEXT_FILES = 4
MAX_DEAD_TEXT = 0.25


@dataclass
class _Texts:
    """A merged index's passage texts: its text offsets and where the bytes are."""

    offsets: I64
    blob: bytes | npt.NDArray[np.uint8] = b""
    link: Callable[[Path], bool] | None = None
    file: Path | None = None
    parts: list[TextPart] = field(default_factory=list)
    runs: I64 | None = None


def _merge_texts(old: Index, keep_doc: Bools, fresh: Index, spill_dir: Path | None) -> _Texts:
    """The kept passages' texts (a few long runs of the saved ones), then the fresh ones.

    The saved files are kept as they are (the new index's runs point into them) and only the
    fresh texts are written, unless that would leave too many files or too much of them unused
    (``MAX_TEXT_FILES``, ``MAX_DEAD_TEXT``): then the kept runs are copied into one new file by
    the kernel (``copy_file_range``), without passing through this process.
    """
    offsets = np.asarray(old.text_offsets, dtype=np.int64)
    lengths = np.concatenate(
        (np.diff(offsets)[keep_doc], np.diff(np.asarray(fresh.text_offsets, dtype=np.int64)))
    )
    text_offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=text_offsets[1:])
    edges = np.diff(np.concatenate(([0], keep_doc.view(np.int8), [0])))
    kept = zip(
        offsets[np.flatnonzero(edges == 1)].tolist(),
        offsets[np.flatnonzero(edges == -1)].tolist(),
        strict=True,
    )
    pieces = _text_pieces(kept, old.text_runs)
    files = [old.text_path, *(t.path for t in old.text_parts)]
    fresh_blob = _as_bytes(fresh.text_blob)
    used = sorted({f for f, _, _ in pieces})
    paths = [p for p in (files[f] for f in used) if p is not None]
    keep_files = 0 < len(paths) == len(used) and len(used) + 1 <= MAX_TEXT_FILES
    sizes = [os.stat(p).st_size for p in paths] if keep_files else []
    if keep_files:
        size = sum(sizes) + int(fresh_blob.shape[0])
        keep_files = int(text_offsets[-1]) >= (1 - MAX_DEAD_TEXT) * size
    spool = TextSpool(spill_dir)
    if not keep_files:
        _copy_pieces(old, files, pieces, spool)
        spool.append(np.ascontiguousarray(fresh_blob).data)
        return _Texts(text_offsets, spool.finish(), spool.link)
    number = {f: i for i, f in enumerate(used)}
    runs: list[list[int]] = []
    at = 0
    for f, start, n in pieces:
        last = runs[-1] if runs else None
        if last is None or last[1] != number[f] or last[2] + at - last[0] != start:
            runs.append([at, number[f], start])  # else the piece continues the last run
        at += n
    parts = [TextPart(path) for path in paths[1:]]
    if fresh_blob.shape[0]:
        spool.append(np.ascontiguousarray(fresh_blob).data)
        parts.append(TextPart(blob=spool.finish(), link=spool.link))
        runs.append([at, len(used), 0])
    first = paths[0]
    return _Texts(
        text_offsets,
        np.memmap(first, dtype=np.uint8, mode="r") if sizes[0] else b"",
        file=first,
        parts=parts,
        runs=np.asarray(runs, dtype=np.int64).reshape(-1, 3),
    )


def _text_pieces(ranges: Iterable[tuple[int, int]], runs: I64 | None) -> list[tuple[int, int, int]]:
    """Byte ranges of the saved index's texts (ascending) as (file, offset, length) pieces."""
    if runs is None:
        return [(0, s, e - s) for s, e in ranges if e > s]
    starts: list[int] = runs[:, 0].tolist()
    files: list[int] = runs[:, 1].tolist()
    at: list[int] = runs[:, 2].tolist()
    out: list[tuple[int, int, int]] = []
    for s, e in ranges:
        r = bisect.bisect_right(starts, s) - 1
        while s < e:  # across the runs the range spans
            stop = min(e, starts[r + 1]) if r + 1 < len(starts) else e
            if stop > s:
                out.append((files[r], at[r] + s - starts[r], stop - s))
            s, r = stop, r + 1
    return out


def _copy_pieces(
    old: Index, files: list[Path | None], pieces: list[tuple[int, int, int]], spool: TextSpool
) -> None:
    """Append the saved texts' pieces to ``spool``: copied by the kernel from the files."""
    if any(f is None for f in files):  # an index in memory (its texts never saved)
        blob = _as_bytes(old.text_blob)
        for _, start, n in pieces:
            spool.append(np.ascontiguousarray(blob[start : start + n]).data)
        return
    handles = {f: open(path, "rb") for f in {f for f, _, _ in pieces} if (path := files[f])}  # noqa: SIM115
    try:
        for f, start, n in pieces:
            spool.append_file(handles[f].fileno(), start, start + n)
    finally:
        for fh in handles.values():
            fh.close()


def unchanged(
    old: Index, saved: ArticleColumns, kept: Sequence[tuple[int, str]], fresh: Index
) -> bool:
    """Whether the corpus holds exactly the saved articles, at the same paths and skips."""
    return (
        not fresh.articles
        and len(kept) == len(saved)
        and all(r == i and saved.paths[r] == p for i, (r, p) in enumerate(kept))
        and list(fresh.skipped) == list(old.skipped)
    )


def link_copy(old_path: Path, final: Path, key: str, meta: dict[str, Any]) -> Path:
    """A new index folder of hard links to the saved one's files, with its own meta.json.

    Saved files are never written in place (a save renames a new folder in), so sharing their
    inodes is safe; the saved folder itself is not touched.
    """
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}-{threading.get_ident()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        for entry in old_path.iterdir():
            if entry.name != "meta.json" and entry.is_file():
                os.link(entry, tmp / entry.name)
        with open(tmp / "meta.json", "wb") as fh:
            fh.write(json.dumps({**meta, "key": key}, indent=2).encode())
            fh.flush()
            os.fsync(fh.fileno())
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


__all__ = [
    "IndexFormatError",
    "ReindexUnsupported",
    "build_markers",
    "check_reusable",
    "link_copy",
    "merge",
    "read_saved_articles",
    "reindex",
    "unchanged",
]
