"""The `askbot` command: ask, index, sources, log, stats, config, health, init, forget, run."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from askbot import __version__

# Everything else is imported where it is used: a one-shot `askbot ask --json` must not pay for
# rich, asyncio, aiosqlite or discord (tests/test_startup.py holds us to it). Settings (pydantic)
# too, so that main() can pause the cycle collector before the first heavy import.
if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from askbot.config import Settings
    from askbot.search.analysis import Analyzer
    from askbot.search.index import Index
    from askbot.search.models import Answer
    from askbot.search.store import Opened
    from askbot.search_settings import SearchSettings
    from askbot.storage.querylog import QueryLog
    from askbot.storage.schema import QueryRecord

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Something the user can fix: printed without a traceback, exit code 2."""


class Failure(Exception):
    """Something went wrong at run time: printed without a traceback, exit code 1."""


def _stdout() -> Console:
    # Colours and markup only on a terminal; plain text when piped (NO_COLOR is honoured).
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def escape(text: str) -> str:
    """Text shown as it is by rich, whatever brackets it holds."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _table(title: str, columns: Sequence[str], overflow: bool = True) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        if overflow:
            table.add_column(col, overflow="fold")
        else:
            table.add_column(col)
    return table


# -- settings and shared plumbing ---------------------------------------------------------------


# Command-line options that override a setting: (option, setting).
_SETTING_OPTIONS = (("corpus", "corpus_dir"), ("db", "db_path"), ("top_k", "top_k"),
                    ("index_dir", "index_dir"), ("data_dir", "data_dir"))  # fmt: skip


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        name: getattr(args, option)
        for option, name in _SETTING_OPTIONS
        if getattr(args, option, None) is not None
    }


def load_search_settings(args: argparse.Namespace) -> SearchSettings:
    """The settings a search needs, without pydantic when every value is plain (see
    askbot.search_settings), else through ``Settings`` and its messages."""
    from askbot.search_settings import read_search_settings

    quick = read_search_settings(_overrides(args))
    return quick if quick is not None else load_settings(args).search()


def load_settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment/.env, overridden by the command-line options given."""
    from pydantic import ValidationError

    from askbot.config import Settings

    overrides = _overrides(args)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            env = "DISCORD_TOKEN" if name == "discord_token" else f"ASKBOT_{name.upper()}"
            problems.append(f"{env}: {err['msg']}")
        raise UsageError("invalid settings:\n  " + "\n  ".join(problems)) from None


class _ProgressBar:
    """A progress bar with passages per second, drawn from the first update, on a terminal only.

    Opening a saved index never reports progress, so rich is imported only when a build runs.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.perf_counter()
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        self.off = False

    def __call__(self, done: int, total: int) -> None:
        if self.off:
            return
        if self.bar is None:
            console = _stderr()
            if not console.is_terminal:
                self.off = True
                return
            self._start(console)
        assert self.bar is not None and self.task is not None
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.bar.update(self.task, completed=done, total=total, rate=f"{done / elapsed:,.0f}/s")

    def _start(self, console: Console) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn(f"[bold]{self.label}"),
            BarColumn(),
            # The total is unknown until the corpus is read: show the count, not "done/total".
            TextColumn("{task.completed:,} passages"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=None, rate="")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar with passages per second on a terminal; nothing when piped."""
    bar = _ProgressBar(label)
    try:
        yield bar
    finally:
        bar.stop()


def open_current_index(settings: SearchSettings, analyzer: Analyzer) -> Opened:
    """The saved index for the corpus as it is now (built first when missing or stale)."""
    from askbot.search.corpus import CorpusError
    from askbot.search.store import open_index

    spec = settings.index_spec()
    try:
        with _progress("Indexing") as progress:
            opened = open_index(spec, analyzer, progress)
    except CorpusError as exc:
        raise UsageError(f"{exc}. Pass --corpus DIR or set ASKBOT_CORPUS_DIR.") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise Failure(f"cannot save the index under {spec.index_root}: {exc}") from None
    if opened.built and opened.index.skipped:
        err = _stderr()
        for s in opened.index.skipped:
            err.print(f"[yellow]skipped[/] {escape(s.path)}: {escape(s.reason)}")
    if opened.index.n_docs == 0:
        raise UsageError(
            f"the corpus folder {settings.corpus_dir} has no readable articles "
            f"({len(opened.index.skipped)} files skipped). Add .txt, .md or .jsonl files "
            "(see README: Adding articles)."
        )
    return opened


