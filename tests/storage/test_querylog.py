"""The SQLite query log: schema, queued writes, reading back, feedback, privacy, faults."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from askbot.storage.querylog import SCHEMA_VERSION, QueryLog, QueryLogError, QueryRecord


def _rec(question: str = "What did Biegun say?", **kw: object) -> QueryRecord:
    return QueryRecord(question=question, answered=kw.pop("answered", True), **kw)  # type: ignore[arg-type]


async def test_new_log_is_in_wal_mode_at_the_current_schema(tmp_path: Path) -> None:
    """Opening creates the file, sets WAL and PRAGMA user_version."""
    log = await QueryLog.open(tmp_path / "q.db")
    await log.close()
    conn = sqlite3.connect(tmp_path / "q.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_recorded_query_reads_back_with_every_field(tmp_path: Path) -> None:
    """A record's surface, ids, passages and latency survive the round trip."""
    log = await QueryLog.open(tmp_path / "q.db")
    rec = _rec(surface="discord", guild_id=1, channel_id=2, user_id=3,
               passages=(("a#7", 6.5), ("a#8", 6.1)), latency_ms=1.5)  # fmt: skip
    await log.record(rec)
    assert await log.recent() == [rec]
    await log.close()


async def test_close_flushes_every_queued_record(tmp_path: Path) -> None:
    """Records queued just before close are on disk afterwards."""
    log = await QueryLog.open(tmp_path / "q.db")
    for i in range(500):
        log.record_nowait(_rec(f"q{i}"))
    await log.close()
    again = await QueryLog.open(tmp_path / "q.db")
    assert await again.count() == 500
    await again.close()


async def test_reopening_an_existing_log_keeps_its_rows(tmp_path: Path) -> None:
    """Migrations run only once; existing rows stay."""
    log = await QueryLog.open(tmp_path / "q.db")
    await log.record(_rec())
    await log.close()
    log = await QueryLog.open(tmp_path / "q.db")
    assert await log.count() == 1
    await log.close()


async def test_corrupt_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """A file that is not SQLite gives a message naming it, and is not overwritten."""
    path = tmp_path / "q.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(QueryLogError, match="not a usable SQLite database"):
        await QueryLog.open(path)
    assert path.read_bytes() == b"this is not a database" * 100


async def test_stats_count_answered_and_top_unanswered(tmp_path: Path) -> None:
    """Answered rate and the most asked unanswered questions."""
    log = await QueryLog.open(tmp_path / "q.db")
    for q, ok in [("a", True), ("b", False), ("b", False), ("B ", False), ("c", False)]:
        await log.record(_rec(q, answered=ok))
    stats = await log.stats()
    assert (stats.total, stats.answered) == (5, 1)
    assert stats.top_unanswered[0][1] == 3
    await log.close()


async def test_feedback_is_recorded_once_per_user(tmp_path: Path) -> None:
    """A user's second vote replaces the first; unknown queries are refused."""
    log = await QueryLog.open(tmp_path / "q.db")
    rec = _rec()
    await log.record(rec)
    assert await log.add_feedback(rec.id, 7, 1)
    assert await log.add_feedback(rec.id, 7, -1)
    assert await log.feedback(rec.id) == {7: -1}
    assert not await log.add_feedback("nope", 7, 1)
    await log.close()


async def test_forget_user_deletes_only_that_users_rows(tmp_path: Path) -> None:
    """forget_user removes one user's queries and says how many."""
    log = await QueryLog.open(tmp_path / "q.db")
    for user in (1, 1, 2):
        await log.record(_rec(user_id=user))
    assert await log.forget_user(1) == 2
    assert [r.user_id for r in await log.recent()] == [2]
    await log.close()


async def test_prune_deletes_rows_older_than_the_retention(tmp_path: Path) -> None:
    """Rows older than the retention period are deleted, newer kept."""
    log = await QueryLog.open(tmp_path / "q.db")
    await log.record(_rec("old", ts="2000-01-01T00:00:00.000Z"))
    await log.record(_rec("new"))
    assert await log.prune(30) == 1
    assert [r.question for r in await log.recent()] == ["new"]
    await log.close()


async def test_csv_export_has_a_header_and_a_row_per_query(tmp_path: Path) -> None:
    """The CSV starts with the column names."""
    log = await QueryLog.open(tmp_path / "q.db")
    await log.record(_rec("hello, world"))
    lines = (await log.export_csv()).splitlines()
    assert lines[0].startswith("id,ts,surface") and '"hello, world"' in lines[1]
    await log.close()


async def test_question_is_stored_exactly_as_asked(tmp_path: Path) -> None:
    """SQL-looking, emoji and control text is stored verbatim (parameters, not strings)."""
    log = await QueryLog.open(tmp_path / "q.db")
    question = "'; DROP TABLE queries; -- 😀 \u202e @everyone"
    await log.record(_rec(question))
    assert (await log.recent())[0].question == question
    await log.close()


async def test_locked_database_delays_writes_without_losing_them(tmp_path: Path) -> None:
    """While another connection holds the write lock, records wait and are written after."""
    path = tmp_path / "q.db"
    log = await QueryLog.open(path, busy_timeout=0.05)
    log._retry_seconds = 0.01
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    log.record_nowait(_rec("while locked"))
    assert not await log.flush(timeout=0.5)
    assert log.pending == 1 and "write failed" in log.last_error
    blocker.rollback()
    blocker.close()
    assert await log.flush(timeout=5)
    assert await log.count() == 1
    await log.close()


async def test_full_disk_keeps_rows_queued_until_space_returns(tmp_path: Path) -> None:
    """A write that fails with SQLITE_FULL loses nothing; rows land once writes succeed."""
    log = await QueryLog.open(tmp_path / "q.db")
    log._retry_seconds = 0.01
    await log.record(_rec("before"))
    assert await log.flush()
    pages = (await (await log._conn.execute("PRAGMA page_count")).fetchone())[0]  # type: ignore[index]
    await log._conn.execute(f"PRAGMA max_page_count = {pages}")
    for i in range(200):
        log.record_nowait(_rec("x" * 2000 + str(i)))
    assert not await log.flush(timeout=0.5)
    assert "full" in log.last_error
    await log._conn.execute("PRAGMA max_page_count = 1073741823")
    assert await log.flush(timeout=5)
    assert await log.count() == 201 and log.last_error == ""
    await log.close()


async def test_deleted_database_is_recreated_and_writes_resume(tmp_path: Path) -> None:
    """Deleting the file while running: later records land in a fresh file at the same path."""
    path = tmp_path / "q.db"
    log = await QueryLog.open(path)
    await log.record(_rec("first"))
    assert await log.flush()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    await log.record(_rec("after delete"))
    assert await log.flush(timeout=5)
    await log.close()
    again = await QueryLog.open(path)
    assert [r.question for r in await again.recent()] == ["after delete"]
    await again.close()
