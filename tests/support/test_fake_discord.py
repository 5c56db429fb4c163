"""Proves FakeDiscord works with unmodified discord.py clients (gateway, REST, interactions)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from support.fake_discord import (
    CallbackType,
    FakeDiscord,
    GuildRef,
    MessageFlag,
    point_discord_at,
    wait_until_ready,
)

TOKEN = "test-token"
WAIT = 5.0
# discord.py fires on_ready only guild_ready_timeout seconds after the last GUILD_CREATE (2 s by
# default); a short value keeps tests fast while GUILD_CREATE still arrives well inside it.
GUILD_READY_TIMEOUT = 0.1
NO_PINGS = discord.AllowedMentions.none()


@dataclass
class Env:
    """A running fake with one guild, its default channel and two members."""

    fake: FakeDiscord
    guild: GuildRef
    channel: int
    alice: int
    admin: int


ClientT = TypeVar("ClientT", bound=discord.Client)


class Connect(Protocol):
    """Starts a client against the fake and returns it once ready."""

    def __call__(self, client: ClientT) -> Awaitable[ClientT]: ...


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    fake = FakeDiscord(token=TOKEN)
    guild = fake.add_guild("Newsroom")
    editors = fake.add_role(guild.id, "Editors")
    alice = fake.add_member(guild.id, "alice", roles=[editors])
    admin = fake.add_member(guild.id, "boss", permissions=discord.Permissions.manage_guild.flag)
    await fake.start()
    restore = await point_discord_at(fake.api_base)
    try:
        yield Env(fake, guild, guild.default_channel_id, alice, admin)
    finally:
        restore()
        await fake.stop()
    assert fake.internal_errors == []


def _assert_local() -> None:
    # Guard: a client must never be started while discord.py still points at discord.com.
    assert discord.http.Route.BASE.startswith("http://127.0.0.1:")


@pytest.fixture
async def connect(env: Env) -> AsyncIterator[Connect]:
    """Start clients against the fake; closes them before the fake stops."""
    running: list[tuple[discord.Client, asyncio.Task[None]]] = []

    async def _connect(client: ClientT) -> ClientT:
        _assert_local()
        task = asyncio.create_task(client.start(TOKEN))
        running.append((client, task))
        await wait_until_ready(client, task, WAIT)
        return client

    yield _connect
    for client, task in running:
        await client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, WAIT)


def _intents(*, message_content: bool = True, members: bool = False) -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = message_content
    intents.members = members
    return intents


class RecordingClient(discord.Client):
    """Plain client that queues every on_message and replies when mentioned."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("intents", _intents())
        super().__init__(guild_ready_timeout=GUILD_READY_TIMEOUT, **options)
        self.seen: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.resumed = asyncio.Event()

    async def on_message(self, message: discord.Message) -> None:
        if self.user is None or message.author.id == self.user.id:
            return
        await self.seen.put(message)
        if self.user in message.mentions:
            await message.reply(
                "Biegun said hello.", mention_author=False, allowed_mentions=NO_PINGS
            )

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py sleeps 5 s before every re-IDENTIFY to respect Discord's identify limit.
        return None


class VoteView(discord.ui.View):
    """Persistent view (timeout=None, fixed custom_id)."""

    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.voters: asyncio.Queue[int] = asyncio.Queue()

    @discord.ui.button(label="Yes", custom_id="vote:yes", style=discord.ButtonStyle.success)
    async def yes(
        self, interaction: discord.Interaction, button: discord.ui.Button[VoteView]
    ) -> None:
        await self.voters.put(interaction.user.id)
        await interaction.response.send_message("Counted.", ephemeral=True)


class PickView(discord.ui.View):
    """Non-persistent view whose select menu rewrites the message it is on."""

    @discord.ui.select(
        custom_id="pick:topic",
        options=[discord.SelectOption(label="Budget"), discord.SelectOption(label="Courts")],
    )
    async def topic(
        self, interaction: discord.Interaction, select: discord.ui.Select[PickView]
    ) -> None:
        await interaction.response.edit_message(content=f"Picked {select.values[0]}", view=None)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Your feedback", custom_id="feedback:text"
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Thanks for: {self.text.value}", ephemeral=True)


