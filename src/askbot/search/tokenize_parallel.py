"""Passages -> term ids for a build: exactly ``Analyzer.terms``, cached per word, on 2 processes."""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import threading
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from askbot.search import analysis
from askbot.search.analysis import _CHAT_MARKUP, _TOKEN, Analyzer, _blank, clean_text
from askbot.search.corpus import (
    FilePart,
    Source,
    Task,
    passage_rows,
    read_lines,
    read_part,
    source_hash,
    source_hash_of_bytes,
)
from askbot.search.models import Article, Skipped

try:
    from askbot.search import _chunks
except ImportError:  # pragma: no cover - installed without a C compiler: TermIds splits in Python
    _chunks = None  # type: ignore[assignment]

# Below this many articles a second process costs more than it saves.
PARALLEL_MIN_ARTICLES = 4000
TASK_ARTICLES = 2000


# The analyzer version whose Analyzer.terms this module reproduces chunk by chunk; with any other
# version it falls back to calling Analyzer.terms (slower, never different).
ANALYZER_VERSION = 2

# Chunks of all-capitals text (where capitals do not mark acronyms) are kept under this prefix;
# clean_text removes NUL, so no real chunk starts with it.
_SHOUTED = "\x00"


def _folded_in_python(text: str) -> bool:
    # Printable text has no whitespace but " ": without doubled or edge spaces it is folded.
    return text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " "


# str.isprintable and "is ' '.join(text.split()) text itself": the compiled ones read Latin-1
# text by table, where str.isprintable looks every character up in the Unicode database.
_isprintable: Callable[[str], bool] = str.isprintable
_spaces_folded: Callable[[str], bool] = _folded_in_python
if _chunks is not None:
    _isprintable = _chunks.isprintable
    _spaces_folded = _chunks.spaces_folded


def _analysable(text: str) -> str:
    """The text as Analyzer.terms splits it: cleaned, chat markup blanked."""
    # Every character clean_text removes is non-printable, so printable text is already clean
    # (checking is a C loop, clean_text a regex substitution).
    if not _isprintable(text):
        text = clean_text(text)
    if "<" in text or "@" in text:  # chat markup is blanked, as Analyzer.terms does
        text = _CHAT_MARKUP.sub(_blank, text)
    return text


