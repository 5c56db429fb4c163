"""errors.describe_error: every app-command error becomes a short message for the user."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from askbot.bot.errors import ADMIN_HELP, UNEXPECTED, NotAdmin, describe_error, is_expired


class Response:
    status = 404
    reason = "Not Found"


def not_found(code: int) -> discord.NotFound:
    return discord.NotFound(Response(), {"code": code, "message": "Unknown interaction"})  # type: ignore[arg-type]


def invoke_error(original: Exception) -> app_commands.CommandInvokeError:
    command: Any = app_commands.Command(name="x", description="x", callback=_noop)
    return app_commands.CommandInvokeError(command, original)


async def _noop(interaction: discord.Interaction[discord.Client]) -> None:
    return None


def test_not_admin_explains_who_may() -> None:
    """A refused admin command names the permission and the settings."""
    assert describe_error(NotAdmin()) == (ADMIN_HELP, False)


def test_cooldown_says_when_to_retry() -> None:
    """A cooldown gives the seconds to wait, rounded up."""
    error = app_commands.CommandOnCooldown(app_commands.Cooldown(1, 5), 2.2)
    text, unexpected = describe_error(error)
    assert "3 s" in text and not unexpected


def test_transformer_error_asks_to_pick_a_suggestion() -> None:
    """A value that cannot be converted gets a hint, not a traceback."""
    transformer = app_commands.transformers.IdentityTransformer(
        discord.AppCommandOptionType.integer
    )
    error = app_commands.TransformerError("x", discord.AppCommandOptionType.integer, transformer)
    text, unexpected = describe_error(error)
    assert "couldn't understand" in text and not unexpected


def test_crash_is_unexpected_and_generic() -> None:
    """Any other exception inside a command is reported generically and flagged for logging."""
    assert describe_error(invoke_error(RuntimeError("boom"))) == (UNEXPECTED, True)


def test_wrapped_errors_are_unwrapped() -> None:
    """A cooldown raised inside the command body is still described as a cooldown."""
    wrapped = invoke_error(app_commands.CommandOnCooldown(app_commands.Cooldown(1, 5), 1))
    assert "Try again" in describe_error(wrapped)[0]


def test_expired_interaction_codes() -> None:
    """10062 and 10015 mean the interaction can no longer be answered."""
    assert is_expired(not_found(10062)) and is_expired(not_found(10015))
    assert not is_expired(not_found(10008))
