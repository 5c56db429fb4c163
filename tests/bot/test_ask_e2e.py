"""Asking end to end: /ask, mentions, ask channels, buttons and the query log, on a fake Discord."""

from __future__ import annotations

import re
from typing import Any

from support.fake_discord import CallbackType

from askbot.bot.client import AskBot
from bot.conftest import BIEGUN, WAIT, World, running_bot

Json = dict[str, Any]


def custom_ids(message: Json) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def ask(world: World, question: str, user: int | None = None) -> Json:
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, user or world.alice, "ask", {"question": question}
    )
    return await ix.wait_for_message(timeout=WAIT)


async def test_ask_answers_with_cited_paragraphs(world: World, bot: AskBot) -> None:
    """/ask "What did Biegun say?" cites paragraphs 7 and 8 of the Pompeo article."""
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, world.alice, "ask", {"question": "What did Biegun say?"}
    )
    message = await ix.wait_for_message(timeout=WAIT)
    first = ix.responses[0]
    footers = [e["footer"]["text"] for e in message["embeds"]]
    titles = [e["title"] for e in message["embeds"]]
    assert first["type"] == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    assert {f"{BIEGUN}#7", f"{BIEGUN}#8"} <= {f.rsplit(" · ", 1)[-1] for f in footers}
    assert any(t.endswith("· ¶7") for t in titles) and any(t.endswith("· ¶8") for t in titles)
    assert all("Pompeo says" in t for t in titles)
    assert "**Biegun" in "".join(e["description"] for e in message["embeds"])


async def test_answer_has_context_and_feedback_buttons(world: World, bot: AskBot) -> None:
    """Each cited passage gets a "More context" button, plus 👍 and 👎."""
    message = await ask(world, "What did Biegun say?")
    ids = custom_ids(message)
    query_id = ids[0].split(":")[2]
    assert ids == [
        f"askbot:ctx:{query_id}:1", f"askbot:ctx:{query_id}:2", f"askbot:ctx:{query_id}:3",
        f"askbot:fb:up:{query_id}", f"askbot:fb:down:{query_id}",
    ]  # fmt: skip


async def test_answers_leave_no_message_cache(world: World, bot: AskBot) -> None:
    """The bot caches no messages (its answers included): nothing it needs, much to collect."""
    await world.fake.send_message(world.guild.id, world.channel, world.alice, "hello")
    await ask(world, "What did Biegun say?")
    # Gateway events are handled in order: the message was seen before the question was.
    await ask(world, "What did Pompeo say?")
    assert list(bot.cached_messages) == []


async def test_query_is_logged_with_discord_ids(world: World, bot: AskBot) -> None:
    """The question lands in the log with surface discord, guild, channel, user and latency."""
    await ask(world, "What did Biegun say?")
    (record,) = await bot.service.log.recent(5)
    assert (record.surface, record.guild_id, record.channel_id, record.user_id) == (
        "discord", world.guild.id, world.channel, world.alice,
    )  # fmt: skip
    assert record.question == "What did Biegun say?" and record.answered
    assert record.latency_ms > 0


async def test_not_in_the_corpus_is_brief(world: World, bot: AskBot) -> None:
    """An unanswerable question gets one short line, no embeds and no buttons."""
    message = await ask(world, "Best pizza recipe from Naples?")
    assert message["content"].startswith("🔎 Nothing in the corpus answers this question.")
    assert message["embeds"] == [] and message["components"] == []


async def test_mention_gets_the_answer_as_a_reply(world: World, bot: AskBot) -> None:
    """ "@askbot what did Biegun say?" is answered as a reply to that message."""
    sent = await world.fake.send_message(
        world.guild.id,
        world.channel,
        world.bob,
        f"<@{world.fake.bot_user_id}> what did Biegun say?",
    )
    reply = await world.fake.wait_for_channel_message(world.channel, timeout=WAIT)
    (record,) = await bot.service.log.recent(1)
    assert reply["message_reference"]["message_id"] == sent["id"]
    assert any("¶8" in e["title"] for e in reply["embeds"])
    assert record.question == "what did Biegun say?" and record.user_id == world.bob


