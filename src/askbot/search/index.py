"""Build, search, save and load the BM25Okapi index (rank-bm25's definition, exact).

On-disk format (``FORMAT_VERSION`` 5), one folder per index, every array a ``.npy`` file that is
memory-mapped read-only on load, so opening costs no reading:

=====================  ===========  ===============================================================
file                   dtype        content
=====================  ===========  ===============================================================
meta.json              JSON         format, format_version, key, analyzer fingerprint, BM25 params,
                                    counts (passages, articles, terms), avgdl, build_seconds;
                                    written last: a folder without it is never loaded
indptr.npy             int64 V+1    postings of term t are ``[indptr[t], indptr[t+1])``
docs.npy               int32 P      passage of each posting, ascending within a term
tfs.npy                int32 P      term frequency of the posting (its exact BM25Okapi weight is
                                    computed from it, doc_len and idf when needed)
df.npy, idf.npy        int64/f64 V  document frequency, rank-bm25 idf (epsilon floor applied)
term_max.npy           float64 V    largest weight of each term (MaxScore's bound)
champ_ptr.npy          int64 V+1    champion postings of term t: ``[champ_ptr[t], champ_ptr[t+1])``
champ_docs.npy         int32        the term's ``CHAMPIONS`` best passages by (weight desc,
                                    passage asc); empty for terms with at most that many postings
impacts.npy            uint8 P      8-bit bound of the posting's weight: floor(weight / delta[t]),
                                    so weight <= (impact + 1) * delta[t]; what the search scans
delta.npy              float64 V    term_max / 255, the impact step of each term
doc_len.npy            int32 N      terms per passage
p_article.npy          int32 N      article of each passage (row of articles.jsonl)
p_paragraph.npy        int32 N      1-based paragraph number
p_window.npy           int32 N      0, or the 1-based window of a long paragraph
p_speaker.npy          int32 N      row of ``speakers`` in tables.json, or -1
p_hash.npy             int64 N      63-bit hash of the folded text (duplicate detection)
text_offsets.npy       int64 N+1    passage text is ``texts[text_offsets[d]:text_offsets[d+1]]``
texts.bin              UTF-8        passage texts, concatenated: ``texts`` itself, unless...
texts.K.bin            UTF-8        ...a reindex kept the saved texts files (``meta["text_files"]``
                                    files in all, K = 1, 2, ...) and added one for its new passages
text_runs.npy          int64 R x 3  (a reindex's) ``texts`` in runs: run r starts at
                                    offset runs[r,0] of ``texts``, in file runs[r,1] (0 is
                                    texts.bin) at byte runs[r,2], and ends where run r+1 starts
terms.txt              UTF-8        the V terms, sorted, one per line (term id = line number)
articles.jsonl         UTF-8 JSON   one ArticleInfo object per line, parsed only when asked for;
                                    path, first_passage, passage_count are its last fields
article_offsets.npy    int64 A+1    byte offsets of the lines of articles.jsonl
tables.json            JSON         {"speakers": [...], "skipped": [{"path", "reason"}]}
=====================  ===========  ===============================================================
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import mmap
import os
import queue
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from askbot.search import pruning, residency
from askbot.search.analysis import Analyzer
from askbot.search.corpus import SPEAKER_RULES_VERSION, WINDOW_WORDS
from askbot.search.models import Hit, Passage, Skipped

FORMAT = "askbot-index"
FORMAT_VERSION = 5
# Versions this askbot loads: 4 is 5 without text runs (one texts file).
READABLE_VERSIONS = (4, 5)

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
Progress = Callable[[int, int], None]


class IndexFormatError(Exception):
    """A saved index that cannot be used (other version, other analyzer, damaged files)."""


@dataclass(frozen=True, slots=True)
class BM25Params:
    """BM25Okapi's free parameters, with rank-bm25's defaults."""

    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25


def okapi_idf(df: I64, n_docs: int, epsilon: float) -> F64:
    """rank-bm25's BM25Okapi idf: log((N - n + 0.5) / (n + 0.5)), negatives -> epsilon * mean.

    The mean is taken over the raw idf of every term, as ``BM25Okapi._calc_idf`` does, and only
    strictly negative idfs are replaced.
    """
    if df.size == 0:
        return np.zeros(0, dtype=np.float64)
    d = df.astype(np.float64)
    idf = np.log(n_docs - d + 0.5) - np.log(d + 0.5)
    # Summed in vocabulary order, one term at a time, as rank-bm25 does (np.sum pairs terms).
    average = math.fsum(idf.tolist()) / idf.size
    idf[idf < 0] = epsilon * average
    return idf


def okapi_term_weight(tf: F64, doc_len: F64, avgdl: float, idf: F64, params: BM25Params) -> F64:
    """The score one term adds to a passage: idf * tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)).

    Written in the same operation order as ``BM25Okapi.get_scores`` so the floats agree.
    """
    return pruning.okapi_weight(tf, doc_len, avgdl, idf, params.k1, params.b)


def coverage_idf(df: int, n_docs: int) -> float:
    """A term's weight for judging how much of a question a passage covers.

    Plain Robertson-Sparck Jones idf floored at a small positive value, so common words count a
    little and a word the corpus has never seen counts the most.
    """
    return max(math.log((n_docs - df + 0.5) / (df + 0.5)), 0.05)


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    """An article's metadata as kept in the index, with the range of its passages."""

    id: str
    title: str
    date: str | None
    url: str | None
    source: str | None
    author: str | None
    path: str
    content_hash: str
    paragraphs: int
    first_passage: int
    passage_count: int


# Parsed articles a loaded index keeps at most (then the cache starts over).
ARTICLE_CACHE = 4096

