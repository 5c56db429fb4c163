"""Reading chat messages: strip the bot's mention, and tell whether a message reads as a question."""

from __future__ import annotations

import re
from collections.abc import Iterable

QUESTION_WORDS = frozenset(
    {
        "who", "whom", "whose", "what", "when", "where", "which", "why", "how",
        "is", "are", "was", "were", "do", "does", "did", "can", "could", "should", "would",
        "will", "has", "have", "had",
    }
)  # fmt: skip

# "?" (also the full-width and Arabic forms) possibly followed by closing quotes, brackets,
# more punctuation or spaces: "Did he say that?”" and "really?!" are questions.
_ENDS_WITH_QUESTION_MARK = re.compile(r"[?？؟][\s\"'”’)\]!.…?？؟]*$")
_FIRST_WORD = re.compile(r"[^\w]*(\w+)(?:['’](\w+))?", re.UNICODE)
_WORD = re.compile(r"\w", re.UNICODE)
# Leading separators left after removing a mention: "@askbot, what ..." / "@askbot: what ...".
_LEADING_SEPARATORS = re.compile(r"^[\s,:;\-–—]+")


def strip_mentions(content: str, ids: Iterable[int]) -> str:
    """The message text with every mention of ``ids`` (user <@id>, <@!id> or role <@&id>) removed."""
    alternatives = "|".join(str(i) for i in ids)
    if alternatives:
        content = re.sub(rf"<@[!&]?(?:{alternatives})>", " ", content)
    text = " ".join(content.split())
    return _LEADING_SEPARATORS.sub("", text)


def mentions_explicitly(content: str, ids: Iterable[int]) -> bool:
    """Whether the text itself mentions one of ``ids`` (a reply's implicit mention does not count)."""
    alternatives = "|".join(str(i) for i in ids)
    return bool(alternatives) and re.search(rf"<@[!&]?(?:{alternatives})>", content) is not None


def reads_as_question(text: str) -> bool:
    """True for text ending with a question mark, or starting with a question word.

    A question word must be followed by more words ("Why?" is answered by the "?" rule, "Is" alone
    is not a question), and negative contractions are statements more often than not ("Can't
    wait", "Don't forget").
    """
    text = text.strip()
    if not _WORD.search(text):
        return False
    if _ENDS_WITH_QUESTION_MARK.search(text):
        return True
    match = _FIRST_WORD.match(text)
    if match is None:
        return False
    word, suffix = match.group(1).casefold(), (match.group(2) or "").casefold()
    if suffix == "t":
        return False
    rest = text[match.end() :]
    return word in QUESTION_WORDS and _WORD.search(rest) is not None
