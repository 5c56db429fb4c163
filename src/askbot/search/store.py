"""Find the saved index that matches a corpus and the settings, or build and save it."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from askbot.search.analysis import Analyzer
from askbot.search.build import build_index
from askbot.search.corpus import DEFAULT_MAX_FILE_BYTES, corpus_fingerprint, load_corpus
from askbot.search.index import (
    BM25Params,
    Index,
    IndexFormatError,
    Progress,
    index_key,
)
from askbot.search.models import Skipped

KEEP_INDEXES = 2


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """Everything that decides which index a corpus gets: where it is and how it is analysed."""

    corpus_dir: Path
    index_root: Path
    params: BM25Params = field(default_factory=BM25Params)
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    language: str = "english"


@dataclass(frozen=True, slots=True)
class Opened:
    """An index ready to search, and whether it had to be built now."""

    index: Index
    built: bool
    seconds: float
    path: Path


@dataclass(frozen=True, slots=True)
class ReindexReport:
    """What a rebuild changed compared with the index it replaces."""

    articles: int
    passages: int
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    skipped: tuple[Skipped, ...]
    seconds: float
    key: str


def _check_not_inside(corpus_dir: Path, index_root: Path) -> None:
    corpus = corpus_dir.resolve()
    target = index_root.resolve()
    if target == corpus or target.is_relative_to(corpus):
        raise ValueError(
            f"the index folder {index_root} is inside the corpus folder {corpus_dir}; askbot never "
            "writes into the corpus: set ASKBOT_INDEX_DIR or ASKBOT_DATA_DIR elsewhere"
        )


def build_and_save(spec: IndexSpec, analyzer: Analyzer, progress: Progress | None = None) -> Opened:
    """Read the corpus, build its index and save it under its key (never in the corpus)."""
    _check_not_inside(spec.corpus_dir, spec.index_root)
    started = time.perf_counter()
    fingerprint = corpus_fingerprint(spec.corpus_dir, spec.max_file_bytes)
    key = index_key(fingerprint, analyzer, spec.params)
    corpus = load_corpus(spec.corpus_dir, spec.max_file_bytes)
    index = build_index(
        corpus.articles, analyzer, spec.params, key=key, skipped=corpus.skipped, progress=progress
    )
    path = index.save(spec.index_root / key)
    _prune(spec.index_root, keep=path)
    return Opened(index=index, built=True, seconds=time.perf_counter() - started, path=path)


def open_index(spec: IndexSpec, analyzer: Analyzer, progress: Progress | None = None) -> Opened:
    """Load the saved index for the corpus as it is now, building it first if needed."""
    started = time.perf_counter()
    key = index_key(corpus_fingerprint(spec.corpus_dir, spec.max_file_bytes), analyzer, spec.params)
    path = spec.index_root / key
    if (path / "meta.json").exists():
        try:
            index = Index.load(
                path, analyzer_fingerprint=analyzer.fingerprint(), params=spec.params
            )
            return Opened(
                index=index, built=False, seconds=time.perf_counter() - started, path=path
            )
        except IndexFormatError:
            pass  # another version or a damaged folder: rebuild below
    return build_and_save(spec, analyzer, progress)


def _prune(index_root: Path, keep: Path) -> None:
    """Remove older saved indexes, keeping the newest few (another process may still map one)."""
    try:
        entries = [p for p in index_root.iterdir() if p.is_dir() and p != keep]
    except OSError:
        return
    finished = [p for p in entries if not p.name.startswith(".")]
    finished.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in finished[KEEP_INDEXES - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
    stale = time.time() - 3600
    for tmp in entries:
        # Leftovers of a build that was killed: half-written, never loaded, safe to remove.
        if tmp.name.startswith((".tmp-", ".old-")) and tmp.stat().st_mtime < stale:
            shutil.rmtree(tmp, ignore_errors=True)


def compare(old: Index | None, new: Index, seconds: float) -> ReindexReport:
    """Articles added, changed and removed between two indexes."""
    before = {a.id: a.content_hash for a in old.articles} if old is not None else {}
    after = {a.id: a.content_hash for a in new.articles}
    return ReindexReport(
        articles=len(new.articles),
        passages=new.n_docs,
        added=tuple(sorted(set(after) - set(before))),
        changed=tuple(sorted(k for k in after if k in before and before[k] != after[k])),
        removed=tuple(sorted(set(before) - set(after))),
        skipped=tuple(new.skipped),
        seconds=round(seconds, 3),
        key=new.key,
    )
