"""The layering of the package: the search core stays free of discord, asyncio and sqlite."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_search_core_imports_no_discord_asyncio_or_sqlite() -> None:
    """`import askbot.search` in a fresh interpreter loads none of the outer layers."""
    code = (
        "import sys, askbot.search, askbot.search.worker; "
        "bad = [m for m in ('discord', 'asyncio', 'sqlite3', 'aiosqlite', 'askbot.service', "
        "'askbot.storage', 'askbot.bot') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
