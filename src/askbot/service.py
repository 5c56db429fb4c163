"""AskService: owns the current index and the query log; answers and reindexes off the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import gc
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from askbot.search.analysis import Analyzer
from askbot.search.answer import AnswerOptions, build_answer
from askbot.search.index import Index
from askbot.search.models import Answer
from askbot.search.query import Filters
from askbot.search.store import Changes, IndexSpec, Opened, ReindexReport, open_index
from askbot.search.worker import Built, built_from_result, parse_result, spec_to_json
from askbot.storage.querylog import QueryLog, QueryRecord, new_query_id, utc_now

log = logging.getLogger(__name__)


class ReindexError(Exception):
    """A reindex could not produce a new index; the old one keeps serving."""


@dataclass(frozen=True, slots=True)
class Asked:
    """An answer with the id it was logged under and how long it took."""

    query_id: str
    answer: Answer
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asked, and where: stored with the query."""

    surface: str = "cli"
    guild_id: int | None = None
    channel_id: int | None = None
    user_id: int | None = None


async def build_in_worker(spec: IndexSpec, previous: Path | None = None) -> Built:
    """Build and save the index in a child process; returns the saved folder (and the changes).

    The parent then memory-maps the result, so neither the build's CPU nor its memory peak
    lands in the bot's process. With ``previous`` (the replaced index's folder) the worker also
    compares the two indexes, which would otherwise parse every article of both in this process.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "askbot.search.worker",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await proc.communicate(spec_to_json(spec, previous).encode())
    except asyncio.CancelledError:
        # The bot is shutting down mid-reindex: the build must not outlive it. Its half-written
        # temp folder is never loaded and is cleaned up by a later build.
        proc.kill()
        await proc.wait()
        raise
    result = parse_result(out.decode(errors="replace"))
    if proc.returncode == 0 and "path" in result:
        return built_from_result(result)
    reason = result.get("error") or (err.decode(errors="replace").strip().splitlines() or ["?"])[-1]
    raise ReindexError(f"could not build the index: {reason}")


def _load_warm(path: str) -> Index:
    """Load a saved index and build what its first question would build (the term dictionary).

    Runs in a worker thread, so the first question after a swap does not pay for it.
    """
    index = Index.load(path)
    index.vocab  # noqa: B018 - built lazily on first access; this is that access
    return index


# While this thread parses articles, the event loop and the answer thread wait for the GIL, and
# each of the loop's many short waits per iteration (after every system call) can last the whole
# 5 ms switch interval: pausing every ~2 ms of parsing gives them the GIL without waiting.
GENTLE_EVERY = 64
GENTLE_PAUSE = 0.001


def _hashes_gently(index: Index) -> dict[str, str]:
    """Article id -> content hash of ``index``, pausing often for the other threads."""
    hashes: dict[str, str] = {}
    for i, article in enumerate(index.articles):
        hashes[article.id] = article.content_hash
        if i % GENTLE_EVERY == GENTLE_EVERY - 1:
            time.sleep(GENTLE_PAUSE)
    return hashes


def _compare_and_release(retired: list[Index], new: Index, seconds: float) -> ReindexReport:
    """The report of a swap the worker could not compare; the old index dies here.

    Comparing parses every article of both: 200k small objects at 1M passages. Collections
    triggered while they pile up would walk an ever larger heap, each stopping every thread,
    the event loop's too, for 100+ ms; none of them is in a cycle, so collection waits until
    the comparison is done.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        old = retired.pop()
        changes = Changes.between(_hashes_gently(old), _hashes_gently(new))
        del old
    finally:
        if collecting:
            gc.enable()
            gc.freeze()
    return changes.report(new, seconds)


def _release(retired: list[Index]) -> None:
    """Drop the old index's last reference (``retired`` holds it): unmapping can take long."""
    retired.pop()
    gc.freeze()