class AskBot(commands.Bot):
    """commands.Bot with slash commands covering every interaction flow the fake supports."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("intents", _intents())
        super().__init__(command_prefix="!", guild_ready_timeout=GUILD_READY_TIMEOUT, **options)
        self.asked: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self.callback_errors: asyncio.Queue[BaseException] = asyncio.Queue()
        # Tests clear this to hold /ask between receiving the interaction and answering it.
        self.answer_gate = asyncio.Event()
        self.answer_gate.set()
        self.vote_view = VoteView()
        self._add_commands()

    async def setup_hook(self) -> None:
        self.add_view(self.vote_view)

    def _add_commands(self) -> None:
        @self.tree.command(name="ask", description="Ask the corpus a question")
        @app_commands.describe(question="What to ask")
        async def ask(interaction: discord.Interaction, question: str) -> None:
            await self.asked.put((interaction.user.id, question))
            await self.answer_gate.wait()
            try:
                await interaction.response.send_message(
                    f"You asked: {question}", ephemeral=True, allowed_mentions=NO_PINGS
                )
            except discord.HTTPException as exc:
                await self.callback_errors.put(exc)

        @self.tree.command(name="research", description="Slow answer: defer, edit, follow up")
        async def research(interaction: discord.Interaction, topic: str) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content=f"Draft on {topic}")
            await interaction.followup.send(f"Sources for {topic}", allowed_mentions=NO_PINGS)

        async def article_choices(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            titles = ["Pompeii dig", "Pomp and circumstance", "Budget vote"]
            return [
                app_commands.Choice(name=t, value=t.lower())
                for t in titles
                if t.lower().startswith(current.lower())
            ]

        @self.tree.command(name="source", description="Cite an article")
        @app_commands.autocomplete(article=article_choices)
        async def source(interaction: discord.Interaction, article: str) -> None:
            await interaction.response.send_message(article)

        @self.tree.command(name="whoami", description="Show whether you may manage the guild")
        async def whoami(interaction: discord.Interaction) -> None:
            allowed = interaction.permissions.manage_guild
            await interaction.response.send_message(f"manage_guild={allowed}", ephemeral=True)

        @self.tree.command(name="pick", description="Pick a topic")
        async def pick(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("Pick one", view=PickView())

        @self.tree.command(name="feedback", description="Send feedback")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal())


async def _synced_bot(connect: Connect, **options: Any) -> AskBot:
    bot = AskBot(**options)
    await connect(bot)
    await bot.tree.sync()
    return bot


# ----------------------------------------------------------------------- connecting


async def test_plain_client_connects_and_sees_guild(env: Env, connect: Connect) -> None:
    """A plain discord.Client logs in, IDENTIFYs and becomes ready with the guild cached."""
    client = await connect(RecordingClient())
    identify = await env.fake.wait_for_identify()
    guild = client.get_guild(env.guild.id)
    assert identify["token"] == TOKEN
    assert client.user is not None and client.user.id == env.fake.bot_user_id
    assert guild is not None and guild.name == "Newsroom" and not guild.unavailable
    assert guild.get_channel(env.channel) is not None
    assert guild.me is not None and guild.me.id == env.fake.bot_user_id


async def test_bot_with_app_command_connects_and_becomes_ready(env: Env, connect: Connect) -> None:
    """A commands.Bot with a tree connects, learns its application id and sees the guild."""
    bot = await connect(AskBot())
    assert bot.application_id == env.fake.application_id
    assert bot.get_guild(env.guild.id) is not None
    assert await env.fake.wait_until_ready_sent()


async def test_members_intent_client_receives_member_chunk(env: Env, connect: Connect) -> None:
    """With the members intent discord.py chunks the guild and caches every member."""
    client = await connect(RecordingClient(intents=_intents(members=True)))
    guild = client.get_guild(env.guild.id)
    assert guild is not None and guild.chunked
    alice = guild.get_member(env.alice)
    assert alice is not None and [r.name for r in alice.roles[1:]] == ["Editors"]


# ------------------------------------------------------------------------- commands


async def test_tree_sync_registers_commands_in_fake(env: Env, connect: Connect) -> None:
    """Global and guild tree.sync() calls are stored with ids and options."""
    bot = await connect(AskBot())
    synced = await bot.tree.sync()
    guild = discord.Object(env.guild.id)
    bot.tree.copy_global_to(guild=guild)
    await bot.tree.sync(guild=guild)
    names = sorted(c["name"] for c in env.fake.commands())
    assert names == ["ask", "feedback", "pick", "research", "source", "whoami"]
    assert {c.id for c in synced} == {int(c["id"]) for c in env.fake.commands()}
    ask = next(c for c in env.fake.commands(env.guild.id) if c["name"] == "ask")
    assert ask["options"][0]["name"] == "question" and ask["guild_id"] == str(env.guild.id)


async def test_slash_command_reaches_callback_and_reply_is_recorded(
    env: Env, connect: Connect
) -> None:
    """invoke_command runs the app command; its send_message is recorded with flags/mentions."""
    bot = await _synced_bot(connect)
    ix = await env.fake.invoke_command(
        env.guild.id, env.channel, env.alice, "ask", {"question": "what did X say?"}
    )
    assert await asyncio.wait_for(bot.asked.get(), WAIT) == (env.alice, "what did X say?")
    (reply,) = await ix.wait_for_response()
    assert reply["type"] == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE
    assert reply["content"] == "You asked: what did X say?"
    assert reply["flags"] & MessageFlag.EPHEMERAL
    assert reply["allowed_mentions"] == {"parse": []}
    assert ix.final_message() is not None


async def test_member_permissions_reach_the_interaction(env: Env, connect: Connect) -> None:
    """add_member(permissions=...) shows up as interaction.permissions for that member only."""
    await _synced_bot(connect)
    answers = []
    for user in (env.admin, env.alice):
        ix = await env.fake.invoke_command(env.guild.id, env.channel, user, "whoami")
        answers.append((await ix.wait_for_message())["content"])
    assert answers == ["manage_guild=True", "manage_guild=False"]


async def test_deferred_response_edit_and_followup_are_recorded(env: Env, connect: Connect) -> None:
    """defer(thinking) then edit_original_response then followup.send are all recorded in order."""
    await _synced_bot(connect)
    ix = await env.fake.invoke_command(
        env.guild.id, env.channel, env.alice, "research", {"topic": "budget"}
    )
    responses = await ix.wait_for_response(count=3)
    assert [(r["kind"], r["type"]) for r in responses] == [
        ("callback", CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE),
        ("edit_original", None),
        ("followup", None),
    ]
    assert responses[1]["content"] == "Draft on budget"
    final = ix.final_message()
    assert final is not None and final["content"] == "Sources for budget"
    assert [m["content"] for m in ix.messages()] == ["Draft on budget", "Sources for budget"]


async def test_autocomplete_returns_choices(env: Env, connect: Connect) -> None:
    """An autocomplete interaction gets the callback's filtered choices back."""
    await _synced_bot(connect)
    ix = await env.fake.autocomplete(
        env.guild.id, env.channel, env.alice, "source", {"article": "pomp"}, focused="article"
    )
    choices = await ix.wait_for_choices()
    assert [c["name"] for c in choices] == ["Pompeii dig", "Pomp and circumstance"]