# The fields of an articles.jsonl line, in order: what a reindex may change (where the article
# is now) comes last, so it can keep the rest of a kept article's line as it is (``relocated``).
_MOVABLE_FIELDS = ("path", "first_passage", "passage_count")
_ARTICLE_FIELDS = (
    *(f.name for f in fields(ArticleInfo) if f.name not in _MOVABLE_FIELDS),
    *_MOVABLE_FIELDS,
)
_PATH_KEY = b', "path": '


def article_line(a: ArticleInfo) -> bytes:
    """The line of articles.jsonl that holds ``a``: ``json.dumps`` of its fields (in
    ``_ARTICLE_FIELDS`` order, ``ensure_ascii=False``), byte for byte."""
    meta = (a.id, a.title, a.date, a.url, a.source, a.author, a.path, a.content_hash, a.paragraphs)
    return article_lines([meta], [a.first_passage], [a.passage_count])[0]


def article_lines(
    metas: Iterable[Sequence[Any]], firsts: Iterable[int], counts: Iterable[int]
) -> list[bytes]:
    """``article_line`` of ``ArticleInfo(*meta, first, count)`` for each meta (its first nine
    fields), first passage and passage count, without making the ArticleInfo.

    Written out with json's own string encoder: a build makes one line per article, and
    json.dumps' per-call machinery (or a frozen dataclass's construction) costs microseconds.
    """
    enc = encode_basestring
    return [
        f'{{"id": {enc(i)}, "title": {enc(t)}, "date": {"null" if d is None else enc(d)}, '
        f'"url": {"null" if u is None else enc(u)}, '
        f'"source": {"null" if s is None else enc(s)}, '
        f'"author": {"null" if au is None else enc(au)}, "content_hash": {enc(h)}, '
        f'"paragraphs": {n:d}, "path": {enc(path)}, "first_passage": {first:d}, '
        f'"passage_count": {count:d}}}\n'.encode()
        for (i, t, d, u, s, au, path, h, n), first, count in zip(metas, firsts, counts, strict=True)
    ]


def relocated(line: bytes | None, row: dict[str, Any], path: str, first_passage: int) -> bytes:
    """``line`` (whose parsed form is ``row``) with a new path and first passage.

    The fields before the path are kept byte for byte; without the line, or for a line written
    by an older askbot (its fields in another order), the line is encoded again.
    """
    if line is None or list(row)[-3:] != list(_MOVABLE_FIELDS):
        info = ArticleInfo(
            row["id"], row["title"], row["date"], row["url"], row["source"], row["author"],
            path, row["content_hash"], row["paragraphs"], first_passage, row["passage_count"],
        )  # fmt: skip
        return article_line(info)
    # A quote in a JSON string is escaped, so ', "path": ' is never inside a value: the last
    # one is the key.
    cut = line.rindex(_PATH_KEY)
    tail = encode_basestring(path)
    count = row["passage_count"]
    return (
        line[:cut]
        + f', "path": {tail}, "first_passage": {first_passage}, "passage_count": {count}}}\n'.encode()
    )


# A line as ``article_line`` writes it, matched without parsing it: the fields a reindex needs
# (id, content hash, path, first passage, passage count) are captured, still JSON-escaped. A
# quote inside a JSON string is escaped, so the keys matched here are never inside a value.
_STRING = rb'"([^"\\\n]*(?:\\.[^"\\\n]*)*)"'
_PATH_HEAD = b', "path": "'
_HASH_KEY = b'"content_hash": "'
_HASH_SIZE = 32  # hex digits of a content hash
_PATH_FIELD = re.compile(re.escape(_PATH_HEAD[:-1]))
_HASH_FIELD = re.compile(re.escape(_HASH_KEY))
_FIRST_HEAD = b'", "first_passage": '
_COUNT_HEAD = b', "passage_count": '
_LINE_END = b"}\n"
_SAVED_LINE = re.compile(
    rb'\{"id": ' + _STRING + rb', [^\n]*, "content_hash": "([0-9a-f]{32})", "paragraphs": \d+'
    + re.escape(_PATH_HEAD[:-1]) + _STRING + re.escape(_FIRST_HEAD[1:]) + rb"(\d+)"
    + re.escape(_COUNT_HEAD) + rb"(\d+)" + re.escape(_LINE_END)
)  # fmt: skip
_TAIL_FIXED = len(_PATH_HEAD) + len(_FIRST_HEAD) + len(_COUNT_HEAD) + len(_LINE_END)


def _unescaped(raw: bytes) -> str:
    text: str = json.loads(b'"' + raw + b'"')
    return text


ARTICLE_KEYS = "article_keys.json"


