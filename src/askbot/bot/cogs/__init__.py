"""The bot's cogs: asking, looking sources up, and administration."""