class TermIds:
    """Maps text to term ids (first-seen order) exactly as ``Analyzer.terms`` maps it to terms.

    A token never spans whitespace (the token pattern has none), so the terms of a text are the
    terms of its whitespace-separated chunks in order, and each distinct chunk is analysed once.
    Distinct chunks are bounded by the vocabulary times a few punctuation variants.

    With the compiled chunk table (askbot.search._chunks) a batch of texts goes to term ids
    without a Python object per chunk: at a million passages, creating, hashing and looking up
    a str per chunk was most of the cost of a build. Without it (no C compiler, or
    ``compiled=False``) the same ids come from ``str.split``, a dict of chunk ids and a numpy
    gather; that path is the reference the tests hold the table to.
    """

    def __init__(self, analyzer: Analyzer, compiled: bool = True) -> None:
        self.analyzer = analyzer
        self.vocab: dict[str, int] = {}
        # A random seed: which chunks share slots of the table changes from run to run (the ids
        # never do), so no fixed corpus is slow every time.
        self._table = (
            _chunks.ChunkTable(int.from_bytes(os.urandom(8), "little"))
            if compiled and _chunks is not None
            else None
        )
        self._chunk_id: dict[str, int] = {}
        self._chunk_ptr = array("q", [0])
        self._chunk_terms = array("i")

    @property
    def compiled(self) -> bool:
        """Whether batches go through the compiled chunk table."""
        return self._table is not None

    def _chunk_term_ids(self, chunk: str, shouted: bool) -> list[int]:
        """The term ids of one chunk, new terms getting the next ids (the table's callback)."""
        # Analyzer._lookup is the analyzer's own (cached) token -> term: the same rules.
        lookup = self.analyzer._lookup
        acronyms = not shouted
        found = [t for raw in _TOKEN.findall(chunk) if (t := lookup(raw, acronyms)) is not None]
        # Ids are given only once every token is analysed: a lookup that raises leaves the
        # vocabulary as it was.
        vocab = self.vocab
        return [vocab.setdefault(term, len(vocab)) for term in found]

    def _add_chunk(self, chunk: str) -> int:
        shouted = chunk.startswith(_SHOUTED)
        ids = self._chunk_term_ids(chunk[1:] if shouted else chunk, shouted)
        self._chunk_terms.extend(ids)
        cid = self._chunk_id[chunk] = len(self._chunk_ptr) - 1
        self._chunk_ptr.append(len(self._chunk_terms))
        return cid

    def batch(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        """The term ids of all ``texts`` concatenated, and how many belong to each text."""
        if analysis.ANALYZER_VERSION != ANALYZER_VERSION:
            return self._batch_by_analyzer(texts)
        # Most texts need nothing: the test of _analysable in line, without a call per text.
        printable = _isprintable
        texts = [
            t if printable(t) and "<" not in t and "@" not in t else _analysable(t) for t in texts
        ]
        if self._table is None:
            return self._batch_in_python(texts)
        # In all-capitals text capitals mean nothing (as in Analyzer.terms).
        shouted = bytes(map(str.isupper, texts))
        tokens, counts = self._table.batch(texts, shouted, self._chunk_term_ids)
        return np.frombuffer(tokens, dtype=np.int32), np.frombuffer(counts, dtype=np.int64)

    def _batch_in_python(
        self, texts: Sequence[str]
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        # One str.split per text, one dictionary lookup per chunk (map over dict.get, all in C)
        # and a numpy gather from chunk ids to term ids.
        per_text = array("q")
        chunks: list[str] = []
        for text in texts:
            parts = [_SHOUTED + c for c in text.split()] if text.isupper() else text.split()
            per_text.append(len(parts))
            chunks.extend(parts)
        ids = np.fromiter(
            map(self._chunk_id.get, chunks, repeat(-1)), dtype=np.int64, count=len(chunks)
        )
        for i in np.flatnonzero(ids < 0).tolist():
            cid = self._chunk_id.get(chunks[i])  # a new chunk may repeat within the batch
            ids[i] = self._add_chunk(chunks[i]) if cid is None else cid
        ptr = np.frombuffer(self._chunk_ptr, dtype=np.int64)
        terms = np.frombuffer(self._chunk_terms, dtype=np.int32)
        starts = ptr[ids]
        lens = ptr[ids + 1] - starts
        ends = np.cumsum(lens)
        total = int(ends[-1]) if ends.size else 0
        # Ragged gather: the term ids of every chunk, in order.
        positions = np.repeat(starts - (ends - lens), lens) + np.arange(total, dtype=np.int64)
        tokens = terms[positions] if total else np.zeros(0, dtype=np.int32)
        chunk_end = np.cumsum(np.frombuffer(per_text, dtype=np.int64))
        cum = np.concatenate(([0], ends))
        counts = cum[chunk_end] - cum[np.concatenate(([0], chunk_end[:-1]))]
        return tokens, counts.astype(np.int64)

    def _batch_by_analyzer(
        self, texts: Sequence[str]
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        vocab = self.vocab
        tokens = array("i")
        counts = array("q")
        for text in texts:
            terms = self.analyzer.terms(text)
            tokens.extend(vocab.setdefault(t, len(vocab)) for t in terms)
            counts.append(len(terms))
        return np.frombuffer(tokens, dtype=np.int32), np.frombuffer(counts, dtype=np.int64)

    def terms(self, text: str) -> list[str]:
        """The terms of ``text`` (for tests: must equal ``Analyzer.terms``)."""
        ids, _ = self.batch([text])
        names = list(self.vocab)
        return [names[i] for i in ids.tolist()]


def text_hash(text: str) -> int:
    """A 63-bit hash of the text with case and spacing folded, to spot syndicated copies."""
    if _chunks is not None:  # Latin-1 text lowered, folded, encoded and hashed in one C call
        compiled = _chunks.text_hash(text)
        if compiled >= 0:
            return compiled
    return _text_hash_py(text)


def _text_hash_py(text: str) -> int:
    """``text_hash`` in Python: blake2b of ``" ".join(text.lower().split())``."""
    normal = text.lower()
    if not _spaces_folded(normal):
        normal = " ".join(normal.split())
    return int.from_bytes(hashlib.blake2b(normal.encode(), digest_size=8).digest(), "little") >> 1


# What the index keeps of an article: id, title, date, url, source, author, path, content hash,
# paragraphs.
ArticleMeta = tuple[str, str, str | None, str | None, str | None, str | None, str, str, int]


@dataclass(slots=True)
class Chunk:
    """A run of articles split and analysed: everything the build keeps, as flat arrays."""

    new_terms: list[str]  # terms first seen in this chunk, in local id order
    term_base: int  # the local id of new_terms[0]
    worker: int  # which TermIds the local ids belong to
    token_ids: bytes  # int32 local term ids of every passage, concatenated
    doc_len: bytes  # int32 terms per passage
    passages_per_article: bytes  # int32
    paragraph: bytes  # int32
    window: bytes  # int32
    hashes: bytes  # int64
    speakers: list[str]
    text_lengths: bytes  # int64 UTF-8 bytes per passage
    text: bytes  # UTF-8 texts, concatenated
    articles: list[ArticleMeta]  # the analysed articles, in order
    # Read from files: each article's position among the task's sources, the sources skipped
    # (with their position) and the files skipped before the task.
    positions: list[int] = field(default_factory=list)
    skipped: list[tuple[int, Skipped]] = field(default_factory=list)
    skipped_before: tuple[Skipped, ...] = ()
    # Sources whose content hash a saved index already has: (position, saved row, id, where).
    known: list[tuple[int, int, str, str]] = field(default_factory=list)
    # A forked worker with a text folder leaves ``text`` empty: the texts are bytes
    # [text_at, text_at + sum(text_lengths)) of its file ``text_file`` there (``WORKER_TEXTS``).
    text_file: str = ""
    text_at: int = 0


# A forked worker's passage texts go to this file in the build's text folder (named for the
# build and the worker), not through the result pipe: the build copies them from there
# (``Chunk.text_file``) and removes the files when the workers are done.
WORKER_TEXTS = ".tmp-texts-{build}-{pid}"


def _text_hashes(texts: Sequence[str]) -> array[int]:
    """``text_hash`` of each text, as an int64 array."""
    if _chunks is None:
        return array("q", map(_text_hash_py, texts))
    hashes = array("q", map(_chunks.text_hash, texts))
    if hashes and min(hashes) < 0:  # text wider than Latin-1: hashed in Python
        for i in [i for i, h in enumerate(hashes) if h < 0]:
            hashes[i] = _text_hash_py(texts[i])
    return hashes


def analyse_articles(articles: Sequence[Article], term_ids: TermIds, worker: int = 0) -> Chunk:
    """Split articles into passages and turn each into term ids, text and citation columns."""
    base = len(term_ids.vocab)
    per_article = array("i")
    rows: list[tuple[int, int, str, str, str]] = []
    metas: list[ArticleMeta] = []
    for article in articles:
        metas.append(
            (
                article.id, article.title, article.date, article.url, article.source,
                article.author, article.path, article.content_hash, len(article.paragraphs),
            )
        )  # fmt: skip
        found = passage_rows(article)
        per_article.append(len(found))
        rows += found
    # Column by column, each a C-level map over the rows: no Python loop per passage.
    paragraph, window, texts, contexts, speakers = zip(*rows, strict=True) if rows else ((),) * 5
    analysed = [f"{t} {c}" if c else t for t, c in zip(texts, contexts, strict=True)]
    encoded = list(map(str.encode, texts))
    tokens, doc_len = term_ids.batch(analysed)
    return Chunk(
        new_terms=list(term_ids.vocab)[base:],
        term_base=base,
        worker=worker,
        token_ids=tokens.astype(np.int32).tobytes(),
        doc_len=doc_len.astype(np.int32).tobytes(),
        passages_per_article=per_article.tobytes(),
        paragraph=array("i", paragraph).tobytes(),
        window=array("i", window).tobytes(),
        hashes=_text_hashes(texts).tobytes(),
        speakers=list(speakers),
        text_lengths=array("q", map(len, encoded)).tobytes(),
        text=b"".join(encoded),
        articles=metas,
    )


# Content hash -> (row, id) of the articles of a saved index (a reindex reuses their postings).
Known = dict[str, tuple[int, str]]
# File -> its sources in a saved index, in order: (saved row, id, path) of an article, or
# (-1, reason, where) of a skipped source. Replayed for files that have not changed.
Replay = dict[str, list[tuple[int, str, str]]]


def analyse_task(
    task: Task,
    term_ids: TermIds,
    worker: int = 0,
    known: Known | None = None,
    replay: Replay | None = None,
) -> Chunk:
    """Read a task's file parts, parse their articles and analyse them (``analyse_articles``).

    Sources whose content hash is in ``known`` are neither parsed nor analysed, only listed.
    """
    articles: list[Article] = []
    positions: list[int] = []
    skipped: list[tuple[int, Skipped]] = []
    seen: list[tuple[int, int, str, str]] = []
    position = 0
    for part in task.parts:
        if part.unchanged and replay is not None:
            for row, text, where in replay.get(part.rel, ()):
                if row >= 0:
                    seen.append((position, row, text, where))
                else:
                    skipped.append((position, Skipped(where, text)))
                position += 1
            continue
        try:
            if known is not None and part.bulk:
                sources = _known_or_sources(part, known)
            else:
                sources = list(read_part(part))
        except (OSError, UnicodeDecodeError) as exc:
            # The file changed (or went) since it was checked: skip this part, with the reason.
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            skipped.append((position, Skipped(part.rel, f"changed while being read ({reason})")))
            position += 1
            continue
        for source in sources:
            if isinstance(source, tuple):  # a known line
                where, (row, article_id) = source
                seen.append((position, row, article_id, where))
                position += 1
                continue
            if known is not None:
                hit = known.get(source_hash(source.text))
                if hit is not None and (source.bulk or hit[1] == source.article_id):
                    seen.append((position, hit[0], hit[1], source.where))
                    position += 1
                    continue
            try:
                articles.append(source.parse())
                positions.append(position)
            except ValueError as exc:
                skipped.append((position, Skipped(source.where, str(exc))))
            position += 1
    chunk = analyse_articles(articles, term_ids, worker)
    chunk.positions = positions
    chunk.skipped = skipped
    chunk.skipped_before = task.skipped_before
    chunk.known = seen
    return chunk


def _known_or_sources(part: FilePart, known: Known) -> list[Source | tuple[str, tuple[int, str]]]:
    """A JSONL part's sources: (where, saved row and id) for a line ``known`` holds, else the
    Source to parse. Lines are hashed as bytes and only the unknown ones decoded; a line that
    does not decode raises UnicodeDecodeError, as ``read_part`` does for its part."""
    out: list[Source | tuple[str, tuple[int, str]]] = []
    for where, line in read_lines(part):
        hit = known.get(source_hash_of_bytes(line))
        out.append(
            (where, hit) if hit is not None else Source(where, str(line, "utf-8"), bulk=True)
        )
    return out


_Item = TypeVar("_Item")

# The forked workers read their input from here (inherited, never pickled).
_SHARED: dict[str, Any] = {}


def _term_ids() -> TermIds:
    term_ids: TermIds | None = _SHARED.get("term_ids")
    if term_ids is None:
        term_ids = _SHARED["term_ids"] = TermIds(_SHARED["analyzer"])
    return term_ids


def _work(span: tuple[int, int]) -> Chunk:
    return analyse_articles(_SHARED["articles"][span[0] : span[1]], _term_ids(), os.getpid())


def _work_task(task: Task) -> Chunk:
    # Nothing a worker builds has reference cycles; the collector would only rescan its heap.
    gc.disable()
    chunk = analyse_task(
        task, _term_ids(), os.getpid(), _SHARED.get("known"), _SHARED.get("replay")
    )
    folder: Path | None = _SHARED.get("text_dir")
    if folder is not None and chunk.text:
        _text_to_file(chunk, folder)
    return chunk


def _text_to_file(chunk: Chunk, folder: Path) -> None:
    """Append the chunk's texts to this worker's file in ``folder``; the chunk says where."""
    out: tuple[str, int, int] | None = _SHARED.get("text_out")
    if out is None:
        path = str(folder / WORKER_TEXTS.format(build=_SHARED["build"], pid=os.getpid()))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        out = (path, fd, 0)
    path, fd, at = out
    view = memoryview(chunk.text)
    while view:
        view = view[os.write(fd, view) :]
    chunk.text_file, chunk.text_at = path, at
    _SHARED["text_out"] = (path, fd, at + len(chunk.text))
    chunk.text = b""


def can_fork() -> bool:
    """Forking is only safe from a single-threaded process (no lock held by another thread)."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
    )


def analyse_in_parallel(
    articles: Sequence[Article], analyzer: Analyzer, workers: int
) -> Iterator[Chunk]:
    """Chunks of ``articles`` in order, analysed by ``workers`` forked processes (or here)."""
    spans = [
        (i, min(len(articles), i + TASK_ARTICLES)) for i in range(0, len(articles), TASK_ARTICLES)
    ]
    if workers <= 1 or len(articles) < PARALLEL_MIN_ARTICLES or not can_fork():
        term_ids = TermIds(analyzer)
        for start, end in spans:
            yield analyse_articles(articles[start:end], term_ids)
        return
    _SHARED.update(articles=articles, analyzer=analyzer)
    try:
        yield from _in_workers(_work, spans, workers)
    finally:
        _SHARED.clear()


def analyse_tasks_in_parallel(
    tasks: Iterable[Task],
    analyzer: Analyzer,
    workers: int,
    parallel: bool = True,
    known: Known | None = None,
    replay: Replay | None = None,
    text_dir: Path | None = None,
) -> Iterator[Chunk]:
    """Chunks of the tasks (corpus file parts) in order, read and analysed by forked workers.

    The workers read the files themselves, so this process never holds the articles' text;
    with ``text_dir`` they write their passage texts to files there (``Chunk.text_file``),
    which the caller removes.
    """
    if workers <= 1 or not parallel or not can_fork():
        term_ids = TermIds(analyzer)
        for task in tasks:
            yield analyse_task(task, term_ids, known=known, replay=replay)
        return
    build = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    _SHARED.update(analyzer=analyzer, known=known, replay=replay, text_dir=text_dir, build=build)
    try:
        yield from _in_workers(_work_task, tasks, workers)
    finally:
        _SHARED.clear()
        if text_dir is not None:  # read (or given up) by now; open copies stay readable
            for path in text_dir.glob(WORKER_TEXTS.format(build=build, pid="*")):
                path.unlink(missing_ok=True)


def _in_workers(
    work: Callable[[_Item], Chunk], items: Iterable[_Item], workers: int
) -> Iterator[Chunk]:
    """``work`` of each item in ``workers`` forked processes, the results in order.

    A ProcessPoolExecutor, not a multiprocessing.Pool: the Pool's worker-handler thread also
    waits on the result pipe, so it spins for as long as a result is being read from it (1.6 s
    of this process's CPU in a 1M-passage build, next to workers that need both cores). Closing
    the results early (a reindex that gives up) cancels the items not started.
    """
    executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        yield from executor.map(work, items)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
