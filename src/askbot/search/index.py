"""Build, search, save and load the BM25Okapi index (rank-bm25's definition, exact)."""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from askbot.search.analysis import Analyzer
from askbot.search.corpus import split_passages
from askbot.search.models import Article, Hit, Passage, Skipped

FORMAT = "askbot-index"
FORMAT_VERSION = 1

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
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
    k1, b = params.k1, params.b
    result: F64 = idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl)))
    return result


def coverage_idf(df: int, n_docs: int) -> float:
    """A term's weight for judging how much of a question a passage covers.

    Plain Robertson-Sparck Jones idf floored at a small positive value, so common words count a
    little and a word the corpus has never seen counts the most.
    """
    return max(math.log((n_docs - df + 0.5) / (df + 0.5)), 0.05)


def _text_hash(text: str) -> int:
    normal = " ".join(text.lower().split())
    return int.from_bytes(hashlib.blake2b(normal.encode(), digest_size=8).digest(), "little") >> 1


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


class Index:
    """An immutable BM25Okapi index over passages, with the passages' text and citations.

    Postings are a term-major CSR matrix of precomputed exact BM25Okapi weights, so a query
    only touches the passages that contain its terms.
    """

    def __init__(
        self,
        *,
        params: BM25Params,
        analyzer_fingerprint: str,
        key: str,
        terms: list[str],
        indptr: I64,
        docs: I32,
        weights: F64,
        tfs: I32,
        df: I64,
        idf: F64,
        doc_len: I32,
        articles: list[ArticleInfo],
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
    ) -> None:
        self.params = params
        self.analyzer_fingerprint = analyzer_fingerprint
        self.key = key
        self.terms = terms
        self.vocab = {t: i for i, t in enumerate(terms)}
        self.indptr = indptr
        self.docs = docs
        self.weights = weights
        self.tfs = tfs
        self.df = df
        self.idf = idf
        self.doc_len = doc_len
        self.articles = articles
        self.article_by_id = {a.id: i for i, a in enumerate(articles)}
        self.p_article = p_article
        self.p_paragraph = p_paragraph
        self.p_window = p_window
        self.p_speaker = p_speaker
        self.p_hash = p_hash
        self.text_offsets = text_offsets
        self.text_blob = text_blob
        self.speakers = speakers
        self.skipped = skipped
        self.meta = meta or {}
        self.n_docs = int(doc_len.shape[0])
        total = int(doc_len.sum(dtype=np.int64))
        self.avgdl = total / self.n_docs if self.n_docs else 0.0
        self._local = threading.local()

    # -- lookups -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.n_docs

    def text(self, doc: int) -> str:
        """The displayed text of passage ``doc``."""
        start, end = int(self.text_offsets[doc]), int(self.text_offsets[doc + 1])
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
            scores[self.docs[s:e]] += self.weights[s:e]
        return scores

    def _accumulator(self) -> F64:
        acc: F64 | None = getattr(self._local, "acc", None)
        if acc is None:
            acc = self._local.acc = np.zeros(self.n_docs, dtype=np.float64)
        return acc

    def search(self, query: Sequence[str], k: int = 10) -> list[Hit]:
        """The top ``k`` passages for the analysed query terms, best first.

        Ties are broken by passage order so results are deterministic. Only passages containing
        at least one query term are considered (every other passage scores 0).
        """
        if k <= 0 or self.n_docs == 0:
            return []
        counts: dict[int, int] = {}
        for term in query:
            t = self.vocab.get(term)
            if t is not None:
                counts[t] = counts.get(t, 0) + 1
        if not counts:
            return []
        if len(counts) == 1:
            ((t, c),) = counts.items()
            s, e = int(self.indptr[t]), int(self.indptr[t + 1])
            cand = self.docs[s:e]
            scores = self.weights[s:e] * c if c != 1 else self.weights[s:e]
            return _top_k(cand, scores, k)
        acc = self._accumulator()
        parts = []
        for t, c in counts.items():
            s, e = int(self.indptr[t]), int(self.indptr[t + 1])
            d = self.docs[s:e]
            acc[d] += self.weights[s:e] * c if c != 1 else self.weights[s:e]
            parts.append(d)
        cand = np.unique(np.concatenate(parts))
        scores = acc[cand]
        acc[cand] = 0.0
        return _top_k(cand, scores, k)

    # -- persistence -------------------------------------------------------------------------

    _ARRAYS = (
        "indptr", "docs", "weights", "tfs", "df", "idf", "doc_len",
        "p_article", "p_paragraph", "p_window", "p_speaker", "p_hash", "text_offsets",
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
        for name in self._ARRAYS:
            _write_array(tmp / f"{name}.npy", getattr(self, name))
        _write_bytes(tmp / "texts.bin", bytes(self.text_blob))
        doc = {
            "terms": self.terms,
            "speakers": self.speakers,
            "articles": [asdict(a) for a in self.articles],
            "skipped": [asdict(s) for s in self.skipped],
        }
        _write_bytes(tmp / "tables.json", json.dumps(doc, ensure_ascii=False).encode())
        meta = {
            **self.meta,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "key": self.key,
            "analyzer": self.analyzer_fingerprint,
            "params": asdict(self.params),
            "passages": self.n_docs,
            "articles": len(self.articles),
            "terms": len(self.terms),
        }
        # meta.json is written last: a folder without it is never loaded.
        _write_bytes(tmp / "meta.json", json.dumps(meta, indent=2).encode())
        _fsync_dir(tmp)
        if final.exists():
            old = final.parent / f".old-{final.name}-{os.getpid()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
        _fsync_dir(final.parent)
        return final

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        *,
        analyzer_fingerprint: str | None = None,
        params: BM25Params | None = None,
    ) -> Index:
        """Open a saved index, memory-mapping its arrays; refuse other versions or settings."""
        path = Path(directory)
        try:
            meta = json.loads((path / "meta.json").read_text())
        except FileNotFoundError:
            raise IndexFormatError(f"no saved index in {path}") from None
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"unreadable index metadata in {path}: {exc}") from None
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(
                f"index in {path} has format {meta.get('format')!r} version "
                f"{meta.get('format_version')!r}; this askbot reads {FORMAT!r} version "
                f"{FORMAT_VERSION} (it will be rebuilt)"
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
            arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in cls._ARRAYS}
            blob = (
                np.memmap(path / "texts.bin", dtype=np.uint8, mode="r")
                if (path / "texts.bin").stat().st_size
                else b""
            )
            tables = json.loads((path / "tables.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"damaged index in {path}: {exc}") from None
        if arrays["doc_len"].shape[0] != meta.get("passages"):
            raise IndexFormatError(f"damaged index in {path}: passage count does not match")
        return cls(
            params=saved,
            analyzer_fingerprint=meta["analyzer"],
            key=meta.get("key", ""),
            terms=tables["terms"],
            articles=[ArticleInfo(**a) for a in tables["articles"]],
            speakers=tables["speakers"],
            skipped=[Skipped(**s) for s in tables["skipped"]],
            text_blob=blob,
            meta=meta,
            **arrays,
        )


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


def _write_array(path: Path, array: Any) -> None:
    with open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array))
        fh.flush()
        os.fsync(fh.fileno())


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def index_key(corpus_fingerprint: str, analyzer: Analyzer, params: BM25Params) -> str:
    """The name a saved index is kept under: changes when the corpus or any setting changes."""
    spec = json.dumps(
        [FORMAT_VERSION, corpus_fingerprint, analyzer.fingerprint(), asdict(params)], sort_keys=True
    )
    return hashlib.sha256(spec.encode()).hexdigest()[:20]


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
) -> Index:
    """Split articles into passages, analyse them and compute exact BM25Okapi weights."""
    params = params or BM25Params()
    started = time.perf_counter()
    article_list = list(articles)
    gc_was_enabled = gc.isenabled()
    # Millions of small token lists make the cyclic GC rescan the heap over and over; nothing
    # built here has reference cycles.
    gc.disable()
    try:
        passages: list[Passage] = []
        infos: list[ArticleInfo] = []
        for a in article_list:
            ps = split_passages(a)
            infos.append(
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
                    first_passage=len(passages),
                    passage_count=len(ps),
                )
            )
            passages.extend(ps)
        n = len(passages)
        vocab: dict[str, int] = {}
        term_ids: list[int] = []
        doc_len = np.zeros(n, dtype=np.int32)
        step = max(1, n // 100)
        for doc, toks in enumerate(tokenize_passages(passages, analyzer)):
            ids = [vocab.setdefault(t, len(vocab)) for t in toks]
            term_ids.extend(ids)
            doc_len[doc] = len(ids)
            if progress is not None and (doc % step == 0):
                progress(doc, n)
        if progress is not None:
            progress(n, n)
        index = _assemble(
            passages=passages,
            infos=infos,
            vocab=vocab,
            term_ids=np.asarray(term_ids, dtype=np.int64),
            doc_len=doc_len,
            params=params,
            analyzer=analyzer,
            key=key,
            skipped=list(skipped),
        )
    finally:
        if gc_was_enabled:
            gc.enable()
    index.meta["build_seconds"] = round(time.perf_counter() - started, 3)
    return index


def _assemble(
    *,
    passages: list[Passage],
    infos: list[ArticleInfo],
    vocab: dict[str, int],
    term_ids: I64,
    doc_len: I32,
    params: BM25Params,
    analyzer: Analyzer,
    key: str,
    skipped: list[Skipped],
) -> Index:
    n = len(passages)
    v = len(vocab)
    doc_of_token = np.repeat(np.arange(n, dtype=np.int64), doc_len)
    # One sort of (term, passage) pairs gives the CSR postings and the term frequencies.
    pair = term_ids * max(n, 1) + doc_of_token
    uniq, tf = np.unique(pair, return_counts=True)
    post_terms = uniq // max(n, 1)
    docs = (uniq % max(n, 1)).astype(np.int32)
    df = np.bincount(post_terms, minlength=v).astype(np.int64)
    indptr = np.zeros(v + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    idf = okapi_idf(df, n, params.epsilon)
    total = int(doc_len.sum(dtype=np.int64))
    avgdl = total / n if n else 1.0
    weights = okapi_term_weight(
        tf.astype(np.float64), doc_len[docs].astype(np.float64), avgdl, idf[post_terms], params
    )
    speakers: dict[str, int] = {}
    p_speaker = np.array(
        [speakers.setdefault(p.speaker, len(speakers)) if p.speaker else -1 for p in passages],
        dtype=np.int32,
    )
    encoded = [p.text.encode("utf-8") for p in passages]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    article_index = {info.id: i for i, info in enumerate(infos)}
    return Index(
        params=params,
        analyzer_fingerprint=analyzer.fingerprint(),
        key=key,
        terms=list(vocab),
        indptr=indptr,
        docs=docs,
        weights=weights,
        tfs=tf.astype(np.int32),
        df=df,
        idf=idf,
        doc_len=doc_len,
        articles=infos,
        p_article=np.array([article_index[p.article_id] for p in passages], dtype=np.int32),
        p_paragraph=np.array([p.paragraph for p in passages], dtype=np.int32),
        p_window=np.array([p.window for p in passages], dtype=np.int32),
        p_speaker=p_speaker,
        p_hash=np.array([_text_hash(p.text) for p in passages], dtype=np.int64),
        text_offsets=offsets,
        text_blob=b"".join(encoded),
        speakers=list(speakers),
        skipped=skipped,
        meta={"avgdl": avgdl},
    )
