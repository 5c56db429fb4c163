"""Load test: many concurrent /ask interactions from a local fake Discord while /reindex runs.

Run (30k passages, built first):
    .venv/bin/python bench/load.py --questions 1000 --concurrency 20 --articles 3000
Run (1M passages, the saved index copied to a scratch data folder, questions until the reindex
of the whole corpus has finished):
    .venv/bin/python bench/load.py --corpus bench/_data/corpus-1000000 \
        --saved-index bench/_data/askbot-1000000 --concurrency 5 --until-reindexed \
        --cold-reindex --question-set squad

The bot runs as its own process, started exactly as a user starts it (`python -m askbot run`),
pointed at the test suite's fake Discord server on 127.0.0.1 in this process. The bot measures
its own event-loop lag (askbot.bot._lag) and logs it at shutdown; this script sends SIGTERM at the
end, reads that line, and counts the rows in the bot's SQLite query log.

Prints: startup (process start -> READY, and READY -> the first answer, asked the moment READY
was sent), questions per second, p50/p95 latency (invoke -> visible answer), how many questions
were answered while the reindex ran (from the old index), loop lag, the bot's resident memory,
and whether every question was answered and logged. Exits 1 unless every question was answered
and logged, the bot exited 0, the max lag stayed under 100 ms and the first answer came within
1 s of READY.

With --add-articles N the corpus is a hard-linked copy of --corpus in the scratch folder, and N new
articles are written to a new file in it just before /reindex: an incremental reindex, which the
worker compares with the index it replaces (with --cold-reindex: a full build, compared by the bot).

The bot never writes into --corpus: a --saved-index is copied into a scratch data folder, so the
reindex replaces the copy, not the original; --add-articles only adds a file to the linked copy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.fake_discord import FakeDiscord, Perm  # noqa: E402

TOKEN = "load-test-token.0123456789"
QUESTIONS = [
    "What did Biegun say?",
    "What did Pompeo say about the summit?",
    "How many people died in the Mecca crane collapse?",
    "Who won the Budweiser Man of the Match award?",
    "What happened to the liaison office in Kaesong?",
    "@everyone what did Trump say?",
    "Who won the 2030 World Cup?",
    "Was ist los?",
]
LAG = re.compile(r"event loop lag: max ([\d.]+) ms, p99 ([\d.]+) ms")
STALL = re.compile(r"event loop stalled for ([\d.]+) ms")
STARTUP_LIMIT_MS = 1000.0
LAG_LIMIT_MS = 100.0


def _write_synthetic(path: Path, count: int, seed: int, prefix: str, title: str) -> None:
    """``count`` articles of 10 paragraphs drawn from the bundled corpus's words, as a new JSONL
    file (mode "x": never an edit of an existing file, which may be a shared hard link)."""
    words = " ".join(p.read_text(encoding="utf-8") for p in (REPO / "corpus").rglob("*.md")).split()
    rng = random.Random(seed)
    with open(path, "x", encoding="utf-8") as fh:
        for i in range(count):
            paragraphs = [" ".join(rng.choices(words, k=60)) + "." for _ in range(10)]
            row = {"id": f"{prefix}/{i}", "title": f"{title} {i}", "text": "\n\n".join(paragraphs)}
            fh.write(json.dumps(row) + "\n")


def synth_corpus(target: Path, articles: int, seed: int) -> None:
    """The bundled corpus plus synthetic articles made of its own words, as one JSONL file."""
    shutil.copytree(REPO / "corpus", target)
    _write_synthetic(target / "synthetic.jsonl", articles, seed, "synth", "Synthetic")


def link_corpus(source: Path, target: Path) -> None:
    """A copy of ``source`` whose files are hard links (same names, sizes and times)."""
    for path in sorted(source.rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, dest)


def add_articles(corpus: Path, count: int, seed: int) -> None:
    """``count`` new articles in a new file (never an edit of a linked file, which is shared)."""
    _write_synthetic(corpus / "zz-load-added.jsonl", count, seed, "load-added", "Added")


def copy_saved_index(source: Path, data: Path) -> None:
    """Copy the saved index folders of ``source`` (a data folder or its index/) into ``data``."""
    root = source / "index" if (source / "index").is_dir() else source
    for folder in root.iterdir():
        if folder.is_dir() and not folder.name.startswith(".") and (folder / "meta.json").exists():
            shutil.copytree(folder, data / "index" / folder.name)


def question_set(name: str) -> list[str]:
    """The questions to ask: the bundled corpus's, or SQuAD's (for the synthetic corpora)."""
    if name == "bundled":
        return QUESTIONS
    sys.path.insert(0, str(REPO / "bench"))
    import scale  # the same 200 questions bench/scale.py times

    return list(scale.questions())


def rss_mb(pid: int) -> float:
    """A process's resident memory now, in MB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def main_async(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="askbot-load-", dir=args.scratch))
    if args.corpus is not None and args.add_articles:
        corpus = work / "corpus"
        link_corpus(args.corpus.resolve(), corpus)
        corpus_label = f"{args.corpus} (linked copy, +{args.add_articles} articles before /reindex)"
    elif args.corpus is not None:
        corpus = args.corpus.resolve()
        corpus_label = str(args.corpus)
    else:
        corpus = work / "corpus"
        synth_corpus(corpus, args.articles, args.seed)
        corpus_label = f"bundled + {args.articles} synthetic articles (10 paragraphs each)"
    data = work / "data"
    questions = question_set(args.question_set)
    fake = FakeDiscord(token=TOKEN)
    guild = fake.add_guild("Load")
    admin = fake.add_member(guild.id, "admin", permissions=Perm.MANAGE_GUILD)
    users = [fake.add_member(guild.id, f"user{i}") for i in range(args.users)]
    await fake.start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ASKBOT_")},
        "DISCORD_TOKEN": TOKEN,
        "ASKBOT_DISCORD_API_BASE": fake.api_base,
        "ASKBOT_CORPUS_DIR": str(corpus),
        "ASKBOT_DATA_DIR": str(data),
        "ASKBOT_GUILD_IDS": str(guild.id),
        "ASKBOT_COOLDOWN_RATE": "1000000",
        "ASKBOT_LOG_LEVEL": "INFO",
    }
    if args.saved_index is not None:
        copy_saved_index(args.saved_index, data)
    else:
        # Build the index first, as an operator would, so the bot starts by loading it.
        build = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "askbot", "index", env=env, cwd=work,
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await build.wait()
    spawned = time.perf_counter()
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "askbot", "run", env=env, cwd=work,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert bot.stderr is not None
    log_lines: list[str] = []

    async def read_log() -> None:
        assert bot.stderr is not None
        async for raw in bot.stderr:
            line = raw.decode(errors="replace").rstrip()
            log_lines.append(line)
            if args.verbose:
                print("  bot:", line, file=sys.stderr)

    reader = asyncio.create_task(read_log())
    rng = random.Random(args.seed)
    latencies: list[float] = []
    asked_at: list[float] = []  # seconds after the load began, in the order of latencies
    failures: list[str] = []
    during_reindex = 0
    reindexed_at: list[float] = []
    reindex_done = asyncio.Event()
    try:
        await fake.wait_until_ready_sent(timeout=args.startup_timeout)
        ready_at = time.perf_counter()
        if not fake.commands(guild.id):
            # Nobody can use a command Discord has not been told about yet.
            await fake.wait_for_request("PUT", rf"/guilds/{guild.id}/commands", timeout=60)
        first = await fake.invoke_command(
            guild.id, guild.default_channel_id, users[0], "ask", {"question": questions[0]}
        )
        await first.wait_for_message(timeout=60)
        startup_ms = (time.perf_counter() - ready_at) * 1000
        if args.cold_reindex:
            # The bot has the saved index memory-mapped (unlinked files stay readable); with no
            # saved index to reuse, the reindex reads and analyses the whole corpus.
            shutil.rmtree(data / "index")
        if args.add_articles:
            add_articles(corpus, args.add_articles, args.seed)
        ready_s = ready_at - spawned
        rss_before = rss_mb(bot.pid)
        semaphore = asyncio.Semaphore(args.concurrency)

        async def one(question: str, user: int) -> None:
            nonlocal during_reindex
            started = time.perf_counter()
            running = reindex_task is not None and not reindex_done.is_set()
            try:
                ix = await fake.invoke_command(
                    guild.id, guild.default_channel_id, user, "ask", {"question": question}
                )
                await ix.wait_for_message(timeout=60)
                latencies.append((time.perf_counter() - started) * 1000)
                asked_at.append(started - began)
                if running and not reindex_done.is_set():
                    during_reindex += 1  # asked and answered before the new index was reported
            except Exception as exc:  # a load test reports every failure and goes on
                failures.append(f"{question!r}: {type(exc).__name__}: {exc}")

        async def limited(question: str, user: int) -> None:
            async with semaphore:
                await one(question, user)

        async def reindex() -> tuple[float, str]:
            started = time.perf_counter()
            try:
                ix = await fake.invoke_command(
                    guild.id, guild.default_channel_id, admin, "reindex", {}
                )
                message = await ix.wait_for_message(timeout=args.reindex_timeout)
            finally:
                reindex_done.set()
                reindexed_at.append(time.perf_counter() - began)
            text = message.get("content", "") + " ".join(
                str(e.get("description", "")) for e in message.get("embeds", [])
            )
            return time.perf_counter() - started, text

        async def until_reindexed() -> int:
            """Each of ``concurrency`` askers asks again as soon as answered, until the report."""
            asked = 0

            async def asker() -> None:
                nonlocal asked
                while not reindex_done.is_set() and asked < args.questions:
                    asked += 1
                    await one(rng.choice(questions), rng.choice(users))

            await asyncio.gather(*(asker() for _ in range(args.concurrency)))
            return asked

        reindex_task: asyncio.Task[tuple[float, str]] | None = None
        began = time.perf_counter()
        if args.no_reindex:
            reindex_done.set()
        else:
            reindex_task = asyncio.create_task(reindex())
        if args.until_reindexed:
            total = await until_reindexed()
        else:
            total = args.questions
            jobs = [limited(rng.choice(questions), rng.choice(users)) for _ in range(total)]
            await asyncio.gather(*jobs)
        elapsed = time.perf_counter() - began
        reindex_s, reindex_text = await reindex_task if reindex_task else (0.0, "not asked")
        rss_after = rss_mb(bot.pid)
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(bot.wait(), 60)
        await reader
        await fake.stop()
    with contextlib.closing(sqlite3.connect(data / "askbot.db")) as db:
        logged = db.execute("SELECT COUNT(*) FROM queries WHERE surface = 'discord'").fetchone()[0]
    shutil.rmtree(work, ignore_errors=True)
    lag = next((LAG.search(line) for line in log_lines if LAG.search(line)), None)
    lag_max = float(lag.group(1)) if lag else float("nan")
    lag_p99 = float(lag.group(2)) if lag else float("nan")
    stalls = [float(m.group(1)) for line in log_lines if (m := STALL.search(line))]

    answered = len(latencies)
    asked = total + 1  # and the first question, asked at READY
    answered_all = answered + 1
    print(f"corpus               {corpus_label}")
    print(f"startup              READY {ready_s:.2f} s after the process started")
    if ready_s > 10:
        print("  (slow: the saved index did not match this askbot, so the bot built it first)")
    print(f"first answer         {startup_ms:.0f} ms after READY (limit {STARTUP_LIMIT_MS:.0f})")
    print(
        f"questions            {asked} ({args.question_set} set) from {args.users} users, "
        f"concurrency {args.concurrency}"
        + (", asked until the reindex reported" if args.until_reindexed else "")
    )
    print(f"answered             {answered_all}/{asked}   failures {len(failures)}")
    print(f"  during the reindex {during_reindex} (answered from the old index)")
    print(f"in the query log     {logged}/{asked} (counted after SIGTERM, exit code {code})")
    print(f"throughput           {total / elapsed:.1f} questions/s over {elapsed:.2f} s")
    print(
        f"latency ms           p50 {statistics.median(latencies):.1f}   p95 {pct(latencies, 0.95):.1f}"
        f"   max {max(latencies):.1f}"
    )
    slowest = max(range(answered), key=latencies.__getitem__)
    print(
        f"slowest answer       asked {asked_at[slowest]:.1f} s into the load"
        + (f" (the reindex reported at {reindexed_at[0]:.1f} s)" if reindexed_at else "")
    )
    print(
        f"reindex              {reindex_s:.2f} s while the questions were asked: {reindex_text[:120]!r}"
    )
    print(
        f"bot event-loop lag   max {lag_max:.1f} ms   p99 {lag_p99:.1f} ms   stalls >100 ms: {stalls}"
    )
    print(f"bot resident MB      {rss_before:.0f} after start, {rss_after:.0f} after the load")
    for failure in failures[:10]:
        print("  failure:", failure)
    ok = (
        answered_all == asked
        and logged == asked
        and lag_max < LAG_LIMIT_MS
        and startup_ms < STARTUP_LIMIT_MS
        and code == 0
        and (args.no_reindex or "fail" not in reindex_text.lower())
    )
    print("RESULT", "ok" if ok else "NOT OK (see above)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--questions", type=int, default=1000, help="(with --until-reindexed: at most)"
    )
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--articles", type=int, default=3000, help="synthetic articles to add")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--corpus", type=Path, help="an existing corpus folder instead of the synthetic one"
    )
    parser.add_argument(
        "--saved-index", type=Path,
        help="a data folder (or its index/) whose saved index is copied in, instead of building",
    )  # fmt: skip
    parser.add_argument(
        "--question-set", choices=("bundled", "squad"), default="bundled",
        help="squad: bench/scale.py's 200 SQuAD questions (for the synthetic corpora)",
    )  # fmt: skip
    parser.add_argument(
        "--until-reindexed", action="store_true",
        help="keep --concurrency questions in flight until the reindex reports",
    )  # fmt: skip
    parser.add_argument("--no-reindex", action="store_true", help="only questions")
    parser.add_argument(
        "--cold-reindex", action="store_true",
        help="delete the saved index once the bot has loaded it, so the reindex is a full build",
    )  # fmt: skip
    parser.add_argument(
        "--add-articles", type=int, default=0, metavar="N",
        help="with --corpus: add N articles (a new file in a linked copy) before the reindex",
    )  # fmt: skip
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    parser.add_argument("--reindex-timeout", type=float, default=900.0)
    parser.add_argument("--scratch", type=Path, default=None, help="where the scratch folder goes")
    parser.add_argument("--verbose", action="store_true", help="echo the bot's log")
    args = parser.parse_args()
    if args.until_reindexed and args.no_reindex:
        parser.error("--until-reindexed needs the reindex")
    if args.until_reindexed and args.questions == parser.get_default("questions"):
        args.questions = 10**9
    result: int = asyncio.run(main_async(args))
    return result


if __name__ == "__main__":
    sys.exit(main())
