"""The one place the bot is assembled from Settings and run: `askbot run` calls run_bot()."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl

from askbot.bot.client import AskBot, BotConfig
from askbot.config import DEFAULT_API_BASE, Settings
from askbot.service import AskService
from askbot.storage.querylog import QueryLog, QueryLogError

log = logging.getLogger(__name__)

PORTAL = "https://discord.com/developers/applications"

TOKEN_HOWTO = (
    f"Create a bot token in the Discord Developer Portal ({PORTAL}): open Applications, pick your "
    "app (or New Application), go to Bot and press Reset Token, then copy the token and put it in "
    "the .env file next to askbot as DISCORD_TOKEN=<token> (or export DISCORD_TOKEN). Invite the "
    "bot to your server with the 'bot' and 'applications.commands' scopes (OAuth2 -> URL "
    "Generator), then run `askbot run` again."
)
MISSING_TOKEN = "askbot: no Discord bot token is set. " + TOKEN_HOWTO
REJECTED_TOKEN = (
    "askbot: Discord rejected the bot token (it is wrong, or was reset). " + TOKEN_HOWTO
)
INTENTS_REFUSED = (
    "askbot: Discord refused the Message Content intent, which askbot needs to read questions in "
    "the channels listed in ASKBOT_ASK_CHANNEL_IDS. Enable it in the Discord Developer Portal "
    f"({PORTAL}): Applications -> your app -> Bot -> Privileged Gateway Intents -> turn on "
    "'Message Content Intent' and save. Or unset ASKBOT_ASK_CHANNEL_IDS: /ask and @mentions work "
    "without it."
)

# How long a shutdown may spend flushing queued query-log rows before giving up (and logging it).
FLUSH_TIMEOUT = 10.0


class StartupError(Exception):
    """askbot cannot start; the message says why and what to do."""


def bot_config(settings: Settings) -> BotConfig:
    """The plain values AskBot needs, taken from the settings."""
    return BotConfig(
        guild_ids=tuple(settings.guild_ids),
        admin_role_ids=frozenset(settings.admin_role_ids),
        admin_user_ids=frozenset(settings.admin_user_ids),
        ask_channel_ids=frozenset(settings.ask_channel_ids),
        cooldown_rate=settings.cooldown_rate,
        cooldown_seconds=settings.cooldown_seconds,
    )


async def point_at_api(base: str) -> None:
    """Send REST and the gateway to ``base`` when it is not Discord's own API.

    commands.Bot dials DiscordWebSocket.DEFAULT_GATEWAY directly, so the gateway URL is asked
    from ``{base}/gateway``, as Discord itself would answer it.
    """
    base = base.rstrip("/")
    if base == DEFAULT_API_BASE:
        return
    try:
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{base}/gateway") as response,
        ):
            response.raise_for_status()
            url = str((await response.json(content_type=None))["url"])
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
        raise StartupError(
            f"askbot: cannot get the gateway URL from ASKBOT_DISCORD_API_BASE={base} "
            f"({type(exc).__name__}: {exc}). Check the URL, or unset it to use Discord."
        ) from None
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    log.info("using the Discord API at %s (gateway %s)", base, url)


@contextlib.asynccontextmanager
async def open_service(settings: Settings) -> AsyncIterator[AskService]:
    """The query log (pruned to the retention period) and the service; both closed on exit."""
    try:
        querylog = await QueryLog.open(settings.database)
    except QueryLogError as exc:
        raise StartupError(f"askbot: {exc}") from None
    try:
        pruned = await querylog.prune(settings.log_retention_days)
        if pruned:
            log.info("pruned %d queries older than %d days", pruned, settings.log_retention_days)
        try:
            service = await AskService.open(
                settings.index_spec(), querylog, options=settings.answer_options()
            )
        except (OSError, ValueError) as exc:
            raise StartupError(
                f"askbot: cannot load the corpus from {settings.corpus_dir}: {exc}"
            ) from None
    except BaseException:
        await querylog.close(timeout=FLUSH_TIMEOUT)
        raise
    try:
        yield service
    finally:
        # After the bot has stopped: every queued query row is written before the process ends.
        await service.close(timeout=FLUSH_TIMEOUT)


@contextlib.asynccontextmanager
async def assembled_bot(settings: Settings, **client_options: Any) -> AsyncIterator[AskBot]:
    """The bot, built with its dependencies but not connected; closed, then the log, on exit.

    ``client_options`` go to discord.py (tests pass a short ``guild_ready_timeout``).
    """
    await point_at_api(settings.discord_api_base)
    async with open_service(settings) as service:
        bot = AskBot(service, bot_config(settings), **client_options)
        try:
            yield bot
        finally:
            await bot.close()
            await _settle_events()


async def _settle_events() -> None:
    """Let event handlers discord.py already scheduled (e.g. on disconnect) run to completion.

    Otherwise they are destroyed unstarted when the loop ends, and could be mid-answer when the
    query log closes.
    """
    current = asyncio.current_task()
    pending = [
        t
        for t in asyncio.all_tasks()
        if t is not current and not t.done() and t.get_name().startswith("discord.py:")
    ]
    if pending:
        await asyncio.wait(pending, timeout=FLUSH_TIMEOUT)


async def serve(
    settings: Settings,
    token: str,
    stop: asyncio.Event,
    *,
    err: TextIO | None = None,
    **client_options: Any,
) -> int:
    """Run the bot until ``stop`` is set or it cannot go on; returns the exit code.

    0 after a requested stop; 2 (and one paragraph on ``err``) when the token, the intents or
    the setup is refused by Discord or the machine.
    """
    err = err or sys.stderr
    try:
        async with assembled_bot(settings, **client_options) as bot:
            freeze_startup_heap()
            runner = asyncio.create_task(bot.start(token), name="askbot-discord")
            stopper = asyncio.create_task(stop.wait(), name="askbot-stop")
            await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not runner.done():
                log.info("stopping: closing the Discord connection, then flushing the query log")
                await bot.close()
                with contextlib.suppress(Exception):
                    await runner
                return 0
            return _exit_code(runner, err)
    except StartupError as exc:
        print(exc, file=err)
        return 2


def freeze_startup_heap() -> None:
    """Move every object alive now (modules, settings, the service) out of the collector's sight.

    They live as long as the process, yet each full garbage collection would walk them all
    again: tens of milliseconds with the loop stopped, every few seconds under load.
    """
    gc.collect()
    gc.freeze()


def _exit_code(runner: asyncio.Task[None], err: TextIO) -> int:
    """Exit code for a bot task that ended by itself."""
    if runner.cancelled():
        return 0
    exc = runner.exception()
    if exc is None:
        return 0
    if isinstance(exc, discord.LoginFailure) or (
        isinstance(exc, discord.ConnectionClosed) and exc.code == 4004
    ):
        print(REJECTED_TOKEN, file=err)
        return 2
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        print(INTENTS_REFUSED, file=err)
        return 2
    log.error("the Discord connection failed", exc_info=exc)
    print(f"askbot: the Discord connection failed: {type(exc).__name__}: {exc}", file=err)
    return 1


def _setup_logging(level_name: str) -> None:
    if logging.getLogger().handlers:
        return  # the CLI (or a test) configured logging already
    level = logging.getLevelNamesMapping().get(level_name.upper(), logging.INFO)
    discord.utils.setup_logging(level=level, root=True)


async def _main(settings: Settings, token: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    return await serve(settings, token, stop)


def run_bot(settings: Settings) -> int:
    """Run askbot on Discord until SIGINT/SIGTERM; the exit code for `askbot run`.

    A missing or refused token, refused intents or an unusable corpus or log print one paragraph
    to stderr and return 2. The token is never logged or printed.
    """
    _setup_logging(settings.log_level)
    secret = settings.discord_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    if not token:
        print(MISSING_TOKEN, file=sys.stderr)
        return 2
    try:
        return asyncio.run(_main(settings, token))
    except KeyboardInterrupt:  # a second Ctrl-C while shutting down
        return 130
