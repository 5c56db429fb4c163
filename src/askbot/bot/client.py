"""AskBot: the commands.Bot that receives its dependencies, loads the cogs and syncs on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import discord
from discord.ext import commands

from askbot.bot._cooldown import Cooldown
from askbot.bot._lag import LagMonitor
from askbot.bot.errors import AskTree
from askbot.bot.render import NO_MENTIONS
from askbot.bot.views import DYNAMIC_ITEMS
from askbot.service import AskService

log = logging.getLogger(__name__)

SYNC_HASH_KEY = "discord.commands.sha256"
# At shutdown, how long questions already being answered may take to finish (and be logged).
DRAIN_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class BotConfig:
    """The plain values the bot needs from the settings."""

    guild_ids: tuple[int, ...] = ()
    admin_role_ids: frozenset[int] = frozenset()
    admin_user_ids: frozenset[int] = frozenset()
    ask_channel_ids: frozenset[int] = frozenset()
    cooldown_rate: int = 3
    cooldown_seconds: float = 5.0


def bot_intents(config: BotConfig) -> discord.Intents:
    """Non-privileged intents, plus message content only when ask channels need it."""
    intents = discord.Intents.default()
    # Mentions and DMs carry their content without the privileged intent; only reading every
    # message of an ask channel needs it (and Discord must have it enabled for the app).
    intents.message_content = bool(config.ask_channel_ids)
    intents.members = False
    intents.presences = False
    return intents


class InFlight:
    """Counts work in progress so a shutdown can wait for it instead of cutting it off."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Mark a piece of work as running for the duration of the block."""
        self.count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def wait(self, timeout: float) -> bool:
        """Wait until nothing runs; False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class AskBot(commands.Bot):
    """The askbot Discord client. Everything it uses is passed in; nothing is global."""

    def __init__(self, service: AskService, config: BotConfig, **options: Any) -> None:
        options.setdefault("intents", bot_intents(config))
        # No message cache: askbot never looks a message up, and a thousand cached messages
        # (embeds, components, authors) are objects every full garbage collection walks.
        options.setdefault("max_messages", None)
        super().__init__(
            # No prefix commands: on_message below never processes them.
            command_prefix=commands.when_mentioned,
            help_command=None,
            tree_cls=AskTree,
            allowed_mentions=NO_MENTIONS,
            **options,
        )
        self.service = service
        self.config = config
        self.lag = LagMonitor()
        self.cooldown = Cooldown(config.cooldown_rate, config.cooldown_seconds)
        self.synced = False
        self.sync_done = asyncio.Event()
        """Set once the startup command sync finished (synced, unchanged, or failed)."""
        self._sync_task: asyncio.Task[None] | None = None
        self.accepting = True
        self.inflight = InFlight()

    async def setup_hook(self) -> None:
        """Add the cogs and the persistent buttons, then sync commands if they changed."""
        # Imported here: the cogs import this module for typing.
        from askbot.bot.cogs.admin import AdminCog, PrivacyCog
        from askbot.bot.cogs.ask import AskCog
        from askbot.bot.cogs.sources import SourcesCog

        await self.add_cog(AskCog(self))
        await self.add_cog(SourcesCog(self.service))
        await self.add_cog(AdminCog(self.service, self.config))
        await self.add_cog(PrivacyCog(self.service))
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        self.lag.start()
        # In the background: discord.py connects to the gateway only after setup_hook returns,
        # and answering must not wait for Discord to accept (or rate-limit) a command upload.
        self._sync_task = asyncio.create_task(self._startup_sync(), name="askbot-sync")

    async def _startup_sync(self) -> None:
        try:
            await self.sync_commands()
        except Exception:  # a failed sync keeps the previous commands; the bot keeps answering
            log.exception("could not sync slash commands")
        finally:
            self.sync_done.set()

    async def close(self) -> None:
        """Stop taking questions, let those being answered finish, then disconnect."""
        if self.accepting:
            self.accepting = False
            if not await self.inflight.wait(DRAIN_SECONDS):
                log.warning("shutting down with %d answers unfinished", self.inflight.count)
        if self._sync_task is not None and not self._sync_task.done():
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        await self.lag.stop()
        await super().close()

    async def on_message(self, message: discord.Message, /) -> None:
        """Prefix commands are off; AskCog's listener handles questions."""

    async def on_ready(self) -> None:
        """Only logs: Discord fires READY again after every reconnect that cannot resume."""
        user = self.user
        log.info(
            "connected as %s (id %s) to %d guilds", user, user.id if user else "?", len(self.guilds)
        )

    # -- command sync --------------------------------------------------------------------------

    def _command_payloads(self) -> list[dict[str, Any]]:
        payloads = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        return sorted(payloads, key=lambda p: str(p.get("name")))

    def command_hash(self) -> str:
        """A digest of what would be synced, and where, and for which application."""
        scope: list[int] | str = sorted(self.config.guild_ids) or "global"
        blob = json.dumps(
            {"app": self.application_id, "scope": scope, "commands": self._command_payloads()},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Sync the command tree only when it changed since the last sync; True if it synced.

        Discord rate-limits command registration, and a global sync takes time to propagate,
        so a restart with the same commands sends nothing.
        """
        digest = self.command_hash()
        if not force and await self.service.log.get_meta(SYNC_HASH_KEY) == digest:
            log.info("slash commands unchanged since the last sync; not syncing")
            return False
        try:
            if self.config.guild_ids:
                # Guild commands appear at once; clear the global set so none shows twice.
                for guild_id in self.config.guild_ids:
                    guild = discord.Object(guild_id)
                    self.tree.copy_global_to(guild=guild)
                    await self.tree.sync(guild=guild)
                self.tree.clear_commands(guild=None)
                await self.tree.sync()
            else:
                await self.tree.sync()
        except discord.HTTPException as exc:
            log.error("could not sync slash commands (%s); the previous ones stay", exc)
            return False
        await self.service.log.set_meta(SYNC_HASH_KEY, digest)
        self.synced = True
        log.info("synced slash commands to %s", list(self.config.guild_ids) or "all guilds")
        return True
