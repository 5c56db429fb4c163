"""What a search needs of the settings, and a reader of it that does not import pydantic.

``askbot ask`` is a whole process per question: importing pydantic and pydantic-settings was
~0.23 s of its ~0.6 s at 1M passages (numpy and the search core ~0.15 s, the answer itself
~0.06 s). So ``ask`` reads its settings here first. The reader takes the same sources, in the
same order, as ``askbot.config.Settings`` (the command line, then the environment, then ``.env``
in the working directory; names case-insensitive, empty values ignored) and parses ``.env``
with python-dotenv, the parser pydantic-settings uses. It accepts only values whose meaning is
plain (decimal numbers within their bounds, paths, comma-separated ids); for anything else it
returns None and the caller validates with ``Settings``, which gives the usual messages. Tests
check that every setting here matches ``Settings``' fields, and that for any environment and
``.env`` the two agree whenever this reader answers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from askbot.search.answer import AnswerOptions
    from askbot.search.store import IndexSpec

ENV_PREFIX = "askbot_"

# Every setting of askbot.config.Settings by kind, with its default and bounds (tests compare).
PATHS: dict[str, Path] = {"corpus_dir": Path("corpus"), "data_dir": Path(".askbot")}
OPTIONAL_PATHS = ("db_path", "index_dir")
# name: (default, least, most)
INTS: dict[str, tuple[int, int, int | None]] = {
    "top_k": (3, 1, 20),
    "max_file_mb": (64, 1, None),
    "log_retention_days": (90, 0, None),
    "cooldown_rate": (3, 1, None),
}
FLOATS: dict[str, tuple[float, float, float | None]] = {
    "bm25_k1": (1.5, 0.0, None),
    "bm25_b": (0.75, 0.0, 1.0),
    "bm25_epsilon": (0.25, 0.0, None),
    "min_coverage": (0.45, 0.0, 1.0),
    "cooldown_seconds": (5.0, 0.0, None),
}
ID_LISTS = ("guild_ids", "admin_role_ids", "admin_user_ids", "ask_channel_ids")
# Any text is valid; the search never uses them.
TEXTS = ("discord_api_base", "log_level")
# The token's environment names (an alias without the prefix, and the prefixed one).
TOKEN_NAMES = ("discord_token", "askbot_discord_token")

_INT = re.compile(r"0|[1-9][0-9]{0,8}")
_FLOAT = re.compile(r"(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,15})?")
_IDS = re.compile(r"[0-9, ]*")


@dataclass(frozen=True)
class SearchSettings:
    """The settings that locate the corpus, the saved index and the log, and shape answers."""

    corpus_dir: Path
    data_dir: Path
    data_dir_given: bool
    db_path: Path | None
    index_dir: Path | None
    top_k: int
    bm25_k1: float
    bm25_b: float
    bm25_epsilon: float
    min_coverage: float
    max_file_mb: int

    @property
    def data_home(self) -> Path:
        """Where the index and log live by default.

        The default ``.askbot`` is relative to the working directory; run from inside the corpus
        folder it would write into the corpus, so the user's cache folder is used instead. A
        data_dir the user set is always used as given.
        """
        if self.data_dir_given:
            return self.data_dir
        corpus = self.corpus_dir.resolve()
        here = self.data_dir.resolve()
        if here == corpus or here.is_relative_to(corpus):
            cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
            return Path(cache) / "askbot"
        return self.data_dir

    @property
    def database(self) -> Path:
        """The query log's path."""
        return self.db_path or self.data_home / "askbot.db"

    @property
    def indexes(self) -> Path:
        """The folder of saved indexes."""
        return self.index_dir or self.data_home / "index"

    def index_spec(self) -> IndexSpec:
        """Where the corpus and its saved indexes are, and how passages are scored."""
        from askbot.search.index import BM25Params
        from askbot.search.store import IndexSpec

        return IndexSpec(
            corpus_dir=self.corpus_dir,
            index_root=self.indexes,
            params=BM25Params(self.bm25_k1, self.bm25_b, self.bm25_epsilon),
            max_file_bytes=self.max_file_mb * 1024 * 1024,
        )

    def answer_options(self, top_k: int | None = None) -> AnswerOptions:
        """How answers are built: passages cited and the coverage an answer needs."""
        from askbot.search.answer import AnswerOptions

        return AnswerOptions(top_k=top_k or self.top_k, min_coverage=self.min_coverage)


