"""Index.save: texts and arrays already in files are linked, not written again; all reach disk."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import BUNDLED_CORPUS, write

from askbot.search import index as index_module
from askbot.search import pruning
from askbot.search.analysis import Analyzer
from askbot.search.build import SpilledArray, build_corpus_index
from askbot.search.index import Index
from askbot.search.store import IndexSpec, build_and_save

A = Analyzer()


def _texts(index: Index) -> list[str]:
    return [index.text(d) for d in range(index.n_docs)]


def _written(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files save writes through _write_bytes."""
    names: list[str] = []
    write = index_module._write_bytes

    def spy(path: Path, data: bytes | memoryview, *, sync: bool = False) -> Path:
        names.append(path.name)
        return write(path, data, sync=sync)

    monkeypatch.setattr(index_module, "_write_bytes", spy)
    return names


def _arrays_written(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the arrays save writes through _write_array (not linked)."""
    names: list[str] = []
    write_array = index_module._write_array

    def spy(path: Path, array: object) -> Path:
        names.append(path.name)
        return write_array(path, array)

    monkeypatch.setattr(index_module, "_write_array", spy)
    return names


def test_a_build_spilled_to_disk_saves_its_texts_by_linking_the_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool file becomes texts.bin (no second copy of the texts), with the same texts."""
    index = build_corpus_index(BUNDLED_CORPUS, A, spill_dir=tmp_path / "root", workers=1)
    written = _written(monkeypatch)
    path = index.save(tmp_path / "root" / "saved")
    assert "texts.bin" not in written
    assert _texts(Index.load(path)) == _texts(index)


@pytest.mark.skipif(not pruning.kernel_available(), reason="the kernel builds them in files")
def test_a_build_spilled_to_disk_saves_its_postings_by_linking_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs, tfs and impacts a cold build made in unnamed files are linked, not written again."""
    index = build_corpus_index(BUNDLED_CORPUS, A, spill_dir=tmp_path / "root", workers=1)
    names = _arrays_written(monkeypatch)
    loaded = Index.load(index.save(tmp_path / "root" / "saved"))
    assert not {"docs.npy", "tfs.npy", "impacts.npy"} & set(names)
    for name in ("docs", "tfs", "impacts"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(index, name))


def test_a_build_saves_the_article_lines_it_made_while_reading(tmp_path: Path) -> None:
    """articles.jsonl holds exactly each article's line, and loads back as the same articles."""
    index = build_corpus_index(BUNDLED_CORPUS, A, workers=1)
    path = index.save(tmp_path / "saved")
    want = b"".join(index_module.article_line(a) for a in index.articles)
    assert (path / "articles.jsonl").read_bytes() == want
    assert list(Index.load(path).articles) == list(index.articles)


def test_a_build_spool_can_be_saved_twice(tmp_path: Path) -> None:
    """Each save gets a complete texts.bin."""
    index = build_corpus_index(BUNDLED_CORPUS, A, spill_dir=tmp_path / "root", workers=1)
    first, second = index.save(tmp_path / "root" / "a"), index.save(tmp_path / "root" / "b")
    assert _texts(Index.load(first)) == _texts(Index.load(second)) == _texts(index)


def test_saving_a_loaded_index_hard_links_its_texts(tmp_path: Path) -> None:
    """A loaded index's texts.bin is shared (same inode) by the copy it saves."""
    built = build_corpus_index(BUNDLED_CORPUS, A, workers=1)
    a = built.save(tmp_path / "a")
    b = Index.load(a).save(tmp_path / "b")
    assert os.stat(a / "texts.bin").st_ino == os.stat(b / "texts.bin").st_ino
    assert _texts(Index.load(b)) == _texts(built)


def test_texts_are_written_when_they_cannot_be_linked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed link (another file system, say) falls back to writing texts.bin."""
    index = build_corpus_index(BUNDLED_CORPUS, A, spill_dir=tmp_path / "root", workers=1)

    def no_link(*_: object, **__: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    written = _written(monkeypatch)
    path = index.save(tmp_path / "root" / "saved")
    assert "texts.bin" in written
    assert _texts(Index.load(path)) == _texts(index)


def test_every_file_is_fsynced_before_meta_json_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """meta.json (what makes a folder loadable) comes after every other file is on disk."""
    events: list[str] = []
    fsync_file = index_module._fsync_file
    write = index_module._write_bytes

    def synced(path: Path) -> None:
        fsync_file(path)
        events.append(f"fsync {path.name}")

    def spy(path: Path, data: bytes | memoryview, *, sync: bool = False) -> Path:
        if path.name == "meta.json":
            events.append("meta")
        return write(path, data, sync=sync)

    monkeypatch.setattr(index_module, "_fsync_file", synced)
    monkeypatch.setattr(index_module, "_write_bytes", spy)
    path = build_corpus_index(BUNDLED_CORPUS, A, workers=1).save(tmp_path / "saved")
    on_disk = {p.name for p in path.iterdir()} - {"meta.json"}
    assert events.index("meta") == len(events) - 1
    assert {e.removeprefix("fsync ") for e in events[:-1]} == on_disk


def test_a_failed_fsync_leaves_no_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An fsync error is raised by save and no loadable folder appears."""

    def broken(path: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(index_module, "_fsync_file", broken)
    with pytest.raises(OSError, match="Input/output"):
        build_corpus_index(BUNDLED_CORPUS, A, workers=1).save(tmp_path / "saved")
    assert not (tmp_path / "saved").exists()


def test_a_spilled_array_shrinks_and_links_as_a_complete_npy(tmp_path: Path) -> None:
    """Built in an unnamed file, cut to its used length, linked: np.load reads those values."""
    spilled = SpilledArray(tmp_path, 1000, np.int32)
    spilled.array[:] = np.arange(1000, dtype=np.int32)
    kept = spilled.shrink(600)
    assert spilled.link(tmp_path / "a.npy")
    np.testing.assert_array_equal(kept, np.arange(600, dtype=np.int32))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), kept)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy", mmap_mode="r"), kept)


