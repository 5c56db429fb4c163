"""_questions.py: mention stripping and "reads as a question", with plain strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from askbot.bot._questions import mentions_explicitly, reads_as_question, strip_mentions

BOT = 111222333444555666


def test_strips_the_bot_mention_at_the_start() -> None:
    """ "<@bot> what did Biegun say?" becomes the question alone."""
    assert strip_mentions(f"<@{BOT}> what did Biegun say?", [BOT]) == "what did Biegun say?"


def test_strips_nickname_and_role_forms_and_separators() -> None:
    """<@!id> and the bot's role <@&id> go, and so does a leading comma or colon."""
    assert strip_mentions(f"<@!{BOT}>, who won?", [BOT]) == "who won?"
    assert strip_mentions("<@&77>: who won?", [BOT, 77]) == "who won?"


def test_keeps_other_mentions_in_the_question() -> None:
    """Mentions of other users are part of the question (and escaped later, not removed)."""
    assert strip_mentions(f"did <@5> say it <@{BOT}>?", [BOT]) == "did <@5> say it ?"


def test_explicit_mention_is_detected_but_not_a_reply_ping() -> None:
    """Only a mention written in the text counts; a reply's implicit mention does not."""
    assert mentions_explicitly(f"hey <@{BOT}>", [BOT])
    assert not mentions_explicitly("thanks!", [BOT])


@pytest.mark.parametrize(
    "text",
    [
        "What did Biegun say?",
        "did he really say that?”",
        "really?!",
        "who is Kim Jong-un",
        "How many died in the stampede",
        "Is the flag changing",
        "what's the news from Mecca",
        "¿Qué dijo Biegun?",
        "Biegun said what？",
    ],
)
def test_reads_as_question(text: str) -> None:
    """Question marks and leading question words make a question."""
    assert reads_as_question(text)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "???", "Thanks, great answer.", "Is", "Can't wait for the summit", "lol", "🙂?"],
)
def test_does_not_read_as_question(text: str) -> None:
    """Statements, bare question words, negative contractions and punctuation are not."""
    assert not reads_as_question(text)


@given(st.text(max_size=300))
def test_question_parsing_never_fails(text: str) -> None:
    """Any text can be parsed without an error."""
    reads_as_question(text)
    strip_mentions(text, [BOT])
