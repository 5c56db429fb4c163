"""The pure search core: corpus -> passages -> index -> hits -> answer. No discord, no asyncio."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from askbot.search.analysis import Analyzer
    from askbot.search.answer import AnswerOptions, build_answer
    from askbot.search.build import build_index
    from askbot.search.corpus import Corpus, CorpusError, load_corpus, split_passages
    from askbot.search.index import BM25Params, Index, IndexFormatError
    from askbot.search.models import (
        Answer,
        Article,
        Citation,
        CitedPassage,
        Hit,
        Passage,
        Skipped,
    )
    from askbot.search.store import IndexSpec, open_index

# Where each public name lives. Imported on first use, so that importing one module of the core
# (say askbot.search.query) does not import all of them and numpy with them.
_HOME = {
    "Analyzer": "analysis",
    "Answer": "models",
    "AnswerOptions": "answer",
    "Article": "models",
    "BM25Params": "index",
    "Citation": "models",
    "CitedPassage": "models",
    "Corpus": "corpus",
    "CorpusError": "corpus",
    "Hit": "models",
    "Index": "index",
    "IndexFormatError": "index",
    "IndexSpec": "store",
    "Passage": "models",
    "Skipped": "models",
    "build_answer": "answer",
    "build_index": "build",
    "load_corpus": "corpus",
    "open_index": "store",
    "split_passages": "corpus",
}

__all__ = [
    "Analyzer",
    "Answer",
    "AnswerOptions",
    "Article",
    "BM25Params",
    "Citation",
    "CitedPassage",
    "Corpus",
    "CorpusError",
    "Hit",
    "Index",
    "IndexFormatError",
    "IndexSpec",
    "Passage",
    "Skipped",
    "build_answer",
    "build_index",
    "load_corpus",
    "open_index",
    "split_passages",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"askbot.search.{home}"), name)