async def test_button_click_reaches_persistent_view(env: Env, connect: Connect) -> None:
    """Clicking a button on an earlier bot message reaches the persistent view's callback."""
    bot = await _synced_bot(connect)
    row = {
        "type": 1,
        "components": [{"type": 2, "style": 3, "label": "Yes", "custom_id": "vote:yes"}],
    }
    message = env.fake.add_bot_message(env.channel, "Vote?", components=[row])
    ix = await env.fake.click_button(message, env.alice, "vote:yes")
    assert await asyncio.wait_for(bot.vote_view.voters.get(), WAIT) == env.alice
    (reply,) = await ix.wait_for_response()
    assert reply["content"] == "Counted." and reply["ephemeral"]


async def test_select_menu_update_rewrites_the_message(env: Env, connect: Connect) -> None:
    """A select on a bot reply reaches the view; its edit_message (type 7) edits in place."""
    await _synced_bot(connect)
    ix = await env.fake.invoke_command(env.guild.id, env.channel, env.alice, "pick")
    (sent,) = await ix.wait_for_response()
    chosen = await env.fake.select_option(sent, env.alice, "pick:topic", ["Courts"])
    (update,) = await chosen.wait_for_response()
    assert update["type"] == CallbackType.UPDATE_MESSAGE
    message = env.fake.get_message(sent["message_id"])
    assert message is not None
    assert (message["content"], message["components"]) == ("Picked Courts", [])


