"""The pure search core: corpus -> passages -> index -> hits -> answer. No discord, no asyncio."""

from askbot.search.analysis import Analyzer
from askbot.search.answer import AnswerOptions, build_answer
from askbot.search.build import build_index
from askbot.search.corpus import Corpus, CorpusError, load_corpus, split_passages
from askbot.search.index import BM25Params, Index, IndexFormatError
from askbot.search.models import Answer, Article, Citation, CitedPassage, Hit, Passage, Skipped
from askbot.search.store import IndexSpec, open_index

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
