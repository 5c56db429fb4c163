"""The query log's schema, migrations and records, and the plain sqlite3 connection behind them.

No asyncio here: the one-shot `askbot ask` writes its rows through :func:`append` without paying
for an event loop, and the bot's :class:`askbot.storage.querylog.QueryLog` opens its connection
through :func:`connect` on aiosqlite's thread, so both get the same pragmas and migrations.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("askbot.storage.querylog")

SCHEMA_VERSION = 1

MIGRATIONS: dict[int, Sequence[str]] = {
    1: (
        """CREATE TABLE queries (
            id TEXT PRIMARY KEY,
            ts TEXT NOT NULL,
            surface TEXT NOT NULL,
            guild_id INTEGER,
            channel_id INTEGER,
            user_id INTEGER,
            question TEXT NOT NULL,
            answered INTEGER NOT NULL,
            confidence TEXT NOT NULL DEFAULT '',
            passages TEXT NOT NULL,
            latency_ms REAL NOT NULL
        )""",
        "CREATE INDEX queries_ts ON queries(ts)",
        "CREATE INDEX queries_user ON queries(user_id)",
        """CREATE TABLE feedback (
            query_id TEXT NOT NULL,
            user_id INTEGER NOT NULL DEFAULT 0,
            value INTEGER NOT NULL,
            ts TEXT NOT NULL,
            PRIMARY KEY (query_id, user_id)
        )""",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
}

COLUMNS = (
    "id, ts, surface, guild_id, channel_id, user_id, question, answered, confidence, passages, "
    "latency_ms"
)
INSERT = f"INSERT OR IGNORE INTO queries ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


class QueryLogError(Exception):
    """The query log cannot be opened or used; the message says what to do."""


def new_query_id() -> str:
    """A unique id for a query, known before the row is written (buttons carry it)."""
    return uuid.uuid4().hex


def utc_now() -> str:
    """The current time as sortable ISO-8601 UTC text."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One question asked on some surface, and what askbot answered."""

    question: str
    answered: bool
    surface: str = "cli"
    passages: tuple[tuple[str, float], ...] = ()
    latency_ms: float = 0.0
    confidence: str = ""
    guild_id: int | None = None
    channel_id: int | None = None
    user_id: int | None = None
    id: str = field(default_factory=new_query_id)
    ts: str = field(default_factory=utc_now)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return {
            "id": self.id,
            "ts": self.ts,
            "surface": self.surface,
            "guild_id": self.guild_id,
            "channel_id": self.channel_id,
            "user_id": self.user_id,
            "question": self.question,
            "answered": self.answered,
            "confidence": self.confidence,
            "passages": [{"id": p, "score": s} for p, s in self.passages],
            "latency_ms": self.latency_ms,
        }


def row_of(record: QueryRecord) -> tuple[Any, ...]:
    """The values of one record, in COLUMNS order."""
    return (
        record.id,
        record.ts,
        record.surface,
        record.guild_id,
        record.channel_id,
        record.user_id,
        record.question,
        int(record.answered),
        record.confidence,
        json.dumps([[p, s] for p, s in record.passages]),
        record.latency_ms,
    )


def record_of(row: sqlite3.Row | tuple[Any, ...]) -> QueryRecord:
    """The record of one row selected in COLUMNS order."""
    return QueryRecord(
        id=row[0],
        ts=row[1],
        surface=row[2],
        guild_id=row[3],
        channel_id=row[4],
        user_id=row[5],
        question=row[6],
        answered=bool(row[7]),
        confidence=row[8],
        passages=tuple((str(p), float(s)) for p, s in json.loads(row[9])),
        latency_ms=row[10],
    )


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection in WAL mode with the schema migrated; QueryLogError says what is wrong.

    A file that is not an SQLite database is refused and never overwritten.
    """
    make_folder(path)
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise QueryLogError(f"cannot open the query log {path}: {exc}") from None
    try:
        for pragma in pragmas(busy_timeout):
            conn.execute(pragma)
        row = conn.execute("PRAGMA user_version").fetchone()
        for statements in migrations_from(int(row[0]) if row else 0):
            for statement in statements:
                conn.execute(statement)
            conn.commit()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise not_usable(path, exc) from None
    except QueryLogError:
        conn.close()
        raise
    return conn


# The pieces below are shared with the aiosqlite connection of QueryLog, which runs the same
# statements through its own thread.


def make_folder(path: Path) -> None:
    """Create the folder of the log; QueryLogError if that is impossible."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QueryLogError(f"cannot create the folder for the query log {path}: {exc}") from None


def pragmas(busy_timeout: float) -> tuple[str, ...]:
    """The settings of every connection: wait for locks, WAL, no fsync per commit."""
    return (
        f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
    )


def migrations_from(version: int) -> list[list[str]]:
    """The statements that bring a log at ``version`` to SCHEMA_VERSION, one list a transaction.

    Each transaction ends by setting PRAGMA user_version to the version it reaches.
    """
    if version > SCHEMA_VERSION:
        raise QueryLogError(
            f"the query log was written by a newer askbot (schema {version} > {SCHEMA_VERSION}); "
            "upgrade askbot or use another ASKBOT_DB_PATH"
        )
    return [
        [*MIGRATIONS[target], f"PRAGMA user_version = {target}"]
        for target in range(version + 1, SCHEMA_VERSION + 1)
    ]


def not_usable(path: Path, exc: Exception) -> QueryLogError:
    """The refusal of a file that is not an SQLite database (it is never overwritten)."""
    return QueryLogError(
        f"the query log {path} is not a usable SQLite database ({exc}). askbot will not "
        "overwrite it: move the file aside or set ASKBOT_DB_PATH to another path."
    )


def append(
    conn: sqlite3.Connection,
    path: Path,
    records: Sequence[QueryRecord],
    *,
    timeout: float = 10.0,
    retry_seconds: float = 1.0,
) -> bool:
    """Write records in one transaction, retrying for up to ``timeout`` seconds.

    For a process that writes once and exits (the CLI). Like the bot's queued writer, a locked,
    read-only or full database is logged and retried, never raised; False if rows were lost.
    """
    if not records:
        return True
    deadline = time.monotonic() + timeout
    rows = [row_of(r) for r in records]
    last_error = ""
    while True:
        try:
            conn.executemany(INSERT, rows)
            conn.commit()
            return True
        except sqlite3.Error as exc:
            msg = f"query log {path}: write failed ({exc}); {len(rows)} rows kept"
            if msg != last_error:
                log.error("%s, retrying", msg)
            last_error = msg
            with contextlib.suppress(sqlite3.Error):
                conn.rollback()
        if time.monotonic() + retry_seconds > deadline:
            log.error("query log %s: %d rows could not be written", path, len(rows))
            return False
        time.sleep(retry_seconds)