async def _open_log(settings: Settings) -> QueryLog:
    from askbot.storage.querylog import QueryLog, QueryLogError

    try:
        return await QueryLog.open(settings.database)
    except QueryLogError as exc:
        raise Failure(str(exc)) from None


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


# -- ask ------------------------------------------------------------------------------------------


def answer_json(answer: Answer, latency_ms: float, query_id: str) -> dict[str, Any]:
    """The JSON object `askbot ask --json` prints for one answer."""
    return {
        "question": answer.question,
        "answered": answer.answered,
        "confidence": answer.confidence,
        "coverage": round(answer.coverage, 4),
        "message": "" if answer.answered else answer.reason,
        "passages": [
            {
                "rank": p.rank,
                "article": p.citation.article_id,
                "title": p.citation.title,
                "paragraph": p.citation.paragraph,
                "passage_id": p.citation.passage_id,
                "score": round(p.score, 6),
                "text": p.text,
                "highlighted": p.highlighted(),
                "citation": p.citation.label(),
                "date": p.citation.date,
                "url": p.citation.url,
                "source": p.citation.source,
                "speaker": p.speaker or None,
                "speaker_role": p.speaker_role or None,
                "also_in": [c.passage_id for c in p.also_in],
            }
            for p in answer.passages
        ],
        "latency_ms": round(latency_ms, 3),
        "query_id": query_id,
    }


def print_answer(console: Console, answer: Answer, index: Index, context: int = 0) -> None:
    """A readable cited answer for the terminal."""
    from askbot.search.context import context_around

    if not answer.answered:
        console.print(f"[bold yellow]Not in the corpus.[/] {escape(answer.reason)}")
        return
    label = {"strong": "all key terms found", "partial": "part of the question found"}
    console.print(f"[dim]Match: {label.get(answer.confidence, answer.confidence)}[/]\n")
    for p in answer.passages:
        if context:
            for para, text in context_around(
                index, p.citation.article_id, p.citation.paragraph, context
            ):
                mark = "[bold]»[/]" if para == p.citation.paragraph else " "
                body = (
                    escape(p.highlighted("\x01", "\x02"))
                    if para == p.citation.paragraph
                    else (f"[dim]{escape(text)}[/]")
                )
                body = body.replace("\x01", "[bold yellow]").replace("\x02", "[/]")
                console.print(f"{mark} ¶{para} {body}")
        else:
            text = escape(p.highlighted("\x01", "\x02"))
            console.print(
                f"[bold][{p.rank}][/] "
                + text.replace("\x01", "[bold yellow]").replace("\x02", "[/]")
            )
        cite = escape(p.citation.label())
        url = f" {escape(p.citation.url)}" if p.citation.url else ""
        role = f", {p.speaker_role}" if p.speaker_role else ""
        who = f" — quoting {escape(p.speaker + role)}" if p.speaker else ""
        console.print(
            f"    [cyan]{cite}[/]{url}{who}  [dim]({p.citation.passage_id}, score {p.score:.2f})[/]"
        )
        for other in p.also_in:
            console.print(f"    [dim]also in: {escape(other.label())}[/]")
        console.print()