@dataclass(frozen=True)
class ArticleKeys:
    """The columns of an article table a reindex looks up first: each article's id, content hash,
    path and passage count, in table order.

    Saved beside articles.jsonl (``ARTICLE_KEYS``) by the builds that made the table, so a reindex
    reads them as JSON instead of matching every line (``ArticleColumns.from_keys`` checks them
    against the lines). An index without the file is read the old way.
    """

    ids: list[str]
    hashes: list[str]
    paths: list[str]
    counts: list[int]

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not len(self.hashes) == len(self.paths) == len(self.counts) == n:
            raise ValueError("article keys of unequal lengths")

    def to_json(self) -> bytes:
        doc = {"ids": self.ids, "hashes": self.hashes, "paths": self.paths, "counts": self.counts}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def read(cls, path: Path) -> ArticleKeys | None:
        """The keys saved at ``path``; None when there are none or they are unreadable."""
        try:
            doc = json.loads(path.read_bytes())
            keys = cls(doc["ids"], doc["hashes"], doc["paths"], doc["counts"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        texts = (keys.ids, keys.hashes, keys.paths)
        if not all(
            isinstance(column, list) and set(map(type, column)) <= {str} for column in texts
        ):
            return None
        if not isinstance(keys.counts, list) or not set(map(type, keys.counts)) <= {int}:
            return None
        return keys

    def __add__(self, other: ArticleKeys) -> ArticleKeys:
        return ArticleKeys(
            self.ids + other.ids,
            self.hashes + other.hashes,
            self.paths + other.paths,
            self.counts + other.counts,
        )


def _each_line_once(blob: bytes, key: re.Pattern[bytes], bounds: I64) -> I64:
    """Where ``key`` starts in each line (lines ``blob[bounds[i]:bounds[i + 1]]``); ValueError
    unless it is in every line exactly once. One scan of the blob, not a search per line."""
    n = int(bounds.shape[0]) - 1
    at = np.fromiter((m.start() for m in key.finditer(blob)), dtype=np.int64)
    if at.shape[0] != n or (
        n and (bool((at < bounds[:-1]).any()) or bool((at >= bounds[1:]).any()))
    ):
        raise ValueError("a line of the article table lacks a field, or repeats it")
    return at


class ArticleColumns:
    """An article table's lines (articles.jsonl) and the columns a reindex or a comparison
    needs (id, content hash, path, first passage and passage count of each article).

    Lines this version wrote are read by one regular expression, not parsed (a JSON parse of a
    million-passage corpus's table takes most of a second); others are parsed as JSON.
    """

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == ord("\n")) + 1
        self.offsets: list[int] = [0, *ends.tolist()]  # line i is blob[offsets[i]:offsets[i + 1]]
        n = len(self.offsets) - 1
        if self.offsets[-1] != len(blob):
            raise ValueError("the article table does not end with a line end")
        found = _SAVED_LINE.findall(blob)
        # Each match ends at a line end and spans no line end: as many matches as lines is one
        # match on every line.
        self._cuts: list[int] | None = None
        if len(found) == n:
            self.ids = [f[0].decode() if b"\\" not in f[0] else _unescaped(f[0]) for f in found]
            self.hashes = [f[1].decode() for f in found]
            self.paths = [f[2].decode() if b"\\" not in f[2] else _unescaped(f[2]) for f in found]
            self.firsts = np.fromiter(map(int, (f[3] for f in found)), dtype=np.int64, count=n)
            self.counts = np.fromiter(map(int, (f[4] for f in found)), dtype=np.int64, count=n)
            # Where each line's path field starts: the line's head before it is kept as it is.
            tails = np.fromiter(
                (len(f[2]) + len(f[3]) + len(f[4]) for f in found), dtype=np.int64, count=n
            )
            self._cuts = (
                np.asarray(self.offsets[1:], dtype=np.int64) - tails - _TAIL_FIXED
            ).tolist()
            return
        rows = [json.loads(self.line(i)) for i in range(n)]
        self.ids = [row["id"] for row in rows]
        self.hashes = [row["content_hash"] for row in rows]
        self.paths = [row["path"] for row in rows]
        self.firsts = np.fromiter((row["first_passage"] for row in rows), np.int64, count=n)
        self.counts = np.fromiter((row["passage_count"] for row in rows), np.int64, count=n)

    @classmethod
    def from_keys(cls, blob: bytes, offsets: Sequence[int], keys: ArticleKeys) -> ArticleColumns:
        """The columns of lines this version wrote, taken from their saved ``keys``.

        Every line must hold its key's content hash (what a reindex matches sources by) and a
        path field, where its tail is cut; raises ValueError otherwise. No loop over the lines
        in Python: this is most of a reindex's start.
        """
        self = cls.__new__(cls)
        self.blob = blob
        self.offsets = list(offsets)
        n = len(self.offsets) - 1
        if n != len(keys.ids) or self.offsets[-1] != len(blob) or self.offsets[0] != 0:
            raise ValueError("article keys do not match the article table")
        self.ids, self.hashes, self.paths = keys.ids, keys.hashes, keys.paths
        self.counts = np.asarray(keys.counts, dtype=np.int64).reshape(-1)
        self.firsts = np.cumsum(self.counts) - self.counts
        bounds = np.asarray(self.offsets, dtype=np.int64)
        cuts = _each_line_once(blob, _PATH_FIELD, bounds)
        at = _each_line_once(blob, _HASH_FIELD, bounds) + len(_HASH_KEY)
        wanted = np.frombuffer("".join(keys.hashes).encode(), dtype=np.uint8)
        if wanted.shape[0] != _HASH_SIZE * n or (n and int(at.max()) + _HASH_SIZE > len(blob)):
            raise ValueError("article keys do not match the article table's content hashes")
        if n:
            windows = np.lib.stride_tricks.sliding_window_view(
                np.frombuffer(blob, dtype=np.uint8), _HASH_SIZE
            )
            found = windows[at]  # each line's 32 bytes after its hash key (a copy of those only)
            if not np.array_equal(found.reshape(-1), wanted):
                raise ValueError("article keys do not match the article table's content hashes")
        cuts_list: list[int] = cuts.tolist()
        self._cuts = cuts_list
        return self

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def line(self, i: int) -> bytes:
        return self.blob[self.offsets[i] : self.offsets[i + 1]]

    def row(self, i: int) -> dict[str, Any]:
        """Article ``i``'s line, parsed."""
        row: dict[str, Any] = json.loads(self.line(i))
        return row

    def relocated(
        self, rows: Sequence[int], paths: Sequence[str], firsts: Sequence[int]
    ) -> list[bytes]:
        """The lines of saved articles ``rows`` with new paths and first passages.

        A line's fields before its path are kept byte for byte (``index.relocated``).
        """
        cuts = self._cuts
        if cuts is None:
            return [
                relocated(self.line(r), self.row(r), path, first)
                for r, path, first in zip(rows, paths, firsts, strict=True)
            ]
        blob, offsets, counts = self.blob, self.offsets, self.counts.tolist()
        return [
            blob[offsets[r] : cuts[r]]
            + f', "path": {encode_basestring(path)}, "first_passage": {first:d}, '
            f'"passage_count": {counts[r]:d}}}\n'.encode()
            for r, path, first in zip(rows, paths, firsts, strict=True)
        ]


class _FileRanges:
    """Byte ranges of a saved file, read with ``os.pread``.

    Not memory-mapped: a mapped page read at random brings its neighbours into the process's
    resident set with it (the kernel maps up to 16 cached pages around every fault), so reading
    a few passages per question from a mapping would leave most of a large texts.bin resident.
    """

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - lives as long as the index

    def read(self, start: int, end: int) -> bytes:
        return os.pread(self._file.fileno(), end - start, start)


class _BytesRanges:
    """Byte ranges of bytes in memory (``_FileRanges``' interface)."""

    def __init__(self, blob: bytes | U8) -> None:
        self._blob = blob

    def read(self, start: int, end: int) -> bytes:
        return bytes(self._blob[start:end])


@dataclass(frozen=True, slots=True)
class TextPart:
    """A file of passage texts after the first (texts.K.bin): a saved file, or a reindex's new
    texts (its spool's bytes, and the link that names the spool's file)."""

    path: Path | None = None
    blob: bytes | U8 = b""
    link: Callable[[Path], bool] | None = None


class _RunRanges:
    """Byte ranges of the passage texts laid out over several files in runs (text_runs.npy)."""

    def __init__(self, readers: list[_FileRanges | _BytesRanges], runs: I64) -> None:
        self._readers = readers
        self._starts = np.ascontiguousarray(runs[:, 0])
        self._files: list[int] = runs[:, 1].tolist()
        self._at: list[int] = runs[:, 2].tolist()

    def read(self, start: int, end: int) -> bytes:
        r = int(np.searchsorted(self._starts, start, side="right")) - 1  # a text is in one run
        at = self._at[r] + start - int(self._starts[r])
        return self._readers[self._files[r]].read(at, at + end - start)


def check_text_runs(runs: I64, sizes: Sequence[int], total: int) -> None:
    """Raise ValueError unless ``runs`` lay ``total`` bytes of texts within files of ``sizes``."""
    if runs.ndim != 2 or runs.shape[1] != 3 or runs.shape[0] == 0 or int(runs[0, 0]) != 0:
        raise ValueError("text runs of the wrong shape")
    starts, files, at = runs[:, 0], runs[:, 1], runs[:, 2]
    lengths = np.diff(np.append(starts, total))
    if (lengths < 0).any() or (files < 0).any() or (files >= len(sizes)).any() or (at < 0).any():
        raise ValueError("text runs out of order or naming no file")
    if (at + lengths > np.asarray(sizes, dtype=np.int64)[files]).any():
        raise ValueError("a text run ends past its file")


class ArticleTable(Sequence[ArticleInfo]):
    """Articles as the lines of articles.jsonl (a saved file, or bytes), each parsed on first use.

    ``offsets`` (A + 1) are the lines' byte offsets. A save writes the lines as they are.
    """

    def __init__(
        self,
        lines: _FileRanges | _BytesRanges,
        offsets: I64,
        keys: ArticleKeys | Path | None = None,
    ) -> None:
        self._lines = lines
        self._offsets = offsets
        # The table's ArticleKeys: in memory (a build's), or where they were saved (read when
        # needed), or None.
        self.keys = keys
        self._cache: dict[int, ArticleInfo] = {}

    @classmethod
    def of_lines(cls, lines: Sequence[bytes], keys: ArticleKeys | None = None) -> ArticleTable:
        """A table of these lines (``article_line`` s), kept in memory, with their keys."""
        offsets = np.zeros(len(lines) + 1, dtype=np.int64)
        np.cumsum([len(line) for line in lines], out=offsets[1:])
        if keys is not None and len(keys.ids) != len(lines):
            raise ValueError("article keys do not match the lines")
        return cls(_BytesRanges(b"".join(lines)), offsets, keys)

    def article_keys(self) -> ArticleKeys | None:
        """The table's keys, in memory or read from their file (None when there are none)."""
        if isinstance(self.keys, Path):
            return ArticleKeys.read(self.keys)
        return self.keys

    def columns(self) -> ArticleColumns:
        """The table as ``ArticleColumns``: from its keys when it has them (checked against the
        lines; matched line by line when they do not agree)."""
        blob, offsets = self.raw()
        keys = self.article_keys()
        if keys is not None:
            with contextlib.suppress(ValueError, TypeError):
                return ArticleColumns.from_keys(blob, offsets.tolist(), keys)
        return ArticleColumns(blob)

    def raw(self) -> tuple[bytes, I64]:
        """All the lines, as one blob, and their offsets."""
        return self._lines.read(0, int(self._offsets[-1])), self._offsets

    def __len__(self) -> int:
        return int(self._offsets.shape[0]) - 1

    def _parse(self, i: int) -> ArticleInfo:
        s, e = int(self._offsets[i]), int(self._offsets[i + 1])
        return ArticleInfo(**json.loads(self._lines.read(s, e)))

    def _get(self, i: int) -> ArticleInfo:
        info = self._cache.get(i)
        if info is None:
            if len(self._cache) >= ARTICLE_CACHE:
                # Bounded: a long-running bot cites articles from all over a large corpus, and
                # parsing a line again costs microseconds.
                self._cache.clear()
            info = self._cache[i] = self._parse(i)
        return info

    def content_hashes(self) -> dict[str, str]:
        """Article id -> content hash for every article, without parsing (or caching) them."""
        columns = self.columns()
        return dict(zip(columns.ids, columns.hashes, strict=True))

    @overload
    def __getitem__(self, i: int) -> ArticleInfo: ...
    @overload
    def __getitem__(self, i: slice) -> list[ArticleInfo]: ...
    def __getitem__(self, i: int | slice) -> ArticleInfo | list[ArticleInfo]:
        n = len(self)
        if isinstance(i, slice):
            return [self._get(j) for j in range(*i.indices(n))]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("article index out of range")
        return self._get(i)

    def __iter__(self) -> Iterator[ArticleInfo]:
        return (self._get(j) for j in range(len(self)))


class Index:
    """An immutable BM25Okapi index over passages, with the passages' text and citations.

    Postings are a term-major CSR matrix of term frequencies, so a query only touches the
    passages that contain its terms (exact BM25Okapi weights are computed from them); per-term
    maximum weights, 8-bit impacts and champion postings let the search skip most of the common
    terms' postings and stay exact.
    """

    def __init__(
        self,
        *,
        params: BM25Params,
        analyzer_fingerprint: str,
        key: str,
        terms: Sequence[str] | bytes,
        indptr: I64,
        docs: I32,
        tfs: I32,
        df: I64,
        idf: F64,
        term_max: F64,
        champ_ptr: I64,
        champ_docs: I32,
        impacts: U8,
        delta: F64,
        doc_len: I32,
        articles: Sequence[ArticleInfo],
        p_article: I32,
        p_paragraph: I32,
        p_window: I32,
        p_speaker: I32,
        p_hash: I64,
        text_offsets: I64,
        text_blob: bytes | np.ndarray[Any, np.dtype[np.uint8]],
        speakers: list[str],
        skipped: list[Skipped],
        meta: dict[str, Any] | None = None,
        text_file: Path | None = None,
        text_link: Callable[[Path], bool] | None = None,
        array_links: dict[str, Callable[[Path], bool]] | None = None,
        text_parts: Sequence[TextPart] = (),
        text_runs: I64 | None = None,
    ) -> None:
        self.params = params
        self.analyzer_fingerprint = analyzer_fingerprint
        self.key = key
        # A loaded index keeps its terms as one UTF-8 blob until a lookup needs the dictionary.
        self._terms_blob = terms if isinstance(terms, bytes) else None
        self._terms: list[str] | None = None if isinstance(terms, bytes) else list(terms)
        self._vocab: dict[str, int] | None = None
        self._article_by_id: dict[str, int] | None = None
        self._lock = threading.Lock()
        # Plain ndarray views of the memory maps: indexing an np.memmap goes through a Python-level
        # __getitem__ (microseconds a call), which the answer path does hundreds of times.
        self.indptr = np.asarray(indptr)
        self.docs = np.asarray(docs)
        self.tfs = np.asarray(tfs)
        self.df = np.asarray(df)
        self.idf = np.asarray(idf)
        self.term_max = np.asarray(term_max)
        self.champ_ptr = np.asarray(champ_ptr)
        self.champ_docs = np.asarray(champ_docs)
        self.impacts = np.asarray(impacts)
        self.delta = np.asarray(delta)
        self.doc_len = np.asarray(doc_len)
        self.articles = articles
        self.p_article = np.asarray(p_article)
        self.p_paragraph = np.asarray(p_paragraph)
        self.p_window = np.asarray(p_window)
        self.p_speaker = np.asarray(p_speaker)
        self.p_hash = np.asarray(p_hash)
        self.text_offsets = np.asarray(text_offsets)
        self.text_blob = text_blob
        # A loaded index reads passage texts from texts.bin with pread (see _FileRanges).
        first = _FileRanges(text_file) if text_file is not None else None
        self._texts: _FileRanges | _RunRanges | None = first
        self.text_path = text_file
        # More text files, and the runs that lay the texts over them (a reindex's).
        self.text_parts = list(text_parts)
        self.text_runs = None if text_runs is None else np.asarray(text_runs, dtype=np.int64)
        if self.text_runs is not None:
            readers: list[_FileRanges | _BytesRanges] = [first or _BytesRanges(text_blob)]
            readers += [
                _FileRanges(t.path) if t.path is not None else _BytesRanges(t.blob)
                for t in self.text_parts
            ]
            self._texts = _RunRanges(readers, self.text_runs)
        # Links the file holding ``text_blob`` (a build's spool) to a path; save then need not
        # write the texts again. False when it cannot (save writes them).
        self._text_link = text_link
        # The same for arrays already built in complete .npy files (name -> link).
        self._array_links = array_links or {}
        self.speakers = speakers
        self.skipped = skipped
        self.meta = meta or {}
        self.n_docs = int(doc_len.shape[0])
        total = int(doc_len.sum(dtype=np.int64))
        self.avgdl = total / self.n_docs if self.n_docs else 0.0
        self.postings = pruning.Postings(
            indptr=self.indptr, docs=self.docs, idf=self.idf,
            term_max=self.term_max, champ_ptr=self.champ_ptr, champ_docs=self.champ_docs,
            impacts=self.impacts, delta=self.delta, n_docs=self.n_docs, tfs=self.tfs,
            doc_len=self.doc_len, k1=params.k1, b=params.b, avgdl=self.avgdl,
        )  # fmt: skip
        self._scratch = pruning.Scratch()

    # -- lookups -----------------------------------------------------------------------------

    @property
    def terms(self) -> list[str]:
        """Every term, by term id (sorted for a built-and-saved index)."""
        if self._terms is None:
            blob = self._terms_blob or b""
            terms = blob.decode("utf-8").split("\n") if blob else []
            self._terms = terms
        return self._terms

    @property
    def vocab(self) -> dict[str, int]:
        """Term -> term id, built on first use (a loaded index starts without it)."""
        if self._vocab is None:
            with self._lock:
                if self._vocab is None:
                    self._vocab = {t: i for i, t in enumerate(self.terms)}
        return self._vocab

    @property
    def article_by_id(self) -> dict[str, int]:
        """Article id -> row of ``articles``, built on first use."""
        if self._article_by_id is None:
            with self._lock:
                if self._article_by_id is None:
                    self._article_by_id = {a.id: i for i, a in enumerate(self.articles)}
        return self._article_by_id

    def __len__(self) -> int:
        return self.n_docs

    def content_hashes(self) -> dict[str, str]:
        """Article id -> content hash of every article (a loaded index parses without caching)."""
        if isinstance(self.articles, ArticleTable):
            return self.articles.content_hashes()
        return {a.id: a.content_hash for a in self.articles}

    def text(self, doc: int) -> str:
        """The displayed text of passage ``doc``."""
        start, end = int(self.text_offsets[doc]), int(self.text_offsets[doc + 1])
        if self._texts is not None:
            return self._texts.read(start, end).decode("utf-8")
        return bytes(self.text_blob[start:end]).decode("utf-8")

    def article_of(self, doc: int) -> ArticleInfo:
        """The article passage ``doc`` belongs to."""
        return self.articles[int(self.p_article[doc])]

    def passage_id(self, doc: int) -> str:
        """The stable id of passage ``doc``: ``article#paragraph`` or ``article#paragraph.window``."""
        article = self.article_of(doc)
        window = int(self.p_window[doc])
        para = int(self.p_paragraph[doc])
        return f"{article.id}#{para}" if window == 0 else f"{article.id}#{para}.{window}"

    def speaker(self, doc: int) -> str:
        """The speaker the passage quotes, or ''."""
        s = int(self.p_speaker[doc])
        return self.speakers[s] if s >= 0 else ""

    def passage(self, doc: int) -> Passage:
        """Passage ``doc`` as a value."""
        article = self.article_of(doc)
        return Passage(
            id=self.passage_id(doc),
            article_id=article.id,
            paragraph=int(self.p_paragraph[doc]),
            window=int(self.p_window[doc]),
            text=self.text(doc),
            speaker=self.speaker(doc),
        )

    def doc_by_passage_id(self, passage_id: str) -> int | None:
        """The position of a passage id in this index, or None."""
        article_id, _, _ = passage_id.rpartition("#")
        a = self.article_by_id.get(article_id)
        if a is None:
            return None
        info = self.articles[a]
        for doc in range(info.first_passage, info.first_passage + info.passage_count):
            if self.passage_id(doc) == passage_id:
                return doc
        return None

    def document_frequency(self, term: str) -> int:
        """How many passages contain ``term``."""
        t = self.vocab.get(term)
        return 0 if t is None else int(self.df[t])

    # -- scoring -----------------------------------------------------------------------------

    def term_weights(self, t: int, at: I64 | None = None) -> F64:
        """Term id ``t``'s exact BM25Okapi weight in each passage of its postings (passages
        ``docs[indptr[t]:indptr[t + 1]]``), or only at positions ``at`` of that list.

        Computed from tf, doc_len and idf with ``okapi_term_weight``'s operations, so every
        value is bitwise what rank-bm25's ``get_scores`` adds for the term.
        """
        return self.postings.term_weights(t, at)

    def get_scores(self, query: Sequence[str]) -> F64:
        """Every passage's BM25Okapi score, as ``rank_bm25.BM25Okapi.get_scores`` returns them.

        Dense and O(passages): for tests and benchmarks, not for answering.
        """
        scores = np.zeros(self.n_docs, dtype=np.float64)
        for term in query:
            t = self.vocab.get(term)
            if t is None:
                continue
            s, e = int(self.indptr[t]), int(self.indptr[t + 1])
            scores[self.docs[s:e]] += self.term_weights(t)
        return scores

    def _term_ids(self, query: Sequence[str]) -> list[int]:
        vocab = self.vocab
        return [t for t in (vocab.get(term) for term in query) if t is not None]

    def search(self, query: Sequence[str], k: int = 10) -> list[Hit]:
        """The top ``k`` passages for the analysed query terms, best first.

        Ties are broken by passage order so results are deterministic. Only passages containing
        at least one query term are considered (every other passage scores 0). Exact: the same
        passages and scores as sorting ``get_scores`` over those passages, found by pruning.
        """
        if k <= 0 or self.n_docs == 0:
            return []
        seq = self._term_ids(query)
        if not seq:
            return []
        compiled = pruning.compiled_top_k(self.postings, seq, k, self._scratch)
        if compiled is not None:
            docs, best = compiled
            return [Hit(int(d), float(s)) for d, s in zip(docs, best, strict=True)]
        if len(set(seq)) == 1 and len(seq) <= 2:
            # One term: the score grows with its weight, and its champions are its best postings.
            t = seq[0]
            cs, ce = int(self.champ_ptr[t]), int(self.champ_ptr[t + 1])
            if ce - cs >= k:
                cand = self.champ_docs[cs : cs + k].astype(np.int64)
                return _top_k(cand, pruning.exact_scores(self.postings, seq, cand), k)
        cand64, scores = pruning.top_k(self.postings, seq, k, self._scratch)
        return _top_k(cand64, scores, k)

    def search_exhaustive(
        self, query: Sequence[str], k: int = 10, *, compiled: bool = False
    ) -> list[Hit]:
        """``search`` without pruning: every matching passage scored (for tests and benchmarks).

        numpy by default (the tests' reference); ``compiled=True`` runs the compiled kernel with
        pruning off, so a benchmark can show what pruning alone saves.
        """
        if k <= 0 or self.n_docs == 0:
            return []
        seq = self._term_ids(query)
        if not seq:
            return []
        if compiled:
            found = pruning.compiled_top_k(self.postings, seq, k, self._scratch, prune=False)
            if found is not None:
                return [Hit(int(d), float(s)) for d, s in zip(found[0], found[1], strict=True)]
        cand, scores = pruning.exhaustive(self.postings, seq, k, self._scratch)
        return _top_k(cand, scores, k)

    # -- persistence -------------------------------------------------------------------------

    _ARRAYS = (
        "indptr", "docs", "tfs", "df", "idf", "term_max", "champ_ptr", "champ_docs",
        "impacts", "delta", "doc_len", "p_article", "p_paragraph", "p_window", "p_speaker", "p_hash", "text_offsets",
    )  # fmt: skip

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index to ``directory`` atomically: a temp folder, fsync, then one rename.

        A crash at any moment leaves either no index or a complete one at ``directory``.
        """
        final = Path(directory)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".tmp-{final.name}-{os.getpid()}-{threading.get_ident()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        with _Syncer() as synced:
            self._write_files(tmp, synced)
        meta = {
            **self.meta,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "key": self.key,
            "analyzer": self.analyzer_fingerprint,
            "params": asdict(self.params),
            "passages": self.n_docs,
            "articles": len(self.articles),
            "terms": int(self.df.shape[0]),
            "text_files": 1 + len(self.text_parts),
            "text_runs": self.text_runs is not None,
        }
        # meta.json is written last, once every other file is on disk: a folder without it is
        # never loaded.
        _write_bytes(tmp / "meta.json", json.dumps(meta, indent=2).encode(), sync=True)
        _fsync_dir(tmp)
        if final.exists():
            old = final.parent / f".old-{final.name}-{os.getpid()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
        _fsync_dir(final.parent)
        # Everything is on disk: the page cache of the writes (large folios, which a reader's
        # fault would map whole) goes, so a server's maps hold only the pages it reads.
        residency.drop_cached(final / f"{name}.npy" for name in self._ARRAYS)
        return final

    def _write_files(self, tmp: Path, synced: _Syncer) -> None:
        """Every file but meta.json; ``synced`` fsyncs each while the next one is written."""
        for name in self._ARRAYS:
            path = tmp / f"{name}.npy"
            if not _linked(self._array_links.get(name), path):
                _write_array(path, getattr(self, name))
            synced(path)
        texts = tmp / "texts.bin"
        if not self._link_texts(texts):
            _write_bytes(texts, _buffer(self.text_blob))
        synced(texts)
        for k, part in enumerate(self.text_parts, start=1):
            more = tmp / f"texts.{k}.bin"
            if _linked(part.link or _hard_link(part.path), more):
                pass
            elif part.path is not None:  # no hard links here: a copy
                shutil.copyfile(part.path, more)
            else:
                _write_bytes(more, _buffer(part.blob))
            synced(more)
        if self.text_runs is not None:
            synced(_write_array(tmp / "text_runs.npy", self.text_runs))
        terms_blob = self._terms_blob
        if terms_blob is None:
            terms_blob = "\n".join(self.terms).encode("utf-8")
        synced(_write_bytes(tmp / "terms.txt", terms_blob))
        articles = self.articles
        if not isinstance(articles, ArticleTable):  # a table's lines are written as they are
            articles = ArticleTable.of_lines([article_line(a) for a in articles])
        blob, offsets = articles.raw()
        synced(_write_bytes(tmp / "articles.jsonl", blob))
        synced(_write_array(tmp / "article_offsets.npy", offsets))
        keys = articles.article_keys()
        if keys is not None:
            synced(_write_bytes(tmp / ARTICLE_KEYS, keys.to_json()))
        doc = {"speakers": self.speakers, "skipped": [asdict(s) for s in self.skipped]}
        synced(_write_bytes(tmp / "tables.json", json.dumps(doc, ensure_ascii=False).encode()))

    def _link_texts(self, dest: Path) -> bool:
        """Hard-link the file already holding the passage texts to ``dest``, if there is one.

        Saved files are never written in place, and a build's spool is never written after
        ``finish``: sharing the inode is safe, and saves writing (and syncing) the texts again.
        """
        if self._text_link is not None:
            return _linked(self._text_link, dest)
        return _linked(_hard_link(self.text_path), dest)

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        *,
        analyzer_fingerprint: str | None = None,
        params: BM25Params | None = None,
        scan: bool = False,
    ) -> Index:
        """Open a saved index, memory-mapping its arrays; refuse other versions or settings.

        The maps are read without readahead (``residency.advise_random``): a query reads a few
        postings lists and passages, and only those pages become resident. ``scan``: the caller
        reads whole arrays (a reindex), so readahead stays on.
        """
        path = Path(directory)
        try:
            meta = json.loads((path / "meta.json").read_text())
        except FileNotFoundError:
            raise IndexFormatError(f"no saved index in {path}") from None
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"unreadable index metadata in {path}: {exc}") from None
        if meta.get("format") != FORMAT or meta.get("format_version") not in READABLE_VERSIONS:
            raise IndexFormatError(
                f"index in {path} has format {meta.get('format')!r} version "
                f"{meta.get('format_version')!r}; this askbot reads {FORMAT!r} versions "
                f"{', '.join(map(str, READABLE_VERSIONS))} (it will be rebuilt)"
            )
        if analyzer_fingerprint is not None and meta.get("analyzer") != analyzer_fingerprint:
            raise IndexFormatError(
                f"index in {path} was built with another analyzer configuration (it will be rebuilt)"
            )
        saved = BM25Params(**meta.get("params", {}))
        if params is not None and saved != params:
            raise IndexFormatError(
                f"index in {path} was built with {saved}, settings ask for {params} (it will be rebuilt)"
            )
        try:
            arrays: dict[str, Any] = {n: _map_array(path / f"{n}.npy") for n in cls._ARRAYS}
            blob = _map_bytes(path / "texts.bin")
            n_texts = int(meta.get("text_files", 1))
            parts = [TextPart(path / f"texts.{k}.bin") for k in range(1, n_texts)]
            runs = None
            if meta.get("text_runs"):
                runs = np.load(path / "text_runs.npy")
                sizes = [len(blob), *(t.path.stat().st_size for t in parts if t.path)]
                check_text_runs(runs, sizes, int(arrays["text_offsets"][-1]))
            article_lines = _FileRanges(path / "articles.jsonl")
            article_offsets = _map_array(path / "article_offsets.npy")
            terms = (path / "terms.txt").read_bytes()
            tables = json.loads((path / "tables.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"damaged index in {path}: {exc}") from None
        if arrays["doc_len"].shape[0] != meta.get("passages") or (
            article_offsets.shape[0] != meta.get("articles", 0) + 1
        ):
            raise IndexFormatError(f"damaged index in {path}: passage count does not match")
        if not scan:
            residency.advise_random([*arrays.values(), article_offsets])
        return cls(
            params=saved,
            analyzer_fingerprint=meta["analyzer"],
            key=meta.get("key", ""),
            terms=terms,
            articles=ArticleTable(article_lines, article_offsets, path / ARTICLE_KEYS),
            speakers=tables["speakers"],
            skipped=[Skipped(**s) for s in tables["skipped"]],
            text_blob=blob,
            meta=meta,
            text_file=path / "texts.bin" if len(blob) else None,
            text_parts=parts,
            text_runs=runs,
            **arrays,
        )


def _map_array(path: Path) -> npt.NDArray[Any]:
    """A saved .npy array, memory-mapped read-only: ``np.load(mmap_mode="r")`` with one open
    instead of three (a query process opens some twenty arrays)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        offset = fh.tell()
        count = math.prod(shape)
        if (
            fortran
            or dtype.hasobject
            or offset + count * dtype.itemsize > os.fstat(fh.fileno()).st_size
        ):
            raise ValueError(f"{path.name} is not a complete C-ordered array")
        mapping = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    return np.frombuffer(mapping, dtype=dtype, count=count, offset=offset).reshape(shape)


def _hard_link(source: Path | None) -> Callable[[Path], bool] | None:
    """A link function giving the saved file ``source`` another name (None without one)."""
    if source is None:
        return None

    def link(dest: Path) -> bool:
        os.link(source, dest)
        return True

    return link


def _buffer(blob: bytes | U8) -> bytes | memoryview:
    return blob if isinstance(blob, bytes) else np.ascontiguousarray(blob).data


def _map_bytes(path: Path) -> bytes | npt.NDArray[np.uint8]:
    return np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else b""


def _top_k(cand: I32 | I64, scores: F64, k: int) -> list[Hit]:
    """The k best (score desc, passage asc) among candidate passages."""
    n = cand.shape[0]
    if n > k:
        part = np.argpartition(-scores, k - 1)[:k]
        kth = scores[part].min()
        above = np.flatnonzero(scores > kth)
        need = k - above.size
        ties = np.flatnonzero(scores == kth)
        if ties.size > need:
            ties = ties[np.argsort(cand[ties], kind="stable")[:need]]
        sel = np.concatenate([above, ties])
    else:
        sel = np.arange(n)
    order = np.lexsort((cand[sel], -scores[sel]))
    chosen = sel[order]
    return [Hit(int(d), float(s)) for d, s in zip(cand[chosen], scores[chosen], strict=True)]


def _write_array(path: Path, array: Any) -> Path:
    with open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array))
    return path


