"""Discord protocol constants (opcodes, intents, permissions, flags, error codes)."""

from __future__ import annotations

from typing import Final

DISCORD_EPOCH_MS: Final = 1_420_070_400_000
API_VERSION: Final = 10
# Discord's documented default upload limit for unboosted guilds (25 MiB).
ATTACHMENT_SIZE_LIMIT: Final = 25 * 1024 * 1024
HEARTBEAT_INTERVAL_MS: Final = 41_250


class Op:
    """Gateway opcodes."""

    DISPATCH: Final = 0
    HEARTBEAT: Final = 1
    IDENTIFY: Final = 2
    PRESENCE_UPDATE: Final = 3
    VOICE_STATE_UPDATE: Final = 4
    RESUME: Final = 6
    RECONNECT: Final = 7
    REQUEST_GUILD_MEMBERS: Final = 8
    INVALID_SESSION: Final = 9
    HELLO: Final = 10
    HEARTBEAT_ACK: Final = 11


class CloseCode:
    """Gateway close codes the fake can emit."""

    UNKNOWN_ERROR: Final = 4000
    UNKNOWN_OPCODE: Final = 4001
    DECODE_ERROR: Final = 4002
    NOT_AUTHENTICATED: Final = 4003
    AUTHENTICATION_FAILED: Final = 4004
    ALREADY_AUTHENTICATED: Final = 4005
    INVALID_SEQ: Final = 4007
    SESSION_TIMED_OUT: Final = 4009
    INVALID_SHARD: Final = 4010
    INVALID_INTENTS: Final = 4013
    DISALLOWED_INTENTS: Final = 4014


class Intent:
    """Gateway intent bits."""

    GUILDS: Final = 1 << 0
    GUILD_MEMBERS: Final = 1 << 1
    GUILD_PRESENCES: Final = 1 << 8
    GUILD_MESSAGES: Final = 1 << 9
    GUILD_MESSAGE_REACTIONS: Final = 1 << 10
    DIRECT_MESSAGES: Final = 1 << 12
    MESSAGE_CONTENT: Final = 1 << 15
    PRIVILEGED: Final = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


class ApplicationFlag:
    """Application flags advertising which privileged intents are enabled."""

    GATEWAY_PRESENCE_LIMITED: Final = 1 << 13
    GATEWAY_GUILD_MEMBERS_LIMITED: Final = 1 << 15
    GATEWAY_MESSAGE_CONTENT_LIMITED: Final = 1 << 19
    APPLICATION_COMMAND_BADGE: Final = 1 << 23


class Perm:
    """Permission bits."""

    CREATE_INSTANT_INVITE: Final = 1 << 0
    KICK_MEMBERS: Final = 1 << 1
    BAN_MEMBERS: Final = 1 << 2
    ADMINISTRATOR: Final = 1 << 3
    MANAGE_CHANNELS: Final = 1 << 4
    MANAGE_GUILD: Final = 1 << 5
    ADD_REACTIONS: Final = 1 << 6
    VIEW_CHANNEL: Final = 1 << 10
    SEND_MESSAGES: Final = 1 << 11
    MANAGE_MESSAGES: Final = 1 << 13
    EMBED_LINKS: Final = 1 << 14
    ATTACH_FILES: Final = 1 << 15
    READ_MESSAGE_HISTORY: Final = 1 << 16
    MENTION_EVERYONE: Final = 1 << 17
    USE_EXTERNAL_EMOJIS: Final = 1 << 18
    CONNECT: Final = 1 << 20
    SPEAK: Final = 1 << 21
    CHANGE_NICKNAME: Final = 1 << 26
    MANAGE_ROLES: Final = 1 << 28
    USE_APPLICATION_COMMANDS: Final = 1 << 31
    CREATE_PUBLIC_THREADS: Final = 1 << 35
    SEND_MESSAGES_IN_THREADS: Final = 1 << 38
    # Matches discord.Permissions.all().
    ALL: Final = 8_866_461_766_385_663
    EVERYONE_DEFAULT: Final = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | CONNECT
        | SPEAK
        | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS
        | CREATE_PUBLIC_THREADS
        | SEND_MESSAGES_IN_THREADS
    )
    BOT_DEFAULT: Final = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | ADD_REACTIONS
        | USE_EXTERNAL_EMOJIS
        | SEND_MESSAGES_IN_THREADS
        | USE_APPLICATION_COMMANDS
    )


