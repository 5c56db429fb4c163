"""Build an Index from articles: split, analyse (in forked workers), then the postings."""

from __future__ import annotations

import contextlib
import gc
import io
import mmap
import os
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from askbot.search.analysis import Analyzer
from askbot.search.corpus import (
    DEFAULT_MAX_FILE_BYTES,
    ArticleIds,
    FileStamp,
    Task,
    iter_corpus_files,
    load_corpus,
    plan_tasks,
)
from askbot.search.index import (
    I32,
    ArticleKeys,
    ArticleTable,
    BM25Params,
    Index,
    Progress,
    article_lines,
)
from askbot.search.models import Article, Passage, Skipped
from askbot.search.postings import build_postings
from askbot.search.tokenize_parallel import (
    Chunk,
    Known,
    Replay,
    analyse_in_parallel,
    analyse_tasks_in_parallel,
)

BUILD_WORKERS = 2
# Below this many corpus bytes a second process costs more than it saves.
PARALLEL_MIN_BYTES = 8 << 20


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
    article_list = list(articles)
    estimate = max(1, sum(len(a.paragraphs) for a in article_list))
    with _gc_off():
        started = time.perf_counter()
        chunks = analyse_in_parallel(article_list, analyzer, workers)
        index = _build(
            chunks,
            analyzer,
            params or BM25Params(),
            key,
            list(skipped),
            progress,
            lambda _: estimate,
        )
    index.meta["build_seconds"] = round(time.perf_counter() - started, 3)
    return index


def build_corpus_index(
    corpus_dir: str | os.PathLike[str],
    analyzer: Analyzer,
    params: BM25Params | None = None,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    key: str = "",
    progress: Progress | None = None,
    workers: int = BUILD_WORKERS,
    spill_dir: Path | None = None,
) -> Index:
    """The index of a corpus folder, read, split and analysed by forked workers.

    The same index as ``build_index(load_corpus(corpus_dir).articles, ...)`` (same articles,
    skips, passages and scores), but this process never holds the articles' text: workers read
    their parts of the files themselves, and with ``spill_dir`` the passage texts go to a
    memory-mapped temporary file there (page cache, not this process's heap).
    """
    base = Path(corpus_dir)
    if not base.is_dir():
        load_corpus(base)  # raises CorpusError with the reason
    total_bytes = max(1, _corpus_bytes(base))
    done_bytes = [0]

    def estimate(passages: int) -> int:
        # Passages expected in all, from those seen per byte read so far.
        return max(passages, round(passages * total_bytes / max(1, done_bytes[0])))

    stamps: dict[str, FileStamp] = {}

    def tasks() -> Iterator[Task]:
        for task in plan_tasks(base, max_file_bytes, stamps=stamps):
            done_bytes[0] += sum(p.end - p.start for p in task.parts)
            yield task

    with _gc_off():
        started = time.perf_counter()
        parallel = total_bytes >= PARALLEL_MIN_BYTES
        chunks = analyse_tasks_in_parallel(tasks(), analyzer, workers, parallel, text_dir=spill_dir)
        index = _build(
            chunks, analyzer, params or BM25Params(), key, [], progress, estimate, None, spill_dir
        )
    index.meta["build_seconds"] = round(time.perf_counter() - started, 3)
    index.meta.update(files_meta(stamps, max_file_bytes))
    return index


# Corpus files recorded in meta.json (stamps let a reindex skip unchanged files); a corpus of
# more files than this is not recorded, to keep meta.json small (every load reads it).
MAX_RECORDED_FILES = 5000


def files_meta(stamps: dict[str, FileStamp], max_file_bytes: int) -> dict[str, Any]:
    """The ``files`` entry of meta.json: each file read and its stamp, when there are few."""
    if len(stamps) > MAX_RECORDED_FILES:
        return {}
    return {
        "files": {
            "max_file_bytes": max_file_bytes,
            "stamps": {rel: list(stamp) for rel, stamp in stamps.items()},
        }
    }


