"""Message construction, editing, validation and ping accounting, following Discord's rules."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .constants import ChannelType, ComponentType, ErrorCode, MessageFlag, MessageType
from .records import RecordedFile
from .state import Json, World, parse_content_mentions, snowflake_iso


class DiscordError(Exception):
    """A REST error the fake answers with Discord's JSON error body."""

    def __init__(self, status: int, code: int, message: str, errors: Json | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> Json:
        """JSON body in Discord's error format."""
        data: Json = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


class FormErrors:
    """Collects field errors and renders Discord's nested 'Invalid Form Body' structure."""

    def __init__(self, prefix: Sequence[str | int] = ()) -> None:
        self.prefix = tuple(prefix)
        self.items: list[tuple[tuple[str | int, ...], str, str]] = []

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        """Record one error at a field path."""
        self.items.append((self.prefix + tuple(path), code, message))

    def max_length(self, path: Sequence[str | int], value: Any, limit: int) -> None:
        """Record BASE_TYPE_MAX_LENGTH if value is a string longer than limit."""
        if isinstance(value, str) and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def raise_if_any(self) -> None:
        """Raise a 400 50035 DiscordError if anything was recorded."""
        if not self.items:
            return
        tree: Json = {}
        for path, code, message in self.items:
            node = tree
            for part in path:
                node = node.setdefault(str(part), {})
            node.setdefault("_errors", []).append({"code": code, "message": message})
        raise DiscordError(400, ErrorCode.INVALID_FORM_BODY, "Invalid Form Body", tree)


def _embed_text_length(embed: Json) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for embed_field in embed.get("fields") or []:
        total += len(embed_field.get("name") or "") + len(embed_field.get("value") or "")
    return total


def walk_components(components: Iterable[Json]) -> Iterable[Json]:
    """Every component in a tree (action rows, containers, sections, labels)."""
    for component in components or []:
        yield component
        yield from walk_components(component.get("components") or [])
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, dict):
                yield from walk_components([child])


