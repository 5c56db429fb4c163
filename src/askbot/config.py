"""Settings: every knob of askbot, typed, read from the environment and an optional .env file."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator

from askbot.search_settings import SearchSettings


class _AsyncioOnFirstUse(types.ModuleType):
    """Stands in for asyncio in pydantic-settings' namespace; the real one is imported at first use.

    pydantic-settings imports asyncio at module level for ``CliApp.run`` alone, which askbot never
    calls; asyncio brings ssl, socket, subprocess and concurrent.futures: ~30 ms of every command
    (whole-process 1M `ask`, medians). The stand-in is in sys.modules only while pydantic-settings
    is imported (nothing else imports asyncio then), so every other importer gets the real one.
    """

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get("asyncio") is self:  # used while pydantic-settings is imported
            del sys.modules["asyncio"]
        import asyncio

        return getattr(asyncio, name)


@contextmanager
def _asyncio_deferred() -> Iterator[None]:
    if "asyncio" in sys.modules or "pydantic_settings" in sys.modules:
        yield
        return
    sys.modules["asyncio"] = _AsyncioOnFirstUse("asyncio")
    try:
        yield
    finally:
        if isinstance(sys.modules.get("asyncio"), _AsyncioOnFirstUse):
            del sys.modules["asyncio"]


with _asyncio_deferred():
    from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from askbot.search.answer import AnswerOptions
    from askbot.search.store import IndexSpec

DEFAULT_API_BASE = "https://discord.com/api/v10"

IdList = Annotated[list[int], NoDecode]
# Id lists default to a literal [] (pydantic copies it for every instance), not
# default_factory=list: pydantic inspects a factory's signature, and for the builtin `list` that
# means tokenizing its text signature, ~6 ms of every command's start for four fields.


class Settings(BaseSettings):
    """All settings; environment names are ASKBOT_<NAME>, except DISCORD_TOKEN."""

    model_config = SettingsConfigDict(
        env_prefix="ASKBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # `ASKBOT_DB_PATH=` in a copied .env.example means "use the default", not Path("").
        env_ignore_empty=True,
        validate_default=True,
    )

    corpus_dir: Path = Field(Path("corpus"), description="Folder of articles (.txt, .md, .jsonl).")
    data_dir: Path = Field(
        Path(".askbot"), description="Where the saved index and the query log live by default."
    )
    db_path: Path | None = Field(None, description="SQLite query log (default DATA_DIR/askbot.db).")
    index_dir: Path | None = Field(None, description="Saved indexes (default DATA_DIR/index).")
    top_k: int = Field(3, ge=1, le=20, description="Passages cited per answer.")
    bm25_k1: float = Field(1.5, ge=0, description="BM25Okapi k1 (term frequency saturation).")
    bm25_b: float = Field(0.75, ge=0, le=1, description="BM25Okapi b (length normalisation).")
    bm25_epsilon: float = Field(
        0.25, ge=0, description="BM25Okapi epsilon (floor for negative idf)."
    )
    min_coverage: float = Field(
        0.45, ge=0, le=1, description="Share of the question's weight a passage must cover."
    )
    max_file_mb: int = Field(64, ge=1, description="Corpus files larger than this are skipped.")
    log_retention_days: int = Field(
        90, ge=0, description="Query-log rows older than this are deleted (0 keeps them forever)."
    )

    discord_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("DISCORD_TOKEN", "ASKBOT_DISCORD_TOKEN"),
        description="The bot token from the Discord developer portal (secret).",
    )
    discord_api_base: str = Field(DEFAULT_API_BASE, description="Discord REST base URL.")
    guild_ids: IdList = Field(
        default=[], description="Guilds to sync commands to instantly (else global)."
    )
    admin_role_ids: IdList = Field(default=[], description="Roles allowed admin commands.")
    admin_user_ids: IdList = Field(default=[], description="Users allowed admin commands.")
    ask_channel_ids: IdList = Field(
        default=[],
        description="Channels where every question is answered (needs the message-content intent).",
    )
    cooldown_seconds: float = Field(5.0, ge=0, description="Per-user pause between questions.")
    cooldown_rate: int = Field(3, ge=1, description="Questions a user may ask per cooldown window.")
    log_level: str = Field("INFO", description="Logging level: DEBUG, INFO, WARNING, ERROR.")

    @field_validator(
        "guild_ids", "admin_role_ids", "admin_user_ids", "ask_channel_ids", mode="before"
    )
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        """Accept "1,2 3" from the environment as well as lists."""
        if isinstance(value, str):
            parts = value.replace(",", " ").split()
            try:
                return [int(p) for p in parts]
            except ValueError:
                raise ValueError(
                    f"expected Discord ids separated by commas, got {value!r}"
                ) from None
        if isinstance(value, int):
            return [value]
        return value

    def search(self) -> SearchSettings:
        """The settings a search needs (the only ones `askbot ask` reads)."""
        return SearchSettings(
            corpus_dir=self.corpus_dir,
            data_dir=self.data_dir,
            data_dir_given="data_dir" in self.model_fields_set,
            db_path=self.db_path,
            index_dir=self.index_dir,
            top_k=self.top_k,
            bm25_k1=self.bm25_k1,
            bm25_b=self.bm25_b,
            bm25_epsilon=self.bm25_epsilon,
            min_coverage=self.min_coverage,
            max_file_mb=self.max_file_mb,
        )

    @property
    def data_home(self) -> Path:
        """Where the index and log live by default (see SearchSettings.data_home)."""
        return self.search().data_home

    @property
    def database(self) -> Path:
        """The query log's path."""
        return self.search().database

    @property
    def indexes(self) -> Path:
        """The folder of saved indexes."""
        return self.search().indexes

    def index_spec(self) -> IndexSpec:
        """Where the corpus and its saved indexes are, and how passages are scored."""
        return self.search().index_spec()

    def answer_options(self, top_k: int | None = None) -> AnswerOptions:
        """How answers are built: passages cited and the coverage an answer needs."""
        return self.search().answer_options(top_k)

    def public(self) -> dict[str, Any]:
        """Every effective setting with its environment name, secrets masked."""
        out: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            env = "DISCORD_TOKEN" if name == "discord_token" else f"ASKBOT_{name.upper()}"
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            out[env] = {"value": value, "description": field.description or ""}
        return out
