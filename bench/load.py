"""Load test: many concurrent /ask interactions from a local fake Discord while /reindex runs.

Run:  .venv/bin/python bench/load.py --questions 1000 --concurrency 20 --articles 3000

The bot runs as its own process, started exactly as a user starts it (`python -m askbot run`),
pointed at the test suite's fake Discord server on 127.0.0.1 in this process. The bot measures
its own event-loop lag (askbot.bot._lag) and logs it at shutdown; this script sends SIGTERM at the
end, reads that line, and counts the rows in the bot's SQLite query log. Prints questions per
second, p50/p95 latency (invoke -> visible answer), loop lag, the bot's resident memory, and
whether every question was answered and logged.
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


def synth_corpus(target: Path, articles: int, seed: int) -> None:
    """The bundled corpus plus synthetic articles made of its own words, as one JSONL file."""
    shutil.copytree(REPO / "corpus", target)
    words = " ".join(p.read_text(encoding="utf-8") for p in (REPO / "corpus").rglob("*.md")).split()
    rng = random.Random(seed)
    with open(target / "synthetic.jsonl", "w", encoding="utf-8") as fh:
        for i in range(articles):
            paragraphs = [" ".join(rng.choices(words, k=60)) + "." for _ in range(10)]
            row = {"id": f"synth/{i}", "title": f"Synthetic {i}", "text": "\n\n".join(paragraphs)}
            fh.write(json.dumps(row) + "\n")


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
    work = Path(tempfile.mkdtemp(prefix="askbot-load-"))
    synth_corpus(work / "corpus", args.articles, args.seed)
    fake = FakeDiscord(token=TOKEN)
    guild = fake.add_guild("Load")
    admin = fake.add_member(guild.id, "admin", permissions=Perm.MANAGE_GUILD)
    users = [fake.add_member(guild.id, f"user{i}") for i in range(args.users)]
    await fake.start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ASKBOT_")},
        "DISCORD_TOKEN": TOKEN,
        "ASKBOT_DISCORD_API_BASE": fake.api_base,
        "ASKBOT_CORPUS_DIR": str(work / "corpus"),
        "ASKBOT_DATA_DIR": str(work / "data"),
        "ASKBOT_GUILD_IDS": str(guild.id),
        "ASKBOT_COOLDOWN_RATE": "1000000",
        "ASKBOT_LOG_LEVEL": "INFO",
    }
    # Build the index first, as an operator would, so the bot starts by loading it.
    build = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "askbot", "index", env=env, cwd=work,
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await build.wait()
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "askbot", "run", env=env, cwd=work,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert bot.stderr is not None
    log_lines: list[str] = []
    ready = asyncio.Event()

    async def read_log() -> None:
        assert bot.stderr is not None
        async for raw in bot.stderr:
            line = raw.decode(errors="replace").rstrip()
            log_lines.append(line)
            if "connected as" in line:
                ready.set()

    reader = asyncio.create_task(read_log())
    rng = random.Random(args.seed)
    latencies: list[float] = []
    failures: list[str] = []
    try:
        await asyncio.wait_for(ready.wait(), 60)
        rss_before = rss_mb(bot.pid)
        semaphore = asyncio.Semaphore(args.concurrency)

        async def one(question: str, user: int) -> None:
            async with semaphore:
                started = time.perf_counter()
                try:
                    ix = await fake.invoke_command(
                        guild.id, guild.default_channel_id, user, "ask", {"question": question}
                    )
                    await ix.wait_for_message(timeout=60)
                    latencies.append((time.perf_counter() - started) * 1000)
                except Exception as exc:  # a load test reports every failure and goes on
                    failures.append(f"{question!r}: {type(exc).__name__}: {exc}")

        async def reindex() -> tuple[float, str]:
            started = time.perf_counter()
            ix = await fake.invoke_command(guild.id, guild.default_channel_id, admin, "reindex", {})
            message = await ix.wait_for_message(timeout=300)
            text = message.get("content", "") + " ".join(
                str(e.get("description", "")) for e in message.get("embeds", [])
            )
            return time.perf_counter() - started, text

        began = time.perf_counter()
        reindex_task = asyncio.create_task(reindex())
        jobs = [one(rng.choice(QUESTIONS), rng.choice(users)) for _ in range(args.questions)]
        await asyncio.gather(*jobs)
        elapsed = time.perf_counter() - began
        reindex_s, reindex_text = await reindex_task
        rss_after = rss_mb(bot.pid)
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(bot.wait(), 60)
        await reader
        await fake.stop()
    with contextlib.closing(sqlite3.connect(work / "data" / "askbot.db")) as db:
        logged = db.execute("SELECT COUNT(*) FROM queries WHERE surface = 'discord'").fetchone()[0]
    shutil.rmtree(work, ignore_errors=True)
    lag = next((LAG.search(line) for line in log_lines if LAG.search(line)), None)
    lag_max = float(lag.group(1)) if lag else float("nan")
    lag_p99 = float(lag.group(2)) if lag else float("nan")

    answered = len(latencies)
    print(
        f"questions            {args.questions} from {args.users} users, concurrency {args.concurrency}"
    )
    print(f"corpus               bundled + {args.articles} synthetic articles (10 paragraphs each)")
    print(f"answered             {answered}/{args.questions}   failures {len(failures)}")
    print(
        f"in the query log     {logged}/{args.questions} (counted after SIGTERM, exit code {code})"
    )
    print(f"throughput           {args.questions / elapsed:.1f} questions/s over {elapsed:.2f} s")
    print(
        f"latency ms           p50 {statistics.median(latencies):.1f}   p95 {pct(latencies, 0.95):.1f}"
    )
    print(
        f"reindex              {reindex_s:.2f} s while the questions were asked: {reindex_text[:120]!r}"
    )
    print(f"bot event-loop lag   max {lag_max:.1f} ms   p99 {lag_p99:.1f} ms")
    print(f"bot resident MB      {rss_before:.0f} after start, {rss_after:.0f} after the load")
    for failure in failures[:10]:
        print("  failure:", failure)
    ok = answered == args.questions and logged == args.questions and lag_max < 100 and code == 0
    print("RESULT", "ok" if ok else "NOT OK (see above)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--articles", type=int, default=3000, help="synthetic articles to add")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result: int = asyncio.run(main_async(args))
    return result


if __name__ == "__main__":
    sys.exit(main())
