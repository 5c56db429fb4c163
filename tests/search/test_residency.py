"""residency.py: a served index's maps become resident only where they are read."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np
import pytest

from askbot.search import index as index_module
from askbot.search import residency


def _resident_kb(path: Path) -> int:
    """Resident KB of this process's mappings of ``path`` (from /proc/self/smaps)."""
    total, current = 0, None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" in head[3]:
            current = head[5] if len(head) > 5 else None
        elif head and head[0] == "Rss:" and current == str(path):
            total += int(head[1])
    return total


def _written(tmp_path: Path, mb: int = 64) -> Path:
    path = tmp_path / "postings.npy"
    np.save(path, np.arange(mb * 2**18, dtype=np.int32))
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    return path


@pytest.mark.skipif(
    not Path("/proc/self/smaps").exists() or not hasattr(os, "posix_fadvise"),
    reason="needs Linux smaps and posix_fadvise",
)
def test_random_reads_of_a_dropped_advised_map_stay_a_few_pages(tmp_path: Path) -> None:
    """100 scattered reads keep ~100 pages resident, not the large folios of the write."""
    path = _written(tmp_path)
    residency.drop_cached([path])
    array = index_module._map_array(path)  # as Index.load maps it
    view = np.asarray(array)[10:]  # a plain view of the map, as Index keeps them
    assert residency.advise_random([view, array]) == 1
    picks = np.random.default_rng(0).integers(0, view.shape[0], 100)
    assert sum(int(view[i]) for i in picks.tolist()) == sum(int(i) + 10 for i in picks.tolist())
    assert _resident_kb(path) <= 100 * 4 * 2  # at most a neighbour page per read
    del view, array


def test_arrays_without_a_map_are_not_advised() -> None:
    """In-memory arrays and other objects are skipped."""
    assert residency.advise_random([np.zeros(10), b"bytes", None]) == 0


def test_dropping_missing_files_is_harmless(tmp_path: Path) -> None:
    """A file that went is skipped; the data of the others stays readable."""
    path = _written(tmp_path, mb=1)
    residency.drop_cached([tmp_path / "gone.npy", path])
    assert int(np.load(path, mmap_mode="r")[12345]) == 12345


def test_a_closed_map_is_not_advised(tmp_path: Path) -> None:
    """A map already closed (an index being dropped) is skipped, not an error."""
    path = _written(tmp_path, mb=1)
    with open(path, "rb") as fh:
        mapping = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    mapping.close()
    assert residency.advise_random([mapping]) == 0


def test_np_load_maps_are_advised_too(tmp_path: Path) -> None:
    """np.load(mmap_mode="r") keeps its mmap behind another chain of bases: found as well."""
    array = np.load(_written(tmp_path, mb=1), mmap_mode="r")
    assert residency.advise_random([np.asarray(array)[5:]]) == 1


def test_a_loaded_index_maps_every_array_it_advises(tmp_path: Path) -> None:
    """Every array of a loaded index is a map of its own file (so each gets the advice)."""
    from conftest import BUNDLED_CORPUS

    from askbot.search.analysis import Analyzer
    from askbot.search.build import build_corpus_index

    path = build_corpus_index(BUNDLED_CORPUS, Analyzer(), workers=1).save(tmp_path / "idx")
    loaded = index_module.Index.load(path)
    arrays = [getattr(loaded, name) for name in index_module.Index._ARRAYS]
    assert residency.advise_random(arrays) == len(arrays)


def test_prefetching_missing_files_is_harmless(tmp_path: Path) -> None:
    """prefetch is a hint: a file that is not there is passed over."""
    path = _written(tmp_path, mb=1)
    residency.prefetch([tmp_path / "missing.npy", path])
    assert np.load(path).shape == (2**18,)


def test_prefetch_asks_for_every_chunk_of_each_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One WILLNEED for a whole file reads only its first MBs: prefetch asks chunk by chunk,
    from the first byte to the last."""
    path = _written(tmp_path, mb=20)  # 20 MB of int32, plus the .npy header
    calls: list[tuple[int, int, int]] = []
    monkeypatch.setattr(
        os, "posix_fadvise", lambda fd, start, n, advice: calls.append((start, n, advice))
    )
    residency.prefetch([path])
    size = path.stat().st_size
    starts = [start for start, _, _ in calls]
    assert starts == list(range(0, size, residency.PREFETCH_CHUNK))
    assert all(n == residency.PREFETCH_CHUNK and a == os.POSIX_FADV_WILLNEED for _, n, a in calls)
