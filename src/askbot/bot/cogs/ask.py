"""Asking: /ask, @mentions, and questions in the ask channels, answered with cited passages."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from askbot.bot._questions import mentions_explicitly, reads_as_question, strip_mentions
from askbot.bot.errors import ShuttingDown, is_expired
from askbot.bot.render import NO_MENTIONS, render_answer
from askbot.bot.views import answer_view
from askbot.search.query import make_filters
from askbot.service import Asked, Asker

if TYPE_CHECKING:
    from askbot.bot.client import AskBot

log = logging.getLogger(__name__)

MAX_QUESTION = 4000
SLOW_DOWN_REACTION = "⏳"

Interaction = discord.Interaction[discord.Client]


class AskCog(commands.Cog):
    """Answers questions from slash commands and chat, one shared per-user cooldown."""

    def __init__(self, bot: AskBot) -> None:
        self.bot = bot
        self.service = bot.service
        self.config = bot.config
        self.cooldown = bot.cooldown

    async def interaction_check(self, interaction: Interaction, /) -> bool:
        """The per-user cooldown, reported by the tree's error handler as a friendly message."""
        if not self.bot.accepting:
            raise ShuttingDown()
        retry = self.cooldown.acquire(interaction.user.id)
        if retry > 0:
            bucket = app_commands.Cooldown(self.cooldown.rate, self.cooldown.per)
            raise app_commands.CommandOnCooldown(bucket, retry)
        return True

    @app_commands.command(name="ask", description="Ask the news corpus; the answer cites passages")
    @app_commands.describe(
        question="Your question, e.g. What did Biegun say?",
        source="Only articles from this source, e.g. Wikinews",
        after="Only articles dated after this day (YYYY-MM-DD, or a year)",
        before="Only articles dated before this day (YYYY-MM-DD, or a year)",
        article="Only this article id (or folder of articles)",
        phrase="Passages must contain this exact phrase",
    )
    async def ask(
        self,
        interaction: Interaction,
        question: app_commands.Range[str, 1, MAX_QUESTION],
        source: app_commands.Range[str, 1, 100] | None = None,
        after: app_commands.Range[str, 1, 20] | None = None,
        before: app_commands.Range[str, 1, 20] | None = None,
        article: app_commands.Range[str, 1, 200] | None = None,
        phrase: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        """Defer at once (the 3 s limit), answer, then replace the "thinking" message."""
        # A bad date is the user's to fix: raised before deferring, so the error handler's
        # ephemeral message is the only reply.
        filters = make_filters(
            [source] if source else [], after, before, [article] if article else [],
            [phrase] if phrase else [],
        )  # fmt: skip
        with self.bot.inflight.track():
            await interaction.response.defer(thinking=True)
            asked = await self.service.ask(question, _asker(interaction), filters=filters or None)
            await self._edit(interaction, asked)

    async def _edit(self, interaction: Interaction, asked: Asked) -> None:
        rendered = render_answer(asked.answer)
        extra: dict[str, Any] = {}
        view = answer_view(asked.query_id, asked.answer)
        if view is not None:
            extra["view"] = view
        await interaction.edit_original_response(
            content=rendered.content or None,
            embeds=rendered.embeds,
            allowed_mentions=NO_MENTIONS,
            **extra,
        )

    # -- chat ----------------------------------------------------------------------------------

    def question_in(self, message: discord.Message) -> str | None:
        """The question a message asks the bot, or None if it is not for the bot."""
        me = self.bot.user
        if me is None or message.author.bot or message.webhook_id is not None:
            return None
        ids = [me.id]
        if message.guild is not None and message.guild.self_role is not None:
            # Picking "@askbot" in the client sometimes inserts the bot's managed role instead.
            ids.append(message.guild.self_role.id)
        content = message.content or ""
        if mentions_explicitly(content, ids):
            return strip_mentions(content, ids)
        text = content.strip()
        # A thread inside an ask channel is part of it.
        parent = getattr(message.channel, "parent_id", None)
        in_ask_channel = not self.config.ask_channel_ids.isdisjoint({message.channel.id, parent})
        is_dm = message.guild is None
        if (in_ask_channel or is_dm) and reads_as_question(text):
            # Chatter like "why??" has nothing to search for; stay quiet instead of replying.
            return text if self.service.analyzer.terms(text) else None
        return None

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Answer a mention, a DM question or an ask-channel question as a reply."""
        question = self.question_in(message)
        if question is None or not self.bot.accepting:
            return
        if self.cooldown.acquire(message.author.id) > 0:
            if self.cooldown.should_warn(message.author.id):
                await self._slow_down(message)
            return
        asker = Asker(
            surface="discord",
            guild_id=message.guild.id if message.guild else None,
            channel_id=message.channel.id,
            user_id=message.author.id,
        )
        with self.bot.inflight.track():
            asked = await self.service.ask(question, asker)
            await self._reply(message, asked)

    async def _reply(self, message: discord.Message, asked: Asked) -> None:
        rendered = render_answer(asked.answer)
        extra: dict[str, Any] = {}
        view = answer_view(asked.query_id, asked.answer)
        if view is not None:
            extra["view"] = view
        try:
            await message.channel.send(
                content=rendered.content or None,
                embeds=rendered.embeds,
                reference=message.to_reference(fail_if_not_exists=False),
                mention_author=False,
                allowed_mentions=NO_MENTIONS,
                **extra,
            )
        except discord.HTTPException as exc:
            log.warning("could not reply in channel %s: %s", message.channel.id, exc)

    async def _slow_down(self, message: discord.Message) -> None:
        """One quiet reaction per window instead of a message: a busy user is not spammed."""
        try:
            await message.add_reaction(SLOW_DOWN_REACTION)
        except discord.HTTPException as exc:
            if not is_expired(exc):
                log.info("could not react in channel %s: %s", message.channel.id, exc)


def _asker(interaction: Interaction) -> Asker:
    return Asker(
        surface="discord",
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        user_id=interaction.user.id,
    )
