"""Find the saved index that matches a corpus and the settings, or build and save it."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from askbot.search import residency
from askbot.search.analysis import Analyzer
from askbot.search.corpus import DEFAULT_MAX_FILE_BYTES, corpus_fingerprint
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


@dataclass(frozen=True, slots=True)
class Changes:
    """Article ids added, changed (another content hash) and removed by a rebuild, sorted."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]

    @classmethod
    def between(cls, before: Mapping[str, str], after: Mapping[str, str]) -> Changes:
        """The changes from ``before`` to ``after`` (article id -> content hash each)."""
        return cls(
            added=tuple(sorted(k for k in after if k not in before)),
            changed=tuple(sorted(k for k, h in after.items() if k in before and before[k] != h)),
            removed=tuple(sorted(k for k in before if k not in after)),
        )

    def report(self, new: Index, seconds: float) -> ReindexReport:
        """The reindex report of ``new``, built in ``seconds``, with these changes."""
        return ReindexReport(
            articles=len(new.articles),
            passages=new.n_docs,
            added=self.added,
            changed=self.changed,
            removed=self.removed,
            skipped=tuple(new.skipped),
            seconds=round(seconds, 3),
            key=new.key,
        )


def _check_not_inside(corpus_dir: Path, index_root: Path) -> None:
    corpus = corpus_dir.resolve()
    target = index_root.resolve()
    if target == corpus or target.is_relative_to(corpus):
        raise ValueError(
            f"the index folder {index_root} is inside the corpus folder {corpus_dir}; askbot never "
            "writes into the corpus: set ASKBOT_INDEX_DIR or ASKBOT_DATA_DIR elsewhere"
        )


def build_and_save(
    spec: IndexSpec,
    analyzer: Analyzer,
    progress: Progress | None = None,
    *,
    full_rebuild: bool = False,
) -> Opened:
    """The index of the corpus as it is now, saved under its key (never in the corpus).

    An index already saved under the key is returned as it is. Otherwise the newest saved index
    built with the same analyzer and parameters is reused: unchanged articles keep their
    postings and only new and changed ones are analysed (``incremental``), with exactly the
    scores of a cold build. ``full_rebuild`` (or a saved index that cannot be reused) reads and
    analyses the whole corpus.
    """
    # Build modules (forking workers, scipy) load only when a build runs: opening a saved
    # index, which every `askbot ask` does, needs none of them.
    from askbot.search.build import build_corpus_index
    from askbot.search.incremental import build_markers

    _check_not_inside(spec.corpus_dir, spec.index_root)
    started = time.perf_counter()
    fingerprint = corpus_fingerprint(spec.corpus_dir, spec.max_file_bytes)
    key = index_key(fingerprint, analyzer, spec.params)
    final = spec.index_root / key
    if not full_rebuild:
        existing = _load(final, analyzer, spec.params)
        if existing is not None:
            return Opened(
                index=existing, built=False, seconds=time.perf_counter() - started, path=final
            )
        opened = _reindex(spec, analyzer, key, started)
        if opened is not None:
            _prune(spec.index_root, keep=opened.path)
            return opened
    index = build_corpus_index(
        spec.corpus_dir,
        analyzer,
        spec.params,
        max_file_bytes=spec.max_file_bytes,
        key=key,
        progress=progress,
        spill_dir=spec.index_root,
    )
    index.meta.update(build_markers())
    path = index.save(final)
    del index  # see _reopened
    _prune(spec.index_root, keep=path)
    return Opened(
        index=_reopened(path, analyzer),
        built=True,
        seconds=time.perf_counter() - started,
        path=path,
    )


def _reopened(path: Path, analyzer: Analyzer) -> Index:
    """The index just saved at ``path``, loaded as a server maps it.

    Called once the built index is released: it wrote its largest arrays through maps of the
    files the save linked, and pages still mapped stay in the page cache whatever the save
    asked. Now they can leave it (``residency.drop_cached``: large folios a reader's fault would
    map whole), and the loaded index maps the files without readahead.
    """
    residency.drop_cached(path / f"{name}.npy" for name in Index._ARRAYS)
    return Index.load(path, analyzer_fingerprint=analyzer.fingerprint())


