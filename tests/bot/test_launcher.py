"""The launcher: exit codes and messages for bad tokens and intents, and a graceful shutdown."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from askbot.bot.launcher import (
    INTENTS_REFUSED,
    MISSING_TOKEN,
    REJECTED_TOKEN,
    freeze_startup_heap,
    serve,
)
from bot.conftest import READY_TIMEOUT, TOKEN, WAIT, World

SRC = Path(__file__).resolve().parents[2] / "src"
RUN = "from askbot.bot.launcher import run_bot; from askbot.config import Settings; " \
    "raise SystemExit(run_bot(Settings(_env_file=None)))"  # fmt: skip


def rows(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as conn:
        return list(conn.execute("SELECT question, surface FROM queries"))


async def test_rejected_token_exits_2_with_how_to(world: World) -> None:
    """A token Discord refuses prints how to create one and returns 2, without the token."""
    world.fake.reject_token = True
    err = io.StringIO()
    code = await serve(world.settings, TOKEN, asyncio.Event(), err=err)
    assert code == 2 and err.getvalue().strip() == REJECTED_TOKEN
    assert "Reset Token" in err.getvalue() and TOKEN not in err.getvalue()


async def test_refused_message_content_intent_exits_2_with_how_to(world: World) -> None:
    """Ask channels need the Message Content intent; a refusal explains how to enable it."""
    world.fake.reject_intents = True
    err = io.StringIO()
    code = await serve(
        world.settings, TOKEN, asyncio.Event(), err=err, guild_ready_timeout=READY_TIMEOUT
    )
    assert code == 2 and err.getvalue().strip() == INTENTS_REFUSED


async def test_without_ask_channels_no_privileged_intent_is_requested(world: World) -> None:
    """Mentions and /ask need no privileged intent, so a refusal does not matter then."""
    world.fake.reject_intents = True
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(world.with_settings(ask_channel_ids=[]), TOKEN, stop, guild_ready_timeout=0.05)
    )
    identify = await world.fake.wait_for_identify(timeout=WAIT)
    stop.set()
    assert await asyncio.wait_for(task, WAIT) == 0
    assert not identify["intents"] & (1 << 15)


async def test_unreachable_api_base_exits_2(world: World) -> None:
    """A wrong ASKBOT_DISCORD_API_BASE is reported in one line, not a traceback."""
    err = io.StringIO()
    settings = world.with_settings(discord_api_base="http://127.0.0.1:9/api/v10")
    assert await serve(settings, TOKEN, asyncio.Event(), err=err) == 2
    assert "ASKBOT_DISCORD_API_BASE=http://127.0.0.1:9/api/v10" in err.getvalue()


async def test_stop_closes_the_bot_and_keeps_every_query(world: World) -> None:
    """Setting the stop event shuts down cleanly and every answered query is in the file."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(world.settings, TOKEN, stop, guild_ready_timeout=READY_TIMEOUT)
    )
    await world.fake.wait_until_ready_sent(timeout=WAIT)
    await world.fake.wait_for_request("PUT", r"/commands$", timeout=WAIT)
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, world.alice, "ask", {"question": "What did Biegun say?"}
    )
    await ix.wait_for_message(timeout=WAIT)
    stop.set()
    assert await asyncio.wait_for(task, WAIT) == 0
    assert rows(world.settings.database) == [("What did Biegun say?", "discord")]


def _env(world: World, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASKBOT_")}
    env.pop("DISCORD_TOKEN", None)
    env.update(
        PYTHONPATH=str(SRC),
        ASKBOT_CORPUS_DIR=str(world.corpus),
        ASKBOT_DATA_DIR=str(world.data),
        ASKBOT_DISCORD_API_BASE=world.fake.api_base,
        ASKBOT_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


async def test_run_bot_without_token_exits_2_with_how_to(world: World) -> None:
    """No DISCORD_TOKEN: one paragraph on how to create one, exit code 2, no traceback."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUN, env=_env(world),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 2
    assert err.decode().strip() == MISSING_TOKEN and "Traceback" not in err.decode()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_run_bot_sigterm_shuts_down_and_flushes_the_log(world: World) -> None:
    """`askbot run` answers, then on SIGTERM exits 0 with the query written to the log."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUN, env=_env(world, DISCORD_TOKEN=TOKEN),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await world.fake.wait_for_request("PUT", r"/commands$", timeout=WAIT)
        await world.fake.wait_until_ready_sent(timeout=WAIT)
        ix = await world.fake.invoke_command(
            world.guild.id, world.channel, world.alice, "ask", {"question": "What did Biegun say?"}
        )
        await ix.wait_for_message(timeout=WAIT)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert TOKEN.encode() not in out + err
    assert rows(world.data / "askbot.db") == [("What did Biegun say?", "discord")]


def test_the_startup_heap_is_frozen_out_of_garbage_collection() -> None:
    """Objects alive at startup are moved where full collections no longer walk them."""
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
