"""Keep a served index's memory-mapped arrays resident only where queries read them.

Linux (6.x) keeps a file's page cache in large folios: the pages a build writes, or readahead
brings in, come in runs of up to 2 MB, and a fault on a mapped file maps the whole folio. One
search then makes 8 MB of each postings array resident, and 200 questions almost all of them.

Two steps keep the resident set to the pages touched:

- ``drop_cached`` after an index is written and synced: its files leave the page cache, so the
  large folios of the write are gone (the data is on disk; nothing is lost).
- ``advise_random`` on the arrays a server maps: no readahead, so a page read on a fault is
  cached (and mapped) alone. A reader that scans whole arrays (a reindex) must not use it.

Both are hints: where the platform lacks them they do nothing, and results never change.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _mapping_of(array: Any) -> mmap.mmap | None:
    """The mmap an array (or a view of a view of it) reads from, or None."""
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        # np.frombuffer(mapping) holds a memoryview of the mapping.
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return base


def advise_random(arrays: Iterable[Any]) -> int:
    """Ask for no readahead on the maps behind ``arrays``; how many maps were advised."""
    advice = getattr(mmap, "MADV_RANDOM", None)
    if advice is None:
        return 0
    done: set[int] = set()
    for array in arrays:
        mapping = _mapping_of(array)
        if mapping is None or id(mapping) in done or mapping.closed:
            continue
        try:
            mapping.madvise(advice)
        except (OSError, ValueError):  # an empty or unsupported map: only a hint
            continue
        done.add(id(mapping))
    return len(done)


def drop_cached(paths: Iterable[Path]) -> None:
    """Drop the (synced) files from the page cache; the next reads come from disk."""
    _advise_files(paths, "POSIX_FADV_DONTNEED")


def prefetch(paths: Iterable[Path]) -> None:
    """Have the kernel read the files into the page cache now, whole, in the background.

    For a reader about to scan them (a reindex): the disk reads then overlap its other work
    instead of stalling it page by page. One WILLNEED for a whole file reads only its first
    few MB here (the kernel caps it), so the files are asked for in chunks of that size.
    Blocks only while the reads are queued.
    """
    _advise_files(paths, "POSIX_FADV_WILLNEED", PREFETCH_CHUNK)


# What one WILLNEED reads at most (Linux 6.x: 8 MB of a file, on this machine).
PREFETCH_CHUNK = 8 << 20


def _advise_files(paths: Iterable[Path], advice_name: str, chunk: int = 0) -> None:
    """posix_fadvise(advice) on each whole file, or on each ``chunk`` bytes of it; missing
    files and platforms without the call are passed over."""
    fadvise = getattr(os, "posix_fadvise", None)
    advice = getattr(os, advice_name, None)
    if fadvise is None or advice is None:
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            size = os.fstat(fd).st_size if chunk else 0
            for start in range(0, size, chunk) if chunk else (0,):
                fadvise(fd, start, chunk, advice)
        except OSError:
            pass
        finally:
            os.close(fd)