async def test_ask_channel_answers_questions_and_ignores_chatter(world: World, bot: AskBot) -> None:
    """In an ask channel a question is answered; a statement before it is not."""
    fake = world.fake
    await fake.send_message(world.guild.id, world.ask_channel, world.alice, "good morning all")
    question = await fake.send_message(
        world.guild.id, world.ask_channel, world.alice, "How many died in the Mecca crane collapse?"
    )
    reply = await fake.wait_for_channel_message(world.ask_channel, timeout=WAIT)
    assert reply["message_reference"]["message_id"] == question["id"]
    assert [r.question for r in await bot.service.log.recent(5)] == [
        "How many died in the Mecca crane collapse?"
    ]


async def test_bot_messages_are_not_answered(world: World, bot: AskBot) -> None:
    """Another bot's question in an ask channel is ignored (no bot-to-bot loops)."""
    fake = world.fake
    other_bot = fake.add_member(world.guild.id, "otherbot", bot=True)
    await fake.send_message(world.guild.id, world.ask_channel, other_bot, "What did Biegun say?")
    question = await fake.send_message(
        world.guild.id, world.ask_channel, world.alice, "What did Biegun say?"
    )
    reply = await fake.wait_for_channel_message(world.ask_channel, timeout=WAIT)
    assert reply["message_reference"]["message_id"] == question["id"]
    assert await bot.service.log.count() == 1


async def test_everyone_in_a_question_pings_nobody(world: World, bot: AskBot) -> None:
    """A question full of @everyone and mentions is answered; no send may ping anyone."""
    hostile = f"@everyone @here <@{world.alice}> <@&{world.editors_role}> what did Biegun say?"
    message = await ask(world, hostile)
    await world.fake.send_message(
        world.guild.id, world.ask_channel, world.bob, f"<@{world.fake.bot_user_id}> {hostile}"
    )
    reply = await world.fake.wait_for_channel_message(world.ask_channel, timeout=WAIT)
    (logged, _) = await bot.service.log.recent(2)
    assert message["content"] or message["embeds"]
    assert reply["message_reference"]["message_id"]
    assert world.fake.pinging_messages() == []
    assert [r["allowed_mentions"]["parse"] for r in world.fake.sent_messages] == [[], []]
    assert logged.question == hostile


async def test_feedback_button_is_recorded(world: World, bot: AskBot) -> None:
    """👍 under an answer is stored against that query for that user, with a private thanks."""
    message = await ask(world, "What did Biegun say?")
    query_id = custom_ids(message)[0].split(":")[2]
    click = await world.fake.click_button(message, world.bob, f"askbot:fb:up:{query_id}")
    (thanks,) = await click.wait_for_response(timeout=WAIT)
    assert thanks["ephemeral"] and thanks["content"].startswith("Thanks")
    assert await bot.service.log.feedback(query_id) == {world.bob: 1}


async def test_more_context_shows_neighbouring_paragraphs(world: World, bot: AskBot) -> None:
    """ "More context" shows the cited paragraph and the ones around it, privately."""
    message = await ask(world, "What did Biegun say?")
    button = custom_ids(message)[0]
    cited = message["embeds"][0]["title"].rsplit("¶", 1)[1]
    click = await world.fake.click_button(message, world.bob, button)
    (shown,) = await click.wait_for_response(timeout=WAIT)
    (embed,) = shown["embeds"]
    numbers = [int(n) for n in re.findall(r"\*\*¶(\d+)\*\*", embed["description"])]
    assert shown["ephemeral"]
    assert numbers == [int(cited) - 1, int(cited), int(cited) + 1]
    assert f"▶ **¶{cited}**" in embed["description"]


async def test_buttons_still_work_after_a_restart(world: World) -> None:
    """Feedback on an answer sent before a restart is recorded by the new process."""
    async with running_bot(world.settings):
        message = await ask(world, "What did Biegun say?")
    query_id = custom_ids(message)[0].split(":")[2]
    async with running_bot(world.settings) as second:
        click = await world.fake.click_button(message, world.alice, f"askbot:fb:down:{query_id}")
        await click.wait_for_response(timeout=WAIT)
        assert await second.service.log.feedback(query_id) == {world.alice: -1}


