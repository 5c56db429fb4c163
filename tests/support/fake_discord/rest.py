"""REST API under /api/v{N}: routing, auth, recording, fault injection and the route handlers."""

from __future__ import annotations

import copy
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from .constants import (
    CallbackType,
    ErrorCode,
    InteractionType,
    MessageFlag,
    MessageType,
    OptionType,
    Perm,
)
from .messages import (
    DiscordError,
    FormErrors,
    build_message,
    resolve_attachments,
    validate_message_body,
)
from .records import RecordedFile, RecordedRequest
from .state import Channel, Json

if TYPE_CHECKING:
    from .interactions import FakeInteraction
    from .server import FakeDiscord

log = logging.getLogger(__name__)

Reply = tuple[int, Any]
Handler = Callable[..., Awaitable[Reply]]

_API_PREFIX = re.compile(r"^/api/v(\d+)(/.*)$")
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


@dataclass
class Fault:
    """A one-shot (or n-shot) injected failure for matching requests."""

    method: str
    pattern: re.Pattern[str]
    status: int
    body: Json
    headers: dict[str, str]
    remaining: int


@dataclass
class RestRequest:
    """A parsed incoming request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    files: list[RecordedFile]
    record: RecordedRequest

    def body(self) -> Json:
        """JSON object body, or {} when absent."""
        return self.json if isinstance(self.json, dict) else {}

    def flag(self, name: str) -> bool:
        """Boolean query parameter the way Discord parses it."""
        return self.query.get(name, "").lower() in ("1", "true")


def _ok(body: Any, status: int = 200) -> Reply:
    return status, body


def _no_content() -> Reply:
    return 204, None


def _unknown(code: int, what: str) -> DiscordError:
    return DiscordError(404, code, f"Unknown {what}")


class RestApi:
    """Routes Discord REST calls to handlers operating on the fake's world."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.faults: list[Fault] = []
        self.routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        app = r"(?P<app_id>\d+)"
        guild = r"(?P<guild_id>\d+)"
        channel = r"(?P<channel_id>\d+)"
        message = r"(?P<message_id>\d+)"
        hook = r"(?P<webhook_id>\d+)/(?P<token>[^/]+)"
        add = self._add
        add("GET", r"/gateway", self.get_gateway, auth=False)
        add("GET", r"/gateway/bot", self.get_gateway_bot)
        add("GET", r"/users/@me", self.get_me)
        add("POST", r"/users/@me/channels", self.create_dm)
        add("GET", r"/users/(?P<user_id>\d+)", self.get_user)
        add("GET", r"/oauth2/applications/@me", self.get_application)
        add("GET", r"/applications/@me", self.get_application)
        for scope in ("", f"/guilds/{guild}"):
            add("GET", rf"/applications/{app}{scope}/commands", self.list_commands)
            add("PUT", rf"/applications/{app}{scope}/commands", self.bulk_overwrite_commands)
            add("POST", rf"/applications/{app}{scope}/commands", self.upsert_command)
            add(
                "GET", rf"/applications/{app}{scope}/commands/(?P<command_id>\d+)", self.get_command
            )
            add(
                "PATCH",
                rf"/applications/{app}{scope}/commands/(?P<command_id>\d+)",
                self.edit_command,
            )
            add(
                "DELETE",
                rf"/applications/{app}{scope}/commands/(?P<command_id>\d+)",
                self.delete_command,
            )
        add(
            "GET",
            rf"/applications/{app}/guilds/{guild}/commands/permissions",
            self.list_command_permissions,
        )
        add(
            "POST",
            r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback",
            self.interaction_callback,
            auth=False,
        )
        add("GET", rf"/webhooks/{hook}", self.get_webhook, auth=False)
        add("POST", rf"/webhooks/{hook}", self.create_followup, auth=False)
        for target in (r"(?P<message_id>@original)", message):
            add("GET", rf"/webhooks/{hook}/messages/{target}", self.get_webhook_message, auth=False)
            add(
                "PATCH",
                rf"/webhooks/{hook}/messages/{target}",
                self.edit_webhook_message,
                auth=False,
            )
            add(
                "DELETE",
                rf"/webhooks/{hook}/messages/{target}",
                self.delete_webhook_message,
                auth=False,
            )
        add("GET", rf"/channels/{channel}", self.get_channel)
        add("GET", rf"/channels/{channel}/messages", self.list_messages)
        add("POST", rf"/channels/{channel}/messages", self.create_message)
        add("GET", rf"/channels/{channel}/messages/{message}", self.get_message)
        add("PATCH", rf"/channels/{channel}/messages/{message}", self.edit_message)
        add("DELETE", rf"/channels/{channel}/messages/{message}", self.delete_message)
        add("POST", rf"/channels/{channel}/typing", self.trigger_typing)
        reaction = rf"/channels/{channel}/messages/{message}/reactions/(?P<emoji>[^/]+)/@me"
        add("PUT", reaction, self.add_reaction)
        add("DELETE", reaction, self.remove_reaction)
        add("GET", rf"/guilds/{guild}", self.get_guild)
        add("GET", rf"/guilds/{guild}/channels", self.list_guild_channels)
        add("GET", rf"/guilds/{guild}/roles", self.list_roles)
        add("GET", rf"/guilds/{guild}/members/search", self.search_members)
        add("GET", rf"/guilds/{guild}/members", self.list_members)
        add("GET", rf"/guilds/{guild}/members/(?P<user_id>\d+)", self.get_member)

    def _add(self, method: str, pattern: str, handler: Handler, *, auth: bool = True) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler, auth))

    # ------------------------------------------------------------- plumbing

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Catch-all aiohttp handler: parse, record, inject faults, route, answer."""
        if request.path.startswith("/cdn/attachments/"):
            return self._serve_attachment(request)
        match = _API_PREFIX.match(request.path)
        path = match.group(2) if match else request.path
        record = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
        )
        req = RestRequest(request.method, path, record.query, record.headers, None, [], record)
        extra_headers: dict[str, str] = {}
        try:
            await self._read_body(request, req)
            if match is None:
                raise DiscordError(404, ErrorCode.GENERAL, "404: Not Found")
            fault = self._take_fault(req)
            if fault is not None:
                status, body = fault.status, fault.body
                extra_headers = {**self._ratelimit_headers(req), **fault.headers}
            else:
                status, body = await self._route(req)
                extra_headers = self._ratelimit_headers(req)
        except DiscordError as exc:
            status, body = exc.status, exc.body()
        except Exception as exc:
            # A 4xx (not 5xx, which discord.py retries for seconds) makes a fake bug fail fast.
            log.exception("FakeDiscord internal error on %s %s", req.method, path)
            self.fake.internal_errors.append(exc)
            status, body = 400, {"message": f"FakeDiscord internal error: {exc!r}", "code": 0}
        record.status = status
        record.response = copy.deepcopy(body)
        self.fake.requests.append(record)
        if body is None:
            return web.Response(status=status, headers=extra_headers)
        # discord.py only decodes JSON when Content-Type is exactly application/json (no charset).
        headers = {"Content-Type": "application/json", **extra_headers}
        return web.Response(status=status, body=json.dumps(body).encode(), headers=headers)

    async def _read_body(self, request: web.Request, req: RestRequest) -> None:
        if not request.can_read_body:
            return
        content_type = request.content_type
        if content_type == "multipart/form-data":
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                name = part.name or ""
                raw = await part.read()
                if part.filename is not None:
                    req.files.append(
                        RecordedFile(
                            name,
                            part.filename,
                            part.headers.get("Content-Type", "application/octet-stream"),
                            bytes(raw),
                        )
                    )
                elif name == "payload_json":
                    req.json = json.loads(raw.decode())
                else:
                    req.record.form[name] = raw.decode()
            req.record.files = req.files
        else:
            text = await request.text()
            if text:
                try:
                    req.json = json.loads(text)
                except ValueError:
                    raise DiscordError(400, ErrorCode.GENERAL, "400: Bad Request") from None
        req.record.json = req.json

    def _take_fault(self, req: RestRequest) -> Fault | None:
        for fault in self.faults:
            if fault.method in (req.method, "*") and fault.pattern.search(req.path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def _route(self, req: RestRequest) -> Reply:
        path_matched = False
        for method, pattern, handler, auth in self.routes:
            found = pattern.match(req.path)
            if not found:
                continue
            path_matched = True
            if method != req.method:
                continue
            if auth:
                self._check_auth(req)
            return await handler(req, **found.groupdict())
        if path_matched:
            raise DiscordError(405, ErrorCode.GENERAL, "405: Method Not Allowed")
        raise DiscordError(404, ErrorCode.GENERAL, "404: Not Found")

    def _check_auth(self, req: RestRequest) -> None:
        fake = self.fake
        if fake.reject_token or req.headers.get("Authorization") != f"Bot {fake.token}":
            raise DiscordError(401, ErrorCode.GENERAL, "401: Unauthorized")

    @staticmethod
    def _ratelimit_headers(req: RestRequest) -> dict[str, str]:
        # A generous static bucket: discord.py sees real headers but never waits pre-emptively.
        route = re.sub(r"\d{15,}", "_", req.path)
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": f"fake-{abs(hash((req.method, route))):x}",
        }

    def add_rate_limit(
        self, method: str, path_regex: str, retry_after: float, *, is_global: bool, count: int
    ) -> None:
        """Queue 429 answers for the next `count` matching requests."""
        scope = "global" if is_global else "user"
        headers = {
            # discord.py treats a 429 without Via as a Cloudflare ban and does not retry.
            "Via": "1.1 google",
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Scope": scope,
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
        }
        self.faults.append(Fault(method.upper(), re.compile(path_regex), 429, body, headers, count))

    def add_failure(
        self, method: str, path_regex: str, status: int, body: Json, count: int
    ) -> None:
        """Queue an arbitrary error answer for the next `count` matching requests."""
        self.faults.append(Fault(method.upper(), re.compile(path_regex), status, body, {}, count))

    def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        parts = request.path.split("/")
        try:
            _, data = self.fake.world.blobs[int(parts[4])]
        except (IndexError, ValueError, KeyError):
            return web.Response(status=404)
        return web.Response(body=data, headers={"Content-Type": "application/octet-stream"})

    # ------------------------------------------------------- users / gateway

    async def get_gateway(self, req: RestRequest) -> Reply:
        return _ok({"url": self.fake.gateway_url})

    async def get_gateway_bot(self, req: RestRequest) -> Reply:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return _ok({"url": self.fake.gateway_url, "shards": 1, "session_start_limit": limit})

    async def get_me(self, req: RestRequest) -> Reply:
        data = self.fake.world.bot_user.payload()
        data.update(verified=True, mfa_enabled=False, email=None, locale="en-US", flags=0, bio="")
        return _ok(data)

    async def get_user(self, req: RestRequest, user_id: str) -> Reply:
        user = self.fake.world.users.get(int(user_id))
        if user is None:
            raise _unknown(ErrorCode.UNKNOWN_USER, "User")
        return _ok(user.payload())

    async def create_dm(self, req: RestRequest) -> Reply:
        recipient = int(req.body().get("recipient_id", 0))
        if recipient not in self.fake.world.users:
            raise _unknown(ErrorCode.UNKNOWN_USER, "User")
        return _ok(self.fake.world.channel_payload(self.fake.open_dm(recipient)))

    async def get_application(self, req: RestRequest) -> Reply:
        return _ok(self.fake._application_payload())

    # ------------------------------------------------------------- commands

    def _command_scope(self, app_id: str, guild_id: str | None) -> int | None:
        if int(app_id) != self.fake.application_id:
            raise DiscordError(403, ErrorCode.MISSING_ACCESS, "Missing Access")
        if guild_id is None:
            return None
        if int(guild_id) not in self.fake.world.guilds:
            raise DiscordError(403, ErrorCode.MISSING_ACCESS, "Missing Access")
        return int(guild_id)

    def _normalise_command(self, raw: Json, scope: int | None, existing: list[Json]) -> Json:
        command_type = int(raw.get("type", 1))
        same = next(
            (c for c in existing if c["name"] == raw.get("name") and c["type"] == command_type),
            None,
        )
        command_id = same["id"] if same else str(self.fake.world.ids.next())
        data: Json = {
            "id": command_id,
            "application_id": str(self.fake.application_id),
            "version": str(self.fake.world.ids.next()),
            "type": command_type,
            "name": raw.get("name"),
            "name_localizations": raw.get("name_localizations"),
            "description": raw.get("description", ""),
            "description_localizations": raw.get("description_localizations"),
            "options": copy.deepcopy(raw.get("options") or []),
            "default_member_permissions": raw.get("default_member_permissions"),
            "dm_permission": raw.get("dm_permission", True),
            "contexts": raw.get("contexts"),
            "integration_types": raw.get("integration_types") or [0],
            "nsfw": bool(raw.get("nsfw", False)),
        }
        if scope is not None:
            data["guild_id"] = str(scope)
        return data

    @staticmethod
    def _validate_options(options: list[Json], errors: FormErrors, path: list[str | int]) -> None:
        if len(options) > 25:
            errors.add(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        seen_optional = False
        for i, option in enumerate(options):
            name = option.get("name") or ""
            if not _COMMAND_NAME.match(name) or name != name.lower():
                errors.add(
                    [*path, i, "name"],
                    "APPLICATION_COMMAND_INVALID_NAME",
                    "Command name is invalid",
                )
            description = option.get("description") or ""
            if not 1 <= len(description) <= 100:
                errors.add(
                    [*path, i, "description"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            if option.get("type") in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP):
                RestApi._validate_options(
                    option.get("options") or [], errors, [*path, i, "options"]
                )
                continue
            if option.get("required"):
                if seen_optional:
                    errors.add(
                        [*path, i],
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
            else:
                seen_optional = True
            if len(option.get("choices") or []) > 25:
                errors.add(
                    [*path, i, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )

    def _validate_commands(self, commands: list[Json]) -> None:
        errors = FormErrors()
        if len(commands) > 100:
            errors.add([], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        seen: set[tuple[int, str]] = set()
        for i, command in enumerate(commands):
            command_type = int(command.get("type", 1))
            name = command.get("name") or ""
            if command_type == 1:
                if not _COMMAND_NAME.match(name) or name != name.lower():
                    errors.add(
                        [i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
                    )
                if not 1 <= len(command.get("description") or "") <= 100:
                    errors.add(
                        [i, "description"],
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 100 in length.",
                    )
                self._validate_options(command.get("options") or [], errors, [i, "options"])
            elif not 1 <= len(name) <= 32:
                errors.add(
                    [i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
                )
            if (command_type, name) in seen:
                errors.add(
                    [i, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique ({name})",
                )
            seen.add((command_type, name))
        errors.raise_if_any()

    async def list_commands(
        self, req: RestRequest, app_id: str, guild_id: str | None = None
    ) -> Reply:
        return _ok(self.fake.commands(self._command_scope(app_id, guild_id)))

    async def bulk_overwrite_commands(
        self, req: RestRequest, app_id: str, guild_id: str | None = None
    ) -> Reply:
        scope = self._command_scope(app_id, guild_id)
        raw = req.json if isinstance(req.json, list) else []
        self._validate_commands(raw)
        existing = self.fake.command_store.get(scope, [])
        commands = [self._normalise_command(c, scope, existing) for c in raw]
        self.fake.command_store[scope] = commands
        return _ok(copy.deepcopy(commands))

    async def upsert_command(
        self, req: RestRequest, app_id: str, guild_id: str | None = None
    ) -> Reply:
        scope = self._command_scope(app_id, guild_id)
        body = req.body()
        self._validate_commands([body])
        existing = self.fake.command_store.setdefault(scope, [])
        command = self._normalise_command(body, scope, existing)
        for i, current in enumerate(existing):
            if current["id"] == command["id"]:
                existing[i] = command
                return _ok(copy.deepcopy(command))
        existing.append(command)
        return _ok(copy.deepcopy(command), 201)

    def _find_command(self, scope: int | None, command_id: str) -> tuple[list[Json], int]:
        commands = self.fake.command_store.get(scope, [])
        for i, command in enumerate(commands):
            if command["id"] == command_id:
                return commands, i
        raise _unknown(ErrorCode.UNKNOWN_APPLICATION_COMMAND, "application command")

    async def get_command(
        self, req: RestRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> Reply:
        commands, i = self._find_command(self._command_scope(app_id, guild_id), command_id)
        return _ok(copy.deepcopy(commands[i]))

    async def edit_command(
        self, req: RestRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> Reply:
        scope = self._command_scope(app_id, guild_id)
        commands, i = self._find_command(scope, command_id)
        merged = {**commands[i], **req.body()}
        self._validate_commands([merged])
        commands[i] = {**self._normalise_command(merged, scope, []), "id": command_id}
        return _ok(copy.deepcopy(commands[i]))

    async def delete_command(
        self, req: RestRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> Reply:
        commands, i = self._find_command(self._command_scope(app_id, guild_id), command_id)
        del commands[i]
        return _no_content()

    async def list_command_permissions(self, req: RestRequest, app_id: str, guild_id: str) -> Reply:
        self._command_scope(app_id, guild_id)
        return _ok([])

    # --------------------------------------------------------- interactions

    def _interaction_by_token(self, webhook_id: str, token: str) -> FakeInteraction:
        ix = self.fake.interaction_tokens.get(token)
        if ix is None or int(webhook_id) != self.fake.application_id or ix.token_expired:
            raise _unknown(ErrorCode.UNKNOWN_WEBHOOK, "Webhook")
        return ix

    def _check_body(
        self, payload: Json, files: list[RecordedFile], *, prefix: tuple[str, ...], creating: bool
    ) -> None:
        errors = FormErrors(prefix)
        validate_message_body(payload, errors, require_content=creating, has_files=bool(files))
        errors.raise_if_any()

    async def interaction_callback(
        self, req: RestRequest, interaction_id: str, token: str
    ) -> Reply:
        fake = self.fake
        ix = fake.interactions.get(int(interaction_id))
        if ix is None or ix.token != token or fake._interaction_is_expired(ix):
            raise DiscordError(404, ErrorCode.UNKNOWN_INTERACTION, "Unknown interaction")
        if ix.acknowledged:
            raise DiscordError(
                400,
                ErrorCode.INTERACTION_ALREADY_ACKNOWLEDGED,
                "Interaction has already been acknowledged.",
            )
        body = req.body()
        callback_type = int(body.get("type", 0))
        data: Json = body.get("data") or {}
        self._validate_callback(ix, callback_type, data, req.files)

        ix.callback_type = callback_type
        message: Json | None = None
        ephemeral = bool(int(data.get("flags") or 0) & MessageFlag.EPHEMERAL)
        if callback_type == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE:
            message = fake._create_interaction_message(ix, data, req.files, loading=False)
            ix.original_message_id = int(message["id"])
            fake._record_interaction_response(
                ix, "callback", callback_type, message, data, req.files
            )
        elif callback_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            message = fake._create_interaction_message(ix, data, [], loading=True)
            ix.original_message_id = int(message["id"])
            fake._record_interaction_response(ix, "callback", callback_type, message, data, [])
        elif callback_type == CallbackType.DEFERRED_UPDATE_MESSAGE:
            ix.original_message_id = ix.source_message_id
            fake._record_interaction_response(ix, "callback", callback_type, None, data, [])
        elif callback_type == CallbackType.UPDATE_MESSAGE:
            assert ix.source_message_id is not None
            source = fake.world.messages[ix.source_message_id]
            ephemeral = bool(source["flags"] & MessageFlag.EPHEMERAL)
            attachments = resolve_attachments(
                fake.world,
                fake.cdn_base,
                ix.channel_id,
                data,
                req.files,
                source.get("attachments", []),
            )
            message = fake._edit_message(source, data, attachments)
            ix.original_message_id = ix.source_message_id
            fake._record_interaction_response(
                ix, "callback", callback_type, message, data, req.files
            )
        elif callback_type == CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            ix.choices = list(data.get("choices") or [])
            fake._record_interaction_response(ix, "callback", callback_type, None, data, [])
        elif callback_type == CallbackType.MODAL:
            ix.modal = copy.deepcopy(data)
            fake._record_interaction_response(ix, "callback", callback_type, None, data, [])
        else:
            fake._record_interaction_response(ix, "callback", callback_type, None, data, [])

        if not req.flag("with_response"):
            return _no_content()
        callback: Json = {
            "interaction": {
                "id": str(ix.id),
                "type": ix.type,
                "response_message_loading": callback_type
                == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                "response_message_ephemeral": ephemeral,
            }
        }
        if ix.original_message_id is not None:
            callback["interaction"]["response_message_id"] = str(ix.original_message_id)
        resource: Json = {"type": callback_type}
        if message is not None:
            resource["message"] = copy.deepcopy(message)
        callback["resource"] = resource
        return _ok(callback)

    def _validate_callback(
        self, ix: FakeInteraction, callback_type: int, data: Json, files: list[RecordedFile]
    ) -> None:
        autocomplete = ix.type == InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE
        allowed = {
            InteractionType.APPLICATION_COMMAND: {4, 5, 9, 10, 12},
            InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE: {8},
            InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9, 10, 12},
            InteractionType.MODAL_SUBMIT: {4, 5, 10} | ({6, 7} if ix.source_message_id else set()),
        }.get(ix.type, {1})
        errors = FormErrors()
        if callback_type not in allowed:
            errors.add(
                ["type"],
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Interaction response type {callback_type} is not valid here",
            )
            errors.raise_if_any()
        if callback_type in (CallbackType.CHANNEL_MESSAGE_WITH_SOURCE, CallbackType.UPDATE_MESSAGE):
            self._check_body(
                data,
                files,
                prefix=("data",),
                creating=callback_type == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE,
            )
        elif callback_type == CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT and autocomplete:
            choices = data.get("choices") or []
            if len(choices) > 25:
                errors.add(
                    ["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            for i, choice in enumerate(choices):
                name = str(choice.get("name") or "")
                if not 1 <= len(name) <= 100:
                    errors.add(
                        ["data", "choices", i, "name"],
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 100 in length.",
                    )
                errors.max_length(["data", "choices", i, "value"], choice.get("value"), 100)
        elif callback_type == CallbackType.MODAL:
            errors.max_length(["data", "title"], data.get("title"), 45)
            errors.max_length(["data", "custom_id"], data.get("custom_id"), 100)
            if not data.get("title"):
                errors.add(["data", "title"], "BASE_TYPE_REQUIRED", "This field is required")
            if not 1 <= len(data.get("components") or []) <= 5:
                errors.add(
                    ["data", "components"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 5 in length.",
                )
        errors.raise_if_any()

    async def get_webhook(self, req: RestRequest, webhook_id: str, token: str) -> Reply:
        self._interaction_by_token(webhook_id, token)
        return _ok(
            {
                "id": webhook_id,
                "type": 3,
                "name": self.fake.world.bot_user.username,
                "avatar": None,
                "channel_id": None,
                "guild_id": None,
                "application_id": str(self.fake.application_id),
                "token": token,
            }
        )

    def _webhook_target(self, ix: FakeInteraction, message_id: str) -> tuple[Json, str]:
        if not ix.acknowledged:
            raise _unknown(ErrorCode.UNKNOWN_WEBHOOK, "Webhook")
        if message_id == "@original":
            target = ix.original_message_id
            kind = "original"
        else:
            target = int(message_id)
            kind = "original" if target == ix.original_message_id else "followup"
            if target != ix.original_message_id and target not in ix.followup_ids:
                raise _unknown(ErrorCode.UNKNOWN_MESSAGE, "Message")
        message = self.fake.world.messages.get(target) if target is not None else None
        if message is None:
            raise _unknown(ErrorCode.UNKNOWN_MESSAGE, "Message")
        return message, kind

    async def get_webhook_message(
        self, req: RestRequest, webhook_id: str, token: str, message_id: str
    ) -> Reply:
        message, _ = self._webhook_target(self._interaction_by_token(webhook_id, token), message_id)
        return _ok(copy.deepcopy(message))

    async def edit_webhook_message(
        self, req: RestRequest, webhook_id: str, token: str, message_id: str
    ) -> Reply:
        fake = self.fake
        ix = self._interaction_by_token(webhook_id, token)
        message, kind = self._webhook_target(ix, message_id)
        payload = req.body()
        self._check_body(payload, req.files, prefix=(), creating=False)
        attachments = resolve_attachments(
            fake.world,
            fake.cdn_base,
            int(message["channel_id"]),
            payload,
            req.files,
            message.get("attachments", []),
        )
        fake._ensure_not_empty_after_edit(message, payload, attachments)
        edited = fake._edit_message(message, payload, attachments)
        fake._record_interaction_response(ix, f"edit_{kind}", None, edited, payload, req.files)
        return _ok(copy.deepcopy(edited))

    async def delete_webhook_message(
        self, req: RestRequest, webhook_id: str, token: str, message_id: str
    ) -> Reply:
        ix = self._interaction_by_token(webhook_id, token)
        message, kind = self._webhook_target(ix, message_id)
        self.fake._delete_message_everywhere(message)
        self.fake._record_interaction_response(
            ix, f"delete_{kind}", None, None, {"message_id": message["id"]}, []
        )
        return _no_content()

    async def create_followup(self, req: RestRequest, webhook_id: str, token: str) -> Reply:
        fake = self.fake
        ix = self._interaction_by_token(webhook_id, token)
        if not ix.acknowledged:
            raise _unknown(ErrorCode.UNKNOWN_WEBHOOK, "Webhook")
        payload = req.body()
        self._check_body(payload, req.files, prefix=(), creating=True)
        original = (
            fake.world.messages.get(ix.original_message_id) if ix.original_message_id else None
        )
        if (
            ix.callback_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            and original is not None
            and original["flags"] & MessageFlag.LOADING
        ):
            # Discord turns the first followup after a thinking defer into the original response.
            attachments = resolve_attachments(
                fake.world, fake.cdn_base, ix.channel_id, payload, req.files
            )
            message = fake._edit_message(original, {**payload, "flags": None}, attachments or [])
        else:
            message = fake._create_interaction_message(
                ix, payload, req.files, loading=False, followup=True
            )
            ix.followup_ids.append(int(message["id"]))
        fake._record_interaction_response(ix, "followup", None, message, payload, req.files)
        if not req.flag("wait"):
            return _no_content()
        return _ok(copy.deepcopy(message))

    # ------------------------------------------------------------- channels

    def _channel(self, channel_id: str) -> Channel:
        channel = self.fake.world.channels.get(int(channel_id))
        if channel is None:
            raise _unknown(ErrorCode.UNKNOWN_CHANNEL, "Channel")
        return channel

    def _require(self, channel: Channel, permission: int) -> None:
        world = self.fake.world
        if channel.guild_id is None:
            return
        perms = world.channel_permissions(channel.id, world.bot_user.id)
        if not perms & Perm.VIEW_CHANNEL:
            raise DiscordError(403, ErrorCode.MISSING_ACCESS, "Missing Access")
        if perms & permission != permission:
            raise DiscordError(403, ErrorCode.MISSING_PERMISSIONS, "Missing Permissions")

    def _channel_message(self, channel: Channel, message_id: str) -> Json:
        message = self.fake.world.messages.get(int(message_id))
        if (
            message is None
            or int(message["channel_id"]) != channel.id
            or message["flags"] & MessageFlag.EPHEMERAL
        ):
            raise _unknown(ErrorCode.UNKNOWN_MESSAGE, "Message")
        return message

    async def get_channel(self, req: RestRequest, channel_id: str) -> Reply:
        channel = self._channel(channel_id)
        self._require(channel, Perm.VIEW_CHANNEL)
        return _ok(self.fake.world.channel_payload(channel.id))

    async def list_messages(self, req: RestRequest, channel_id: str) -> Reply:
        channel = self._channel(channel_id)
        self._require(channel, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        world = self.fake.world
        ids = [i for i in world.channel_messages.get(channel.id, []) if i in world.messages]
        ids = [i for i in ids if not world.messages[i]["flags"] & MessageFlag.EPHEMERAL]
        limit = max(1, min(100, int(req.query.get("limit", 50))))
        if "before" in req.query:
            ids = [i for i in ids if i < int(req.query["before"])]
        if "after" in req.query:
            ids = [i for i in ids if i > int(req.query["after"])][:limit]
        if "around" in req.query:
            pivot = int(req.query["around"])
            older = [i for i in ids if i <= pivot][-(limit // 2 + limit % 2) :]
            newer = [i for i in ids if i > pivot][: limit // 2]
            ids = older + newer
        ids = sorted(ids, reverse=True)[:limit]
        return _ok([copy.deepcopy(world.messages[i]) for i in ids])

    async def create_message(self, req: RestRequest, channel_id: str) -> Reply:
        fake = self.fake
        channel = self._channel(channel_id)
        payload = req.body()
        needed = Perm.SEND_MESSAGES
        if req.files:
            needed |= Perm.ATTACH_FILES
        if payload.get("message_reference"):
            needed |= Perm.READ_MESSAGE_HISTORY
        self._require(channel, needed)
        self._check_body(payload, req.files, prefix=(), creating=True)
        reference = payload.get("message_reference")
        if reference:
            ref_id = reference.get("message_id")
            target = fake.world.messages.get(int(ref_id)) if ref_id else None
            if target is None or target["flags"] & MessageFlag.EPHEMERAL:
                if reference.get("fail_if_not_exists", True):
                    errors = FormErrors()
                    errors.add(
                        ["message_reference"],
                        "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                        "Unknown message",
                    )
                    errors.raise_if_any()
                reference = None
        attachments = (
            resolve_attachments(fake.world, fake.cdn_base, channel.id, payload, req.files) or []
        )
        message = build_message(
            fake.world,
            channel_id=channel.id,
            author_id=fake.world.bot_user.id,
            content=payload.get("content") or "",
            embeds=payload.get("embeds") or [],
            components=payload.get("components") or [],
            attachments=attachments,
            flags=int(payload.get("flags") or 0) & MessageFlag.SETTABLE & ~MessageFlag.EPHEMERAL,
            message_type=MessageType.DEFAULT,
            reference=reference,
            nonce=payload.get("nonce"),
            tts=bool(payload.get("tts", False)),
            poll=payload.get("poll"),
        )
        fake._record_channel_message("channel_message", message, payload, req.files)
        fake._announce_message_create(message)
        return _ok(copy.deepcopy(message))

    async def get_message(self, req: RestRequest, channel_id: str, message_id: str) -> Reply:
        channel = self._channel(channel_id)
        self._require(channel, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        return _ok(copy.deepcopy(self._channel_message(channel, message_id)))

    async def edit_message(self, req: RestRequest, channel_id: str, message_id: str) -> Reply:
        fake = self.fake
        channel = self._channel(channel_id)
        message = self._channel_message(channel, message_id)
        if int(message["author"]["id"]) != fake.world.bot_user.id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        payload = req.body()
        self._check_body(payload, req.files, prefix=(), creating=False)
        attachments = resolve_attachments(
            fake.world,
            fake.cdn_base,
            channel.id,
            payload,
            req.files,
            message.get("attachments", []),
        )
        fake._ensure_not_empty_after_edit(message, payload, attachments)
        edited = fake._edit_message(message, payload, attachments)
        fake._record_channel_message("channel_message_edit", edited, payload, req.files)
        return _ok(copy.deepcopy(edited))

    async def delete_message(self, req: RestRequest, channel_id: str, message_id: str) -> Reply:
        fake = self.fake
        channel = self._channel(channel_id)
        message = self._channel_message(channel, message_id)
        if int(message["author"]["id"]) != fake.world.bot_user.id:
            self._require(channel, Perm.MANAGE_MESSAGES)
        fake._delete_message_everywhere(message)
        return _no_content()

    async def trigger_typing(self, req: RestRequest, channel_id: str) -> Reply:
        channel = self._channel(channel_id)
        self._require(channel, Perm.SEND_MESSAGES)
        return _no_content()

    async def add_reaction(
        self, req: RestRequest, channel_id: str, message_id: str, emoji: str
    ) -> Reply:
        channel = self._channel(channel_id)
        self._require(channel, Perm.ADD_REACTIONS | Perm.READ_MESSAGE_HISTORY)
        message = self._channel_message(channel, message_id)
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["emoji"]["name"] == emoji and not reaction["me"]:
                reaction.update(me=True, count=reaction["count"] + 1)
                break
        else:
            if not any(r["emoji"]["name"] == emoji for r in reactions):
                reactions.append(
                    {
                        "emoji": {"id": None, "name": emoji},
                        "count": 1,
                        "count_details": {"burst": 0, "normal": 1},
                        "me": True,
                        "me_burst": False,
                        "burst_colors": [],
                    }
                )
        return _no_content()

    async def remove_reaction(
        self, req: RestRequest, channel_id: str, message_id: str, emoji: str
    ) -> Reply:
        channel = self._channel(channel_id)
        message = self._channel_message(channel, message_id)
        for reaction in list(message.get("reactions", [])):
            if reaction["emoji"]["name"] == emoji and reaction["me"]:
                reaction.update(me=False, count=reaction["count"] - 1)
                if reaction["count"] <= 0:
                    message["reactions"].remove(reaction)
        return _no_content()

    # --------------------------------------------------------------- guilds

    def _guild_id(self, guild_id: str) -> int:
        if int(guild_id) not in self.fake.world.guilds:
            raise _unknown(ErrorCode.UNKNOWN_GUILD, "Guild")
        return int(guild_id)

    async def get_guild(self, req: RestRequest, guild_id: str) -> Reply:
        world = self.fake.world
        data = world.guild_payload(self._guild_id(guild_id))
        if req.flag("with_counts"):
            count = len(world.guild(int(guild_id)).members)
            data.update(approximate_member_count=count, approximate_presence_count=count)
        return _ok(data)

    async def list_guild_channels(self, req: RestRequest, guild_id: str) -> Reply:
        world = self.fake.world
        return _ok(
            [world.channel_payload(c) for c in world.guild(self._guild_id(guild_id)).channels]
        )

    async def list_roles(self, req: RestRequest, guild_id: str) -> Reply:
        guild = self.fake.world.guild(self._guild_id(guild_id))
        return _ok([r.payload() for r in guild.roles.values()])

    async def get_member(self, req: RestRequest, guild_id: str, user_id: str) -> Reply:
        world = self.fake.world
        gid = self._guild_id(guild_id)
        if int(user_id) not in world.guild(gid).members:
            raise _unknown(ErrorCode.UNKNOWN_MEMBER, "Member")
        return _ok(world.member_payload(gid, int(user_id)))

    async def list_members(self, req: RestRequest, guild_id: str) -> Reply:
        world = self.fake.world
        gid = self._guild_id(guild_id)
        after = int(req.query.get("after", 0))
        limit = max(1, min(1000, int(req.query.get("limit", 1))))
        ids = sorted(u for u in world.guild(gid).members if u > after)[:limit]
        return _ok([world.member_payload(gid, u) for u in ids])

    async def search_members(self, req: RestRequest, guild_id: str) -> Reply:
        world = self.fake.world
        gid = self._guild_id(guild_id)
        query = req.query.get("query", "").lower()
        limit = max(1, min(1000, int(req.query.get("limit", 1))))
        found = []
        for user_id, member in world.guild(gid).members.items():
            names = (world.users[user_id].username.lower(), (member.nick or "").lower())
            if any(n.startswith(query) for n in names):
                found.append(world.member_payload(gid, user_id))
        return _ok(found[:limit])
