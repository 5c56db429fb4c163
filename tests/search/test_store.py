"""Finding, building and saving the index that matches the corpus and the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write

from askbot.search.analysis import Analyzer
from askbot.search.index import BM25Params, Index
from askbot.search.store import IndexSpec, open_index

A = Analyzer()


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def test_first_open_builds_and_second_open_loads(corpus_dir: Path, tmp_path: Path) -> None:
    """The index is built once and then loaded from disk."""
    spec = IndexSpec(corpus_dir, tmp_path / "idx")
    assert open_index(spec, A).built
    again = open_index(spec, A)
    assert not again.built and again.index.n_docs == 291


def test_changed_corpus_is_rebuilt(corpus_dir: Path, tmp_path: Path) -> None:
    """Adding an article makes the next open build a new index that contains it."""
    spec = IndexSpec(corpus_dir, tmp_path / "idx")
    open_index(spec, A)
    write(corpus_dir / "new.txt", "Zanzibar news\n\nThe Zanzibar ferry arrived.")
    opened = open_index(spec, A)
    assert opened.built and opened.index.search(["zanzibar"], 1)


def test_other_bm25_parameters_get_their_own_index(corpus_dir: Path, tmp_path: Path) -> None:
    """Changing k1 does not reuse the index built with another k1."""
    open_index(IndexSpec(corpus_dir, tmp_path / "idx"), A)
    assert open_index(IndexSpec(corpus_dir, tmp_path / "idx", BM25Params(k1=1.2)), A).built


def test_nothing_is_written_into_the_corpus_folder(corpus_dir: Path, tmp_path: Path) -> None:
    """Building leaves the corpus folder exactly as it was."""
    before = _files(corpus_dir)
    open_index(IndexSpec(corpus_dir, tmp_path / "idx"), A)
    assert _files(corpus_dir) == before


def test_index_folder_inside_the_corpus_is_refused(corpus_dir: Path) -> None:
    """An index_root under the corpus raises a clear error."""
    with pytest.raises(ValueError, match="never writes into the corpus"):
        open_index(IndexSpec(corpus_dir, corpus_dir / ".index"), A)


def test_half_written_index_from_a_killed_build_is_ignored(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """A leftover temp folder (a build killed mid-save) is never loaded."""
    spec = IndexSpec(corpus_dir, tmp_path / "idx")
    good = open_index(spec, A)
    (good.path / "meta.json").unlink()  # as if the rename never happened: no meta, no index
    write(spec.index_root / f".tmp-{good.path.name}-1-1" / "docs.npy", b"garbage")
    reopened = open_index(spec, A)
    assert reopened.built and reopened.index.n_docs == good.index.n_docs


def test_build_leaves_only_the_index_folder(corpus_dir: Path, tmp_path: Path) -> None:
    """The passage texts spilled to a temporary file during the build leave nothing behind."""
    opened = open_index(IndexSpec(corpus_dir, tmp_path / "idx"), A)
    assert [p.name for p in (tmp_path / "idx").iterdir()] == [opened.path.name]
    assert opened.index.text(0) == Index.load(opened.path).text(0) != ""
