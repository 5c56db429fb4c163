"""AskService: answering and logging, reindexing off the loop, and faults during reindex."""

from __future__ import annotations

import asyncio
import gc
import shutil
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import SEED_ID, write

from askbot import service as service_module
from askbot.search.analysis import Analyzer
from askbot.search.index import Index
from askbot.search.store import IndexSpec, open_index
from askbot.service import Asker, AskService, ReindexError
from askbot.storage.querylog import QueryLog

HOSTILE = [
    "",
    "   \t ",
    "B" * 10_000,
    "the of and is",
    "😀🎉🔥",
    "Bie\u200bgun\u200d said \u202eevil\u202c",
    "\x00\x07\x1b[31m control",
    "```py\nprint('x')\n``` **bold** __u__ ||spoiler||",
    "@everyone @here what did Biegun say?",
    "<@&123> <@456> <@!789> <#1> what did Pompeo say?",
    "https://example.org/?q=biegun&x=1",
    "'; DROP TABLE queries; --",
    "Что сказал Бигун?",
    "比根说了什么？",
    "ما الذي قاله بيغون؟",
]


@pytest.fixture
async def service(corpus_dir: Path, tmp_path: Path) -> AsyncIterator[AskService]:
    """A service over a private corpus copy with a real SQLite log."""
    querylog = await QueryLog.open(tmp_path / "q.db")
    svc = await AskService.open(IndexSpec(corpus_dir, tmp_path / "idx"), querylog)
    yield svc
    await svc.close()


async def test_ask_answers_and_logs_with_the_askers_ids(service: AskService) -> None:
    """The answer cites the seed article and the log row carries surface and ids."""
    asked = await service.ask("What did Biegun say?", Asker("discord", 1, 2, 3))
    assert asked.answer.answered
    assert {p.citation.article_id for p in asked.answer.passages} == {SEED_ID}
    (row,) = await service.log.recent()
    assert (row.id, row.surface, row.guild_id, row.channel_id, row.user_id) == (
        asked.query_id, "discord", 1, 2, 3,
    )  # fmt: skip


async def test_hostile_questions_are_answered_or_declined_and_logged_verbatim(
    service: AskService,
) -> None:
    """Every hostile question gets an Answer and exactly one log row with its exact text."""
    for question in HOSTILE:
        await service.ask(question, Asker("discord", user_id=9))
    rows = await service.log.recent(limit=100)
    assert sorted(r.question for r in rows) == sorted(HOSTILE)


async def test_reindex_picks_up_a_new_article_and_reports_it(
    service: AskService, corpus_dir: Path
) -> None:
    """A file added to the corpus is found after reindex; the report lists it as added."""
    write(
        corpus_dir / "extra" / "zanzibar.txt",
        "Zanzibar ferry\n\nThe Zanzibar ferry docked at noon.",
    )
    assert not (await service.ask("Zanzibar ferry")).answer.answered
    report = await service.reindex()
    assert report.added == ("extra/zanzibar",) and report.articles == 26
    assert (await service.ask("Zanzibar ferry")).answer.answered


async def test_reindex_reports_changed_and_removed_articles(
    service: AskService, corpus_dir: Path
) -> None:
    """Editing one article and deleting another shows up in the report."""
    (corpus_dir / "wikinews" / "crane.md").unlink()
    seed = corpus_dir / f"{SEED_ID}.txt"
    seed.write_text(seed.read_text() + "\n\nA new closing paragraph.\n")
    report = await service.reindex()
    assert report.removed == ("wikinews/crane",) and report.changed == (SEED_ID,)


async def test_questions_are_answered_while_a_reindex_runs(service: AskService) -> None:
    """Asking during a reindex is answered from the old index without waiting for it."""
    reindex = asyncio.create_task(service.reindex())
    answered = []
    while not reindex.done():
        answered.append((await service.ask("What did Biegun say?")).answer.answered)
        if len(answered) >= 3:
            break
    await reindex
    assert answered and all(answered)