def _lowered(pairs: Mapping[str, str | None]) -> dict[str, str | None] | None:
    """askbot's names (ASKBOT_*, DISCORD_TOKEN) lower-cased, empty values dropped (as
    pydantic-settings reads them); None when two of them differ only in case (which one
    pydantic-settings takes depends on their order)."""
    out: dict[str, str | None] = {}
    for name, value in pairs.items():
        key = name.lower()
        if value == "" or not (key.startswith(ENV_PREFIX) or key in TOKEN_NAMES):
            continue
        if key in out:
            return None
        out[key] = value
    return out


def _dotenv(path: Path) -> dict[str, str | None] | None:
    """``.env``'s entries as pydantic-settings reads them; {} without one; None when unreadable."""
    if not (path.is_file() or path.is_fifo()):
        return {}
    import logging

    from dotenv import dotenv_values

    # A line python-dotenv cannot parse: its warning is left to Settings, which reads the file
    # again, so that the user sees it once.
    warned: list[logging.LogRecord] = []

    def drop(record: logging.LogRecord) -> bool:
        warned.append(record)
        return False

    logger = logging.getLogger("dotenv.main")
    logger.addFilter(drop)
    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeError, ValueError):
        return None
    finally:
        logger.removeFilter(drop)
    return None if warned else _lowered(values)


def _number(value: str, pattern: re.Pattern[str], least: float, most: float | None) -> bool:
    if pattern.fullmatch(value) is None:
        return False
    number = float(value)
    return number >= least and (most is None or number <= most)


def read_search_settings(
    overrides: Mapping[str, object],
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
) -> SearchSettings | None:
    """The search settings from ``overrides`` (command-line values by setting name), the
    environment and ``env_file``, or None when any setting's value is not plainly valid."""
    env = _lowered(os.environ if environ is None else environ)
    dotenv = _dotenv(env_file) if env_file is not None else {}
    if env is None or dotenv is None:
        return None
    given: dict[str, str] = {}
    for source in (dotenv, env):  # the environment wins over .env
        for key, value in source.items():
            if not key.startswith(ENV_PREFIX) or key in TOKEN_NAMES:
                continue
            if value is None:  # a bare `NAME` line in .env
                return None
            given[key[len(ENV_PREFIX) :]] = value
    for name, value in given.items():
        if "\x00" in value:
            return None
        if name in INTS:
            _, least, most = INTS[name]
            if not _number(value, _INT, least, most):
                return None
        elif name in FLOATS:
            _, lo, hi = FLOATS[name]
            if not _number(value, _FLOAT, lo, hi):
                return None
        elif name in ID_LISTS and _IDS.fullmatch(value) is None:
            return None
    values: dict[str, object] = {**given}
    values.update((name, value) for name, value in overrides.items() if value is not None)

    def path(name: str) -> Path | None:
        value = values.get(name)
        return None if value is None else Path(str(value))

    def integer(name: str) -> int:
        value = values.get(name)
        return INTS[name][0] if value is None else int(str(value))

    def real(name: str) -> float:
        value = values.get(name)
        return FLOATS[name][0] if value is None else float(str(value))

    return SearchSettings(
        corpus_dir=path("corpus_dir") or PATHS["corpus_dir"],
        data_dir=path("data_dir") or PATHS["data_dir"],
        data_dir_given="data_dir" in values,
        db_path=path("db_path"),
        index_dir=path("index_dir"),
        top_k=integer("top_k"),
        bm25_k1=real("bm25_k1"),
        bm25_b=real("bm25_b"),
        bm25_epsilon=real("bm25_epsilon"),
        min_coverage=real("min_coverage"),
        max_file_mb=integer("max_file_mb"),
    )