async def test_modal_submission_reaches_on_submit(env: Env, connect: Connect) -> None:
    """A MODAL callback can be submitted back and the modal's on_submit answers."""
    await _synced_bot(connect)
    ix = await env.fake.invoke_command(env.guild.id, env.channel, env.alice, "feedback")
    modal = await ix.wait_for_modal()
    submitted = await env.fake.submit_modal(ix, {"feedback:text": "great bot"})
    reply = await submitted.wait_for_message()
    assert modal["title"] == "Feedback"
    assert reply["content"] == "Thanks for: great bot"


async def test_expired_interaction_callback_gets_unknown_interaction(
    env: Env, connect: Connect
) -> None:
    """After expire_interaction the callback fails with 404 / 10062 like a late Discord reply."""
    bot = await _synced_bot(connect)
    bot.answer_gate.clear()
    ix = await env.fake.invoke_command(
        env.guild.id, env.channel, env.alice, "ask", {"question": "late?"}
    )
    await asyncio.wait_for(bot.asked.get(), WAIT)
    env.fake.expire_interaction(ix)
    bot.answer_gate.set()
    error = await asyncio.wait_for(bot.callback_errors.get(), WAIT)
    assert isinstance(error, discord.NotFound) and error.code == 10062
    assert not ix.acknowledged


# ------------------------------------------------------------------------- messages


async def test_mention_reaches_on_message_and_reply_is_recorded(env: Env, connect: Connect) -> None:
    """MESSAGE_CREATE with a mention reaches on_message; the reply carries message_reference."""
    client = await connect(RecordingClient())
    bot_id = env.fake.bot_user_id
    sent = await env.fake.send_message(
        env.guild.id, env.channel, env.alice, f"<@{bot_id}> what did Biegun say?", mentions=[bot_id]
    )
    seen = await asyncio.wait_for(client.seen.get(), WAIT)
    reply = await env.fake.wait_for_channel_message(env.channel)
    assert seen.content.endswith("what did Biegun say?") and seen.author.id == env.alice
    assert reply["message_reference"]["message_id"] == sent["id"]
    assert reply["content"] == "Biegun said hello."
    assert reply["pings"] == {"users": [], "roles": [], "everyone": False, "replied_user": None}


async def test_content_is_blank_without_message_content_intent(env: Env, connect: Connect) -> None:
    """Without MESSAGE_CONTENT the bot gets empty content unless it is mentioned, as on Discord."""
    client = await connect(RecordingClient(intents=_intents(message_content=False)))
    await env.fake.send_message(env.guild.id, env.channel, env.alice, "no mention here")
    await env.fake.send_message(
        env.guild.id, env.channel, env.alice, f"<@{env.fake.bot_user_id}> hi"
    )
    plain = await asyncio.wait_for(client.seen.get(), WAIT)
    mentioned = await asyncio.wait_for(client.seen.get(), WAIT)
    assert plain.content == ""
    assert mentioned.content.endswith("hi")


async def test_oversized_message_is_rejected_like_discord(env: Env, connect: Connect) -> None:
    """Content over 2000 characters gets Discord's 400 Invalid Form Body (50035)."""
    client = await connect(RecordingClient())
    channel = client.get_channel(env.channel)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send("x" * 2001)
    assert caught.value.status == 400 and caught.value.code == 50035
    assert "content" in caught.value.text


async def test_default_allowed_mentions_are_recorded_as_pings(env: Env, connect: Connect) -> None:
    """A message without allowed_mentions that mentions a user is flagged as pinging them."""
    client = await connect(RecordingClient())
    channel = client.get_channel(env.channel)
    assert isinstance(channel, discord.TextChannel)
    await channel.send(f"hey <@{env.alice}>")
    record = await env.fake.wait_for_channel_message(env.channel)
    assert record["allowed_mentions"] is None
    assert record["pings"]["users"] == [env.alice]
    assert env.fake.pinging_messages() == [record]


async def test_direct_message_round_trip(env: Env, connect: Connect) -> None:
    """A DM reaches on_message (content visible without the intent); the reply lands in the DM."""
    client = await connect(RecordingClient(intents=_intents(message_content=False)))
    dm = env.fake.open_dm(env.alice)
    await env.fake.send_message(None, dm, env.alice, "hello in private")
    seen = await asyncio.wait_for(client.seen.get(), WAIT)
    await seen.channel.send("private answer")
    record = await env.fake.wait_for_channel_message(dm)
    assert seen.guild is None and seen.content == "hello in private"
    assert record["content"] == "private answer" and record["guild_id"] is None


