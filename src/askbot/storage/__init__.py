"""Storage: the SQLite query log (schema.py: schema and plain sqlite3; querylog.py: async)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from askbot.storage.querylog import LogStats, QueryLog, QueryLogError, QueryRecord

__all__ = ["LogStats", "QueryLog", "QueryLogError", "QueryRecord"]


def __getattr__(name: str) -> Any:
    # Lazy, so `askbot ask` can import storage.schema without paying for asyncio and aiosqlite.
    if name in __all__:
        return getattr(importlib.import_module("askbot.storage.querylog"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
