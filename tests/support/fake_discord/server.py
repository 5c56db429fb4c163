"""FakeDiscord: the facade tests use to build a world, serve it, drive events and assert."""

from __future__ import annotations

import asyncio
import copy
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp
import discord
from aiohttp import web

from .constants import (
    HEARTBEAT_INTERVAL_MS,
    ApplicationFlag,
    ChannelType,
    ComponentType,
    ErrorCode,
    Intent,
    InteractionType,
    MessageFlag,
    MessageType,
    Perm,
)
from .gateway import GatewayHub
from .interactions import (
    FakeInteraction,
    base_interaction_payload,
    build_command_data,
    interaction_type_for,
)
from .messages import (
    DiscordError,
    apply_edit,
    build_message,
    compute_pings,
    gateway_message,
    pings_anyone,
    redact_for_intents,
    resolve_attachments,
    walk_components,
)
from .records import GatewayFrame, RecordedFile, RecordedRequest, WaitableLog
from .rest import RestApi
from .state import (
    Channel,
    Guild,
    GuildRef,
    Json,
    Member,
    Role,
    SnowflakeFactory,
    User,
    World,
    now_iso,
)


def _describe_sent(record: Json) -> str:
    return (
        f"{record['kind']} channel={record['channel_id']} content={str(record['content'])[:60]!r}"
    )


def _nth(predicate: Callable[[Any], bool], n: int) -> Callable[[Any], bool]:
    """Predicate true from the n-th item satisfying `predicate` on (each item is seen once)."""
    seen = 0

    def check(item: Any) -> bool:
        nonlocal seen
        if predicate(item):
            seen += 1
        return seen >= n

    return check


