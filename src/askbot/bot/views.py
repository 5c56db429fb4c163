"""Buttons under answers and listings; their state lives in custom ids so they outlive restarts."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from typing import Any

import discord

from askbot.bot import _lookup
from askbot.bot.errors import send_ephemeral
from askbot.bot.render import NO_MENTIONS, render_context, render_sources_page
from askbot.search.context import neighbours, paragraphs_of
from askbot.search.models import Answer
from askbot.service import AskService

log = logging.getLogger(__name__)

# The query log can be slow (a locked file) or briefly unwritable; a button must still answer
# within Discord's 3 s, so log lookups get less than that.
LOG_TIMEOUT = 2.0
MAX_CONTEXT_BUTTONS = 10

Button = discord.ui.Button[discord.ui.View]
Interaction = discord.Interaction[discord.Client]


def service_of(interaction: Interaction) -> AskService:
    """The AskService of the bot that received the interaction."""
    service = getattr(interaction.client, "service", None)
    if not isinstance(service, AskService):
        raise RuntimeError("this client has no askbot service")
    return service


class ContextButton(
    discord.ui.DynamicItem[Button],
    template=r"askbot:ctx:(?P<query>[0-9a-f]{1,64}):(?P<rank>\d{1,2})",
):
    """The "More context" button of one cited passage: the paragraphs around it, ephemeral."""

    def __init__(self, query_id: str, rank: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"More context [{rank}]",
                style=discord.ButtonStyle.secondary,
                custom_id=f"askbot:ctx:{query_id}:{rank}",
                row=0 if rank <= 5 else 1,
            )
        )
        self.query_id = query_id
        self.rank = rank

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ContextButton:
        """Rebuild the button from its custom id (after a restart too)."""
        return cls(match["query"], int(match["rank"]))

    async def callback(self, interaction: Interaction) -> None:
        """Show the cited paragraph with its neighbours."""
        service = service_of(interaction)
        try:
            record = await asyncio.wait_for(service.log.get(self.query_id), LOG_TIMEOUT)
        except (TimeoutError, sqlite3.Error):
            await send_ephemeral(interaction, "The query log is busy; try again in a moment.")
            return
        if record is None or not 1 <= self.rank <= len(record.passages):
            await send_ephemeral(
                interaction,
                "This answer is no longer in the log (it may have been deleted with /forget-me "
                "or by the retention period). Ask the question again.",
            )
            return
        index = service.index
        passage_id = record.passages[self.rank - 1][0]
        doc = index.doc_by_passage_id(passage_id)
        if doc is None:
            await send_ephemeral(
                interaction,
                "That passage is no longer in the corpus (it changed at a reindex). "
                "Ask the question again.",
            )
            return
        article = index.article_of(doc)
        paragraph = int(index.p_paragraph[doc])
        around = neighbours(paragraphs_of(index, article), paragraph)
        embed = render_context(article, around, paragraph)
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )


class FeedbackButton(
    discord.ui.DynamicItem[Button],
    template=r"askbot:fb:(?P<vote>up|down):(?P<query>[0-9a-f]{1,64})",
):
    """👍 / 👎 on an answer, recorded in the query log against that query."""

    def __init__(self, vote: str, query_id: str) -> None:
        up = vote == "up"
        super().__init__(
            discord.ui.Button(
                emoji="👍" if up else "👎",
                label="Helpful" if up else "Not helpful",
                style=discord.ButtonStyle.secondary,
                custom_id=f"askbot:fb:{vote}:{query_id}",
                row=2,
            )
        )
        self.vote = vote
        self.query_id = query_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FeedbackButton:
        """Rebuild the button from its custom id (after a restart too)."""
        return cls(match["vote"], match["query"])

    async def callback(self, interaction: Interaction) -> None:
        """Record the vote (a second vote replaces the first) and thank the user privately."""
        service = service_of(interaction)
        value = 1 if self.vote == "up" else -1
        try:
            known = await asyncio.wait_for(
                service.log.add_feedback(self.query_id, interaction.user.id, value), LOG_TIMEOUT
            )
        except (TimeoutError, sqlite3.Error) as exc:
            log.warning("feedback on %s not recorded: %s", self.query_id, exc)
            await send_ephemeral(interaction, "I couldn't record that right now; try again later.")
            return
        if not known:
            await send_ephemeral(
                interaction, "This answer is no longer in the log, so the feedback was not kept."
            )
            return
        thanks = "Thanks! Glad it helped." if value > 0 else "Thanks, noted: this answer missed."
        await send_ephemeral(interaction, thanks)


class PageButton(
    discord.ui.DynamicItem[Button],
    template=r"askbot:src:(?P<direction>prev|next):(?P<page>\d{1,6})",
):
    """Previous / Next on the /sources listing; the target page is in the custom id."""

    def __init__(self, direction: str, page: int, *, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label="Previous" if direction == "prev" else "Next",
                emoji="◀️" if direction == "prev" else "▶️",
                style=discord.ButtonStyle.primary,
                custom_id=f"askbot:src:{direction}:{page}",
                disabled=disabled,
            )
        )
        self.direction = direction
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PageButton:
        """Rebuild the button from its custom id (after a restart too)."""
        return cls(match["direction"], int(match["page"]))

    async def callback(self, interaction: Interaction) -> None:
        """Show the target page in place of the current one."""
        page = _lookup.page_of(service_of(interaction).index, self.page)
        await interaction.response.edit_message(
            embed=render_sources_page(
                page.articles, page.page, page.pages, page.total, page.first_number
            ),
            view=sources_view(page.page, page.pages),
            allowed_mentions=NO_MENTIONS,
        )


DYNAMIC_ITEMS = (ContextButton, FeedbackButton, PageButton)


def answer_view(query_id: str, answer: Answer) -> discord.ui.View | None:
    """Context buttons for the cited passages shown, and feedback buttons; None if unanswered."""
    if not answer.answered or not answer.passages:
        return None
    view = discord.ui.View(timeout=None)
    for passage in answer.passages[:MAX_CONTEXT_BUTTONS]:
        view.add_item(ContextButton(query_id, passage.rank))
    view.add_item(FeedbackButton("up", query_id))
    view.add_item(FeedbackButton("down", query_id))
    return view


def sources_view(page: int, pages: int) -> discord.ui.View | None:
    """Previous / Next for page ``page`` of ``pages``; None when there is only one page."""
    if pages <= 1:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton("prev", max(1, page - 1), disabled=page <= 1))
    view.add_item(PageButton("next", min(pages, page + 1), disabled=page >= pages))
    return view