def test_a_spilled_array_without_a_folder_is_in_memory_and_not_linkable(tmp_path: Path) -> None:
    """No folder: an ordinary array, and link says False (save writes it)."""
    spilled = SpilledArray(None, 10, np.uint8)
    assert spilled.shrink(4).shape == (4,)
    assert not spilled.link(tmp_path / "a.npy")


def test_a_reindex_saves_its_postings_by_linking_the_files_it_built(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs, tfs and impacts of a reindex are linked into the saved folder, not written again."""
    spec = IndexSpec(corpus_dir, tmp_path / "idx")
    build_and_save(spec, A)
    write(corpus_dir / "new.txt", "Zanzibar news\n\nThe Zanzibar ferry arrived at the harbour.")
    names = _arrays_written(monkeypatch)
    opened = build_and_save(spec, A)
    assert "reindexed_from" in opened.index.meta
    assert not {"docs.npy", "tfs.npy", "impacts.npy"} & set(names)
    loaded = Index.load(opened.path)
    for name in ("docs", "tfs", "impacts"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(opened.index, name))
    assert [h.doc for h in loaded.search(["zanzibar"], 3)] == [
        h.doc for h in opened.index.search(["zanzibar"], 3)
    ]


def _mapped_under(folder: Path) -> list[str]:
    """The files under ``folder`` this process has memory-mapped (from /proc/self/maps)."""
    found = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith(str(folder)):
            found.append(fields[5])
    return found


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("incremental", [False, True])
def test_a_built_index_is_handed_back_as_loaded_from_its_folder(
    corpus_dir: Path, tmp_path: Path, incremental: bool
) -> None:
    """The build's own maps (of the files its save linked) are gone: only the saved folder's
    files are mapped, each once, so their page cache could be dropped."""
    spec = IndexSpec(corpus_dir, tmp_path / "idx")
    build_and_save(spec, A)
    if incremental:
        write(corpus_dir / "new.txt", "Zanzibar news\n\nThe Zanzibar ferry arrived at the harbour.")
    opened = build_and_save(spec, A, full_rebuild=not incremental)
    assert opened.built and ("reindexed_from" in opened.index.meta) == incremental
    mapped = _mapped_under(spec.index_root)
    assert mapped and all(m.startswith(f"{opened.path}/") for m in mapped)
    assert len(mapped) == len(set(mapped))
    assert opened.index.text_path == opened.path / "texts.bin"