async def test_ask_cooldown_is_a_friendly_private_message(world: World) -> None:
    """Over the per-user rate, /ask answers privately with when to try again."""
    settings = world.with_settings(cooldown_rate=1, cooldown_seconds=60)
    async with running_bot(settings) as bot:
        await ask(world, "What did Biegun say?")
        ix = await world.fake.invoke_command(
            world.guild.id, world.channel, world.alice, "ask", {"question": "Who won?"}
        )
        (refusal,) = await ix.wait_for_response(timeout=WAIT)
        other = await ask(world, "What did Biegun say?", user=world.bob)
        assert refusal["ephemeral"] and "Try again in" in refusal["content"]
        assert other["embeds"]
        assert await bot.service.log.count() == 2


async def test_chat_cooldown_reacts_once_instead_of_replying(world: World) -> None:
    """Over the rate in chat, the bot reacts ⏳ once per window and does not reply."""
    settings = world.with_settings(cooldown_rate=1, cooldown_seconds=60)
    fake = world.fake
    mention = f"<@{fake.bot_user_id}> what did Biegun say?"
    async with running_bot(settings):
        for _ in range(3):
            await fake.send_message(world.guild.id, world.channel, world.alice, mention)
        first = await fake.wait_for_channel_message(world.channel, timeout=WAIT)
        await fake.send_message(world.guild.id, world.channel, world.bob, mention)
        second = await fake.wait_for_channel_message(world.channel, timeout=WAIT)
    reactions = fake.requests_matching("PUT", r"/reactions/")
    assert len(reactions) == 1
    assert first["message_reference"] and second["message_reference"]
    assert len(fake.requests_matching("POST", r"^/channels/\d+/messages$")) == 2


HOSTILE_QUESTIONS = [
    "   ",
    "the of and?",
    "😀🔥🙏",
    "wh\u200bat did Bie\u200bgun say\u202e?",
    "```py\nprint('hi')\n``` **what** did _Biegun_ say?",
    "'; DROP TABLE queries; --",
    "https://example.com/?q=<@1> what did Biegun say?",
    "Что сказал Бигун? 比根说了什么？",
    "\x00\x07 control?",
    "x" * 4000,
]


async def test_hostile_questions_are_answered_and_logged_as_asked(
    world: World, bot: AskBot
) -> None:
    """Odd, huge or malicious questions each get a reply and are logged exactly as asked."""
    replies = [await ask(world, question) for question in HOSTILE_QUESTIONS]
    logged = [r.question for r in reversed(await bot.service.log.recent(50))]
    assert all(r["content"] or r["embeds"] for r in replies)
    assert logged == HOSTILE_QUESTIONS


async def test_direct_message_question_is_answered(world: World, bot: AskBot) -> None:
    """A question sent to the bot in a DM is answered there and logged without a guild."""
    dm = world.fake.open_dm(world.alice)
    await world.fake.send_message(None, dm, world.alice, "What did Biegun say?")
    reply = await world.fake.wait_for_channel_message(dm, timeout=WAIT)
    (record,) = await bot.service.log.recent(1)
    assert reply["embeds"] and record.guild_id is None and record.channel_id == dm


async def test_ask_source_option_restricts_the_citations(world: World, bot: AskBot) -> None:
    """/ask with source:Wikinews cites only Wikinews articles."""
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, world.alice, "ask",
        {"question": "North Korea talks", "source": "Wikinews"},
    )  # fmt: skip
    message = await ix.wait_for_message(timeout=WAIT)
    titles = [e["title"] for e in message["embeds"]]
    assert titles and not any("Pompeo says" in t for t in titles)


async def test_ask_with_a_bad_date_gets_an_ephemeral_hint(world: World, bot: AskBot) -> None:
    """/ask after:yesterday is refused privately with the date format, and nothing is logged."""
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, world.alice, "ask",
        {"question": "North Korea talks", "after": "yesterday"},
    )  # fmt: skip
    (refusal,) = await ix.wait_for_response(timeout=WAIT)
    assert refusal["ephemeral"] and "2020-06-01" in refusal["content"]
    assert await bot.service.log.count() == 0
