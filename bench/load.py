"""Load test: many concurrent /ask interactions from a local fake Discord while /reindex runs.

Run:  .venv/bin/python bench/load.py --questions 1000 --concurrency 20 --articles 3000

The bot is assembled exactly as `askbot run` does (askbot.bot.launcher.assembled_bot) and talks
to the fake Discord server of the test suite over 127.0.0.1; the fake runs on its own thread and
event loop so the bot's loop lag is measured without the fake's work in it. Prints questions per
second, p50/p95 latency (invoke -> visible answer), the event loop's worst and p99 lag, resident
memory, and checks that every question was answered and is in the query log.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.fake_discord import FakeDiscord, Perm  # noqa: E402

from askbot.bot.launcher import assembled_bot  # noqa: E402
from askbot.config import Settings  # noqa: E402

TOKEN = "load-test-token.0123456789"
T = TypeVar("T")
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


class FakeThread:
    """The fake Discord server on its own thread and event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="fake-discord", daemon=True
        )
        self.thread.start()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the fake's loop and await its result from the caller's loop."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return await asyncio.wrap_future(future)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


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


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def lag_monitor(stop: asyncio.Event, interval: float, samples: list[float]) -> None:
    """Record how late the loop wakes a task that asked to sleep ``interval`` seconds."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(interval)
        samples.append(max(0.0, loop.time() - start - interval))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def main_async(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="askbot-load-"))
    synth_corpus(work / "corpus", args.articles, args.seed)
    fake_thread = FakeThread()
    fake = FakeDiscord(token=TOKEN)
    guild = fake.add_guild("Load")
    admin = fake.add_member(guild.id, "admin", permissions=Perm.MANAGE_GUILD)
    users = [fake.add_member(guild.id, f"user{i}") for i in range(args.users)]
    await fake_thread.run(fake.start())
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DISCORD_TOKEN=TOKEN,
        corpus_dir=work / "corpus",
        data_dir=work / "data",
        discord_api_base=fake.api_base,
        cooldown_rate=1_000_000,
        log_retention_days=0,
    )
    rng = random.Random(args.seed)
    latencies: list[float] = []
    failures: list[str] = []
    lags: list[float] = []
    try:
        async with assembled_bot(settings, guild_ready_timeout=0.05) as bot:
            runner = asyncio.create_task(bot.start(TOKEN))
            await asyncio.wait_for(bot.wait_until_ready(), 30)
            rss_before = rss_mb()
            stop = asyncio.Event()
            monitor = asyncio.create_task(lag_monitor(stop, 0.01, lags))
            semaphore = asyncio.Semaphore(args.concurrency)

            async def one(question: str, user: int) -> None:
                async with semaphore:
                    started = time.perf_counter()
                    try:
                        ix = await fake_thread.run(
                            fake.invoke_command(
                                guild.id,
                                guild.default_channel_id,
                                user,
                                "ask",
                                {"question": question},
                            )
                        )
                        await fake_thread.run(ix.wait_for_message(timeout=60))
                        latencies.append((time.perf_counter() - started) * 1000)
                    except Exception as exc:  # a load test reports every failure and goes on
                        failures.append(f"{question!r}: {type(exc).__name__}: {exc}")

            async def reindex() -> float:
                started = time.perf_counter()
                ix = await fake_thread.run(
                    fake.invoke_command(guild.id, guild.default_channel_id, admin, "reindex", {})
                )
                await fake_thread.run(ix.wait_for_message(timeout=300))
                return time.perf_counter() - started

            began = time.perf_counter()
            reindex_task = asyncio.create_task(reindex())
            jobs = [one(rng.choice(QUESTIONS), rng.choice(users)) for _ in range(args.questions)]
            await asyncio.gather(*jobs)
            elapsed = time.perf_counter() - began
            reindex_s = await reindex_task
            await bot.service.log.flush()
            logged = await bot.service.log.count()
            stop.set()
            await monitor
            rss_after = rss_mb()
            await bot.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runner, 10)
    finally:
        await fake_thread.run(fake.stop())
        fake_thread.stop()
        shutil.rmtree(work, ignore_errors=True)

    answered = len(latencies)
    print(
        f"questions            {args.questions} from {args.users} users, concurrency {args.concurrency}"
    )
    print(f"corpus               bundled + {args.articles} synthetic articles (10 paragraphs each)")
    print(f"answered             {answered}/{args.questions}   failures {len(failures)}")
    print(f"in the query log     {logged}/{args.questions}")
    print(f"throughput           {args.questions / elapsed:.1f} questions/s over {elapsed:.2f} s")
    print(
        f"latency ms           p50 {statistics.median(latencies):.1f}   p95 {pct(latencies, 0.95):.1f}"
    )
    print(f"reindex              {reindex_s:.2f} s, ran while the questions were asked")
    print(f"event-loop lag ms    max {max(lags) * 1000:.1f}   p99 {pct(lags, 0.99) * 1000:.1f}   "
          f"({len(lags)} samples)")  # fmt: skip
    print(f"resident MB          {rss_before:.0f} before, {rss_after:.0f} after")
    for failure in failures[:10]:
        print("  failure:", failure)
    ok = answered == args.questions and logged == args.questions and max(lags) < 0.1
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