async def wait_until_ready(
    client: discord.Client, task: asyncio.Task[None], timeout: float = 10.0
) -> None:
    """Wait for ``client`` (started as ``task``) to be ready; re-raise if it died first."""
    ready = asyncio.ensure_future(client.wait_until_ready())
    done, _ = await asyncio.wait(
        {task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    if ready not in done:
        ready.cancel()
        if task in done:
            task.result()
        raise TimeoutError("the client did not become ready")


async def point_discord_at(base_url: str) -> Callable[[], None]:
    """Point discord.py's REST and gateway URLs at a fake; returns a function undoing it.

    base_url is the API base, e.g. FakeDiscord.api_base ("http://127.0.0.1:PORT/api/v10").
    The gateway URL is discovered with GET {base_url}/gateway, exactly like production code does.
    """
    import discord.gateway
    import discord.http
    import yarl

    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/gateway") as response:
        response.raise_for_status()
        gateway_url = (await response.json())["url"]
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def restore() -> None:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    return restore


class FakeDiscord:
    """A local Discord (REST + gateway) that an unmodified discord.py client can log into.

    Build the world with add_guild/add_channel/add_role/add_member (before or after start;
    later additions are dispatched to connected clients), `await start()`, point discord.py
    at `api_base`, then drive the bot with invoke_command/click_button/send_message and
    assert on `requests`, `sent_messages` and FakeInteraction.responses::

        fake = FakeDiscord(token="test-token")
        guild = fake.add_guild("Newsroom")
        alice = fake.add_member(guild.id, "alice")
        await fake.start()
        restore = await point_discord_at(fake.api_base)
        # guild_ready_timeout: discord.py otherwise waits 2 s after GUILD_CREATE for on_ready.
        bot = MyBot(..., guild_ready_timeout=0.1)
        task = asyncio.create_task(bot.start("test-token"))
        await bot.wait_until_ready()          # after login; or await fake.wait_until_ready_sent()
        await bot.tree.sync()
        ix = await fake.invoke_command(guild.id, guild.default_channel_id, alice, "ask",
                                       {"question": "what did X say?"})
        reply = await ix.wait_for_message()
        await bot.close(); await task; restore(); await fake.stop()
    """

    def __init__(
        self,
        token: str = "test-token",
        *,
        bot_user_id: int | None = None,
        bot_name: str = "askbot",
        application_id: int | None = None,
        application_name: str | None = None,
        bot_permissions: int = Perm.BOT_DEFAULT,
        echo_bot_messages: bool = True,
        interaction_ack_deadline: float | None = None,
    ) -> None:
        """Create a stopped fake.

        echo_bot_messages: dispatch MESSAGE_CREATE for the bot's own messages, as Discord does.
        interaction_ack_deadline: seconds after which an unacknowledged interaction's callback
        gets 10062 Unknown interaction (Discord uses 3.0); None disables the timer.
        """
        self.token = token
        self.reject_token = False
        """When True, REST answers 401 and IDENTIFY/RESUME are closed with 4004."""
        self.reject_intents = False
        """When True, an IDENTIFY requesting privileged intents is closed with 4014."""
        self.echo_bot_messages = echo_bot_messages
        self.interaction_ack_deadline = interaction_ack_deadline
        self.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS
        self.bot_permissions = bot_permissions
        # Loopback only: the fake must never be reachable from (or reach) the network.
        self.host = "127.0.0.1"

        ids = SnowflakeFactory()
        bot = User(bot_user_id or ids.next(), bot_name, global_name=None, bot=True)
        self.world = World(bot)
        self.world.ids = ids
        self.application_id: int = application_id or bot.id
        self.application_name = application_name or bot_name
        self.app_owner_id = self.add_user("app-owner")

        self.requests: WaitableLog[RecordedRequest] = WaitableLog(RecordedRequest.describe)
        self.sent_messages: WaitableLog[Json] = WaitableLog(_describe_sent)
        self.interactions: dict[int, FakeInteraction] = {}
        self.interaction_tokens: dict[str, FakeInteraction] = {}
        self.command_store: dict[int | None, list[Json]] = {}
        self.gateway = GatewayHub(self)
        self.rest = RestApi(self)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._channel_cursors: dict[int, int] = {}
        self.internal_errors: list[BaseException] = []
        """Exceptions raised inside the fake itself; tests should assert this stays empty."""

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Serve on 127.0.0.1 at a random free port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/gateway", self.gateway.handle)
        app.router.add_route("GET", "/resume-gateway", self.gateway.handle)
        app.router.add_route("*", "/{tail:.*}", self.rest.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        site = web.SockSite(runner, sock)
        await site.start()
        self.port = sock.getsockname()[1]
        self._runner = runner

    async def stop(self) -> None:
        """Close gateway sockets and stop serving (idempotent)."""
        if self._runner is None:
            return
        await self.gateway.close_all()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """http://host:port of the running server."""
        if self.port is None:
            raise RuntimeError("FakeDiscord is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for discord.http.Route.BASE."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """URL returned by GET /gateway (what DiscordWebSocket.DEFAULT_GATEWAY should be)."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """resume_gateway_url announced in READY (a distinct path, so tests can see it was used)."""
        return f"ws://{self.host}:{self.port}/resume-gateway"

    @property
    def cdn_base(self) -> str:
        """Base of attachment URLs served by the fake."""
        return f"{self.base_url}/cdn" if self.port is not None else "http://127.0.0.1/cdn"

    @property
    def bot_user_id(self) -> int:
        """The bot user's id (use in mentions: f'<@{fake.bot_user_id}>')."""
        return self.world.bot_user.id

    @property
    def application_flags(self) -> int:
        """Application flags; privileged intents look enabled unless reject_intents is set."""
        flags = ApplicationFlag.APPLICATION_COMMAND_BADGE
        if not self.reject_intents:
            flags |= (
                ApplicationFlag.GATEWAY_PRESENCE_LIMITED
                | ApplicationFlag.GATEWAY_GUILD_MEMBERS_LIMITED
                | ApplicationFlag.GATEWAY_MESSAGE_CONTENT_LIMITED
            )
        return flags

    def _application_payload(self) -> Json:
        """GET /oauth2/applications/@me body."""
        return {
            "id": str(self.application_id),
            "name": self.application_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.world.bot_user.payload(),
            "owner": self.world.user(self.app_owner_id).payload(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": self.application_flags,
            "hook": True,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "approximate_guild_count": len(self.world.guilds),
            "integration_types_config": {"0": {}},
        }

    # -------------------------------------------------------- world building

    def add_user(self, name: str, *, bot: bool = False, global_name: str | None = None) -> int:
        """Create a user (not in any guild); returns its id."""
        user = User(self.world.ids.next(), name, global_name=global_name, bot=bot)
        self.world.users[user.id] = user
        return user.id

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        owner_id: int | None = None,
        channel_name: str = "general",
        locale: str = "en-US",
    ) -> GuildRef:
        """Create a guild with @everyone, the bot (and its managed role), an owner, a channel."""
        world = self.world
        guild_id = world.ids.next()
        owner = (
            owner_id
            if owner_id is not None
            else self.add_user(f"{name.lower().replace(' ', '-')}-owner")
        )
        joined = now_iso()
        guild = Guild(guild_id, name, owner, joined, preferred_locale=locale)
        world.guilds[guild_id] = guild
        guild.roles[guild_id] = Role(guild_id, guild_id, "@everyone", Perm.EVERYONE_DEFAULT, 0)
        bot_role = Role(
            world.ids.next(),
            guild_id,
            world.bot_user.username,
            self.bot_permissions,
            1,
            managed=True,
            tags={"bot_id": str(world.bot_user.id)},
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[owner] = Member(guild_id, owner, [], joined)
        guild.members[world.bot_user.id] = Member(
            guild_id, world.bot_user.id, [bot_role.id], joined
        )
        channel_id = self._new_channel(guild, channel_name, ChannelType.GUILD_TEXT)
        guild.system_channel_id = channel_id
        self.gateway.dispatch(
            "GUILD_CREATE",
            world.guild_create_payload(guild_id, member_ids=[world.bot_user.id]),
            intent=Intent.GUILDS,
            guild_id=guild_id,
        )
        return GuildRef(guild_id, name, guild_id, channel_id, owner, bot_role.id)

    def _new_channel(self, guild: Guild, name: str, channel_type: int, **fields: Any) -> int:
        channel = Channel(
            self.world.ids.next(),
            channel_type,
            name,
            guild.id,
            position=len(guild.channels),
            **fields,
        )
        guild.channels[channel.id] = channel
        self.world.channels[channel.id] = channel
        return channel.id

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = ChannelType.GUILD_TEXT,
        topic: str | None = None,
        parent_id: int | None = None,
        overwrites: Sequence[Json] = (),
        nsfw: bool = False,
    ) -> int:
        """Create a guild channel; overwrites are raw Discord objects ({id, type, allow, deny})."""
        guild = self.world.guild(guild_id)
        channel_id = self._new_channel(
            guild,
            name,
            type,
            topic=topic,
            parent_id=parent_id,
            nsfw=nsfw,
            overwrites=[
                {
                    **o,
                    "id": str(o["id"]),
                    "allow": str(o.get("allow", 0)),
                    "deny": str(o.get("deny", 0)),
                }
                for o in overwrites
            ],
        )
        self.gateway.dispatch(
            "CHANNEL_CREATE",
            self.world.channel_payload(channel_id),
            intent=Intent.GUILDS,
            guild_id=guild_id,
        )
        return channel_id

    def add_role(
        self,
        guild_id: int,
        name: str,
        *,
        permissions: int = 0,
        mentionable: bool = False,
        color: int = 0,
        hoist: bool = False,
    ) -> int:
        """Create a role; returns its id."""
        guild = self.world.guild(guild_id)
        role = Role(
            self.world.ids.next(),
            guild_id,
            name,
            permissions,
            max(r.position for r in guild.roles.values()) + 1,
            color=color,
            hoist=hoist,
            mentionable=mentionable,
        )
        guild.roles[role.id] = role
        self.gateway.dispatch(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(guild_id), "role": role.payload()},
            intent=Intent.GUILDS,
            guild_id=guild_id,
        )
        return role.id

    def add_member(
        self,
        guild_id: int,
        name: str | None = None,
        *,
        user_id: int | None = None,
        roles: Sequence[int] = (),
        permissions: int | None = None,
        owner: bool = False,
        nick: str | None = None,
        bot: bool = False,
        global_name: str | None = None,
    ) -> int:
        """Add a member (creating the user unless user_id is given); returns the user id.

        permissions: convenience that creates and assigns a role named '<name> permissions'
        with exactly these bits (e.g. Perm.MANAGE_GUILD or Perm.ADMINISTRATOR).
        owner: make this member the guild owner (all permissions).
        """
        world = self.world
        guild = world.guild(guild_id)
        if user_id is None:
            user_id = self.add_user(
                name or f"user{len(world.users)}", bot=bot, global_name=global_name
            )
        elif user_id not in world.users:
            raise KeyError(f"unknown user {user_id}")
        role_ids = list(roles)
        for role_id in role_ids:
            if role_id not in guild.roles:
                raise KeyError(f"role {role_id} is not in guild {guild_id}")
        if permissions is not None:
            role_ids.append(
                self.add_role(
                    guild_id,
                    f"{world.users[user_id].username} permissions",
                    permissions=permissions,
                )
            )
        guild.members[user_id] = Member(guild_id, user_id, role_ids, now_iso(), nick=nick)
        if owner:
            guild.owner_id = user_id
            self.gateway.dispatch(
                "GUILD_UPDATE",
                world.guild_payload(guild_id),
                intent=Intent.GUILDS,
                guild_id=guild_id,
            )
        self.gateway.dispatch(
            "GUILD_MEMBER_ADD",
            {**world.member_payload(guild_id, user_id), "guild_id": str(guild_id)},
            intent=Intent.GUILD_MEMBERS,
            guild_id=guild_id,
        )
        return user_id

    def update_member(
        self,
        guild_id: int,
        user_id: int,
        *,
        roles: Sequence[int] | None = None,
        nick: str | None = None,
    ) -> None:
        """Change a member's roles and/or nick and dispatch GUILD_MEMBER_UPDATE."""
        member = self.world.member(guild_id, user_id)
        if roles is not None:
            member.roles = list(roles)
        if nick is not None:
            member.nick = nick
        self.gateway.dispatch(
            "GUILD_MEMBER_UPDATE",
            {**self.world.member_payload(guild_id, user_id), "guild_id": str(guild_id)},
            intent=Intent.GUILD_MEMBERS,
            guild_id=guild_id,
        )

    def open_dm(self, user_id: int) -> int:
        """The DM channel between the bot and a user (created on first use); returns its id."""
        for channel in self.world.channels.values():
            if channel.type == ChannelType.DM and channel.recipients == [user_id]:
                return channel.id
        channel = Channel(self.world.ids.next(), ChannelType.DM, None, None, recipients=[user_id])
        self.world.channels[channel.id] = channel
        return channel.id

    # ---------------------------------------------------------- gateway API

    async def wait_for_identify(self, timeout: float = 5.0, count: int = 1) -> Json:
        """Wait for the count-th IDENTIFY payload the client sent; returns its `d`."""
        frame = await self.gateway.frames.wait_for(
            _nth(lambda f: f.op == 2, count), timeout=timeout, what=f"IDENTIFY #{count}"
        )
        return dict(frame.d)

    async def wait_for_resume(self, timeout: float = 5.0, count: int = 1) -> Json:
        """Wait for the count-th RESUME payload the client sent; returns its `d`."""
        frame = await self.gateway.frames.wait_for(
            _nth(lambda f: f.op == 6, count), timeout=timeout, what=f"RESUME #{count}"
        )
        return dict(frame.d)

    async def wait_until_ready_sent(self, timeout: float = 5.0, count: int = 1) -> str:
        """Wait until the count-th READY and its GUILD_CREATEs were written; returns the session."""
        return await self.gateway.ready_sent.wait_for(
            _nth(lambda _: True, count), timeout=timeout, what=f"READY #{count}"
        )

    async def wait_until_resumed_sent(self, timeout: float = 5.0, count: int = 1) -> str:
        """Wait until the count-th RESUMED (after the replay) was written; returns the session."""
        return await self.gateway.resumed_sent.wait_for(
            _nth(lambda _: True, count), timeout=timeout, what=f"RESUMED #{count}"
        )

    @property
    def gateway_frames(self) -> WaitableLog[GatewayFrame]:
        """Every payload clients sent over the gateway."""
        return self.gateway.frames

    @property
    def identify_count(self) -> int:
        """Number of IDENTIFY payloads received."""
        return sum(1 for f in self.gateway.frames if f.op == 2)

    @property
    def resume_count(self) -> int:
        """Number of RESUME payloads received."""
        return sum(1 for f in self.gateway.frames if f.op == 6)

    async def disconnect_gateway(self, resumable: bool = True, *, abrupt: bool = False) -> None:
        """Force a disconnect.

        resumable=True closes with 4000 (or drops TCP when abrupt) and keeps the session, so the
        client RESUMEs and gets missed events replayed. resumable=False sends INVALID_SESSION,
        so the client must IDENTIFY again and missed events are lost.
        """
        await self.gateway.disconnect(resumable=resumable, abrupt=abrupt)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT, as Discord does before maintenance."""
        await self.gateway.request_reconnect()

    async def dispatch(
        self, event: str, data: Json, *, intent: int | None = None, guild_id: int | None = None
    ) -> None:
        """Send a raw dispatch event to connected sessions and wait until it is written."""
        await asyncio.gather(*self.gateway.dispatch(event, data, intent=intent, guild_id=guild_id))

    # ------------------------------------------------------------- REST API

    def commands(self, guild_id: int | None = None) -> list[Json]:
        """Application commands registered by sync (global when guild_id is None)."""
        return copy.deepcopy(self.command_store.get(guild_id, []))

    def requests_matching(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Recorded requests matching method ('*' for any) and path regex (re.search)."""
        pattern = re.compile(path_regex)
        return [
            r for r in self.requests if method.upper() in ("*", r.method) and pattern.search(r.path)
        ]

    async def wait_for_request(
        self,
        method: str,
        path_regex: str,
        *,
        timeout: float = 5.0,
        since: int = 0,
        status: int | None = None,
    ) -> RecordedRequest:
        """First request at index >= since matching method/path (and status), waiting if needed.

        Paths exclude the /api/v10 prefix. Use since=len(fake.requests) to wait only for new ones.
        """
        pattern = re.compile(path_regex)

        def matches(r: RecordedRequest) -> bool:
            return (
                method.upper() in ("*", r.method)
                and bool(pattern.search(r.path))
                and (status is None or r.status == status)
            )

        return await self.requests.wait_for(
            matches, start=since, timeout=timeout, what=f"{method} {path_regex}"
        )

    def rate_limit_next(
        self,
        method: str,
        path_regex: str,
        retry_after: float = 0.05,
        *,
        is_global: bool = False,
        count: int = 1,
    ) -> None:
        """Answer the next `count` matching REST calls with a realistic 429 (discord.py retries)."""
        self.rest.add_rate_limit(method, path_regex, retry_after, is_global=is_global, count=count)

    def fail_next(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 500,
        code: int = ErrorCode.GENERAL,
        message: str | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next `count` matching REST calls with an error (discord.py retries 5xx)."""
        body = {"message": message or f"{status}: fake failure", "code": code}
        self.rest.add_failure(method, path_regex, status, body, count)

    # ---------------------------------------------------------- interactions

    async def invoke_command(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Dispatch an APPLICATION_COMMAND interaction for a synced slash command.

        name may be 'group sub' for subcommands; options are checked against the synced
        definition. USER/ROLE/CHANNEL/MENTIONABLE values are ids; ATTACHMENT values are
        (filename, bytes).
        """
        self._check_actor(guild_id, channel_id, user_id)
        data = build_command_data(
            self, guild_id=guild_id, channel_id=channel_id, name=name, values=options or {}
        )
        return await self._new_interaction(
            InteractionType.APPLICATION_COMMAND, guild_id, channel_id, user_id, data, locale=locale
        )

    async def autocomplete(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Dispatch an APPLICATION_COMMAND_AUTOCOMPLETE interaction; await ix.wait_for_choices()."""
        self._check_actor(guild_id, channel_id, user_id)
        data = build_command_data(
            self,
            guild_id=guild_id,
            channel_id=channel_id,
            name=name,
            values=options,
            focused=focused,
        )
        return await self._new_interaction(
            interaction_type_for(focused), guild_id, channel_id, user_id, data, locale=locale
        )

    async def click_button(
        self, message: int | Mapping[str, Any], user_id: int, custom_id: str
    ) -> FakeInteraction:
        """Dispatch a MESSAGE_COMPONENT interaction for a button on a message the bot sent."""
        return await self.interact_component(message, user_id, custom_id)

    async def select_option(
        self,
        message: int | Mapping[str, Any],
        user_id: int,
        custom_id: str,
        values: Sequence[str | int],
    ) -> FakeInteraction:
        """Dispatch a MESSAGE_COMPONENT interaction choosing `values` in a select menu."""
        return await self.interact_component(message, user_id, custom_id, values=values)

    async def interact_component(
        self,
        message: int | Mapping[str, Any],
        user_id: int,
        custom_id: str,
        *,
        values: Sequence[str | int] | None = None,
    ) -> FakeInteraction:
        """Dispatch a MESSAGE_COMPONENT interaction for any component on a stored message."""
        stored = self._stored_message(message)
        component = next(
            (c for c in walk_components(stored["components"]) if c.get("custom_id") == custom_id),
            None,
        )
        if component is None:
            available = [
                c.get("custom_id")
                for c in walk_components(stored["components"])
                if c.get("custom_id")
            ]
            raise ValueError(
                f"message {stored['id']} has no component {custom_id!r} (has {available})"
            )
        if component.get("disabled"):
            raise ValueError(
                f"component {custom_id!r} is disabled; Discord would not let a user use it"
            )
        channel = self.world.channel(int(stored["channel_id"]))
        self._check_actor(channel.guild_id, channel.id, user_id)
        data: Json = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] in ComponentType.SELECTS:
            data["values"] = [str(v) for v in values or []]
        elif values is not None:
            raise ValueError("values only apply to select menus")
        return await self._new_interaction(
            InteractionType.MESSAGE_COMPONENT,
            channel.guild_id,
            channel.id,
            user_id,
            data,
            source=stored,
        )

    async def submit_modal(
        self,
        ix: FakeInteraction,
        values: Mapping[str, str | Sequence[str]],
        *,
        user_id: int | None = None,
    ) -> FakeInteraction:
        """Submit the modal the bot answered `ix` with; values are keyed by input custom_id."""
        if ix.modal is None:
            raise ValueError(f"{ix!r} was not answered with a modal")

        def submitted(component: Json) -> Json | None:
            custom_id = component.get("custom_id")
            if component.get("type") == ComponentType.TEXT_INPUT:
                value = values.get(custom_id, "") if custom_id else ""
                if component.get("required", True) and not value:
                    raise ValueError(f"modal field {custom_id!r} is required")
                return {
                    "type": ComponentType.TEXT_INPUT,
                    "id": component.get("id", 0),
                    "custom_id": custom_id,
                    "value": value,
                }
            if component.get("type") in ComponentType.SELECTS:
                raw = values.get(custom_id, []) if custom_id else []
                chosen = [raw] if isinstance(raw, str) else list(raw)
                return {
                    "type": component["type"],
                    "id": component.get("id", 0),
                    "custom_id": custom_id,
                    "values": chosen,
                }
            return None

        rows: list[Json] = []
        for top in ix.modal.get("components") or []:
            if top.get("type") == ComponentType.ACTION_ROW:
                inner = [
                    s for s in (submitted(c) for c in top.get("components") or []) if s is not None
                ]
                rows.append(
                    {"type": ComponentType.ACTION_ROW, "id": top.get("id", 0), "components": inner}
                )
            elif top.get("type") == ComponentType.LABEL and isinstance(top.get("component"), dict):
                child = submitted(top["component"])
                if child is not None:
                    rows.append(
                        {"type": ComponentType.LABEL, "id": top.get("id", 0), "component": child}
                    )
        data: Json = {"custom_id": ix.modal.get("custom_id"), "components": rows}
        source = self.world.messages.get(ix.source_message_id) if ix.source_message_id else None
        return await self._new_interaction(
            InteractionType.MODAL_SUBMIT,
            ix.guild_id,
            ix.channel_id,
            user_id or ix.user_id,
            data,
            source=source,
        )

    def expire_interaction(self, ix: FakeInteraction, *, token_too: bool = False) -> None:
        """Make ix's next callback fail with 404 10062; token_too also kills its webhook (10015)."""
        ix.expired = True
        ix.token_expired = ix.token_expired or token_too

    def _interaction_is_expired(self, ix: FakeInteraction) -> bool:
        """Whether a callback for ix must be refused as Unknown interaction."""
        if ix.expired:
            return True
        deadline = self.interaction_ack_deadline
        return deadline is not None and asyncio.get_running_loop().time() - ix.created_at > deadline

    def _check_actor(self, guild_id: int | None, channel_id: int, user_id: int) -> None:
        world = self.world
        channel = world.channel(channel_id)
        if guild_id is None:
            if channel.type != ChannelType.DM or channel.recipients != [user_id]:
                raise ValueError(
                    f"channel {channel_id} is not the DM channel of user {user_id} (use open_dm)"
                )
            return
        if channel.guild_id != guild_id:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        world.member(guild_id, user_id)

    def _stored_message(self, message: int | Mapping[str, Any]) -> Json:
        if isinstance(message, int):
            message_id = message
        else:
            raw = message.get("message_id") or message.get("id")
            if raw is None:
                raise ValueError("message must be an id, a message dict or a sent-message record")
            message_id = int(raw)
        stored = self.world.messages.get(message_id)
        if stored is None:
            raise KeyError(f"unknown message {message_id}")
        return stored

    async def _new_interaction(
        self,
        interaction_type: int,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        data: Json,
        *,
        source: Json | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        if not self.gateway.live_sessions():
            raise RuntimeError(
                "no gateway session: start the client and wait for it to be ready first"
            )
        interaction_id = self.world.ids.next()
        payload = base_interaction_payload(
            self,
            interaction_id=interaction_id,
            interaction_type=interaction_type,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            data=data,
            locale=locale,
        )
        if source is not None:
            payload["message"] = copy.deepcopy(source)
        ix = FakeInteraction(
            self,
            interaction_id=interaction_id,
            interaction_type=interaction_type,
            payload=payload,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            source_message_id=int(source["id"]) if source is not None else None,
        )
        ix.created_at = asyncio.get_running_loop().time()
        self.interactions[ix.id] = ix
        self.interaction_tokens[ix.token] = ix
        await asyncio.gather(
            *self.gateway.dispatch("INTERACTION_CREATE", payload, guild_id=guild_id)
        )
        return ix

    # ------------------------------------------------------------- messages

    async def send_message(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        content: str = "",
        *,
        mentions: Sequence[int] | None = None,
        embeds: Sequence[Json] = (),
        attachments: Sequence[tuple[str, bytes]] = (),
        reference: int | None = None,
    ) -> Json:
        """A user posts a message: dispatch MESSAGE_CREATE and return the stored message.

        mentions: extra user ids to list in `mentions` (<@id> in content is parsed anyway).
        reference: id of a message this one replies to.
        Without the MESSAGE_CONTENT intent the bot receives blank content unless it is
        mentioned or it is a DM, as on Discord.
        """
        self._check_actor(guild_id, channel_id, user_id)
        uploaded = [
            RecordedFile(f"files[{i}]", name, "application/octet-stream", data)
            for i, (name, data) in enumerate(attachments)
        ]
        files = resolve_attachments(self.world, self.cdn_base, channel_id, {}, uploaded) or []
        ref = (
            {"message_id": reference, "channel_id": channel_id, "guild_id": guild_id}
            if reference
            else None
        )
        message = build_message(
            self.world,
            channel_id=channel_id,
            author_id=user_id,
            content=content,
            embeds=embeds,
            attachments=files,
            mentions=mentions,
            reference=ref,
            nonce=str(self.world.ids.next()),
        )
        await asyncio.gather(*self._announce_message_create(message))
        return copy.deepcopy(message)

    def add_bot_message(
        self,
        channel_id: int,
        content: str = "",
        *,
        components: Sequence[Json] = (),
        embeds: Sequence[Json] = (),
    ) -> Json:
        """Store a message as if the bot posted it earlier (e.g. before a restart); not dispatched.

        Useful for persistent views: click_button works on it like on any bot message.
        """
        message = build_message(
            self.world,
            channel_id=channel_id,
            author_id=self.bot_user_id,
            content=content,
            embeds=embeds,
            components=components,
        )
        return copy.deepcopy(message)

    def _announce_message_create(self, message: Json) -> list[asyncio.Future[None]]:
        """Dispatch MESSAGE_CREATE for a stored message (respecting intents and echo settings)."""
        if message["flags"] & MessageFlag.EPHEMERAL:
            return []
        if int(message["author"]["id"]) == self.bot_user_id and not self.echo_bot_messages:
            return []
        return self._dispatch_message_event("MESSAGE_CREATE", message)

    def _dispatch_message_event(self, event: str, message: Json) -> list[asyncio.Future[None]]:
        channel = self.world.channel(int(message["channel_id"]))
        intent = Intent.DIRECT_MESSAGES if channel.guild_id is None else Intent.GUILD_MESSAGES
        data = gateway_message(self.world, message)
        return self.gateway.dispatch(
            event,
            lambda session: redact_for_intents(
                self.world, data, session.intents, Intent.MESSAGE_CONTENT
            ),
            intent=intent,
            guild_id=channel.guild_id,
        )

    def _create_interaction_message(
        self,
        ix: FakeInteraction,
        data: Json,
        files: Sequence[RecordedFile],
        *,
        loading: bool,
        followup: bool = False,
    ) -> Json:
        """Store the message a callback or followup creates (and dispatch it if public)."""
        world = self.world
        flags = int(data.get("flags") or 0) & MessageFlag.SETTABLE
        if loading:
            flags = MessageFlag.LOADING | (flags & MessageFlag.EPHEMERAL)
        attachments = (
            []
            if loading
            else resolve_attachments(world, self.cdn_base, ix.channel_id, data, files) or []
        )
        metadata: Json = {
            "id": str(ix.id),
            "type": ix.type,
            "user": world.user(ix.user_id).payload(),
            "authorizing_integration_owners": ix.payload.get("authorizing_integration_owners", {}),
        }
        command_name = None
        if ix.type == InteractionType.APPLICATION_COMMAND:
            command_name = ix.payload["data"]["name"]
            metadata.update(name=command_name, command_type=1)
        if ix.source_message_id is not None:
            metadata["interacted_message_id"] = str(ix.source_message_id)
        if followup and ix.original_message_id is not None:
            metadata["original_response_message_id"] = str(ix.original_message_id)
        is_command_reply = ix.type == InteractionType.APPLICATION_COMMAND and not followup
        message = build_message(
            world,
            channel_id=ix.channel_id,
            author_id=world.bot_user.id,
            content="" if loading else data.get("content") or "",
            embeds=[] if loading else data.get("embeds") or [],
            components=[] if loading else data.get("components") or [],
            attachments=attachments,
            flags=flags,
            message_type=MessageType.CHAT_INPUT_COMMAND
            if is_command_reply
            else MessageType.DEFAULT,
            webhook_id=self.application_id,
            application_id=self.application_id,
            interaction_metadata=metadata,
            tts=bool(data.get("tts", False)),
            poll=None if loading else data.get("poll"),
        )
        if command_name is not None:
            message["interaction"] = {
                "id": str(ix.id),
                "type": ix.type,
                "name": command_name,
                "user": world.user(ix.user_id).payload(),
            }
        self._announce_message_create(message)
        return message

    def _edit_message(self, message: Json, payload: Json, attachments: list[Json] | None) -> Json:
        """Apply an edit to a stored message and dispatch MESSAGE_UPDATE if it is public."""
        edited = apply_edit(self.world, message, payload, attachments)
        if not edited["flags"] & MessageFlag.EPHEMERAL:
            self._dispatch_message_event("MESSAGE_UPDATE", edited)
        return edited

    def _ensure_not_empty_after_edit(
        self, message: Json, payload: Json, attachments: list[Json] | None
    ) -> None:
        """Discord refuses edits that would leave a message with nothing in it."""
        content = payload["content"] if "content" in payload else message.get("content")
        embeds = payload["embeds"] if "embeds" in payload else message.get("embeds")
        components = payload["components"] if "components" in payload else message.get("components")
        kept = attachments if attachments is not None else message.get("attachments")
        if not ((content or "").strip() or embeds or components or kept or message.get("poll")):
            raise DiscordError(
                400, ErrorCode.CANNOT_SEND_EMPTY_MESSAGE, "Cannot send an empty message"
            )

    def _delete_message_everywhere(self, message: Json) -> None:
        """Remove a stored message and dispatch MESSAGE_DELETE if it was public."""
        message_id = int(message["id"])
        channel = self.world.channel(int(message["channel_id"]))
        self.world.messages.pop(message_id, None)
        if message["flags"] & MessageFlag.EPHEMERAL:
            return
        data: Json = {"id": str(message_id), "channel_id": str(channel.id)}
        if channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
        intent = Intent.DIRECT_MESSAGES if channel.guild_id is None else Intent.GUILD_MESSAGES
        self.gateway.dispatch("MESSAGE_DELETE", data, intent=intent, guild_id=channel.guild_id)

    def _sent_record(
        self,
        kind: str,
        message: Json | None,
        payload: Json,
        files: Sequence[RecordedFile],
        *,
        ix: FakeInteraction | None = None,
        callback_type: int | None = None,
    ) -> Json:
        world = self.world
        if message is not None:
            channel_id = int(message["channel_id"])
        else:
            channel_id = ix.channel_id if ix is not None else 0
        channel = world.channels.get(channel_id)
        guild_id = channel.guild_id if channel is not None else None
        allowed = payload.get("allowed_mentions")
        replied_user_id = None
        reference = (message or {}).get("message_reference")
        referenced = (message or {}).get("referenced_message")
        if reference and reference.get("type", 0) == 0 and referenced:
            replied_user_id = int(referenced["author"]["id"])
        source = message if message is not None else payload
        content = source.get("content") or ""
        flags = int(source.get("flags") or 0)
        return {
            "kind": kind,
            "type": callback_type,
            "interaction_id": ix.id if ix is not None else None,
            "message_id": int(message["id"]) if message is not None else None,
            "channel_id": channel_id,
            "guild_id": guild_id,
            "content": content,
            "embeds": copy.deepcopy(source.get("embeds") or []),
            "components": copy.deepcopy(source.get("components") or []),
            "flags": flags,
            "ephemeral": bool(flags & MessageFlag.EPHEMERAL),
            "allowed_mentions": copy.deepcopy(allowed),
            "message_reference": copy.deepcopy(reference),
            "attachments": copy.deepcopy((message or {}).get("attachments") or []),
            "files": list(files),
            "choices": copy.deepcopy(payload.get("choices")),
            "pings": compute_pings(
                world,
                guild_id=guild_id,
                content=content,
                allowed_mentions=allowed,
                author_id=world.bot_user.id,
                replied_user_id=replied_user_id,
            ),
            "data": copy.deepcopy(payload),
            "message": copy.deepcopy(message),
        }

    def _record_channel_message(
        self, kind: str, message: Json, payload: Json, files: Sequence[RecordedFile]
    ) -> None:
        """Record a message the bot created/edited through the channel routes."""
        self.sent_messages.append(self._sent_record(kind, message, payload, files))

    def _record_interaction_response(
        self,
        ix: FakeInteraction,
        kind: str,
        callback_type: int | None,
        message: Json | None,
        payload: Json,
        files: Sequence[RecordedFile],
    ) -> None:
        """Record a callback/edit/followup/delete on ix (and in sent_messages if it has one)."""
        record = self._sent_record(
            kind, message, payload, files, ix=ix, callback_type=callback_type
        )
        ix.responses.append(record)
        if message is not None and not message["flags"] & MessageFlag.LOADING:
            self.sent_messages.append(record)

    async def wait_for_channel_message(self, channel_id: int, timeout: float = 10.0) -> Json:
        """Next message the bot POSTed to a channel that no earlier call returned (a sent record).

        The record has: kind, message_id, channel_id, content, embeds, components, flags,
        allowed_mentions, message_reference, attachments, files, pings, data (raw body), message.
        """
        start = self._channel_cursors.get(channel_id, 0)
        record = await self.sent_messages.wait_for(
            lambda r: r["kind"] == "channel_message" and r["channel_id"] == channel_id,
            start=start,
            timeout=timeout,
            what=f"bot message in channel {channel_id}",
        )
        index = next(
            i for i in range(start, len(self.sent_messages)) if self.sent_messages[i] is record
        )
        self._channel_cursors[channel_id] = index + 1
        return record

    def channel_messages(self, channel_id: int) -> list[Json]:
        """Current public messages of a channel, oldest first."""
        world = self.world
        ids = world.channel_messages.get(channel_id, [])
        return [
            copy.deepcopy(world.messages[i])
            for i in ids
            if i in world.messages and not world.messages[i]["flags"] & MessageFlag.EPHEMERAL
        ]

    def get_message(self, message_id: int) -> Json | None:
        """A stored message (including ephemeral ones) by id."""
        message = self.world.messages.get(message_id)
        return copy.deepcopy(message) if message is not None else None

    def pinging_messages(self) -> list[Json]:
        """Sent records that would notify someone (users, roles, @everyone or a replied user)."""
        return [r for r in self.sent_messages if pings_anyone(r["pings"])]
