"""The Discord layer: AskBot, its cogs, and run_bot() which assembles and runs it."""

from askbot.bot.client import AskBot, BotConfig
from askbot.bot.launcher import assembled_bot, run_bot, serve

__all__ = ["AskBot", "BotConfig", "assembled_bot", "run_bot", "serve"]
