"""Discord faults end to end: rate limits, expired interactions, disconnects, and command sync."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from support.fake_discord import wait_until_ready

from askbot.bot.client import AskBot
from askbot.bot.launcher import assembled_bot
from askbot.search.models import Answer
from askbot.search.query import Filters
from bot.conftest import READY_TIMEOUT, TOKEN, WAIT, World, running_bot

SYNC = r"^/applications/\d+(/guilds/\d+)?/commands$"


async def test_commands_are_not_resynced_on_a_second_start(world: World) -> None:
    """A restart with the same command set sends no command sync to Discord."""
    async with running_bot(world.settings) as first:
        assert first.synced
    async with running_bot(world.settings) as second:
        assert not second.synced
    assert len(world.fake.requests_matching("PUT", SYNC)) == 1


async def test_a_rate_limited_command_sync_does_not_delay_answers(world: World) -> None:
    """While Discord holds the startup sync back (429), a question is already answered."""
    world.fake.rate_limit_next("PUT", SYNC, retry_after=60)
    async with assembled_bot(world.settings, guild_ready_timeout=READY_TIMEOUT) as bot:
        task = asyncio.create_task(bot.start(TOKEN))
        await wait_until_ready(bot, task, WAIT)
        await world.fake.send_message(
            world.guild.id, world.channel, world.bob,
            f"<@{world.fake.bot_user_id}> what did Biegun say?",
        )  # fmt: skip
        reply = await world.fake.wait_for_channel_message(world.channel, timeout=WAIT)
        assert reply["embeds"] and not bot.sync_done.is_set()
        await bot.close()
        await asyncio.wait_for(task, WAIT)


async def test_changed_commands_are_resynced(world: World) -> None:
    """Syncing to guilds instead of globally counts as a change and syncs again."""
    async with running_bot(world.settings):
        pass
    async with running_bot(world.with_settings(guild_ids=[world.guild.id])) as bot:
        assert bot.synced
    paths = [r.path for r in world.fake.requests_matching("PUT", SYNC)]
    assert len(paths) == 3 and f"/guilds/{world.guild.id}/" in paths[1]
    assert {c["name"] for c in world.fake.commands(world.guild.id)} >= {"ask", "reindex"}
    assert world.fake.commands() == []


async def test_rate_limited_reply_is_retried(world: World, bot: AskBot) -> None:
    """A 429 on the interaction callback is waited out and the answer still arrives."""
    world.fake.rate_limit_next("POST", r"^/interactions/\d+/[^/]+/callback$", retry_after=0.05)
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, world.alice, "ask", {"question": "What did Biegun say?"}
    )
    message = await ix.wait_for_message(timeout=WAIT)
    statuses = [r.status for r in world.fake.requests_matching("POST", r"/callback$")]
    assert statuses[0] == 429 and statuses[1] in (200, 204)
    assert message["embeds"]


async def test_expired_interaction_does_not_crash_the_bot(
    world: World, bot: AskBot, caplog: pytest.LogCaptureFixture
) -> None:
    """An interaction Discord already gave up on is logged once; the next one is answered."""
    fake = world.fake
    fake.interaction_ack_deadline = 0.0  # every callback arrives "too late"
    late = await fake.invoke_command(
        world.guild.id, world.channel, world.alice, "ask", {"question": "What did Biegun say?"}
    )
    await fake.wait_for_request("POST", rf"^/interactions/{late.id}/", status=404, timeout=WAIT)
    fake.interaction_ack_deadline = None
    ix = await fake.invoke_command(
        world.guild.id, world.channel, world.alice, "ask", {"question": "What did Biegun say?"}
    )
    message = await ix.wait_for_message(timeout=WAIT)
    assert message["embeds"] and not late.acknowledged
    assert "expired" in caplog.text and "Traceback" not in caplog.text


async def test_gateway_disconnect_resumes_and_keeps_answering(world: World, bot: AskBot) -> None:
    """After a dropped gateway connection the bot resumes and answers the next question."""
    fake = world.fake
    await fake.disconnect_gateway(resumable=True, abrupt=True)
    await fake.wait_until_resumed_sent(timeout=WAIT)
    ix = await fake.invoke_command(
        world.guild.id, world.channel, world.alice, "ask", {"question": "What did Biegun say?"}
    )
    message = await ix.wait_for_message(timeout=WAIT)
    assert message["embeds"] and fake.resume_count == 1 and fake.identify_count == 1


async def test_mention_sent_during_a_disconnect_is_answered_after_resume(
    world: World, bot: AskBot
) -> None:
    """A mention sent while the connection was down is replayed on resume and answered."""
    fake = world.fake
    await fake.disconnect_gateway(resumable=True)
    sent = await fake.send_message(
        world.guild.id, world.channel, world.bob, f"<@{fake.bot_user_id}> what did Biegun say?"
    )
    reply = await fake.wait_for_channel_message(world.channel, timeout=WAIT)
    assert reply["message_reference"]["message_id"] == sent["id"]


async def test_token_is_never_logged(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """Starting, answering and stopping, even at DEBUG level, never logs the token."""
    caplog.set_level(logging.DEBUG)
    async with running_bot(world.settings):
        ix = await world.fake.invoke_command(
            world.guild.id, world.channel, world.alice, "ask", {"question": "What did Biegun say?"}
        )
        await ix.wait_for_message(timeout=WAIT)
    assert world.settings.discord_token is not None
    token = world.settings.discord_token.get_secret_value()
    assert "IDENTIFY" in caplog.text  # DEBUG logging really was on
    assert token not in caplog.text and token not in repr(world.settings)


async def test_shutdown_lets_a_question_in_progress_finish(world: World) -> None:
    """Closing while an answer is being computed waits for it: it is sent and logged."""
    release = threading.Event()
    async with running_bot(world.settings) as bot:
        answer_now = bot.service.answer_now

        def slow(question: str, top_k: int | None = None, filters: Filters | None = None) -> Answer:
            release.wait(WAIT)
            return answer_now(question, top_k, filters)

        bot.service.answer_now = slow  # type: ignore[method-assign]
        ix = await world.fake.invoke_command(
            world.guild.id, world.channel, world.alice, "ask", {"question": "What did Biegun say?"}
        )
        await ix.wait_for_response(timeout=WAIT)  # the deferral: the answer is in progress
        draining = asyncio.Event()
        wait = bot.inflight.wait

        async def observed_wait(timeout: float) -> bool:
            draining.set()
            return await wait(timeout)

        bot.inflight.wait = observed_wait  # type: ignore[method-assign]
        closing = asyncio.create_task(bot.close())
        await asyncio.wait_for(draining.wait(), WAIT)
        assert not bot.accepting and not closing.done()
        release.set()
        await asyncio.wait_for(closing, WAIT)
        message = await ix.wait_for_message(timeout=WAIT)
        assert message["embeds"]
        assert [r.question for r in await bot.service.log.recent(5)] == ["What did Biegun say?"]