class ChannelType:
    """Channel types."""

    GUILD_TEXT: Final = 0
    DM: Final = 1
    GUILD_VOICE: Final = 2
    GUILD_CATEGORY: Final = 4
    GUILD_ANNOUNCEMENT: Final = 5


class MessageType:
    """Message types."""

    DEFAULT: Final = 0
    REPLY: Final = 19
    CHAT_INPUT_COMMAND: Final = 20


class MessageFlag:
    """Message flags."""

    SUPPRESS_EMBEDS: Final = 1 << 2
    EPHEMERAL: Final = 1 << 6
    LOADING: Final = 1 << 7
    SUPPRESS_NOTIFICATIONS: Final = 1 << 12
    IS_COMPONENTS_V2: Final = 1 << 15
    # The only flags a client may set when creating or editing a message.
    SETTABLE: Final = SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2


class InteractionType:
    """Interaction types."""

    PING: Final = 1
    APPLICATION_COMMAND: Final = 2
    MESSAGE_COMPONENT: Final = 3
    APPLICATION_COMMAND_AUTOCOMPLETE: Final = 4
    MODAL_SUBMIT: Final = 5


class CallbackType:
    """Interaction callback (response) types."""

    PONG: Final = 1
    CHANNEL_MESSAGE_WITH_SOURCE: Final = 4
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: Final = 5
    DEFERRED_UPDATE_MESSAGE: Final = 6
    UPDATE_MESSAGE: Final = 7
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT: Final = 8
    MODAL: Final = 9
    PREMIUM_REQUIRED: Final = 10
    LAUNCH_ACTIVITY: Final = 12


class OptionType:
    """Application command option types."""

    SUB_COMMAND: Final = 1
    SUB_COMMAND_GROUP: Final = 2
    STRING: Final = 3
    INTEGER: Final = 4
    BOOLEAN: Final = 5
    USER: Final = 6
    CHANNEL: Final = 7
    ROLE: Final = 8
    MENTIONABLE: Final = 9
    NUMBER: Final = 10
    ATTACHMENT: Final = 11


class ComponentType:
    """Message component types that carry a custom_id."""

    ACTION_ROW: Final = 1
    BUTTON: Final = 2
    STRING_SELECT: Final = 3
    TEXT_INPUT: Final = 4
    USER_SELECT: Final = 5
    ROLE_SELECT: Final = 6
    MENTIONABLE_SELECT: Final = 7
    CHANNEL_SELECT: Final = 8
    LABEL: Final = 18
    SELECTS: Final = frozenset({3, 5, 6, 7, 8})


class ErrorCode:
    """JSON error codes returned in REST error bodies."""

    GENERAL: Final = 0
    UNKNOWN_CHANNEL: Final = 10003
    UNKNOWN_GUILD: Final = 10004
    UNKNOWN_MEMBER: Final = 10007
    UNKNOWN_MESSAGE: Final = 10008
    UNKNOWN_USER: Final = 10013
    UNKNOWN_WEBHOOK: Final = 10015
    UNKNOWN_INTERACTION: Final = 10062
    UNKNOWN_APPLICATION_COMMAND: Final = 10063
    INTERACTION_ALREADY_ACKNOWLEDGED: Final = 40060
    MISSING_ACCESS: Final = 50001
    CANNOT_SEND_EMPTY_MESSAGE: Final = 50006
    MISSING_PERMISSIONS: Final = 50013
    INVALID_FORM_BODY: Final = 50035