def cmd_ask(args: argparse.Namespace, settings: SearchSettings) -> int:
    """Answer one question, or one per stdin line with `-`."""
    from askbot.search.analysis import Analyzer
    from askbot.search.answer import NO_TERMS, build_answer
    from askbot.search.query import QueryError, make_filters, parse_question
    from askbot.storage.schema import (
        QueryLogError,
        QueryRecord,
        append,
        connect,
        new_query_id,
        utc_now,
    )

    if args.question == "-":
        questions: list[str] = sys.stdin.read().splitlines()
    else:
        if not args.question.strip():
            raise UsageError('the question is empty: askbot ask "What did Biegun say?"')
        questions = [args.question]
    try:
        filters = make_filters(args.source, args.after, args.before, args.article, args.phrase)
        if args.question != "-":
            parse_question(args.question)  # a malformed filter in the question is a usage error
    except QueryError as exc:
        raise UsageError(str(exc)) from None
    analyzer = Analyzer()
    opened = open_current_index(settings, analyzer)
    options = dataclasses.replace(settings.answer_options(), filters=filters or None)
    # One process, one write: plain sqlite3 (same schema and migrations as the bot's QueryLog),
    # opened before answering so that an unusable log fails the command as it always has.
    try:
        conn = connect(settings.database, busy_timeout=5.0)
    except QueryLogError as exc:
        raise Failure(str(exc)) from None
    args.startup_done()
    records: list[QueryRecord] = []
    code = EXIT_OK
    out: Console | None = None
    try:
        for question in questions:
            started = time.perf_counter()
            if not question.strip():
                if args.json:
                    print(json.dumps({"question": question, "answered": False, "passages": [],
                                      "message": "empty question", "latency_ms": 0.0}))  # fmt: skip
                continue
            ts = utc_now()
            answer = build_answer(question, opened.index, analyzer, options)
            latency = (time.perf_counter() - started) * 1000.0
            record = QueryRecord(
                id=new_query_id(), ts=ts, surface="cli", question=question,
                answered=answer.answered, confidence=answer.confidence,
                passages=tuple((p.citation.passage_id, round(p.score, 6)) for p in answer.passages),
                latency_ms=round(latency, 3),
            )  # fmt: skip
            records.append(record)
            if args.json:
                print(json.dumps(answer_json(answer, latency, record.id), ensure_ascii=False),
                      flush=True)  # fmt: skip
            else:
                out = out or _stdout()
                print_answer(out, answer, opened.index, context=args.context)
            if args.question != "-" and answer.reason == NO_TERMS:
                code = EXIT_USAGE  # a lone question with nothing to search is a usage error
    finally:
        # Also when the reader of stdout went away or the user pressed Ctrl-C: every query asked
        # is logged.
        try:
            append(conn, settings.database, records)
        finally:
            conn.close()
    return code


