"""The query log for the bot (aiosqlite): queued writes, recent, stats, feedback, forget."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from askbot.storage import schema
from askbot.storage.schema import (
    COLUMNS,
    INSERT,
    SCHEMA_VERSION,
    QueryLogError,
    QueryRecord,
    new_query_id,
    record_of,
    row_of,
    utc_now,
)

log = logging.getLogger(__name__)

__all__ = [
    "SCHEMA_VERSION",
    "LogStats",
    "QueryLog",
    "QueryLogError",
    "QueryRecord",
    "new_query_id",
    "utc_now",
]


@dataclass(frozen=True, slots=True)
class LogStats:
    """Aggregate figures over the query log."""

    total: int
    answered: int
    by_surface: dict[str, int]
    top_questions: list[tuple[str, int]]
    top_unanswered: list[tuple[str, int]]
    feedback_up: int
    feedback_down: int
    median_latency_ms: float

    @property
    def answered_rate(self) -> float:
        """Share of queries that got an answer."""
        return self.answered / self.total if self.total else 0.0


class QueryLog:
    """The query log. Writes are queued and batched so a slow disk never delays an answer."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, retry_seconds: float = 1.0) -> None:
        self._conn = conn
        self.path = path
        self._queue: list[QueryRecord] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._retry_seconds = retry_seconds
        self._busy_timeout = 5.0
        self._inode: int | None = None
        self.last_error: str = ""

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout: float = 5.0) -> QueryLog:
        """Open (or create) the log at ``path``, in WAL mode, migrated to the current schema.

        A file that is not an SQLite database is refused and never overwritten.
        """
        path = Path(path)
        log_ = cls(await _connect(path, busy_timeout), path)
        log_._busy_timeout = busy_timeout
        log_._inode = _inode(path)
        return log_

    async def _reopen_if_deleted(self) -> None:
        """Start a fresh file when the one we were writing to was deleted or replaced.

        SQLite would otherwise keep writing into the unlinked file and lose every row at close.
        """
        inode = _inode(self.path)
        if inode == self._inode and inode is not None:
            return
        log.error(
            "query log %s was deleted or replaced while running; starting it again", self.path
        )
        with contextlib.suppress(sqlite3.Error):
            await self._conn.close()
        self._conn = await _connect(self.path, self._busy_timeout)
        self._inode = _inode(self.path)

    # -- writing -----------------------------------------------------------------------------

    def record_nowait(self, record: QueryRecord) -> None:
        """Queue a record for writing; returns at once."""
        if self._closed:
            raise QueryLogError("the query log is closed")
        self._queue.append(record)
        self._idle.clear()
        self._wakeup.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def record(self, record: QueryRecord) -> None:
        """Queue a record for writing (the write happens in the background)."""
        self.record_nowait(record)

    @property
    def pending(self) -> int:
        """Records queued but not yet written."""
        return len(self._queue)

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = list(self._queue)
                try:
                    await self._reopen_if_deleted()
                    await self._conn.executemany(
                        INSERT,
                        [row_of(r) for r in batch],
                    )
                    await self._conn.commit()
                except (sqlite3.Error, QueryLogError) as exc:
                    # Locked, read-only, full or gone: keep the rows and try again later.
                    msg = f"query log {self.path}: write failed ({exc}); {len(batch)} rows kept"
                    if msg != self.last_error:
                        log.error("%s, retrying", msg)
                    self.last_error = msg
                    with contextlib.suppress(sqlite3.Error):
                        await self._conn.rollback()
                    if self._closed:
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), self._retry_seconds)
                    self._wakeup.clear()
                    continue
                if self.last_error:
                    log.info("query log %s: writes resumed", self.path)
                    self.last_error = ""
                del self._queue[: len(batch)]
            self._idle.set()

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued record is written; False if the timeout passed first."""
        if not self._queue:
            return True
        self._wakeup.set()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float | None = 10.0) -> None:
        """Flush the queue (up to ``timeout`` seconds) and close the database."""
        if self._closed:
            return
        flushed = await self.flush(timeout)
        if not flushed:
            log.error("query log %s: %d rows could not be written", self.path, len(self._queue))
        self._closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self._conn.close()

    # -- reading and maintenance ---------------------------------------------------------------

    async def recent(self, limit: int = 20) -> list[QueryRecord]:
        """The latest ``limit`` records, newest first."""
        await self.flush()
        async with self._conn.execute(
            f"SELECT {COLUMNS} FROM queries ORDER BY ts DESC, rowid DESC LIMIT ?", (limit,)
        ) as cur:
            return [record_of(r) for r in await cur.fetchall()]

    async def get(self, query_id: str) -> QueryRecord | None:
        """One record by id."""
        await self.flush()
        async with self._conn.execute(
            f"SELECT {COLUMNS} FROM queries WHERE id = ?", (query_id,)
        ) as cur:
            row = await cur.fetchone()
        return record_of(row) if row else None

    async def count(self) -> int:
        """How many queries are logged."""
        await self.flush()
        async with self._conn.execute("SELECT COUNT(*) FROM queries") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def add_feedback(self, query_id: str, user_id: int, value: int) -> bool:
        """Record 👍 (+1) or 👎 (-1) from a user on a query; False if the query is unknown."""
        if value not in (1, -1):
            raise ValueError("feedback is +1 or -1")
        if await self.get(query_id) is None:
            return False
        await self._conn.execute(
            "INSERT INTO feedback (query_id, user_id, value, ts) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (query_id, user_id) DO UPDATE SET value = excluded.value, ts = excluded.ts",
            (query_id, user_id, value, utc_now()),
        )
        await self._conn.commit()
        return True

    async def feedback(self, query_id: str) -> dict[int, int]:
        """user id -> value of the feedback given on one query."""
        async with self._conn.execute(
            "SELECT user_id, value FROM feedback WHERE query_id = ?", (query_id,)
        ) as cur:
            return {int(u): int(v) for u, v in await cur.fetchall()}

    async def forget_user(self, user_id: int) -> int:
        """Delete every query and feedback of one user; returns how many queries went."""
        await self.flush()
        cur = await self._conn.execute("DELETE FROM queries WHERE user_id = ?", (user_id,))
        deleted = cur.rowcount
        await self._conn.execute("DELETE FROM feedback WHERE user_id = ?", (user_id,))
        await self._conn.commit()
        return int(deleted)

    async def prune(self, older_than_days: int) -> int:
        """Delete queries older than the retention period; returns how many went."""
        if older_than_days <= 0:
            return 0
        await self.flush()
        cutoff = (
            (datetime.now(UTC) - timedelta(days=older_than_days))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        cur = await self._conn.execute("DELETE FROM queries WHERE ts < ?", (cutoff,))
        deleted = cur.rowcount
        await self._conn.execute(
            "DELETE FROM feedback WHERE query_id NOT IN (SELECT id FROM queries)"
        )
        await self._conn.commit()
        return int(deleted)

    async def stats(self, top: int = 5) -> LogStats:
        """Counts, answered rate, the most asked and the most asked unanswered questions."""
        await self.flush()

        async def rows(sql: str, *args: Any) -> list[Any]:
            async with self._conn.execute(sql, args) as cur:
                return list(await cur.fetchall())

        total, answered = (await rows(
            "SELECT COUNT(*), COALESCE(SUM(answered), 0) FROM queries"
        ))[0]  # fmt: skip
        surfaces = dict(await rows("SELECT surface, COUNT(*) FROM queries GROUP BY surface"))
        group = "SELECT question, COUNT(*) AS n FROM queries {} GROUP BY lower(trim(question)) "
        order = "ORDER BY n DESC, MAX(ts) DESC LIMIT ?"
        top_q = await rows(group.format("") + order, top)
        top_un = await rows(group.format("WHERE answered = 0") + order, top)
        up, down = (await rows(
            "SELECT COALESCE(SUM(value > 0), 0), COALESCE(SUM(value < 0), 0) FROM feedback"
        ))[0]  # fmt: skip
        latencies = [r[0] for r in await rows("SELECT latency_ms FROM queries ORDER BY latency_ms")]
        median = latencies[len(latencies) // 2] if latencies else 0.0
        return LogStats(
            total=int(total),
            answered=int(answered),
            by_surface={str(k): int(v) for k, v in surfaces.items()},
            top_questions=[(str(q), int(n)) for q, n in top_q],
            top_unanswered=[(str(q), int(n)) for q, n in top_un],
            feedback_up=int(up),
            feedback_down=int(down),
            median_latency_ms=float(median),
        )

    async def export_csv(self) -> str:
        """The whole log as CSV text (one row per query, feedback summed)."""
        await self.flush()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*(c.strip() for c in COLUMNS.split(",")), "feedback"])
        async with self._conn.execute(
            f"SELECT {', '.join('q.' + c.strip() for c in COLUMNS.split(','))}, "
            "COALESCE((SELECT SUM(value) FROM feedback f WHERE f.query_id = q.id), 0) "
            "FROM queries q ORDER BY q.ts"
        ) as cur:
            async for row in cur:
                writer.writerow(row)
        return out.getvalue()

    async def get_meta(self, key: str) -> str | None:
        """A value from the small key-value table (e.g. the hash of synced commands)."""
        async with self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        """Store a value in the key-value table."""
        await self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        await self._conn.commit()


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


async def _connect(path: Path, busy_timeout: float) -> aiosqlite.Connection:
    """A connection in WAL mode with the schema migrated, like schema.connect but async."""
    schema.make_folder(path)
    try:
        conn = await aiosqlite.connect(path, timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise QueryLogError(f"cannot open the query log {path}: {exc}") from None
    try:
        for pragma in schema.pragmas(busy_timeout):
            await conn.execute(pragma)
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        for statements in schema.migrations_from(int(row[0]) if row else 0):
            for statement in statements:
                await conn.execute(statement)
            await conn.commit()
    except sqlite3.DatabaseError as exc:
        await conn.close()
        raise schema.not_usable(path, exc) from None
    except QueryLogError:
        await conn.close()
        raise
    return conn