# -------------------------------------------------------------------------- gateway


async def test_auto_sharded_bot_connects_with_shard_info(env: Env, connect: Connect) -> None:
    """commands.AutoShardedBot asks /gateway/bot, IDENTIFYs shard [0, 1] and becomes ready."""
    bot = commands.AutoShardedBot(
        command_prefix="!", intents=_intents(), guild_ready_timeout=GUILD_READY_TIMEOUT
    )
    await connect(bot)
    identify = await env.fake.wait_for_identify()
    assert identify["shard"] == [0, 1]
    assert bot.get_guild(env.guild.id) is not None


async def test_forced_disconnect_resumes_and_replays_missed_events(
    env: Env, connect: Connect
) -> None:
    """After a resumable disconnect the client RESUMEs and still receives events sent meanwhile."""
    client = await connect(RecordingClient())
    await env.fake.disconnect_gateway(resumable=True)
    await env.fake.send_message(env.guild.id, env.channel, env.alice, "sent while offline")
    await asyncio.wait_for(client.resumed.wait(), WAIT)
    await env.fake.send_message(env.guild.id, env.channel, env.alice, "sent after resume")
    first = await asyncio.wait_for(client.seen.get(), WAIT)
    second = await asyncio.wait_for(client.seen.get(), WAIT)
    assert (first.content, second.content) == ("sent while offline", "sent after resume")
    assert env.fake.identify_count == 1 and env.fake.resume_count == 1
    assert env.fake.gateway.connection_paths == ["/gateway", "/resume-gateway"]


async def test_invalidated_session_makes_client_identify_again(env: Env, connect: Connect) -> None:
    """A non-resumable disconnect (INVALID_SESSION) leads to a fresh IDENTIFY and READY."""
    await connect(RecordingClient())
    await env.fake.disconnect_gateway(resumable=False)
    await env.fake.wait_for_identify(count=2)
    await env.fake.wait_until_ready_sent(count=2)
    assert env.fake.resume_count == 0


# ----------------------------------------------------------------------------- REST


async def test_rate_limited_route_is_retried(env: Env, connect: Connect) -> None:
    """A 429 with Discord's headers and body is retried by discord.py and the send succeeds."""
    client = await connect(RecordingClient())
    env.fake.rate_limit_next("POST", r"^/channels/\d+/messages$", retry_after=0.05)
    channel = client.get_channel(env.channel)
    assert isinstance(channel, discord.TextChannel)
    message = await channel.send("after the limit")
    statuses = [r.status for r in env.fake.requests_matching("POST", r"^/channels/\d+/messages$")]
    assert statuses == [429, 200]
    assert env.fake.get_message(message.id) is not None


async def test_unknown_route_is_recorded_and_answers_404(env: Env, connect: Connect) -> None:
    """Routes the fake does not implement answer a JSON 404 and show up in requests."""
    client = await connect(RecordingClient())
    with pytest.raises(discord.NotFound):
        await client.http.request(discord.http.Route("GET", "/not/a/route"))
    recorded = await env.fake.wait_for_request("GET", r"^/not/a/route$")
    assert recorded.status == 404 and recorded.response == {"message": "404: Not Found", "code": 0}


@pytest.mark.parametrize("reject_flag", [True, False], ids=["reject_token", "wrong_token"])
async def test_bad_token_raises_login_failure(env: Env, reject_flag: bool) -> None:
    """A refused or wrong token makes client.start raise discord.LoginFailure."""
    env.fake.reject_token = reject_flag
    client = RecordingClient()
    _assert_local()
    try:
        with pytest.raises(discord.LoginFailure):
            await client.start(TOKEN if reject_flag else "wrong-token")
    finally:
        await client.close()
    assert env.fake.requests[-1].status == 401


async def test_rejected_privileged_intents_raise(env: Env) -> None:
    """reject_intents closes IDENTIFY with 4014: discord.py raises PrivilegedIntentsRequired."""
    env.fake.reject_intents = True
    client = RecordingClient(intents=_intents(message_content=True))
    _assert_local()
    try:
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(client.start(TOKEN), WAIT)
    finally:
        await client.close()
