"""In-memory Discord world (users, guilds, roles, channels, members, messages) and payloads."""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from typing import Any

from .constants import DISCORD_EPOCH_MS, ChannelType, Perm

Json = dict[str, Any]

_USER_MENTION = re.compile(r"<@!?(\d{15,21})>")
_ROLE_MENTION = re.compile(r"<@&(\d{15,21})>")
_EVERYONE_MENTION = re.compile(r"@(everyone|here)\b")


class SnowflakeFactory:
    """Issues unique, strictly increasing snowflakes whose timestamps are 'now'."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        """Return a fresh snowflake."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate


def snowflake_iso(snowflake: int) -> str:
    """ISO-8601 timestamp embedded in a snowflake, formatted the way Discord does."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()


def now_iso() -> str:
    """Current UTC time in Discord's timestamp format."""
    return dt.datetime.now(dt.UTC).isoformat()


def parse_content_mentions(content: str) -> tuple[list[int], list[int], bool]:
    """User ids, role ids and whether @everyone/@here appear in message content."""
    users = list(dict.fromkeys(int(m) for m in _USER_MENTION.findall(content)))
    roles = list(dict.fromkeys(int(m) for m in _ROLE_MENTION.findall(content)))
    return users, roles, bool(_EVERYONE_MENTION.search(content))


@dataclass
class User:
    """A Discord user."""

    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None

    def payload(self) -> Json:
        """User object as Discord sends it."""
        data: Json = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": self.avatar,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Role:
    """A guild role."""

    id: int
    guild_id: int
    name: str
    permissions: int
    position: int
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False
    tags: Json | None = None

    def payload(self) -> Json:
        """Role object as Discord sends it."""
        data: Json = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.tags is not None:
            data["tags"] = self.tags
        return data


@dataclass
class Channel:
    """A guild channel or a DM channel."""

    id: int
    type: int
    name: str | None
    guild_id: int | None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    nsfw: bool = False
    overwrites: list[Json] = field(default_factory=list)
    recipients: list[int] = field(default_factory=list)
    last_message_id: int | None = None


@dataclass
class Member:
    """A user's membership in a guild."""

    guild_id: int
    user_id: int
    roles: list[int]
    joined_at: str
    nick: str | None = None
    flags: int = 0


@dataclass
class Guild:
    """A guild and everything in it."""

    id: int
    name: str
    owner_id: int
    joined_at: str
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    system_channel_id: int | None = None
    preferred_locale: str = "en-US"
    features: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GuildRef:
    """Ids created by FakeDiscord.add_guild."""

    id: int
    name: str
    everyone_role_id: int
    default_channel_id: int
    owner_id: int
    bot_role_id: int


