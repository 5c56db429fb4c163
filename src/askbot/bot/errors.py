"""The one place app-command errors become short ephemeral messages (and one logged traceback)."""

from __future__ import annotations

import logging
import math

import discord
from discord import app_commands

from askbot.bot.render import NO_MENTIONS, fit
from askbot.search.query import QueryError

log = logging.getLogger(__name__)

# Discord error codes for an interaction (or its webhook token) that is no longer usable:
# Unknown interaction (answered after 3 s, or twice) and Unknown webhook (token over 15 min).
EXPIRED_CODES = frozenset({10062, 10015})

ADMIN_HELP = (
    "Only server admins can use this command: you need the Manage Server permission, or a role "
    "or user id listed in askbot's ASKBOT_ADMIN_ROLE_IDS / ASKBOT_ADMIN_USER_IDS."
)
UNEXPECTED = "Something went wrong on my side while answering; it has been logged. Try again later."


class NotAdmin(app_commands.CheckFailure):
    """The caller is not an askbot admin in this guild."""


class ShuttingDown(app_commands.CheckFailure):
    """askbot is stopping and takes no new questions."""


def is_expired(error: BaseException) -> bool:
    """Whether Discord refused a reply because the interaction or its token expired."""
    return isinstance(error, discord.NotFound) and error.code in EXPIRED_CODES


def unwrap(error: BaseException) -> BaseException:
    """The exception a command raised, not discord.py's wrapper around it."""
    if isinstance(error, app_commands.CommandInvokeError):
        return error.original
    return error


def describe_error(error: BaseException) -> tuple[str, bool]:
    """The message a user sees for ``error``, and whether it is unexpected (log a traceback)."""
    error = unwrap(error)
    if isinstance(error, NotAdmin):
        return ADMIN_HELP, False
    if isinstance(error, QueryError):
        return fit(str(error), 1900), False
    if isinstance(error, ShuttingDown):
        return "askbot is restarting; ask again in a minute.", False
    if isinstance(error, app_commands.CommandOnCooldown):
        seconds = max(1, math.ceil(error.retry_after))
        return (
            f"You're asking faster than I can keep up. Try again in {seconds} s.",
            False,
        )
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server, not in direct messages.", False
    if isinstance(error, app_commands.BotMissingPermissions):
        missing = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return f"I am missing permissions here: {missing}.", False
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here.", False
    if isinstance(error, app_commands.TransformerError):
        return (
            f"I couldn't understand the value you gave for this option ({error.type.name.lower()})."
            " Pick one of the suggestions or check the format.",
            False,
        )
    if isinstance(error, app_commands.CommandNotFound):
        return "That command no longer exists; Discord will refresh the command list soon.", False
    if isinstance(error, app_commands.CommandSignatureMismatch):
        return "That command changed since Discord last saw it; try again in a minute.", True
    return UNEXPECTED, True


async def send_ephemeral(interaction: discord.Interaction[discord.Client], text: str) -> None:
    """Tell the user something privately, whatever state the interaction is in.

    A deferred "thinking" reply is replaced (a followup would appear under it); an expired
    interaction is logged, never raised.
    """
    if interaction.type is discord.InteractionType.autocomplete:
        return
    response = interaction.response
    try:
        if not response.is_done():
            await response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        elif response.type is discord.InteractionResponseType.deferred_channel_message:
            await interaction.edit_original_response(
                content=text, embeds=[], attachments=[], view=None, allowed_mentions=NO_MENTIONS
            )
        else:
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        if is_expired(exc):
            log.warning("interaction %s expired before askbot could reply", interaction.id)
        else:
            log.warning("could not reply to interaction %s: %s", interaction.id, exc)


def command_name(interaction: discord.Interaction[discord.Client]) -> str:
    """``/name`` of the command an interaction is for, or its custom id."""
    if interaction.command is not None:
        return "/" + interaction.command.qualified_name
    data: dict[str, object] = dict(interaction.data or {})
    return str(data.get("custom_id") or data.get("name") or interaction.type.name)


class AskTree(app_commands.CommandTree[discord.Client]):
    """CommandTree whose on_error answers every failure briefly and privately."""

    async def on_error(
        self,
        interaction: discord.Interaction[discord.Client],
        error: app_commands.AppCommandError,
    ) -> None:
        """Turn any app-command error into an ephemeral message; log unexpected ones once."""
        original = unwrap(error)
        name = command_name(interaction)
        if is_expired(original):
            # Discord gave up on this interaction (3 s without a reply); nobody can be told.
            log.warning("%s: the interaction expired before askbot answered it", name)
            return
        text, unexpected = describe_error(error)
        if unexpected:
            log.error("%s failed", name, exc_info=original)
        else:
            log.info(
                "%s refused for user %s: %s", name, interaction.user.id, type(original).__name__
            )
        await send_ephemeral(interaction, text)