def validate_message_body(
    payload: Json, errors: FormErrors, *, require_content: bool, has_files: bool = False
) -> None:
    """Apply Discord's limits on content, embeds, components and allowed_mentions."""
    content = payload.get("content")
    errors.max_length(["content"], content, 2000)
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        errors.add(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    for i, embed in enumerate(embeds):
        errors.max_length(["embeds", i, "title"], embed.get("title"), 256)
        errors.max_length(["embeds", i, "description"], embed.get("description"), 4096)
        errors.max_length(
            ["embeds", i, "footer", "text"], (embed.get("footer") or {}).get("text"), 2048
        )
        errors.max_length(
            ["embeds", i, "author", "name"], (embed.get("author") or {}).get("name"), 256
        )
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.add(
                ["embeds", i, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        for j, embed_field in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                value = embed_field.get(key)
                if not value:
                    errors.add(
                        ["embeds", i, "fields", j, key],
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                    )
                errors.max_length(["embeds", i, "fields", j, key], value, limit)
    if sum(_embed_text_length(e) for e in embeds) > 6000:
        errors.add(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")

    components = payload.get("components") or []
    v2 = bool(int(payload.get("flags") or 0) & MessageFlag.IS_COMPONENTS_V2)
    if not v2:
        if len(components) > 5:
            errors.add(["components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        for i, row in enumerate(components):
            if row.get("type") == ComponentType.ACTION_ROW and len(row.get("components") or []) > 5:
                errors.add(
                    ["components", i, "components"],
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 5 or fewer in length.",
                )
    seen: set[str] = set()
    for component in walk_components(components):
        custom_id = component.get("custom_id")
        if custom_id is not None:
            errors.max_length(["components", "custom_id"], custom_id, 100)
            if custom_id in seen:
                errors.add(
                    ["components"],
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(custom_id)
        if component.get("type") == ComponentType.BUTTON:
            errors.max_length(["components", "label"], component.get("label"), 80)

    mentions = payload.get("allowed_mentions")
    if isinstance(mentions, dict):
        parse = mentions.get("parse") or []
        for kind in ("users", "roles"):
            if kind in parse and mentions.get(kind):
                errors.add(
                    ["allowed_mentions"],
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
                )

    if require_content:
        has_content = bool((content or "").strip())
        has_attachments = bool(payload.get("attachments")) or has_files
        if not (
            has_content
            or embeds
            or components
            or has_attachments
            or payload.get("sticker_ids")
            or payload.get("poll")
        ):
            raise DiscordError(
                400, ErrorCode.CANNOT_SEND_EMPTY_MESSAGE, "Cannot send an empty message"
            )


def compute_pings(
    world: World,
    *,
    guild_id: int | None,
    content: str,
    allowed_mentions: Json | None,
    author_id: int,
    replied_user_id: int | None = None,
) -> Json:
    """Who a message would notify, applying allowed_mentions the way Discord does.

    With allowed_mentions omitted everything mentioned in content pings (Discord's default).
    """
    users, roles, everyone = parse_content_mentions(content or "")
    if allowed_mentions is None:
        parse = {"users", "roles", "everyone"}
        allowed_users: set[int] = set()
        allowed_roles: set[int] = set()
        replied_ok = True
    else:
        parse = set(allowed_mentions.get("parse") or [])
        allowed_users = {int(u) for u in allowed_mentions.get("users") or []}
        allowed_roles = {int(r) for r in allowed_mentions.get("roles") or []}
        replied_ok = bool(allowed_mentions.get("replied_user", False))
    guild_roles = world.guilds[guild_id].roles if guild_id in world.guilds else {}
    pinged_users = [u for u in users if u != author_id and ("users" in parse or u in allowed_users)]
    pinged_roles = [
        r for r in roles if r in guild_roles and ("roles" in parse or r in allowed_roles)
    ]
    replied = (
        replied_user_id
        if (replied_user_id is not None and replied_ok and replied_user_id != author_id)
        else None
    )
    return {
        "users": pinged_users,
        "roles": pinged_roles,
        "everyone": everyone and "everyone" in parse,
        "replied_user": replied,
    }


def pings_anyone(pings: Json) -> bool:
    """True if a compute_pings() result notifies at least one user, role or everyone."""
    return bool(pings["users"] or pings["roles"] or pings["everyone"] or pings["replied_user"])


def _files_by_index(files: Sequence[RecordedFile]) -> dict[int, RecordedFile]:
    indexed: dict[int, RecordedFile] = {}
    for position, recorded in enumerate(files):
        match = re.fullmatch(r"files\[(\d+)\]", recorded.field) or re.fullmatch(
            r"file(\d*)", recorded.field
        )
        index = int(match.group(1)) if match and match.group(1) else position
        indexed[index] = recorded
    return indexed


def _new_attachment(
    world: World, cdn_base: str, channel_id: int, recorded: RecordedFile, meta: Json
) -> Json:
    attachment_id = world.ids.next()
    filename = meta.get("filename") or recorded.filename
    world.blobs[attachment_id] = (filename, recorded.data)
    url = f"{cdn_base}/attachments/{channel_id}/{attachment_id}/{filename}"
    data: Json = {
        "id": str(attachment_id),
        "filename": filename,
        "size": len(recorded.data),
        "url": url,
        "proxy_url": url,
        "content_type": recorded.content_type,
    }
    if meta.get("description"):
        data["description"] = meta["description"]
    return data


def resolve_attachments(
    world: World,
    cdn_base: str,
    channel_id: int,
    payload: Json,
    files: Sequence[RecordedFile],
    existing: Sequence[Json] = (),
) -> list[Json] | None:
    """Attachment list after a create/edit: kept existing ones plus uploaded files.

    Returns None when the request does not touch attachments (edit keeps the old list).
    """
    indexed = _files_by_index(files)
    metas = payload.get("attachments")
    if metas is None:
        if not files:
            return None
        return [
            *existing,
            *(_new_attachment(world, cdn_base, channel_id, f, {}) for f in indexed.values()),
        ]
    by_id = {str(a["id"]): a for a in existing}
    result: list[Json] = []
    used: set[int] = set()
    for meta in metas:
        key = str(meta.get("id"))
        if key in by_id:
            result.append(by_id[key])
        elif key.isdigit() and int(key) in indexed:
            used.add(int(key))
            result.append(_new_attachment(world, cdn_base, channel_id, indexed[int(key)], meta))
    for index, recorded in indexed.items():
        if index not in used:
            result.append(_new_attachment(world, cdn_base, channel_id, recorded, {}))
    return result


def _mention_objects(world: World, guild_id: int | None, user_ids: Iterable[int]) -> list[Json]:
    out = []
    for user_id in user_ids:
        if user_id not in world.users:
            continue
        data = world.users[user_id].payload()
        if guild_id is not None and user_id in world.guilds[guild_id].members:
            data["member"] = world.member_payload(guild_id, user_id, include_user=False)
        out.append(data)
    return out


def build_message(
    world: World,
    *,
    channel_id: int,
    author_id: int,
    content: str = "",
    embeds: Sequence[Json] = (),
    components: Sequence[Json] = (),
    attachments: Sequence[Json] = (),
    flags: int = 0,
    message_type: int = MessageType.DEFAULT,
    reference: Json | None = None,
    mentions: Sequence[int] | None = None,
    webhook_id: int | None = None,
    application_id: int | None = None,
    interaction_metadata: Json | None = None,
    nonce: str | int | None = None,
    tts: bool = False,
    poll: Json | None = None,
) -> Json:
    """A REST-shaped message object; stored and indexed in the world."""
    channel = world.channel(channel_id)
    message_id = world.ids.next()
    user_ids, role_ids, everyone = parse_content_mentions(content or "")
    if mentions is not None:
        user_ids = list(dict.fromkeys([*mentions, *user_ids]))
    referenced = None
    if reference is not None and reference.get("message_id"):
        referenced = world.messages.get(int(reference["message_id"]))
    author = world.user(author_id).payload()
    message: Json = {
        "id": str(message_id),
        "type": message_type,
        "channel_id": str(channel_id),
        "author": author,
        "content": content or "",
        "timestamp": snowflake_iso(message_id),
        "edited_timestamp": None,
        "tts": tts,
        "mention_everyone": everyone,
        "mentions": _mention_objects(world, channel.guild_id, user_ids),
        "mention_roles": [str(r) for r in role_ids],
        "attachments": list(attachments),
        "embeds": [{"type": "rich", **e} for e in embeds],
        "pinned": False,
        "flags": flags,
        "components": list(components),
    }
    if nonce is not None:
        message["nonce"] = nonce
    if webhook_id is not None:
        message["webhook_id"] = str(webhook_id)
    if application_id is not None:
        message["application_id"] = str(application_id)
    if interaction_metadata is not None:
        message["interaction_metadata"] = interaction_metadata
    if poll is not None:
        message["poll"] = poll
    if reference is not None:
        ref: Json = {
            "type": int(reference.get("type", 0)),
            "channel_id": str(reference.get("channel_id") or channel_id),
        }
        if reference.get("message_id"):
            ref["message_id"] = str(reference["message_id"])
        if channel.guild_id is not None:
            ref["guild_id"] = str(reference.get("guild_id") or channel.guild_id)
        message["message_reference"] = ref
        message["referenced_message"] = copy.deepcopy(referenced) if referenced else None
        if referenced is not None:
            message["referenced_message"].pop("referenced_message", None)
            if ref["type"] == 0 and message_type == MessageType.DEFAULT:
                message["type"] = MessageType.REPLY
    world.messages[message_id] = message
    world.channel_messages.setdefault(channel_id, []).append(message_id)
    if not flags & MessageFlag.EPHEMERAL:
        channel.last_message_id = message_id
    return message


def apply_edit(world: World, message: Json, payload: Json, attachments: list[Json] | None) -> Json:
    """Apply a PATCH body to a stored message in place (Discord keeps fields the body omits)."""
    message_id = int(message["id"])
    channel = world.channel(int(message["channel_id"]))
    if "content" in payload:
        message["content"] = payload["content"] or ""
        users, roles, everyone = parse_content_mentions(message["content"])
        message["mentions"] = _mention_objects(world, channel.guild_id, users)
        message["mention_roles"] = [str(r) for r in roles]
        message["mention_everyone"] = everyone
    if "embeds" in payload:
        message["embeds"] = [{"type": "rich", **e} for e in payload["embeds"] or []]
    if "components" in payload:
        message["components"] = list(payload["components"] or [])
    if attachments is not None:
        message["attachments"] = attachments
    flags = int(message.get("flags", 0)) & ~MessageFlag.LOADING
    if payload.get("flags") is not None:
        requested = int(payload["flags"])
        editable = MessageFlag.SUPPRESS_EMBEDS | MessageFlag.IS_COMPONENTS_V2
        flags = (flags & ~editable) | (requested & editable)
    message["flags"] = flags
    message["edited_timestamp"] = snowflake_iso(world.ids.next())
    world.messages[message_id] = message
    return message


def gateway_message(world: World, message: Json) -> Json:
    """MESSAGE_CREATE/UPDATE shape: REST message plus guild_id and the author's partial member."""
    data = copy.deepcopy(message)
    channel = world.channels.get(int(message["channel_id"]))
    if channel is not None and channel.guild_id is not None:
        data["guild_id"] = str(channel.guild_id)
        author_id = int(message["author"]["id"])
        if "webhook_id" not in message and author_id in world.guilds[channel.guild_id].members:
            data["member"] = world.member_payload(channel.guild_id, author_id, include_user=False)
    return data


def redact_for_intents(world: World, data: Json, intents: int, content_intent: int) -> Json:
    """Blank content without MESSAGE_CONTENT, except where Discord still sends it."""
    if intents & content_intent:
        return data
    bot_id = world.bot_user.id
    channel = world.channels.get(int(data["channel_id"]))
    mentioned = any(int(m["id"]) == bot_id for m in data.get("mentions", []))
    is_dm = channel is not None and channel.type == ChannelType.DM
    if mentioned or is_dm or int(data["author"]["id"]) == bot_id:
        return data
    redacted = dict(data)
    redacted.update(content="", embeds=[], attachments=[], components=[])
    redacted.pop("poll", None)
    return redacted