class World:
    """All server-side state of the fake, plus the payload shapes discord.py parses."""

    def __init__(self, bot_user: User) -> None:
        self.ids = SnowflakeFactory()
        self.bot_user = bot_user
        self.users: dict[int, User] = {bot_user.id: bot_user}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        # Canonical REST-shaped message objects, including ephemeral ones.
        self.messages: dict[int, Json] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.blobs: dict[int, tuple[str, bytes]] = {}

    # ----------------------------------------------------------------- lookups

    def guild(self, guild_id: int) -> Guild:
        """Guild by id, or KeyError with a readable message."""
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise KeyError(f"unknown guild {guild_id}") from None

    def channel(self, channel_id: int) -> Channel:
        """Channel by id, or KeyError."""
        try:
            return self.channels[channel_id]
        except KeyError:
            raise KeyError(f"unknown channel {channel_id}") from None

    def user(self, user_id: int) -> User:
        """User by id, or KeyError."""
        try:
            return self.users[user_id]
        except KeyError:
            raise KeyError(f"unknown user {user_id}") from None

    def member(self, guild_id: int, user_id: int) -> Member:
        """Member by guild and user id, or KeyError."""
        try:
            return self.guild(guild_id).members[user_id]
        except KeyError:
            raise KeyError(f"user {user_id} is not a member of guild {guild_id}") from None

    # ------------------------------------------------------------- permissions

    def base_permissions(self, guild_id: int, user_id: int) -> int:
        """Guild-level permissions of a member (owner and ADMINISTRATOR get everything)."""
        guild = self.guild(guild_id)
        if user_id == guild.owner_id:
            return Perm.ALL
        member = guild.members.get(user_id)
        perms = guild.roles[guild.id].permissions
        for role_id in member.roles if member else []:
            role = guild.roles.get(role_id)
            if role is not None:
                perms |= role.permissions
        return Perm.ALL if perms & Perm.ADMINISTRATOR else perms

    def channel_permissions(self, channel_id: int, user_id: int) -> int:
        """Permissions of a member in a channel, applying overwrites in Discord's order."""
        channel = self.channel(channel_id)
        if channel.guild_id is None:
            return Perm.EVERYONE_DEFAULT
        perms = self.base_permissions(channel.guild_id, user_id)
        if perms & Perm.ADMINISTRATOR or perms == Perm.ALL:
            return Perm.ALL
        member = self.guild(channel.guild_id).members.get(user_id)
        member_roles = set(member.roles) if member else set()
        by_id = {int(o["id"]): o for o in channel.overwrites}
        everyone = by_id.get(channel.guild_id)
        if everyone:
            perms = (perms & ~int(everyone.get("deny", 0))) | int(everyone.get("allow", 0))
        allow = deny = 0
        for overwrite in channel.overwrites:
            if int(overwrite.get("type", 0)) == 0 and int(overwrite["id"]) in member_roles:
                allow |= int(overwrite.get("allow", 0))
                deny |= int(overwrite.get("deny", 0))
        perms = (perms & ~deny) | allow
        own = by_id.get(user_id)
        if own and int(own.get("type", 0)) == 1:
            perms = (perms & ~int(own.get("deny", 0))) | int(own.get("allow", 0))
        return perms

    # ---------------------------------------------------------------- payloads

    def member_payload(
        self,
        guild_id: int,
        user_id: int,
        *,
        include_user: bool = True,
        permissions_in: int | None = None,
    ) -> Json:
        """Guild member object; permissions_in adds the interaction-style 'permissions' string."""
        member = self.member(guild_id, user_id)
        data: Json = {
            "roles": [str(r) for r in member.roles],
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "joined_at": member.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": member.flags,
            "pending": False,
            "communication_disabled_until": None,
            "avatar_decoration_data": None,
        }
        if include_user:
            data["user"] = self.user(user_id).payload()
        if permissions_in is not None:
            data["permissions"] = str(self.channel_permissions(permissions_in, user_id))
        return data

    def channel_payload(self, channel_id: int, *, include_guild_id: bool = True) -> Json:
        """Channel object as returned by GET /channels/{id}."""
        channel = self.channel(channel_id)
        last = str(channel.last_message_id) if channel.last_message_id else None
        if channel.type == ChannelType.DM:
            return {
                "id": str(channel.id),
                "type": channel.type,
                "last_message_id": last,
                "flags": 0,
                "recipients": [self.user(u).payload() for u in channel.recipients],
            }
        data: Json = {
            "id": str(channel.id),
            "type": channel.type,
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": channel.overwrites,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "nsfw": channel.nsfw,
            "flags": 0,
        }
        if channel.type in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
            data.update(
                topic=channel.topic,
                last_message_id=last,
                rate_limit_per_user=0,
                default_auto_archive_duration=1440,
                default_thread_rate_limit_per_user=0,
            )
        elif channel.type == ChannelType.GUILD_VOICE:
            data.update(
                bitrate=64000,
                user_limit=0,
                rtc_region=None,
                last_message_id=last,
                rate_limit_per_user=0,
            )
        if include_guild_id and channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
        return data

    def guild_payload(self, guild_id: int) -> Json:
        """Guild object as returned by GET /guilds/{id} (no members or channels)."""
        guild = self.guild(guild_id)
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in sorted(guild.roles.values(), key=lambda r: r.position)],
            "emojis": [],
            "stickers": [],
            "features": list(guild.features),
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": str(guild.system_channel_id) if guild.system_channel_id else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": guild.preferred_locale,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "incidents_data": None,
        }

    def guild_create_payload(self, guild_id: int, *, member_ids: list[int]) -> Json:
        """GUILD_CREATE data with only the given members inlined (the rest come by chunking)."""
        guild = self.guild(guild_id)
        data = self.guild_payload(guild_id)
        data.update(
            joined_at=guild.joined_at,
            large=len(guild.members) >= 250,
            unavailable=False,
            member_count=len(guild.members),
            voice_states=[],
            members=[
                self.member_payload(guild_id, uid) for uid in member_ids if uid in guild.members
            ],
            channels=[self.channel_payload(c, include_guild_id=False) for c in guild.channels],
            threads=[],
            presences=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
        )
        return data

    def interaction_channel_payload(self, channel_id: int, user_id: int) -> Json:
        """Channel object embedded in interactions (includes the invoker's resolved permissions)."""
        data = self.channel_payload(channel_id)
        data["permissions"] = str(self.channel_permissions(channel_id, user_id))
        return data
