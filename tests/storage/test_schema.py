"""The query log through plain sqlite3: the same schema as QueryLog, one-shot writes, faults."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from askbot.storage.querylog import QueryLog
from askbot.storage.schema import SCHEMA_VERSION, QueryLogError, QueryRecord, append, connect


def test_sync_connection_creates_the_log_in_wal_at_the_current_schema(tmp_path: Path) -> None:
    """connect() makes the folder, the file, WAL mode and PRAGMA user_version."""
    conn = connect(tmp_path / "new" / "q.db", busy_timeout=1.0)
    conn.close()
    check = sqlite3.connect(tmp_path / "new" / "q.db")
    assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_rows_appended_synchronously_read_back_through_querylog(tmp_path: Path) -> None:
    """A record written by append() is the same record for the bot's QueryLog."""
    rec = QueryRecord(question="What did Biegun say?", answered=True,
                      passages=(("a#7", 6.5),), latency_ms=1.5, confidence="strong")  # fmt: skip
    conn = connect(tmp_path / "q.db", busy_timeout=1.0)
    assert append(conn, tmp_path / "q.db", [rec])
    conn.close()
    log = await QueryLog.open(tmp_path / "q.db")
    assert await log.recent() == [rec]
    await log.close()


async def test_sync_connection_opens_a_log_made_by_querylog_without_migrating_again(
    tmp_path: Path,
) -> None:
    """A log created by QueryLog keeps its rows when the CLI opens it."""
    log = await QueryLog.open(tmp_path / "q.db")
    await log.record(QueryRecord(question="first", answered=False))
    await log.close()
    conn = connect(tmp_path / "q.db", busy_timeout=1.0)
    assert conn.execute("SELECT question FROM queries").fetchall() == [("first",)]
    conn.close()


def test_corrupt_file_is_refused_by_the_sync_connection_and_left_untouched(
    tmp_path: Path,
) -> None:
    """The same refusal as QueryLog's, naming the file, which is not overwritten."""
    path = tmp_path / "q.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(QueryLogError, match="not a usable SQLite database"):
        connect(path, busy_timeout=1.0)
    assert path.read_bytes() == b"this is not a database" * 100


def test_log_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A log written by a newer askbot is not touched."""
    path = tmp_path / "q.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(QueryLogError, match="newer askbot"):
        connect(path, busy_timeout=1.0)


def test_append_to_a_locked_log_gives_up_after_its_timeout_without_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A log locked for longer than the timeout loses the rows with an error, not a crash."""
    path = tmp_path / "q.db"
    conn = connect(path, busy_timeout=0.01)
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    rec = QueryRecord(question="while locked", answered=True)
    assert not append(conn, path, [rec], timeout=0.05, retry_seconds=0.01)
    assert "could not be written" in caplog.text
    blocker.rollback()
    assert append(conn, path, [rec])
    assert conn.execute("SELECT COUNT(*) FROM queries").fetchone()[0] == 1
