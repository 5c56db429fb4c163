"""Admin commands (/reindex, /stats), checked in the bot on every call, and /forget-me for all."""

from __future__ import annotations

import io
import logging

import discord
from discord import app_commands
from discord.ext import commands

from askbot.bot._permissions import is_admin
from askbot.bot.client import BotConfig
from askbot.bot.errors import NotAdmin, send_ephemeral
from askbot.bot.render import NO_MENTIONS, render_reindex, render_reindex_failed, render_stats
from askbot.service import AskService, ReindexError

log = logging.getLogger(__name__)

CSV_NAME = "askbot-queries.csv"

Interaction = discord.Interaction[discord.Client]


def caller_is_admin(interaction: Interaction, config: BotConfig) -> bool:
    """Whether the user behind an interaction is an askbot admin where they used it."""
    user = interaction.user
    perms = interaction.permissions
    roles = [r.id for r in user.roles] if isinstance(user, discord.Member) else []
    owner_id = interaction.guild.owner_id if interaction.guild is not None else None
    return is_admin(
        user_id=user.id,
        role_ids=roles,
        manage_guild=perms.manage_guild,
        administrator=perms.administrator,
        is_owner=owner_id is not None and owner_id == user.id,
        admin_role_ids=config.admin_role_ids,
        admin_user_ids=config.admin_user_ids,
    )


class AdminCog(commands.Cog):
    """Reindex and statistics. default_permissions only hides them; the check below decides."""

    def __init__(self, service: AskService, config: BotConfig) -> None:
        self.service = service
        self.config = config

    async def interaction_check(self, interaction: Interaction, /) -> bool:
        """Refuse anyone who is not an admin, whatever the guild did to the default permissions."""
        if interaction.guild is None:
            raise app_commands.NoPrivateMessage()
        if not caller_is_admin(interaction, self.config):
            raise NotAdmin()
        return True

    @app_commands.command(name="reindex", description="Admins: reload the corpus from disk")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def reindex(self, interaction: Interaction) -> None:
        """Rebuild in a worker process; questions keep being answered from the old index."""
        if self.service.reindexing:
            await send_ephemeral(interaction, "A reindex is already running; wait for its report.")
            return
        await interaction.response.defer(thinking=True, ephemeral=True)
        log.info("reindex requested by user %s", interaction.user.id)
        try:
            report = await self.service.reindex()
        except ReindexError as exc:
            log.warning("reindex failed: %s", exc)
            await _finish(interaction, content=render_reindex_failed(str(exc)))
            return
        except Exception as exc:  # the report must reach the admin whatever broke
            log.exception("reindex crashed")
            await _finish(interaction, content=render_reindex_failed(f"unexpected error ({exc})"))
            return
        await _finish(interaction, embed=render_reindex(report))

    @app_commands.command(name="stats", description="Admins: query counts and the top questions")
    @app_commands.describe(csv="Attach the whole query log as a CSV file")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def stats(self, interaction: Interaction, csv: bool = False) -> None:
        """Figures from the query log, privately; the log as CSV when asked."""
        await interaction.response.defer(thinking=True, ephemeral=True)
        stats = await self.service.log.stats()
        embed = render_stats(stats)
        files: list[discord.File] = []
        content = None
        if csv:
            data = (await self.service.log.export_csv()).encode("utf-8")
            if len(data) <= interaction.filesize_limit:
                files.append(discord.File(io.BytesIO(data), filename=CSV_NAME))
            else:
                content = (
                    f"The log is {len(data) // 1_000_000} MB, over Discord's upload limit; "
                    "export it on the server with `askbot log --csv`."
                )
        await interaction.edit_original_response(
            content=content, embed=embed, attachments=files, allowed_mentions=NO_MENTIONS
        )


class PrivacyCog(commands.Cog):
    """What anyone may do about their own data."""

    def __init__(self, service: AskService) -> None:
        self.service = service

    @app_commands.command(
        name="forget-me", description="Delete every question you asked from askbot's log"
    )
    async def forget_me(self, interaction: Interaction) -> None:
        """Delete the caller's queries and feedback, and say how many went."""
        await interaction.response.defer(thinking=True, ephemeral=True)
        deleted = await self.service.log.forget_user(interaction.user.id)
        noun = "question" if deleted == 1 else "questions"
        await _finish(
            interaction,
            content=(
                f"Done: deleted {deleted} {noun} you asked (and any feedback you gave) from "
                "askbot's query log. Questions you ask from now on are logged again."
            ),
        )


async def _finish(
    interaction: Interaction, *, content: str | None = None, embed: discord.Embed | None = None
) -> None:
    """Replace the deferred "thinking" reply; a reply that can no longer be sent is only logged."""
    try:
        await interaction.edit_original_response(
            content=content, embed=embed, allowed_mentions=NO_MENTIONS
        )
    except discord.HTTPException as exc:
        log.warning("could not deliver the reply to %s: %s", interaction.id, exc)