class AskService:
    """Answers questions from the current index and logs each one.

    The index is replaced by a single reference assignment, so a question being answered while
    a reindex finishes sees either the old or the new index, whole.
    """

    def __init__(
        self,
        index: Index,
        querylog: QueryLog,
        spec: IndexSpec,
        *,
        analyzer: Analyzer | None = None,
        options: AnswerOptions | None = None,
    ) -> None:
        self._index = index
        self.log = querylog
        self.spec = spec
        self.analyzer = analyzer or Analyzer(spec.language)
        self.options = options or AnswerOptions()
        self._reindex_lock = asyncio.Lock()
        # One answer thread: answers are a few ms of CPU each, and a single worker keeps the
        # event loop competing with one thread for the GIL instead of a pool of them.
        self._answers = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="askbot-answer")

    @classmethod
    async def open(
        cls,
        spec: IndexSpec,
        querylog: QueryLog,
        *,
        options: AnswerOptions | None = None,
    ) -> AskService:
        """Load (or build, in a worker thread) the index for ``spec`` and return the service."""
        analyzer = Analyzer(spec.language)
        opened: Opened = await asyncio.to_thread(open_index, spec, analyzer)
        return cls(opened.index, querylog, spec, analyzer=analyzer, options=options)

    @property
    def index(self) -> Index:
        """The index questions are answered from right now."""
        return self._index

    @property
    def reindexing(self) -> bool:
        """Whether a reindex is running."""
        return self._reindex_lock.locked()

    def answer_now(
        self, question: str, top_k: int | None = None, filters: Filters | None = None
    ) -> Answer:
        """Answer without logging, on the calling thread (pure CPU, a few ms)."""
        options = self.options
        if top_k is not None and top_k != options.top_k:
            options = dataclasses.replace(options, top_k=top_k)
        if filters:
            options = dataclasses.replace(options, filters=filters)
        return build_answer(question, self._index, self.analyzer, options)

    async def ask(
        self,
        question: str,
        asker: Asker | None = None,
        top_k: int | None = None,
        filters: Filters | None = None,
    ) -> Asked:
        """Answer a question off the event loop and queue its log record.

        ``filters`` (source, dates, articles, phrases) add to those written in the question.
        """
        asker = asker or Asker()
        ts = utc_now()
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(
            self._answers, self.answer_now, question, top_k, filters
        )
        latency = (time.perf_counter() - started) * 1000.0
        record = QueryRecord(
            id=new_query_id(),
            ts=ts,
            surface=asker.surface,
            guild_id=asker.guild_id,
            channel_id=asker.channel_id,
            user_id=asker.user_id,
            question=question,
            answered=answer.answered,
            confidence=answer.confidence,
            passages=tuple((p.citation.passage_id, round(p.score, 6)) for p in answer.passages),
            latency_ms=round(latency, 3),
        )
        await self.log.record(record)
        return Asked(query_id=record.id, answer=answer, latency_ms=latency)

    async def reindex(self) -> ReindexReport:
        """Rebuild from the corpus folder in a worker process and swap the new index in.

        Questions keep being answered from the old index until the swap. A corpus that cannot be
        read, or that has no articles left, raises ReindexError and the old index stays.
        """
        async with self._reindex_lock:
            started = time.perf_counter()
            built = await build_in_worker(self.spec, self.spec.index_root / self._index.key)
            new = await asyncio.to_thread(_load_warm, built.path)
            if new.n_docs == 0:
                raise ReindexError(
                    f"the corpus folder {self.spec.corpus_dir} has no readable articles "
                    f"({len(new.skipped)} files skipped); still serving the previous index"
                )
            retired = [self._index]
            self._index = new
            seconds = time.perf_counter() - started
            # After the swap, so new questions do not wait for it, and off the event loop:
            # freeing the old index unmaps its files (a long system call when they were
            # deleted). The worker compared the indexes unless the old folder was gone; then
            # it is done here, gently (it parses every article of both).
            if built.changes is not None:
                report = built.changes.report(new, seconds)
                await asyncio.to_thread(_release, retired)
            else:
                report = await asyncio.to_thread(_compare_and_release, retired, new, seconds)
            log.info(
                "reindexed: %d articles, %d passages (+%d ~%d -%d, %d skipped) in %.2fs",
                report.articles, report.passages, len(report.added), len(report.changed),
                len(report.removed), len(report.skipped), report.seconds,
            )  # fmt: skip
            return report

    async def close(self, timeout: float | None = 10.0) -> None:
        """Flush and close the query log (waiting at most ``timeout`` s), stop the answer thread."""
        await self.log.close(timeout=timeout)
        self._answers.shutdown(wait=False)
