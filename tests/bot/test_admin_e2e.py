"""Admin commands end to end: who may /reindex and /stats, what they report, and /forget-me."""

from __future__ import annotations

import csv
import io
from typing import Any

from askbot.bot.client import AskBot
from askbot.bot.errors import ADMIN_HELP
from bot.conftest import WAIT, World

Json = dict[str, Any]

NEW_ARTICLE = """Zanzibar opens a floating library

Officials in Stone Town opened a floating library on a converted dhow on Monday.

The librarian, Amina Juma, said the boat carries four thousand books to island schools.
"""


async def command(world: World, user: int, name: str, options: Json | None = None) -> Json:
    ix = await world.fake.invoke_command(world.guild.id, world.channel, user, name, options or {})
    return await ix.wait_for_message(timeout=WAIT)


async def test_admin_commands_are_guild_only_and_hidden_by_default(
    world: World, bot: AskBot
) -> None:
    """/reindex and /stats are synced with Manage Server as default permission, not in DMs."""
    synced = {c["name"]: c for c in world.fake.commands()}
    for name in ("reindex", "stats"):
        assert int(synced[name]["default_member_permissions"]) == 1 << 5
        assert synced[name]["contexts"] == [0]
    assert synced["forget-me"]["default_member_permissions"] is None


async def test_reindex_is_refused_for_a_non_admin(world: World, bot: AskBot) -> None:
    """A member without Manage Server gets a private refusal, and nothing is rebuilt."""
    index_before = bot.service.index
    reply = await command(world, world.alice, "reindex")
    assert reply["flags"] & 64 and reply["content"] == ADMIN_HELP
    assert bot.service.index is index_before


async def test_reindex_by_admin_reports_and_new_article_is_found(world: World, bot: AskBot) -> None:
    """An admin's /reindex reports the added article, and /ask then finds it."""
    (world.corpus / "zanzibar.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    (world.corpus / "broken.txt").write_bytes(b"\xff\xfe\x00binary\x00" * 10)
    report = await command(world, world.admin, "reindex")
    (embed,) = report["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    answer = await command(
        world, world.alice, "ask", {"question": "Who runs the floating library?"}
    )
    assert report["flags"] & 64 and embed["title"] == "Reindexed"
    assert fields["Added (1)"] == "zanzibar"
    assert "broken" in fields["Skipped files (1)"]
    assert "seconds" not in embed["description"] and " s." in embed["description"]
    assert answer["embeds"][0]["footer"]["text"].startswith("zanzibar#")


async def test_reindex_of_an_emptied_corpus_keeps_the_old_index(world: World, bot: AskBot) -> None:
    """A reindex that finds no article says so; questions are still answered from the old one."""
    for path in world.corpus.rglob("*"):
        if path.is_file():
            path.unlink()
    report = await command(world, world.admin, "reindex")
    answer = await command(world, world.alice, "ask", {"question": "What did Biegun say?"})
    assert report["content"].startswith("Reindex failed:")
    assert "previous index keeps answering" in report["content"]
    assert answer["embeds"]


async def test_configured_admin_role_may_use_stats(world: World, bot: AskBot) -> None:
    """A member whose role is in ASKBOT_ADMIN_ROLE_IDS is an admin without Manage Server."""
    reply = await command(world, world.editor, "stats")
    assert reply["embeds"][0]["title"] == "askbot statistics"


async def test_stats_counts_and_top_unanswered(world: World, bot: AskBot) -> None:
    """/stats shows totals, the answered rate and what the corpus is missing."""
    await command(world, world.alice, "ask", {"question": "What did Biegun say?"})
    await command(world, world.bob, "ask", {"question": "Best pizza in Naples?"})
    reply = await command(world, world.admin, "stats")
    (embed,) = reply["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert "**2** queries, **1** answered (50%)" in embed["description"]
    assert fields["By surface"] == "discord: 2"
    assert fields["Top unanswered (what the corpus is missing)"] == "1× Best pizza in Naples?"


async def test_stats_attaches_the_log_as_csv(world: World, bot: AskBot) -> None:
    """/stats csv:true attaches every query as a CSV file."""
    await command(world, world.alice, "ask", {"question": "What did Biegun say?"})
    ix = await world.fake.invoke_command(
        world.guild.id, world.channel, world.admin, "stats", {"csv": True}
    )
    await ix.wait_for_message(timeout=WAIT)
    (file,) = [f for r in ix.responses for f in r["files"]]
    rows = list(csv.DictReader(io.StringIO(file.data.decode())))
    assert file.filename == "askbot-queries.csv"
    assert [(r["question"], r["surface"], r["user_id"]) for r in rows] == [
        ("What did Biegun say?", "discord", str(world.alice))
    ]


async def test_stats_is_refused_for_a_non_admin(world: World, bot: AskBot) -> None:
    """Other people's questions are not shown to a non-admin."""
    reply = await command(world, world.bob, "stats")
    assert reply["content"] == ADMIN_HELP and not reply["embeds"]


async def test_forget_me_deletes_only_the_callers_questions(world: World, bot: AskBot) -> None:
    """/forget-me removes the caller's rows, says how many, and leaves others' alone."""
    for user in (world.alice, world.alice, world.bob):
        await command(world, user, "ask", {"question": "What did Biegun say?"})
    reply = await command(world, world.alice, "forget-me")
    remaining = await bot.service.log.recent(10)
    assert reply["flags"] & 64 and "deleted 2 questions" in reply["content"]
    assert [r.user_id for r in remaining] == [world.bob]
