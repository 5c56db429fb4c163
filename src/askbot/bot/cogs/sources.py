"""Looking sources up: /source with autocomplete over titles and ids, and the paged /sources."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from askbot.bot import _lookup
from askbot.bot.errors import send_ephemeral
from askbot.bot.render import NO_MENTIONS, fit, render_source, render_sources_page
from askbot.bot.views import sources_view
from askbot.search.context import paragraphs_of
from askbot.service import AskService

Interaction = discord.Interaction[discord.Client]


class SourcesCog(commands.Cog):
    """Shows what the corpus holds. Replies are ephemeral: lookups are personal."""

    def __init__(self, service: AskService) -> None:
        self.service = service

    @app_commands.command(name="source", description="Show an article: its details and a paragraph")
    @app_commands.describe(
        article="Start typing a title or an id", paragraph="Paragraph number (default: the first)"
    )
    async def source(
        self,
        interaction: Interaction,
        article: app_commands.Range[str, 1, 200],
        paragraph: app_commands.Range[int, 1, 1_000_000] | None = None,
    ) -> None:
        """The article's card with the requested (or first) paragraph."""
        index = self.service.index
        info = _lookup.resolve_article(index, article)
        if info is None:
            await send_ephemeral(
                interaction,
                f"No article matches “{fit(article, 200)}”. Start typing and pick one of the "
                "suggestions, or use /sources to list them.",
            )
            return
        paragraphs = paragraphs_of(index, info)
        if not paragraphs:
            await send_ephemeral(interaction, "That article has no paragraphs in the index.")
            return
        numbers = sorted(paragraphs)
        wanted = paragraph if paragraph is not None else numbers[0]
        if wanted not in paragraphs:
            await send_ephemeral(
                interaction,
                f"“{fit(info.title, 200)}” has {len(numbers)} paragraphs; pick a number from "
                f"{numbers[0]} to {numbers[-1]}.",
            )
            return
        embed = render_source(info, wanted, len(numbers), paragraphs[wanted])
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @source.autocomplete("article")
    async def source_article(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Up to 25 articles whose title or id matches what was typed."""
        return [
            app_commands.Choice(name=_lookup.choice_name(a), value=_lookup.article_token(a.id))
            for a in _lookup.suggest_articles(self.service.index, current)
        ]

    @app_commands.command(name="sources", description="List the articles askbot answers from")
    @app_commands.describe(page="Page number (default 1)")
    async def sources(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 1_000_000] = 1
    ) -> None:
        """One page of the corpus, with Previous / Next buttons."""
        shown = _lookup.page_of(self.service.index, page)
        extra: dict[str, Any] = {}
        view = sources_view(shown.page, shown.pages)
        if view is not None:
            extra["view"] = view
        await interaction.response.send_message(
            embed=render_sources_page(
                shown.articles, shown.page, shown.pages, shown.total, shown.first_number
            ),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
            **extra,
        )
