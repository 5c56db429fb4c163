"""/source and /sources end to end: autocomplete, one article's card, paging with buttons."""

from __future__ import annotations

from askbot.bot.client import AskBot
from bot.conftest import BIEGUN, WAIT, World


async def test_source_autocomplete_suggests_matching_titles(world: World, bot: AskBot) -> None:
    """Typing "pompeo" suggests the Pompeo article, with names and values Discord accepts."""
    ix = await world.fake.autocomplete(
        world.guild.id, world.channel, world.alice, "source", {"article": "pompeo"},
        focused="article",
    )  # fmt: skip
    choices = await ix.wait_for_choices(timeout=WAIT)
    assert [c["value"] for c in choices] == [BIEGUN]
    assert choices[0]["name"].startswith("Pompeo says")


async def test_source_autocomplete_lists_at_most_25(world: World, bot: AskBot) -> None:
    """An empty field suggests up to 25 articles."""
    ix = await world.fake.autocomplete(
        world.guild.id, world.channel, world.alice, "source", {"article": ""}, focused="article"
    )
    choices = await ix.wait_for_choices(timeout=WAIT)
    assert 1 < len(choices) <= 25
    assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)


async def test_source_shows_the_requested_paragraph(world: World, bot: AskBot) -> None:
    """/source with paragraph 8 shows the title, the paragraph count and that paragraph."""
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, world.alice, "source", {"article": BIEGUN, "paragraph": 8}
    )
    (reply,) = await ix.wait_for_response(timeout=WAIT)
    (embed,) = reply["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert reply["ephemeral"] and embed["title"].startswith("Pompeo says")
    assert embed["description"].startswith("**¶8 of 13**")
    assert "I believe this is very much possible" in embed["description"]
    assert fields["Paragraphs"] == "13" and {"Date", "Source", "URL"} <= set(fields)


async def test_source_defaults_to_the_first_paragraph(world: World, bot: AskBot) -> None:
    """Without a paragraph, /source shows the first one."""
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, world.alice, "source", {"article": BIEGUN}
    )
    (reply,) = await ix.wait_for_response(timeout=WAIT)
    assert reply["embeds"][0]["description"].startswith("**¶1 of 13**")


async def test_unknown_article_is_a_clear_private_error(world: World, bot: AskBot) -> None:
    """An article nobody has gets an ephemeral hint to pick a suggestion or use /sources."""
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, world.alice, "source", {"article": "no-such-article"}
    )
    (reply,) = await ix.wait_for_response(timeout=WAIT)
    assert reply["ephemeral"] and "No article matches" in reply["content"]
    assert "/sources" in reply["content"]


async def test_out_of_range_paragraph_is_a_clear_private_error(world: World, bot: AskBot) -> None:
    """Paragraph 99 of a 13-paragraph article says which numbers exist."""
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, world.alice, "source", {"article": BIEGUN, "paragraph": 99}
    )
    (reply,) = await ix.wait_for_response(timeout=WAIT)
    assert (
        reply["ephemeral"] and "has 13 paragraphs; pick a number from 1 to 13" in reply["content"]
    )


async def test_sources_pages_forward_and_back(world: World, bot: AskBot) -> None:
    """/sources shows page 1 of 3; Next shows page 2 in place; Previous goes back."""
    fake = world.fake
    ix = await fake.invoke_command(world.guild.id, world.channel, world.alice, "sources")
    (first,) = await ix.wait_for_response(timeout=WAIT)
    nxt = await fake.click_button(first, world.alice, "askbot:src:next:2")
    (second,) = await nxt.wait_for_response(timeout=WAIT)
    page2 = fake.get_message(first["message_id"])
    assert page2 is not None
    back = await fake.click_button(page2, world.alice, "askbot:src:prev:1")
    (third,) = await back.wait_for_response(timeout=WAIT)
    assert first["embeds"][0]["footer"]["text"].startswith("Page 1 of 3")
    assert first["embeds"][0]["description"].startswith("**1.** ")
    assert second["embeds"][0]["footer"]["text"].startswith("Page 2 of 3")
    assert page2["embeds"][0]["description"].startswith("**11.** ")
    assert third["embeds"][0]["footer"]["text"].startswith("Page 1 of 3")


async def test_sources_page_option_and_disabled_edges(world: World, bot: AskBot) -> None:
    """/sources page:3 shows the last page with Next disabled."""
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, world.alice, "sources", {"page": 3}
    )
    (reply,) = await ix.wait_for_response(timeout=WAIT)
    buttons = {c["custom_id"]: c for row in reply["components"] for c in row["components"]}
    assert reply["embeds"][0]["footer"]["text"].startswith("Page 3 of 3")
    assert buttons["askbot:src:next:3"].get("disabled") is True
    assert not buttons["askbot:src:prev:2"].get("disabled")