async def test_the_worker_compares_the_indexes_when_the_old_folder_is_there(
    service: AskService, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report comes from the worker: the bot parses no article of either index."""
    parsed: list[int] = []
    hashes = service_module._hashes_gently
    monkeypatch.setattr(
        service_module, "_hashes_gently", lambda index: parsed.append(1) or hashes(index)
    )
    (corpus_dir / "wikinews" / "crane.md").unlink()
    report = await service.reindex()
    assert report.removed == ("wikinews/crane",) and parsed == []


async def test_with_the_old_folder_gone_the_indexes_are_compared_off_the_loop(
    service: AskService, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot compares by itself, on a thread, with collections paused, and reports the same."""
    calls: list[tuple[int, bool]] = []
    hashes = service_module._hashes_gently

    def recording(index: Index) -> dict[str, str]:
        calls.append((threading.get_ident(), gc.isenabled()))
        return hashes(index)

    monkeypatch.setattr(service_module, "_hashes_gently", recording)
    shutil.rmtree(service.spec.index_root / service.index.key)
    (corpus_dir / "wikinews" / "crane.md").unlink()
    try:
        report = await service.reindex()
    finally:
        gc.unfreeze()
    assert report.removed == ("wikinews/crane",) and report.added == report.changed == ()
    assert len(calls) == 2 and all(t != threading.get_ident() and not on for t, on in calls)
    assert gc.isenabled()


async def test_the_replaced_index_is_released_off_the_event_loop(service: AskService) -> None:
    """The old index's last reference dies on a worker thread (unmapping can take long)."""
    released: list[int] = []
    weakref.finalize(service.index, lambda: released.append(threading.get_ident()))
    await service.reindex()
    assert released and released != [threading.get_ident()]


async def test_reindex_of_a_missing_corpus_keeps_the_old_index(
    service: AskService, corpus_dir: Path
) -> None:
    """A corpus folder that vanished raises ReindexError and answers still come."""
    old = service.index
    shutil.rmtree(corpus_dir)
    with pytest.raises(ReindexError, match="does not exist"):
        await service.reindex()
    assert service.index is old
    assert (await service.ask("What did Biegun say?")).answer.answered


async def test_reindex_of_an_emptied_corpus_keeps_the_old_index(
    service: AskService, corpus_dir: Path
) -> None:
    """A corpus whose files are all unreadable keeps serving the previous index."""
    old = service.index
    for path in list(corpus_dir.rglob("*.*")):
        path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ReindexError, match="no readable articles"):
        await service.reindex()
    assert service.index is old


def test_build_killed_before_its_final_rename_leaves_the_old_index(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """SIGKILL at the last moment of a save: the new index does not exist, the old one loads."""
    spec = IndexSpec(corpus_dir, tmp_path / "idx")
    old = open_index(spec, Analyzer())
    write(corpus_dir / "new.txt", "New\n\nA new article.")
    # The child writes every file of the new index, then dies where the rename would happen.
    code = (
        "import os, signal, pathlib, sys\n"
        "from askbot.search.store import IndexSpec, build_and_save\n"
        "from askbot.search.analysis import Analyzer\n"
        "pathlib.Path.rename = lambda self, target: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"build_and_save(IndexSpec(pathlib.Path({str(corpus_dir)!r}), pathlib.Path({str(spec.index_root)!r})), Analyzer())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert result.returncode == -signal.SIGKILL
    finished = [p for p in spec.index_root.iterdir() if not p.name.startswith(".")]
    assert finished == [old.path]
    assert Index.load(old.path).n_docs == old.index.n_docs
    rebuilt = open_index(spec, Analyzer())
    assert rebuilt.built and rebuilt.index.n_docs == old.index.n_docs + 1


async def test_cancelled_reindex_kills_its_worker_and_keeps_the_old_index(
    service: AskService,
) -> None:
    """Cancelling a reindex (a shutdown) leaves no build process behind and the index unchanged."""
    old = service.index
    started = asyncio.Event()
    spawn = asyncio.create_subprocess_exec
    procs: list[asyncio.subprocess.Process] = []

    async def spying_exec(*args: object, **kw: object) -> asyncio.subprocess.Process:
        proc = await spawn(*args, **kw)  # type: ignore[arg-type]
        procs.append(proc)
        started.set()
        return proc

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(asyncio, "create_subprocess_exec", spying_exec)
        task = asyncio.create_task(service.reindex())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert procs[0].returncode is not None
    assert service.index is old
