"""End-to-end fixtures: a fake Discord, a tmp copy of the corpus, and AskBot started as run_bot does."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import discord.gateway
import discord.http
import pytest
from support.fake_discord import FakeDiscord, GuildRef, Perm, wait_until_ready

from askbot.bot.client import AskBot
from askbot.bot.launcher import assembled_bot
from askbot.config import Settings

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
TOKEN = "fake-bot-token.do-not-print.0123456789"
WAIT = 10.0
# discord.py fires on_ready guild_ready_timeout s after the last GUILD_CREATE (2 s by default).
READY_TIMEOUT = 0.05
BIEGUN = "pompeo-hopeful-us-north-korea-dialogue"


@dataclass
class World:
    """A started fake Discord with one guild, its people, and settings pointing at it."""

    fake: FakeDiscord
    guild: GuildRef
    channel: int
    ask_channel: int
    alice: int
    bob: int
    admin: int
    editor: int
    editors_role: int
    corpus: Path
    data: Path
    settings: Settings

    def with_settings(self, **changes: Any) -> Settings:
        """The world's settings with some values changed."""
        return self.settings.model_copy(update=changes)


@pytest.fixture(autouse=True)
def _restore_discord_urls() -> Iterator[None]:
    """The launcher points discord.py at the fake process-wide; put it back after each test."""
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ASKBOT_* or DISCORD_TOKEN from the developer's shell leaks into Settings."""
    for name in list(os.environ):
        if name.startswith("ASKBOT_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name)


@pytest.fixture
async def world(tmp_path: Path, clean_env: None) -> AsyncIterator[World]:
    fake = FakeDiscord(token=TOKEN)
    guild = fake.add_guild("Newsroom")
    ask_channel = fake.add_channel(guild.id, "ask-the-news")
    editors = fake.add_role(guild.id, "Editors", mentionable=True)
    alice = fake.add_member(guild.id, "alice")
    bob = fake.add_member(guild.id, "bob")
    admin = fake.add_member(guild.id, "boss", permissions=Perm.MANAGE_GUILD)
    editor = fake.add_member(guild.id, "eddie", roles=[editors])
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    data = tmp_path / "data"
    await fake.start()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DISCORD_TOKEN=TOKEN,
        corpus_dir=corpus,
        data_dir=data,
        discord_api_base=fake.api_base,
        ask_channel_ids=[ask_channel],
        admin_role_ids=[editors],
        cooldown_rate=100,
        cooldown_seconds=1.0,
        log_retention_days=0,
    )
    try:
        yield World(
            fake, guild, guild.default_channel_id, ask_channel, alice, bob, admin, editor,
            editors, corpus, data, settings,
        )  # fmt: skip
    finally:
        await fake.stop()
    assert fake.internal_errors == []
    # Whatever the test did, nothing the bot sent may have pinged anyone.
    assert fake.pinging_messages() == []
    for record in fake.sent_messages:
        assert (record["allowed_mentions"] or {}).get("parse") == [], record["kind"]


@contextlib.asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[AskBot]:
    """AskBot assembled by the launcher's own code, connected to the fake and ready."""
    async with assembled_bot(settings, guild_ready_timeout=READY_TIMEOUT) as bot:
        task = asyncio.create_task(bot.start(TOKEN))
        try:
            await wait_until_ready(bot, task, WAIT)
            # The startup sync runs beside the connection; tests use the commands it uploads.
            await asyncio.wait_for(bot.sync_done.wait(), WAIT)
            yield bot
        finally:
            await bot.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, WAIT)


@pytest.fixture
async def bot(world: World) -> AsyncIterator[AskBot]:
    async with running_bot(world.settings) as running:
        yield running


Start = Callable[..., contextlib.AbstractAsyncContextManager[AskBot]]
