"""Local fake Discord (gateway + REST) that unmodified discord.py 2.x clients can connect to."""

from .constants import (
    CallbackType,
    ChannelType,
    ComponentType,
    ErrorCode,
    Intent,
    InteractionType,
    MessageFlag,
    OptionType,
    Perm,
)
from .interactions import FakeInteraction
from .messages import compute_pings, pings_anyone
from .records import GatewayFrame, RecordedFile, RecordedRequest, WaitableLog
from .server import FakeDiscord, point_discord_at, wait_until_ready
from .state import GuildRef

__all__ = [
    "CallbackType",
    "ChannelType",
    "ComponentType",
    "ErrorCode",
    "FakeDiscord",
    "FakeInteraction",
    "GatewayFrame",
    "GuildRef",
    "Intent",
    "InteractionType",
    "MessageFlag",
    "OptionType",
    "Perm",
    "RecordedFile",
    "RecordedRequest",
    "WaitableLog",
    "compute_pings",
    "pings_anyone",
    "point_discord_at",
    "wait_until_ready",
]