# -- index, sources ---------------------------------------------------------------------------------


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    """Build and save the index now, and summarise what was indexed and skipped."""
    from askbot.search.analysis import Analyzer
    from askbot.search.corpus import CorpusError
    from askbot.search.store import build_and_save

    analyzer = Analyzer()
    spec = settings.index_spec()
    try:
        with _progress("Indexing") as progress:
            opened = build_and_save(spec, analyzer, progress, full_rebuild=args.full)
    except CorpusError as exc:
        raise UsageError(f"{exc}. Pass --corpus DIR or set ASKBOT_CORPUS_DIR.") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    index = opened.index
    summary = {
        "articles": len(index.articles),
        "passages": index.n_docs,
        "terms": len(index.terms),
        "skipped": [{"path": s.path, "reason": s.reason} for s in index.skipped],
        "seconds": round(opened.seconds, 3),
        "index": str(opened.path),
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        out = _stdout()
        out.print(
            f"Indexed [bold]{summary['articles']:,}[/] articles, [bold]{summary['passages']:,}[/] "
            f"passages, {summary['terms']:,} terms in {summary['seconds']:.2f}s -> {escape(str(opened.path))}"
        )
        if index.skipped:
            out.print(f"Skipped {len(index.skipped)} file(s):")
            for s in index.skipped:
                out.print(f"  {escape(s.path)}: {escape(s.reason)}")
    return EXIT_USAGE if index.n_docs == 0 else EXIT_OK


def cmd_sources(args: argparse.Namespace, settings: Settings) -> int:
    """List the articles of the corpus."""
    from askbot.search.analysis import Analyzer

    opened = open_current_index(settings.search(), Analyzer())
    articles = opened.index.articles
    if args.json:
        for a in articles:
            print(json.dumps({"id": a.id, "title": a.title, "date": a.date, "source": a.source,
                              "url": a.url, "paragraphs": a.paragraphs}, ensure_ascii=False))  # fmt: skip
        return EXIT_OK
    table = _table(f"{len(articles)} articles in {settings.corpus_dir}",
                   ("id", "title", "date", "source", "¶"))  # fmt: skip
    for a in articles:
        table.add_row(
            escape(a.id), escape(a.title), a.date or "", escape(a.source or ""), str(a.paragraphs)
        )
    _stdout().print(table)
    return EXIT_OK


# -- log, stats, forget ---------------------------------------------------------------------------


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    """Show the most recent queries."""

    async def go() -> list[QueryRecord]:
        querylog = await _open_log(settings)
        try:
            return await querylog.recent(args.limit)
        finally:
            await querylog.close()

    records: list[QueryRecord] = _run(go())
    if args.json:
        for r in records:
            print(json.dumps(r.to_json(), ensure_ascii=False))
        return EXIT_OK
    table = _table(f"Last {len(records)} queries ({settings.database})",
                   ("time", "surface", "user", "question", "answered", "ms"))  # fmt: skip
    for r in records:
        table.add_row(r.ts, r.surface, str(r.user_id or ""), escape(r.question[:200]),
                      "yes" if r.answered else "no", f"{r.latency_ms:.1f}")  # fmt: skip
    _stdout().print(table)
    return EXIT_OK


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """Query counts, answered rate, top questions and top unanswered questions."""

    async def go() -> Any:
        querylog = await _open_log(settings)
        try:
            return await querylog.stats(args.top)
        finally:
            await querylog.close()

    stats = _run(go())
    data = {
        "total": stats.total, "answered": stats.answered,
        "answered_rate": round(stats.answered_rate, 4), "by_surface": stats.by_surface,
        "top_questions": stats.top_questions, "top_unanswered": stats.top_unanswered,
        "feedback_up": stats.feedback_up, "feedback_down": stats.feedback_down,
        "median_latency_ms": stats.median_latency_ms,
    }  # fmt: skip
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return EXIT_OK
    out = _stdout()
    out.print(f"{stats.total} queries, {stats.answered_rate:.0%} answered, "
              f"median {stats.median_latency_ms:.1f} ms, 👍 {stats.feedback_up} 👎 {stats.feedback_down}")  # fmt: skip
    for title, rows in (
        ("Top questions", stats.top_questions),
        ("Top unanswered", stats.top_unanswered),
    ):
        out.print(f"\n[bold]{title}[/]")
        for q, n in rows:
            out.print(f"  {n:>4}  {escape(q[:200])}")
    return EXIT_OK


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    """Delete every logged query of one user id."""

    async def go() -> int:
        querylog = await _open_log(settings)
        try:
            return await querylog.forget_user(args.user_id)
        finally:
            await querylog.close()

    deleted: int = _run(go())
    _stdout().print(
        f"Deleted {deleted} logged quer{'y' if deleted == 1 else 'ies'} of user {args.user_id}."
    )
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Measure answer quality on judged questions: hit@1, hit@k, MRR, unanswered rate."""
    from askbot.search.analysis import Analyzer
    from askbot.search.evaluate import EvalFileError, evaluate, evaluate_baseline, parse_judged

    try:
        with open(args.file, encoding="utf-8") as fh:
            judged = parse_judged(fh)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    except EvalFileError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    if not judged:
        raise UsageError(f"{args.file} has no questions")
    analyzer = Analyzer()
    opened = open_current_index(settings.search(), analyzer)
    k = args.top_k or 5
    options = settings.answer_options(top_k=k)
    results = [evaluate(judged, opened.index, analyzer, options)]
    if args.baseline:
        results.append(evaluate_baseline(judged, opened.index, k))
    if args.json:
        for r in results:
            print(json.dumps({
                "engine": r.engine, "questions": r.questions, "hit@1": round(r.hit_at_1, 4),
                f"hit@{k}": round(r.hit_at_k, 4), "mrr": round(r.mrr, 4),
                "unanswered": round(r.unanswered, 4),
                "misses": [dataclasses.asdict(m) for m in r.misses],
            }, ensure_ascii=False))  # fmt: skip
        return EXIT_OK
    out = _stdout()
    table = _table(f"{len(judged)} questions from {args.file}",
                   ("engine", "hit@1", f"hit@{k}", "MRR", "unanswered"), overflow=False)  # fmt: skip
    for r in results:
        table.add_row(
            r.engine,
            f"{r.hit_at_1:.3f}",
            f"{r.hit_at_k:.3f}",
            f"{r.mrr:.3f}",
            f"{r.unanswered:.1%}",
        )
    out.print(table)
    misses = results[0].misses
    if misses:
        out.print(f"\n[bold]askbot misses[/] ({len(misses)}; first {min(len(misses), args.show)}):")
        for m in misses[: args.show]:
            got = ", ".join(m.got[:3]) or "(unanswered)"
            out.print(
                f"  {escape(m.question)}\n    expected {escape(m.expected)}, got {escape(got)}"
            )
    return EXIT_OK


# -- config, health, init, run --------------------------------------------------------------------


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    """Print the effective settings, secrets masked."""
    public = settings.public()
    if args.json:
        print(json.dumps({k: v["value"] for k, v in public.items()}, default=str))
        return EXIT_OK
    table = _table("Effective settings", ("setting", "value", "meaning"))
    for env, item in public.items():
        table.add_row(env, escape(str(item["value"])), escape(item["description"]))
    _stdout().print(table)
    return EXIT_OK


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """Check that the index loads and the query log is writable: exit 0 healthy, 1 not."""
    from askbot.search.analysis import Analyzer
    from askbot.storage.schema import utc_now

    problems: list[str] = []
    try:
        opened = open_current_index(settings.search(), Analyzer())
        detail = f"index ok: {opened.index.n_docs} passages"
    except (UsageError, Failure) as exc:
        problems.append(f"index: {exc}")
        detail = ""

    async def check_log() -> None:
        querylog = await _open_log(settings)
        try:
            await querylog.set_meta("health", utc_now())
        finally:
            await querylog.close()

    try:
        _run(check_log())
    except (Failure, OSError) as exc:
        problems.append(f"query log: {exc}")
    except Exception as exc:  # sqlite errors of every kind mean "not writable"
        problems.append(f"query log {settings.database}: {exc}")
    err = _stderr()
    if problems:
        for p in problems:
            err.print(f"[red]unhealthy[/] {escape(p)}")
        return EXIT_FAILURE
    _stdout().print(f"healthy: {detail}, query log writable ({settings.database})")
    return EXIT_OK


EXAMPLE_ARTICLE = """---
title: Example article: how askbot reads your corpus
date: {date}
source: askbot
url: https://example.org/askbot-example
---

This is the first paragraph. askbot splits articles into paragraphs at blank lines and cites each answer by article title and paragraph number.

"Every answer comes with its source," the askbot maintainers said on launch day.

Add more .txt, .md or .jsonl files to this folder, then run askbot index (or /reindex on Discord).
"""


def _env_example() -> str:
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / ".env.example", Path.cwd() / ".env.example"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return "DISCORD_TOKEN=\nASKBOT_CORPUS_DIR=corpus\n"


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    """Create a new corpus folder with an example article, and a .env next to it."""
    target = Path(args.dir)
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"{target} exists and is not empty; choose a new folder")
    corpus = target / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "example.md").write_text(
        EXAMPLE_ARTICLE.format(date=time.strftime("%Y-%m-%d")), encoding="utf-8"
    )
    env = _env_example().replace("ASKBOT_CORPUS_DIR=corpus", f"ASKBOT_CORPUS_DIR={corpus}")
    (target / ".env").write_text(env, encoding="utf-8")
    os.chmod(target / ".env", 0o600)
    out = _stdout()
    out.print(f"Created {escape(str(corpus))}/example.md and {escape(str(target / '.env'))}.")
    out.print(f'Next: cd {escape(str(target))} && askbot ask "What does every answer come with?"')
    return EXIT_OK


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Start the Discord bot."""
    from askbot.bot.launcher import run_bot

    code: int = run_bot(settings)
    return code


# -- argument parsing -----------------------------------------------------------------------------

EXAMPLES: dict[str, str] = {
    "ask": 'askbot ask "What did Biegun say?"\n  askbot ask --json "What did Biegun say?"\n'
    '  printf "Who is Biegun?\\nWhat did Pompeo say?\\n" | askbot ask --json -\n'
    '  askbot ask --context 1 --top-k 5 "liaison office"\n'
    '  askbot ask "talks source:xinhua after:2020-06-01"\n'
    '  askbot ask --source wikinews --before 2016 "crane collapse"',
    "index": "askbot index\n  askbot index --full\n  askbot index --corpus ./news --json",
    "sources": "askbot sources\n  askbot sources --json | head",
    "log": "askbot log\n  askbot log --json --limit 100",
    "stats": "askbot stats\n  askbot stats --json",
    "config": "askbot config\n  askbot config --json",
    "health": "askbot health && echo ok",
    "init": "askbot init my-newsroom",
    "forget": "askbot forget 123456789012345678",
    "run": "DISCORD_TOKEN=... askbot run",
    "eval": "askbot eval questions.jsonl --baseline\n  askbot eval --corpus ../shared/corpora/squad-v1.1-dev/articles "
    "../shared/corpora/squad-v1.1-dev/questions.jsonl --baseline\n\n"
    'Each line: {"question": "...", "article": "politics/012", "paragraph": 7}  (paragraph optional, 1-based)',
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command, with examples in each --help."""
    parser = argparse.ArgumentParser(
        prog="askbot",
        description="Cited answers from a corpus of news articles (BM25), in the terminal and on Discord.",
        epilog="Exit codes: 0 ok, 1 failure, 2 usage error.\nSettings also come from the "
        "environment and .env (see `askbot config`).\n\nExamples:\n  "
        'askbot ask "What did Biegun say?"\n  askbot index\n  askbot run',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"askbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(
        name: str, func: Callable[..., int], corpus: bool = False, db: bool = False
    ) -> argparse.ArgumentParser:
        doc = (func.__doc__ or "").strip().splitlines()[0]
        p = sub.add_parser(
            name, help=doc, description=doc, epilog=f"Examples:\n  {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip
        p.set_defaults(func=func)
        if corpus:
            p.add_argument(
                "--corpus", metavar="DIR", type=Path, help="corpus folder (ASKBOT_CORPUS_DIR)"
            )
            p.add_argument(
                "--index-dir", metavar="DIR", type=Path, help="saved indexes (ASKBOT_INDEX_DIR)"
            )
        if db:
            p.add_argument(
                "--db", metavar="PATH", type=Path, help="SQLite query log (ASKBOT_DB_PATH)"
            )
        p.add_argument(
            "--data-dir",
            metavar="DIR",
            type=Path,
            help="default home of index and log (ASKBOT_DATA_DIR)",
        )
        return p

    ask = command("ask", cmd_ask, corpus=True, db=True)
    ask.add_argument(
        "question", help='the question, or "-" to read one question per line from stdin'
    )
    ask.add_argument("--json", action="store_true", help="one JSON object per answer")
    ask.add_argument(
        "--top-k", type=int, metavar="N", help="passages to cite (ASKBOT_TOP_K, default 3)"
    )
    ask.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME",
        help="only articles from this source (repeatable); also source:NAME in the question",
    )
    ask.add_argument(
        "--after", metavar="DATE", help="only articles dated after DATE (YYYY[-MM[-DD]])"
    )
    ask.add_argument("--before", metavar="DATE", help="only articles dated before DATE")
    ask.add_argument(
        "--article",
        action="append",
        default=[],
        metavar="ID",
        help="only this article or folder of articles (repeatable)",
    )
    ask.add_argument(
        "--phrase",
        action="append",
        default=[],
        metavar="TEXT",
        help='passages must contain this phrase (repeatable); also "..." in the question',
    )
    ask.add_argument("--context", type=int, default=0, metavar="N",
                     help="also show N neighbouring paragraphs around each cited passage")  # fmt: skip

    index = command("index", cmd_index, corpus=True)
    index.add_argument("--json", action="store_true", help="print the summary as JSON")
    index.add_argument(
        "--full",
        action="store_true",
        help="read and analyse the whole corpus again (by default unchanged articles are reused)",
    )
    sources = command("sources", cmd_sources, corpus=True)
    sources.add_argument("--json", action="store_true", help="one JSON object per article")
    log = command("log", cmd_log, db=True)
    log.add_argument("--json", action="store_true", help="one JSON object per line")
    log.add_argument("--limit", type=int, default=20, metavar="N", help="how many (default 20)")
    stats = command("stats", cmd_stats, db=True)
    stats.add_argument("--json", action="store_true", help="print as JSON")
    stats.add_argument("--top", type=int, default=5, metavar="N", help="top questions to list")
    config = command("config", cmd_config, corpus=True, db=True)
    config.add_argument("--json", action="store_true", help="print as JSON")
    command("health", cmd_health, corpus=True, db=True)
    init = command("init", cmd_init)
    init.add_argument("dir", help="the folder to create")
    forget = command("forget", cmd_forget, db=True)
    forget.add_argument("user_id", type=int, help="the Discord user id whose queries to delete")
    command("run", cmd_run, corpus=True, db=True)
    ev = command("eval", cmd_eval, corpus=True)
    ev.add_argument("file", help="JSON lines: question, article, optional paragraph")
    ev.add_argument("--baseline", action="store_true", help="also measure plain rank-bm25")
    ev.add_argument("--top-k", type=int, metavar="N", help="k of hit@k (default 5)")
    ev.add_argument("--show", type=int, default=10, metavar="N", help="misses to list")
    ev.add_argument("--json", action="store_true", help="one JSON object per engine")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `askbot` command; returns the exit code.

    Without ``argv`` this is the program itself (the console script, ``python -m askbot``),
    which exits as soon as main returns.
    """
    if argv is not None:
        # Tests and embedders keep their collector as it is.
        return _main(argv, lambda: None)
    # Importing pydantic, numpy and the search core allocates a few hundred thousand objects, all
    # alive until exit; the cycle collector walked them ~100 times before the first answer (~25
    # ms of a whole-process 1M `ask`) and freed nothing. It waits until the command has what it
    # needs; then that heap is frozen (never walked again) and collection resumes, so a long
    # command (`index`, `run`, `ask -` with many questions) still frees its cycles.
    collecting = gc.isenabled()
    gc.disable()

    def startup_done() -> None:
        gc.freeze()
        if collecting:
            gc.enable()

    try:
        return _main(argv, startup_done)
    finally:
        # Freezing what is alive keeps the interpreter's shutdown from walking every object
        # (pydantic's schemas, numpy, the index) with the cycle collector: ~100 ms of a
        # whole-process 1M `ask` here (medians). The memory goes back to the OS either way.
        gc.freeze()


def _main(argv: Sequence[str] | None, startup_done: Callable[[], None]) -> int:
    # OpenBLAS starts a thread pool when numpy is imported, spinning on the other core: it made
    # every short command ~60-150 ms slower on two cores (whole-process `ask`, medians). askbot
    # never calls BLAS (no matrix products anywhere), so one thread costs nothing. A value the
    # user set is kept; once numpy is loaded (tests, embedding) it no longer matters.
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    if getattr(args, "top_k", None) is not None and not 1 <= args.top_k <= 20:
        parser.error("--top-k must be between 1 and 20")
    if getattr(args, "question", None) is not None:
        from askbot.search.answer import MAX_QUESTION_CHARS

        if len(args.question) > 100 * MAX_QUESTION_CHARS:
            parser.error("the question is too long")
    try:
        settings: Settings | SearchSettings = (
            load_search_settings(args) if args.func is cmd_ask else load_settings(args)
        )
        # `ask` resumes the collector itself, once its imports are done and the index is open.
        args.startup_done = startup_done
        if args.func is not cmd_ask:
            startup_done()
        code: int = args.func(args, settings)
        return code
    except UsageError as exc:
        _stderr().print(f"[red]askbot:[/] {escape(str(exc))}")
        return EXIT_USAGE
    except Failure as exc:
        _stderr().print(f"[red]askbot:[/] {escape(str(exc))}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _stderr().print("interrupted")
        return 130
    except BrokenPipeError:
        # `askbot ask --json - | head`: the reader went away; that is not an error.
        sys.stderr.close()
        return EXIT_OK