def _write_bytes(path: Path, data: bytes | memoryview, *, sync: bool = False) -> Path:
    with open(path, "wb") as fh:
        fh.write(data)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    return path


def _linked(link: Callable[[Path], bool] | None, dest: Path) -> bool:
    """Whether ``link`` gave an existing file the name ``dest`` (never raises)."""
    if link is None:
        return False
    try:
        return link(dest)
    except OSError:
        dest.unlink(missing_ok=True)
        return False


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Syncer:
    """fsyncs files on a background thread (in the order given) while the caller writes more.

    Leaving the ``with`` block waits until every file is on disk and re-raises the first error.
    """

    def __init__(self) -> None:
        self._paths: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="askbot-fsync", daemon=True)

    def _run(self) -> None:
        while (path := self._paths.get()) is not None:
            if self._error is None:
                try:
                    _fsync_file(path)
                except OSError as exc:  # re-raised in the saving thread
                    self._error = exc

    def __call__(self, path: Path) -> None:
        self._paths.put(path)

    def __enter__(self) -> _Syncer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._paths.put(None)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise self._error


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def index_key(corpus_fingerprint: str, analyzer: Analyzer, params: BM25Params) -> str:
    """The name a saved index is kept under: changes when the corpus or any setting changes.

    Passage splitting and speaker rules are part of it: new rules mean new passages.
    """
    spec = json.dumps(
        [
            FORMAT_VERSION, corpus_fingerprint, analyzer.fingerprint(), asdict(params),
            SPEAKER_RULES_VERSION, WINDOW_WORDS,
        ],
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(spec.encode()).hexdigest()[:20]
