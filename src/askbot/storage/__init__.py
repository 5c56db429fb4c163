"""Storage: the SQLite query log."""

from askbot.storage.querylog import LogStats, QueryLog, QueryLogError, QueryRecord

__all__ = ["LogStats", "QueryLog", "QueryLogError", "QueryRecord"]
