"""Shared fixtures: the repository's paths and a private copy of the bundled corpus."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from askbot.search.analysis import Analyzer
from askbot.search.build import build_index
from askbot.search.corpus import load_corpus
from askbot.search.index import Index

REPO = Path(__file__).resolve().parents[1]
BUNDLED_CORPUS = REPO / "corpus"
SHARED = REPO.parent / "shared"
SEED_ID = "pompeo-hopeful-us-north-korea-dialogue"


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A writable copy of the bundled corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(BUNDLED_CORPUS, target)
    return target


def write(path: Path, text: str | bytes) -> Path:
    """Write a file, creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@functools.cache
def bundled_index() -> Index:
    """The bundled corpus's index, built once per test session (an Index is immutable)."""
    return build_index(list(load_corpus(BUNDLED_CORPUS).articles), Analyzer())