def _load(path: Path, analyzer: Analyzer, params: BM25Params) -> Index | None:
    if not (path / "meta.json").exists():
        return None
    try:
        return Index.load(path, analyzer_fingerprint=analyzer.fingerprint(), params=params)
    except IndexFormatError:
        return None


def _newest_saved(index_root: Path) -> list[Path]:
    """Finished index folders under ``index_root``, newest first."""
    try:
        found = [
            p
            for p in index_root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / "meta.json").exists()
        ]
    except OSError:
        return []
    found.sort(key=lambda p: (p / "meta.json").stat().st_mtime_ns, reverse=True)
    return found


def _reindex(spec: IndexSpec, analyzer: Analyzer, key: str, started: float) -> Opened | None:
    """The corpus's index from the newest reusable saved index, saved; None to build cold."""
    from askbot.search import incremental
    from askbot.search.incremental import build_markers

    final = spec.index_root / key
    for old_path in _newest_saved(spec.index_root)[:1]:
        try:
            index = incremental.reindex(
                old_path,
                spec.corpus_dir,
                analyzer,
                spec.params,
                key=key,
                max_file_bytes=spec.max_file_bytes,
            )
            if index is None:  # the same articles: share the saved files
                meta = json.loads((old_path / "meta.json").read_text())
                path = incremental.link_copy(old_path, final, key, meta)
                index = Index.load(path, analyzer_fingerprint=analyzer.fingerprint())
            else:
                index.meta.update(build_markers())
                index.meta["build_seconds"] = round(time.perf_counter() - started, 3)
                path = index.save(final)
                del index
                index = _reopened(path, analyzer)
        except (incremental.ReindexUnsupported, IndexFormatError, OSError, ValueError, KeyError):
            # Another analyzer, parameters or format, a damaged folder, or most articles
            # changed: a cold build.
            continue
        return Opened(index=index, built=True, seconds=time.perf_counter() - started, path=path)
    return None


def open_index(spec: IndexSpec, analyzer: Analyzer, progress: Progress | None = None) -> Opened:
    """Load the saved index for the corpus as it is now, building it first if needed."""
    started = time.perf_counter()
    key = index_key(corpus_fingerprint(spec.corpus_dir, spec.max_file_bytes), analyzer, spec.params)
    path = spec.index_root / key
    index = _load(path, analyzer, spec.params)
    if index is not None:
        return Opened(index=index, built=False, seconds=time.perf_counter() - started, path=path)
    # Another version or a damaged folder, or a changed corpus: build (reusing what it can).
    return build_and_save(spec, analyzer, progress)


def _prune(index_root: Path, keep: Path) -> None:
    """Remove older saved indexes, keeping the newest few (another process may still map one)."""
    try:
        entries = [p for p in index_root.iterdir() if p != keep]
    except OSError:
        return
    stale = time.time() - 3600
    for leftover in [p for p in entries if p.name.startswith(".tmp-texts-")]:
        # A build worker's texts a killed build left behind (``WORKER_TEXTS``).
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < stale:
                leftover.unlink()
    entries = [p for p in entries if p.is_dir()]
    finished = [p for p in entries if not p.name.startswith(".")]
    finished.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in finished[KEEP_INDEXES - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
    for tmp in entries:
        # Leftovers of a build that was killed: half-written, never loaded, safe to remove.
        if tmp.name.startswith((".tmp-", ".old-")) and tmp.stat().st_mtime < stale:
            shutil.rmtree(tmp, ignore_errors=True)


def compare(old: Index | None, new: Index, seconds: float) -> ReindexReport:
    """Articles added, changed and removed between two indexes."""
    before = old.content_hashes() if old is not None else {}
    return Changes.between(before, new.content_hashes()).report(new, seconds)