def build_changed_index(
    corpus_dir: str | os.PathLike[str],
    analyzer: Analyzer,
    params: BM25Params,
    known: Known,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    workers: int = BUILD_WORKERS,
    watch: Callable[[Chunk], None] | None = None,
    spill_dir: Path | None = None,
    replay: Replay | None = None,
    reuse: Callable[[str, FileStamp], bool] | None = None,
) -> tuple[Index, list[tuple[int, str]]]:
    """The index of a corpus folder's articles that ``known`` (a saved index's) does not hold.

    Also returns the known articles still in the corpus as (saved row, path), in corpus order;
    together they are exactly the articles ``build_corpus_index`` indexes, and the index's
    skips are the whole corpus's. ``watch`` sees every chunk (and may raise to stop).
    """
    base = Path(corpus_dir)
    if not base.is_dir():
        load_corpus(base)  # raises CorpusError with the reason
    parallel = _corpus_bytes(base) >= PARALLEL_MIN_BYTES
    kept: list[tuple[int, str]] = []

    def watched(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        for chunk in chunks:
            if watch is not None:
                watch(chunk)
            yield chunk

    with _gc_off():
        started = time.perf_counter()
        stamps: dict[str, FileStamp] = {}
        tasks = plan_tasks(base, max_file_bytes, stamps=stamps, reuse=reuse)
        chunks = analyse_tasks_in_parallel(tasks, analyzer, workers, parallel, known, replay)
        index = _build(
            watched(chunks), analyzer, params, "", [], None, lambda n: n, kept, spill_dir
        )
    index.meta["build_seconds"] = round(time.perf_counter() - started, 3)
    index.meta.update(files_meta(stamps, max_file_bytes))
    return index, kept


class TextSpool:
    """Passage texts appended in order, then one uint8 array.

    Without a folder, one growing buffer (realloc extends it in place; a list of parts joined at
    the end would hold the corpus text twice). With a folder, an unnamed temporary file there
    (``O_TMPFILE``, or a file unlinked at once), memory-mapped at the end: the text lives in the
    page cache, not in this process's heap, and nothing is left behind if the process dies. An
    ``O_TMPFILE`` spool can be given a name later (``link``), so saving the index need not write
    the texts again.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self._buffer = bytearray()
        self._file: Any = None
        self._linkable = False
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            fd = _unnamed_file(folder)
            self._linkable = fd is not None
            if fd is None:  # not Linux, or a file system without O_TMPFILE
                fd, name = tempfile.mkstemp(prefix=".tmp-text-", dir=folder)
                os.unlink(name)
            self._file = os.fdopen(fd, "w+b")

    def append(self, data: bytes | memoryview) -> None:
        if self._file is not None:
            self._file.write(data)
        else:
            self._buffer += data

    def append_file(self, fd: int, start: int, end: int) -> None:
        """Append bytes [start, end) of the open file ``fd``, copied by the kernel when it can."""
        if self._file is None:
            self._buffer += os.pread(fd, end - start, start)
            return
        self._file.flush()
        out = self._file.fileno()
        try:
            while start < end:
                copied = os.copy_file_range(fd, out, end - start, start)
                if copied == 0:
                    raise OSError("source file shorter than expected")
                start += copied
        except OSError:  # no copy_file_range here (or it refused): read and write
            self._file.seek(0, os.SEEK_END)
            while start < end:
                chunk = os.pread(fd, min(end - start, 1 << 24), start)
                if not chunk:
                    raise
                self._file.write(chunk)
                start += len(chunk)
        else:
            self._file.seek(0, os.SEEK_END)

    def finish(self) -> npt.NDArray[np.uint8] | bytes:
        """The texts so far as one read-only array (or b"" when empty)."""
        if self._file is None:
            return np.frombuffer(self._buffer, dtype=np.uint8) if self._buffer else b""
        fh = self._file
        fh.flush()
        if fh.tell() == 0:
            fh.close()
            return b""
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        if self._linkable:  # it will be saved: start writing it to disk
            sync_in_background(fh.fileno())
        else:
            fh.close()
        return np.frombuffer(mapped, dtype=np.uint8)

    def link(self, dest: Path) -> bool:
        """Give the finished spool the name ``dest`` (a hard link); False when it cannot."""
        if not self._linkable or self._file is None or self._file.closed:
            return False
        _link_fd(self._file.fileno(), dest)
        return True


def _unnamed_file(folder: Path) -> int | None:
    """An ``O_TMPFILE`` file in ``folder`` (None where the system or file system has none)."""
    try:
        return os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o644)
    except (AttributeError, OSError):
        return None


def _link_fd(fd: int, dest: Path) -> None:
    """Name the ``O_TMPFILE`` file ``fd`` ``dest`` (a hard link)."""
    # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd names an O_TMPFILE file; os.link only calls
    # linkat (rather than link, which would link the /proc symlink) given a dir fd.
    parent = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(f"/proc/self/fd/{fd}", dest.name, dst_dir_fd=parent)
    finally:
        os.close(parent)


def sync_in_background(fd: int) -> None:
    """Start writing the file ``fd`` to disk now, on a thread, while the build goes on.

    Only a head start: ``Index.save`` still fsyncs every file (and reports errors) before it
    writes meta.json, which is then quick for a file already on disk.
    """
    dup = os.dup(fd)

    def run() -> None:
        try:
            os.fsync(dup)
        except OSError:
            pass  # the save's own fsync reports it
        finally:
            os.close(dup)

    threading.Thread(target=run, name="askbot-early-fsync", daemon=True).start()


class SpilledArray:
    """A 1-D array built in place in an unnamed ``.npy`` file, which a save can link.

    Large arrays an index keeps (a reindex's postings) are written once, here, instead of
    being built in memory and written again by ``Index.save``. Without a folder, or where
    unnamed files are not available, it is an ordinary array and ``link`` says False.
    """

    def __init__(self, folder: Path | None, n: int, dtype: type[np.generic]) -> None:
        self._fd: int | None = None if folder is None else _unnamed_file(folder)
        self._dtype = np.dtype(dtype)
        if self._fd is None:
            self.array: npt.NDArray[Any] = np.empty(n, dtype=self._dtype)
            return
        self._header = self._npy_header(n)
        size = len(self._header) + n * self._dtype.itemsize
        os.pwrite(self._fd, self._header, 0)
        os.ftruncate(self._fd, size)
        self._map = mmap.mmap(self._fd, size) if size else None
        offset = len(self._header)
        self.array = (
            np.frombuffer(self._map, dtype=self._dtype, count=n, offset=offset)
            if self._map is not None and n
            else np.empty(0, dtype=self._dtype)
        )

    def _npy_header(self, n: int) -> bytes:
        out = io.BytesIO()
        descr = np.lib.format.dtype_to_descr(self._dtype)
        np.lib.format.write_array_header_1_0(
            out, {"descr": descr, "fortran_order": False, "shape": (n,)}
        )
        return out.getvalue()

    def shrink(self, n: int) -> npt.NDArray[Any]:
        """Keep only the first ``n`` values (the file shrinks too); the array, shortened."""
        self.array = self.array[:n]
        if self._fd is not None:
            header = self._npy_header(n)
            if len(header) != len(self._header):  # never for 1-D arrays; keep it correct anyway
                self.array = self.array.copy()
                os.close(self._fd)
                self._fd = None
                return self.array
            os.pwrite(self._fd, header, 0)
            os.ftruncate(self._fd, len(header) + n * self._dtype.itemsize)
        return self.array

    def sync_soon(self) -> None:
        """The array is complete: start writing its file to disk (``sync_in_background``)."""
        if self._fd is not None:
            sync_in_background(self._fd)

    def link(self, dest: Path) -> bool:
        """Give the file the name ``dest`` (a complete ``.npy``); False when it is not a file."""
        if self._fd is None:
            return False
        _link_fd(self._fd, dest)
        return True

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)  # type: ignore[arg-type]


def _corpus_bytes(base: Path) -> int:
    total = 0
    for path, problem in iter_corpus_files(base):
        if problem is None:
            with contextlib.suppress(OSError):
                total += path.stat().st_size
    return total


@contextlib.contextmanager
def _gc_off() -> Iterator[None]:
    # Millions of small objects make the cyclic GC rescan the heap over and over; nothing
    # built here has reference cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build(
    chunks: Iterable[Chunk],
    analyzer: Analyzer,
    params: BM25Params,
    key: str,
    skipped: list[Skipped],
    progress: Progress | None,
    estimate: Callable[[int], int],
    kept: list[tuple[int, str]] | None = None,
    spill_dir: Path | None = None,
) -> Index:
    vocab: dict[str, int] = {}
    # worker -> its local term id -> global term id (an array: numpy reads it without a copy)
    remap: dict[int, array[int]] = {}
    tokens: list[I32] = []
    columns: dict[str, list[Any]] = {
        name: [] for name in ("doc_len", "per_article", "paragraph", "window", "hashes", "lengths")
    }
    text = TextSpool(spill_dir)
    worker_texts = _WorkerTexts()
    # Articles, their lines of articles.jsonl and passages' speakers are made as chunks arrive,
    # while the workers analyse the next ones, not after the last one (one core busy).
    lines: list[bytes] = []
    keys = ArticleKeys([], [], [], [])
    speakers: dict[str, int] = {"": -1}
    p_speaker: list[I32] = []
    ids = ArticleIds()
    dropped = False
    done = passages = 0
    try:
        for chunk in chunks:
            table = remap.setdefault(chunk.worker, array("i"))
            if chunk.term_base != len(table):
                raise RuntimeError("analysis chunks arrived out of order")
            table.extend(vocab.setdefault(t, len(vocab)) for t in chunk.new_terms)
            skipped.extend(chunk.skipped_before)
            if chunk.positions or chunk.skipped or chunk.known:
                chunk, chunk_skipped = _first_ids_only(chunk, ids, kept)
                dropped = dropped or len(chunk_skipped) > len(chunk.skipped)
                skipped.extend(chunk_skipped)
            if chunk.text_file:
                size = int(np.frombuffer(chunk.text_lengths, dtype=np.int64).sum())
                text.append_file(
                    worker_texts.fd(chunk.text_file), chunk.text_at, chunk.text_at + size
                )
            else:
                text.append(chunk.text)
            local = np.frombuffer(chunk.token_ids, dtype=np.int32)
            tokens.append(np.frombuffer(table, dtype=np.int32)[local] if local.size else local)
            _collect(columns, chunk)
            passages += len(chunk.speakers)
            # A speaker's row is its first appearance; most passages quote no one (""), and a
            # chunk names few speakers, so the lookup is a C-level map over a dict.
            for name in dict.fromkeys(chunk.speakers):  # in order of first appearance
                if name not in speakers:
                    speakers[name] = len(speakers) - 1
            p_speaker.append(
                np.fromiter(
                    map(speakers.__getitem__, chunk.speakers),
                    dtype=np.int32,
                    count=len(chunk.speakers),
                )
            )
            per_article = np.frombuffer(chunk.passages_per_article, dtype=np.int32)
            ends = np.cumsum(per_article, dtype=np.int64) + done
            counts = per_article.tolist()
            lines += article_lines(chunk.articles, (ends - per_article).tolist(), counts)
            keys.ids.extend([a[0] for a in chunk.articles])
            keys.paths.extend([a[6] for a in chunk.articles])
            keys.hashes.extend([a[7] for a in chunk.articles])
            keys.counts.extend(counts)
            done = int(ends[-1]) if ends.shape[0] else done
            if done != passages:
                raise RuntimeError("a chunk's passages do not match its articles")
            if progress is not None:
                progress(done, estimate(done))
    finally:
        worker_texts.close()
    n = done
    # The texts are complete: their file starts going to disk while the postings are built.
    text_blob = text.finish()
    if progress is not None:
        progress(n, n)
    token_ids = np.concatenate(tokens) if tokens and n else np.zeros(0, dtype=np.int32)
    del tokens
    n_ids = len(vocab)
    if dropped:  # terms only a skipped duplicate had are not in the index
        used = np.bincount(token_ids, minlength=n_ids) > 0
        vocab = {t: i for t, i in vocab.items() if used[i]}
    # Term ids in sorted term order: the saved term list is then sorted, and the same corpus
    # gives the same ids whatever order the workers finished in.
    terms = sorted(vocab)
    rank = np.full(n_ids, -1, dtype=np.int32)
    rank[np.fromiter((vocab[t] for t in terms), dtype=np.int64, count=len(terms))] = np.arange(
        len(terms), dtype=np.int32
    )
    del vocab
    doc_len = _cat(columns["doc_len"], np.int32)
    # The largest arrays are built in unnamed files the save links (with a spill folder).
    spilled: dict[str, SpilledArray] = {}

    def spill(name: str, n: int, dtype: type[np.generic]) -> npt.NDArray[Any]:
        spilled[name] = SpilledArray(spill_dir, n, dtype)
        return spilled[name].array

    synced: set[str] = set()

    def inverted() -> None:  # their files go to disk while the weights are computed
        for name in ("docs", "tfs"):
            if name in spilled:
                spilled[name].sync_soon()
                synced.add(name)

    postings = build_postings(
        token_ids, doc_len, len(terms), params, rank, spill=spill, inverted=inverted
    )
    del token_ids
    for name, spilled_array in spilled.items():
        if name not in synced:
            spilled_array.sync_soon()
    per_article = _cat(columns["per_article"], np.int32)
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
        articles=ArticleTable.of_lines(lines, keys),
        p_article=np.repeat(np.arange(len(lines), dtype=np.int32), per_article),
        p_paragraph=_cat(columns["paragraph"], np.int32),
        p_window=_cat(columns["window"], np.int32),
        p_speaker=np.concatenate(p_speaker) if p_speaker else np.zeros(0, dtype=np.int32),
        p_hash=_cat(columns["hashes"], np.int64),
        text_offsets=offsets,
        text_blob=text_blob,
        text_link=text.link,
        array_links={name: a.link for name, a in spilled.items()},
        speakers=list(speakers),
        skipped=skipped,
        meta={"avgdl": float(doc_len.sum(dtype=np.int64)) / n if n else 1.0},
        **postings,
    )


def _first_ids_only(
    chunk: Chunk, ids: ArticleIds, kept: list[tuple[int, str]] | None = None
) -> tuple[Chunk, list[Skipped]]:
    """The chunk without articles whose id an earlier article took, and the chunk's skips.

    Skips (unparsable sources and duplicates) are listed in source order, as load_corpus does.
    Known sources (a saved index's articles) take their ids in the same order and go to
    ``kept`` as (saved row, path).
    """
    articles = chunk.articles
    known = chunk.known
    # Most likely every id is new (no duplicate): then they are all taken at once, and the skips
    # are the chunk's own, in source order.
    if ids.take_all(
        [a[0] for a in articles] + [k[2] for k in known],
        [a[6] for a in articles] + [k[3] for k in known],
    ):
        if kept is not None:
            kept += [(row, where) for _, row, _, where in known]
        return chunk, [s for _, s in chunk.skipped]
    # The chunk's skips and parsed articles, in source order; its known sources (most of a
    # reindex's) are walked in their own order, these few spliced in where they fall.
    events: list[tuple[int, int, Any]] = [(p, 0, s) for p, s in chunk.skipped]
    events += [(p, 1, i) for i, p in enumerate(chunk.positions)]
    events.sort(key=lambda e: e[0])
    keep = np.ones(len(chunk.articles), dtype=bool)
    skipped: list[Skipped] = []

    def other(kind: int, item: Any) -> None:
        if kind == 0:
            skipped.append(item)
            return
        duplicate = ids.duplicate(articles[item][0], articles[item][6])
        if duplicate is not None:
            skipped.append(duplicate)
            keep[item] = False

    j, n_events = 0, len(events)
    for position, row, article_id, where in known:
        while j < n_events and events[j][0] < position:
            other(events[j][1], events[j][2])
            j += 1
        duplicate = ids.duplicate(article_id, where)
        if duplicate is not None:
            skipped.append(duplicate)
        elif kept is not None:
            kept.append((row, where))
    for _, kind, item in events[j:]:
        other(kind, item)
    if keep.all():
        return chunk, skipped
    per_article = np.frombuffer(chunk.passages_per_article, dtype=np.int32)
    passage_keep = np.repeat(keep, per_article)
    doc_len = np.frombuffer(chunk.doc_len, dtype=np.int32)
    lengths = np.frombuffer(chunk.text_lengths, dtype=np.int64)
    ends = np.cumsum(lengths)
    data = chunk.text
    if chunk.text_file:  # a worker's texts in its file (rare here: a duplicate id to drop)
        with open(chunk.text_file, "rb") as fh:
            data = os.pread(fh.fileno(), int(lengths.sum()), chunk.text_at)
    text = b"".join(
        data[int(e - n) : int(e)]
        for e, n, k in zip(ends.tolist(), lengths.tolist(), passage_keep.tolist(), strict=True)
        if k
    )

    def masked(column: bytes, dtype: type[np.generic], mask: Any) -> bytes:
        data: bytes = np.frombuffer(column, dtype=dtype)[mask].tobytes()
        return data

    return Chunk(
        new_terms=chunk.new_terms,
        term_base=chunk.term_base,
        worker=chunk.worker,
        token_ids=masked(chunk.token_ids, np.int32, np.repeat(passage_keep, doc_len)),
        doc_len=masked(chunk.doc_len, np.int32, passage_keep),
        passages_per_article=masked(chunk.passages_per_article, np.int32, keep),
        paragraph=masked(chunk.paragraph, np.int32, passage_keep),
        window=masked(chunk.window, np.int32, passage_keep),
        hashes=masked(chunk.hashes, np.int64, passage_keep),
        speakers=[s for s, k in zip(chunk.speakers, passage_keep.tolist(), strict=True) if k],
        text_lengths=masked(chunk.text_lengths, np.int64, passage_keep),
        text=text,
        articles=[m for m, k in zip(chunk.articles, keep.tolist(), strict=True) if k],
    ), skipped


class _WorkerTexts:
    """The forked workers' text files (``Chunk.text_file``), each opened once."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def fd(self, path: str) -> int:
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, os.O_RDONLY)
        return fd

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _collect(columns: dict[str, list[Any]], chunk: Chunk) -> None:
    columns["doc_len"].append(chunk.doc_len)
    columns["per_article"].append(chunk.passages_per_article)
    columns["paragraph"].append(chunk.paragraph)
    columns["window"].append(chunk.window)
    columns["hashes"].append(chunk.hashes)
    columns["lengths"].append(chunk.text_lengths)


def _cat(parts: list[bytes], dtype: type[np.generic]) -> Any:
    return np.frombuffer(b"".join(parts), dtype=dtype).copy()
