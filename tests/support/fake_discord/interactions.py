"""Interaction handles (what tests hold) and builders for realistic INTERACTION_CREATE payloads."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .constants import ATTACHMENT_SIZE_LIMIT, CallbackType, InteractionType, OptionType
from .records import WaitableLog
from .state import Json, World

if TYPE_CHECKING:
    from .server import FakeDiscord

# Callback types after which a message the user can see exists.
_VISIBLE_CALLBACKS = {CallbackType.CHANNEL_MESSAGE_WITH_SOURCE, CallbackType.UPDATE_MESSAGE}
_VISIBLE_KINDS = {"edit_original", "followup", "edit_followup"}


def _describe_response(item: Json) -> str:
    return f"{item.get('kind')} type={item.get('type')} content={str(item.get('content'))[:60]!r}"


class FakeInteraction:
    """An interaction the fake dispatched, plus everything the bot answered to it.

    Each entry of `responses` is a dict with keys: kind ("callback", "edit_original",
    "delete_original", "followup", "edit_followup", "delete_followup"), type (callback type
    for kind="callback", else None), message_id, content, embeds, components, flags,
    ephemeral, allowed_mentions, attachments, files, pings, choices (autocomplete), data (raw).
    """

    def __init__(
        self,
        fake: FakeDiscord,
        *,
        interaction_id: int,
        interaction_type: int,
        payload: Json,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        source_message_id: int | None = None,
    ) -> None:
        self._fake = fake
        self.id = interaction_id
        self.token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        payload["token"] = self.token
        self.type = interaction_type
        self.payload = payload
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.user_id = user_id
        self.source_message_id = source_message_id
        self.responses: WaitableLog[Json] = WaitableLog(_describe_response)
        self.callback_type: int | None = None
        self.original_message_id: int | None = None
        self.followup_ids: list[int] = []
        self.modal: Json | None = None
        self.choices: list[Json] | None = None
        self.expired = False
        self.token_expired = False
        self.created_at = 0.0

    def __repr__(self) -> str:
        return f"<FakeInteraction id={self.id} type={self.type} callback={self.callback_type}>"

    @property
    def acknowledged(self) -> bool:
        """Whether the bot has sent the initial callback."""
        return self.callback_type is not None

    async def wait_for_response(self, timeout: float = 10.0, count: int = 1) -> list[Json]:
        """Wait for at least `count` responses (callback, edits, followups); return all so far."""
        await self.responses.wait_for(
            lambda _: True, start=count - 1, timeout=timeout, what=f"response #{count} to {self!r}"
        )
        return list(self.responses)

    async def wait_for_message(self, timeout: float = 10.0) -> Json:
        """Wait for a visible message (not just a deferral); return final_message()."""
        await self.responses.wait_for(
            self._is_visible, timeout=timeout, what=f"visible message for {self!r}"
        )
        message = self.final_message()
        assert message is not None
        return message

    async def wait_for_choices(self, timeout: float = 10.0) -> list[Json]:
        """Wait for the autocomplete result and return its choices."""
        await self.responses.wait_for(
            lambda r: r.get("type") == CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
            timeout=timeout,
            what=f"autocomplete result for {self!r}",
        )
        return list(self.choices or [])

    async def wait_for_modal(self, timeout: float = 10.0) -> Json:
        """Wait for a MODAL callback and return its data (custom_id, title, components)."""
        await self.responses.wait_for(
            lambda r: r.get("type") == CallbackType.MODAL,
            timeout=timeout,
            what=f"modal for {self!r}",
        )
        assert self.modal is not None
        return self.modal

    def final_message(self) -> Json | None:
        """Current state of the most recently created or edited visible message, or None.

        A deferred response counts only once it has been edited or followed up.
        """
        for item in reversed(list(self.responses)):
            if not self._is_visible(item):
                continue
            message = self._fake.world.messages.get(int(item["message_id"]))
            if message is not None:
                return copy.deepcopy(message)
        return None

    def messages(self) -> list[Json]:
        """Current state of the original response and every followup that still exist."""
        ids = [self.original_message_id, *self.followup_ids]
        world = self._fake.world
        return [
            copy.deepcopy(world.messages[i])
            for i in dict.fromkeys(ids)
            if i is not None and i in world.messages
        ]

    @staticmethod
    def _is_visible(item: Json) -> bool:
        if item.get("message_id") is None:
            return False
        return item.get("kind") in _VISIBLE_KINDS or (
            item.get("kind") == "callback" and item.get("type") in _VISIBLE_CALLBACKS
        )


# --------------------------------------------------------------------- payloads


def base_interaction_payload(
    fake: FakeDiscord,
    *,
    interaction_id: int,
    interaction_type: int,
    guild_id: int | None,
    channel_id: int,
    user_id: int,
    data: Json | None,
    locale: str = "en-US",
) -> Json:
    """The envelope shared by every interaction type (token is filled in by FakeInteraction)."""
    world = fake.world
    payload: Json = {
        "id": str(interaction_id),
        "application_id": str(fake.application_id),
        "type": interaction_type,
        "token": "",
        "version": 1,
        "channel_id": str(channel_id),
        "channel": world.interaction_channel_payload(channel_id, user_id),
        "app_permissions": str(world.channel_permissions(channel_id, world.bot_user.id)),
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if data is not None:
        payload["data"] = data
    if guild_id is not None:
        guild = world.guild(guild_id)
        payload.update(
            guild_id=str(guild_id),
            guild={
                "id": str(guild_id),
                "locale": guild.preferred_locale,
                "features": list(guild.features),
            },
            guild_locale=guild.preferred_locale,
            member=world.member_payload(guild_id, user_id, permissions_in=channel_id),
            authorizing_integration_owners={"0": str(guild_id)},
            context=0,
        )
    else:
        payload.update(
            user=world.user(user_id).payload(),
            authorizing_integration_owners={"1": str(user_id)},
            context=1,
        )
    return payload


def find_command(fake: FakeDiscord, name: str, guild_id: int | None) -> tuple[Json, list[str]]:
    """Synced command for a (possibly 'group sub') name: guild commands first, then global."""
    top, *path = name.split()
    scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
    for scope in scopes:
        for command in fake.commands(scope):
            if command["name"] == top and command.get("type", 1) == 1:
                return command, path
    known = sorted({c["name"] for s in scopes for c in fake.commands(s)})
    raise LookupError(
        f"slash command {top!r} was never synced (synced: {known}); did the bot call tree.sync()?"
    )


def _coerce(option_type: int, value: Any) -> Any:
    if option_type == OptionType.STRING:
        return str(value)
    if option_type == OptionType.INTEGER:
        return int(value)
    if option_type == OptionType.NUMBER:
        return float(value)
    if option_type == OptionType.BOOLEAN:
        return bool(value)
    return str(getattr(value, "id", value))


def _resolve(
    fake: FakeDiscord,
    guild_id: int | None,
    channel_id: int,
    option_type: int,
    value: Any,
    resolved: Json,
) -> str:
    """Fill `resolved` for snowflake-typed options and return the option value Discord sends."""
    world: World = fake.world
    if option_type == OptionType.ATTACHMENT:
        filename, data = value if isinstance(value, tuple) else ("file.bin", bytes(value))
        attachment_id = world.ids.next()
        world.blobs[attachment_id] = (filename, data)
        url = f"{fake.cdn_base}/attachments/{channel_id}/{attachment_id}/{filename}"
        resolved.setdefault("attachments", {})[str(attachment_id)] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": "application/octet-stream",
            "ephemeral": True,
        }
        return str(attachment_id)
    snowflake = int(getattr(value, "id", value))
    is_user = snowflake in world.users
    is_role = guild_id is not None and snowflake in world.guild(guild_id).roles
    if option_type in (OptionType.USER, OptionType.MENTIONABLE) and is_user:
        resolved.setdefault("users", {})[str(snowflake)] = world.user(snowflake).payload()
        if guild_id is not None and snowflake in world.guild(guild_id).members:
            member = world.member_payload(
                guild_id, snowflake, include_user=False, permissions_in=channel_id
            )
            resolved.setdefault("members", {})[str(snowflake)] = member
    elif option_type in (OptionType.ROLE, OptionType.MENTIONABLE) and is_role:
        assert guild_id is not None
        resolved.setdefault("roles", {})[str(snowflake)] = (
            world.guild(guild_id).roles[snowflake].payload()
        )
    elif option_type == OptionType.CHANNEL and snowflake in world.channels:
        channel = world.channels[snowflake]
        resolved.setdefault("channels", {})[str(snowflake)] = {
            "id": str(snowflake),
            "name": channel.name,
            "type": channel.type,
            "permissions": str(world.channel_permissions(snowflake, world.bot_user.id)),
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "position": channel.position,
            "nsfw": channel.nsfw,
            "flags": 0,
            "rate_limit_per_user": 0,
            "last_message_id": None,
        }
    else:
        raise ValueError(f"{snowflake} is not a valid value for an option of type {option_type}")
    return str(snowflake)


def build_command_data(
    fake: FakeDiscord,
    *,
    guild_id: int | None,
    channel_id: int,
    name: str,
    values: Mapping[str, Any],
    focused: str | None = None,
) -> Json:
    """APPLICATION_COMMAND(_AUTOCOMPLETE) `data` built from the synced command definition.

    Values are checked against the synced options the way Discord's client would enforce them.
    """
    command, path = find_command(fake, name, guild_id)
    schema: Sequence[Json] = command.get("options") or []
    nest: list[Json] = []
    for part in path:
        match = next((o for o in schema if o["name"] == part and o["type"] in (1, 2)), None)
        if match is None:
            raise LookupError(f"{command['name']} has no subcommand {part!r}")
        nest.append({"type": match["type"], "name": part, "options": []})
        schema = match.get("options") or []

    resolved: Json = {}
    options: list[Json] = []
    known = {o["name"]: o for o in schema}
    for key, value in values.items():
        if key not in known:
            raise ValueError(f"/{name} has no option {key!r} (options: {sorted(known)})")
        option = known[key]
        option_type = option["type"]
        entry: Json = {"name": key, "type": option_type}
        if key == focused:
            entry["value"] = str(value)
            entry["focused"] = True
        elif option_type in (
            OptionType.USER,
            OptionType.CHANNEL,
            OptionType.ROLE,
            OptionType.MENTIONABLE,
            OptionType.ATTACHMENT,
        ):
            entry["value"] = _resolve(fake, guild_id, channel_id, option_type, value, resolved)
        else:
            entry["value"] = _coerce(option_type, value)
            choices = option.get("choices")
            if choices and entry["value"] not in [c["value"] for c in choices]:
                raise ValueError(f"{entry['value']!r} is not a declared choice of /{name} {key}")
        options.append(entry)
    if focused is None:
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
        if missing:
            raise ValueError(f"/{name} requires options {missing}")
    elif focused not in values:
        raise ValueError(f"focused option {focused!r} must be one of the provided values")

    for level in reversed(nest):
        level["options"] = options
        options = [level]
    data: Json = {
        "id": command["id"],
        "name": command["name"],
        "type": command.get("type", 1),
        "options": options,
    }
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    if resolved:
        data["resolved"] = resolved
    return data


def interaction_type_for(focused: str | None) -> int:
    """APPLICATION_COMMAND, or APPLICATION_COMMAND_AUTOCOMPLETE when an option is focused."""
    return (
        InteractionType.APPLICATION_COMMAND
        if focused is None
        else InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE
    )
